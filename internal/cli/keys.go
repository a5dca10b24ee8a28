package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airgw/airgw/internal/app"
	"github.com/airgw/airgw/internal/keys"
)

func (e *env) keys(args []string) error {
	if len(args) == 0 {
		return usagef("keys: missing subcommand: create, list, revoke, rotate or set")
	}
	switch args[0] {
	case "create":
		return e.keysCreate(args[1:])
	case "list":
		return e.keysList(args[1:])
	case "revoke":
		return e.keysRevoke(args[1:])
	case "rotate":
		return e.keysRotate(args[1:])
	case "set":
		return e.keysSet(args[1:])
	}
	return usagef("keys: unknown subcommand %q: use create, list, revoke, rotate or set", args[0])
}

func (e *env) keysCreate(args []string) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	name := fs.String("name", "", "the key's name, unique among active keys (required)")
	team := fs.String("team", "", "the team the key belongs to (must exist in the config)")
	models := fs.String("models", "", "comma-separated model allow-list (default: every model the team may use)")
	expires := fs.String("expires", "", "lifetime like 720h or 30d, or an RFC 3339 time (default: never)")
	var sf settingsFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print the key as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *name == "" && len(pos) == 1 {
		*name = pos[0]
	} else if len(pos) > 0 {
		return usagef("keys create: unexpected argument %q", pos[0])
	}
	if *name == "" {
		return usagef("keys create: --name is required")
	}
	exp, err := parseExpiry(*expires, time.Now())
	if err != nil {
		return usagef("keys create: --expires: %v", err)
	}
	var set keys.Settings
	if err := sf.apply(fs, &set); err != nil {
		return err
	}
	md, err := sf.metadataMap()
	if err != nil {
		return err
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		opts := keys.CreateOptions{Name: *name, Team: *team, ExpiresAt: exp, Settings: set, Metadata: md}
		if *models != "" {
			for m := range strings.SplitSeq(*models, ",") {
				opts.Models = append(opts.Models, strings.TrimSpace(m))
			}
		}
		svc, me := a.AdminService()
		plain, k, err := svc.CreateKey(ctx, me, opts)
		if err != nil {
			if errors.Is(err, keys.ErrDuplicateName) {
				return fmt.Errorf("an active key named %q already exists; choose another name or revoke it first (`airgw keys revoke %s`)", *name, *name)
			}
			return adminError(err)
		}
		if *asJSON {
			return writeJSON(e.stdout, struct {
				Plaintext string `json:"key"`
				*keys.Key
			}{plain, k})
		}
		fmt.Fprintf(e.stdout, "%s\n\nThis is the only time the key is shown: store it now.\nid %s  name %s", plain, k.ID, k.Name)
		if k.Team != "" {
			fmt.Fprintf(e.stdout, "  team %s", k.Team)
		}
		if !k.ExpiresAt.IsZero() {
			fmt.Fprintf(e.stdout, "  expires %s", k.ExpiresAt.Format(time.RFC3339))
		}
		fmt.Fprintln(e.stdout)
		return nil
	})
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// parseExpiry accepts a Go duration, a number of days ("30d"), or an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return time.Time{}, fmt.Errorf("%q: want a positive number of days like 30d", s)
		}
		return now.Add(time.Duration(n) * 24 * time.Hour), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q: the lifetime must be positive", s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a lifetime like 720h or 30d, or a time like 2027-01-01T00:00:00Z", s)
	}
	return t, nil
}

func (e *env) keysList(args []string) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	team := fs.String("team", "", "only keys of this team")
	all := fs.Bool("all", false, "include revoked keys")
	asJSON := fs.Bool("json", false, "print the keys as JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		ks, err := a.Keys().List(ctx, keys.ListFilter{Team: *team, IncludeRevoked: *all})
		if err != nil {
			return err
		}
		if *asJSON {
			if ks == nil {
				ks = []keys.Key{}
			}
			return writeJSON(e.stdout, ks)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTEAM\tPREFIX\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
		now := time.Now()
		for _, k := range ks {
			status := "active"
			switch {
			case k.Revoked(now):
				status = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
			case k.Expired(now):
				status = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, dash(k.Team), k.Prefix,
				k.CreatedAt.UTC().Format(time.RFC3339), timeOrDash(k.ExpiresAt), timeOrDash(k.LastUsedAt), status)
		}
		return tw.Flush()
	})
}

func (e *env) keysRevoke(args []string) error {
	fs := flag.NewFlagSet("keys revoke", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the revoked key as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys revoke: name the key to revoke by its id or name")
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		svc, me := a.AdminService()
		k, err := svc.RevokeKey(ctx, me, pos[0])
		if err != nil {
			return keyError(err, pos[0], hintEveryKey)
		}
		if *asJSON {
			return writeJSON(e.stdout, k)
		}
		fmt.Fprintf(e.stdout, "revoked %s (%s) at %s; running gateways refuse it within 5 seconds\n", k.ID, k.Name, k.RevokedAt.UTC().Format(time.RFC3339))
		return nil
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
