package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/app"
	"github.com/airgw/airgw/internal/audit"
)

func (e *env) audit(args []string) error {
	if len(args) == 0 {
		return usagef("audit: missing subcommand: export, tail or verify")
	}
	switch args[0] {
	case "export":
		return e.auditExport(args[1:])
	case "tail":
		return e.auditTail(args[1:])
	case "verify":
		return e.auditVerify(args[1:])
	}
	return usagef("audit: unknown subcommand %q: use export, tail or verify", args[0])
}

// filterFlags registers the audit filters (audit.FilterParams) on fs, with
// hyphens for underscores, and returns a function that parses them.
func filterFlags(fs *flag.FlagSet, skip ...string) func(now time.Time) (audit.Filter, error) {
	vals := map[string]*string{}
	for _, p := range audit.FilterParams {
		if slices.Contains(skip, p.Name) {
			continue
		}
		vals[p.Name] = fs.String(strings.ReplaceAll(p.Name, "_", "-"), "", "only "+p.Help)
	}
	return func(now time.Time) (audit.Filter, error) {
		f, err := audit.ParseFilter(func(name string) string {
			if v, ok := vals[name]; ok {
				return *v
			}
			return ""
		}, now)
		if err != nil {
			return f, usagef("%s: --%s", fs.Name(), err)
		}
		return f, nil
	}
}

func (e *env) auditExport(args []string) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	format := fs.String("format", "jsonl", "output format: jsonl or csv")
	withBodies := fs.Bool("with-bodies", false, "include the stored prompt and response of each record (jsonl only; audit.bodies)")
	filter := filterFlags(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != audit.FormatJSONL && *format != audit.FormatCSV {
		return usagef("audit export: --format %q: use jsonl or csv", *format)
	}
	if *withBodies && *format != audit.FormatJSONL {
		return usagef("audit export: --with-bodies needs --format jsonl: bodies do not fit in a CSV cell")
	}
	f, err := filter(time.Now())
	if err != nil {
		return err
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		ex, err := audit.NewExporter(e.stdout, *format)
		if err != nil {
			return err
		}
		write := ex.Write
		if *withBodies {
			write = func(r audit.Record) error {
				b, err := a.Trail().RecordBodies(ctx, r.RequestID)
				if err != nil {
					return err
				}
				r.Bodies = b
				return ex.Write(r)
			}
		}
		err = a.Trail().QueryRecords(ctx, f, write)
		if cerr := ex.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

func (e *env) auditTail(args []string) error {
	fs := flag.NewFlagSet("audit tail", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	n := fs.Int("n", 10, "start with the last n records stored (0: only new ones)")
	follow := fs.Bool("f", false, "keep printing records as they are stored, until interrupted")
	format := fs.String("format", "text", "output format: text (one line per record) or jsonl")
	interval := fs.Duration("interval", time.Second, "with -f, how often to look for new records")
	filter := filterFlags(fs, "since", "until", "limit")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "text" && *format != audit.FormatJSONL {
		return usagef("audit tail: --format %q: use text or jsonl", *format)
	}
	if *n < 0 || *interval <= 0 {
		return usagef("audit tail: -n must not be negative and --interval must be positive")
	}
	f, err := filter(time.Now())
	if err != nil {
		return err
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		tr := a.Trail()
		pos, err := tr.LastPosition(ctx)
		if err != nil {
			return err
		}
		pos = max(0, pos-int64(*n))
		enc := json.NewEncoder(e.stdout)
		print := func(r audit.Record) error {
			if *format == audit.FormatJSONL {
				return enc.Encode(r)
			}
			_, err := fmt.Fprintln(e.stdout, tailLine(&r))
			return err
		}
		for {
			if pos, err = tr.RecordsAfter(ctx, pos, f, print); err != nil {
				if ctx.Err() != nil {
					return nil // interrupted
				}
				return err
			}
			if !*follow {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(*interval):
			}
		}
	})
}

// tailLine is one record as a line a person reads.
func tailLine(r *audit.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %d", r.Start.UTC().Format("2006-01-02T15:04:05.000Z"), r.RequestID, r.Status)
	if r.ErrorClass != "" {
		b.WriteString(" " + r.ErrorClass)
	}
	if r.Change != nil {
		fmt.Fprintf(&b, " %s %s by %s", r.Change.Action, r.Change.Target, r.Change.Actor)
		return b.String()
	}
	for _, kv := range [][2]string{{"key", r.KeyName}, {"team", r.Team}, {"user", r.EndUser}, {"purpose", r.Purpose},
		{"model", r.RequestedModel}, {"provider", r.Provider}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	fmt.Fprintf(&b, " tokens=%d/%d cost=$%s latency=%dms", r.InputTokens, r.OutputTokens, audit.FormatUSD(r.CostNanoUSD), r.LatencyMillis)
	return b.String()
}

// errVerifyFailed makes `audit verify` exit 1 after printing its report.
var errVerifyFailed = errors.New("audit verify: the audit trail failed verification (see above)")

func (e *env) auditVerify(args []string) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var pubs stringsFlag
	fs.Var(&pubs, "public-key", "trust checkpoints signed by this Ed25519 public key (base64; repeatable); default: this gateway's own key")
	printKey := fs.Bool("print-public-key", false, "print this gateway's checkpoint public key and exit")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var trusted []ed25519.PublicKey
	for _, p := range pubs {
		k, err := audit.ParsePublicKey(p)
		if err != nil {
			return usagef("audit verify: --public-key: %v", err)
		}
		trusted = append(trusted, k)
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		if len(trusted) == 0 {
			own, err := a.TrustedKeys()
			if err != nil {
				return err
			}
			trusted = own
		}
		if *printKey {
			if len(trusted) == 0 {
				return errors.New("audit verify: no signing key yet: it is created by the first `airgw serve`")
			}
			for _, k := range trusted {
				fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(k))
			}
			return nil
		}
		start := time.Now()
		rep, err := a.VerifyTrail(ctx, trusted)
		if err != nil {
			return err
		}
		backlog, _ := audit.Backlog(a.Config.Audit.SpoolDir)
		if *asJSON {
			out := struct {
				*audit.Report
				SpoolBacklog int64   `json:"spool_backlog"`
				Seconds      float64 `json:"seconds"`
			}{rep, backlog, time.Since(start).Seconds()}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
		} else {
			e.printVerify(rep, backlog, time.Since(start))
		}
		if !rep.OK {
			return errVerifyFailed
		}
		return nil
	})
}

func (e *env) printVerify(rep *audit.Report, backlog int64, took time.Duration) {
	for _, c := range rep.Chains {
		status := "ok"
		if c.Problem != nil {
			status = "FAILED"
		}
		fmt.Fprintf(e.stdout, "chain %s: %s: %d records, seq %d to %d, %d checkpoints, signed up to seq %d\n",
			c.Chain, status, c.Records, c.FirstSeq, c.LastSeq, c.Checkpoints, c.Vouched)
		if c.DeadLettered > 0 {
			fmt.Fprintf(e.stdout, "  %d of them are only in the dead-letter file %s: the database rejected them (docs/troubleshooting.md)\n", c.DeadLettered, audit.DeadLetterFile)
		}
		if p := c.Problem; p != nil {
			fmt.Fprintf(e.stdout, "  first bad record: seq %d", p.Seq)
			if p.RequestID != "" {
				fmt.Fprintf(e.stdout, " (request %s)", p.RequestID)
			}
			fmt.Fprintf(e.stdout, "\n  %s: %s\n", p.Kind, p.Detail)
		}
	}
	if rep.Unchained > 0 {
		fmt.Fprintf(e.stdout, "%d records belong to no chain (CLI records written by an airgw version that did not chain them) and cannot be verified\n", rep.Unchained)
	}
	if !rep.Trusted {
		fmt.Fprintln(e.stdout, "warning: no trusted public key: checkpoint signatures were checked against their own keys only; pass --public-key")
	}
	if backlog > 0 {
		fmt.Fprintf(e.stdout, "note: %d records in the spool are not in the database yet; a running gateway stores them within audit.flush_interval\n", backlog)
	}
	verdict := "OK"
	if !rep.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(e.stdout, "%s: %d chained records in %d chains verified in %s\n", verdict, rep.Records, len(rep.Chains), took.Round(time.Millisecond))
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }
