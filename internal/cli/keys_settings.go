package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/admin"
	"github.com/airgw/airgw/internal/app"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/ratelimit"
)

// settingsFlags are the flags of a key's own governance, shared by
// `keys create` and `keys set`.
type settingsFlags struct {
	budgetUSD, period, alertAt                       string
	soft                                             bool
	rpm, rpd, tpm, concurrent                        int
	allowedIPs                                       string
	userBudgetUSD, userPeriod                        string
	userRPM, userRPD, userTPM, userConcurrent        int
	metadata                                         string
	noBudget, noLimits, noAllowedIPs, noUserDefaults bool
}

func (s *settingsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.budgetUSD, "budget-usd", "", "the key's budget in USD per period, such as 50")
	fs.StringVar(&s.period, "period", "monthly", "the budget's period: daily, weekly, monthly or total")
	fs.BoolVar(&s.soft, "soft", false, "a soft budget only alerts; the default refuses requests past it")
	fs.StringVar(&s.alertAt, "alert-at", "50,80,100", "percentages of the budget at which to alert")
	fs.IntVar(&s.rpm, "rpm", 0, "requests per minute (0: no limit)")
	fs.IntVar(&s.rpd, "rpd", 0, "requests per day")
	fs.IntVar(&s.tpm, "tpm", 0, "tokens per minute")
	fs.IntVar(&s.concurrent, "concurrent", 0, "requests in flight at once")
	fs.StringVar(&s.allowedIPs, "allowed-ips", "", "comma-separated client addresses or CIDR ranges the key works from")
	fs.StringVar(&s.userBudgetUSD, "user-budget-usd", "", "each end user's budget in USD per period (see --user-period)")
	fs.StringVar(&s.userPeriod, "user-period", "daily", "the end users' budget period")
	fs.IntVar(&s.userRPM, "user-rpm", 0, "each end user's requests per minute")
	fs.IntVar(&s.userRPD, "user-rpd", 0, "each end user's requests per day")
	fs.IntVar(&s.userTPM, "user-tpm", 0, "each end user's tokens per minute")
	fs.IntVar(&s.userConcurrent, "user-concurrent", 0, "each end user's requests in flight")
	fs.StringVar(&s.metadata, "metadata", "", "comma-separated key=value pairs, such as owner=ana,ticket=OPS-1")
	fs.BoolVar(&s.noBudget, "no-budget", false, "keys set: remove the key's budget")
	fs.BoolVar(&s.noLimits, "no-limits", false, "keys set: remove the key's limits")
	fs.BoolVar(&s.noAllowedIPs, "no-allowed-ips", false, "keys set: allow every client address")
	fs.BoolVar(&s.noUserDefaults, "no-user-defaults", false, "keys set: remove the end users' budget and limits")
}

// apply sets in set what the given flags say; flags not given leave set
// as it is.
func (s *settingsFlags) apply(fs *flag.FlagSet, set *keys.Settings) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["budget-usd"] || (set.Budget != nil && (given["period"] || given["soft"] || given["alert-at"])) {
		b, err := s.budget(s.budgetUSD, s.period, set.Budget, given)
		if err != nil {
			return err
		}
		set.Budget = b
	}
	if given["rpm"] || given["rpd"] || given["tpm"] || given["concurrent"] {
		l := ratelimit.Limits{}
		if set.Limits != nil {
			l = *set.Limits
		}
		for name, dst := range map[string]*int{"rpm": &l.RPM, "rpd": &l.RPD, "tpm": &l.TPM, "concurrent": &l.Concurrent} {
			if given[name] {
				*dst = map[string]int{"rpm": s.rpm, "rpd": s.rpd, "tpm": s.tpm, "concurrent": s.concurrent}[name]
			}
		}
		set.Limits = &l
	}
	if given["allowed-ips"] {
		set.AllowedIPs = []netip.Prefix{}
		for v := range strings.SplitSeq(s.allowedIPs, ",") {
			v = strings.TrimSpace(v)
			p, err := netip.ParsePrefix(v)
			if err != nil {
				a, aerr := netip.ParseAddr(v)
				if aerr != nil {
					return usagef("--allowed-ips: %q is not an address or CIDR range like 10.0.0.0/8", v)
				}
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			set.AllowedIPs = append(set.AllowedIPs, p.Masked())
		}
	}
	if given["user-budget-usd"] || given["user-rpm"] || given["user-rpd"] || given["user-tpm"] || given["user-concurrent"] {
		u := keys.UserDefaults{}
		if set.Users != nil {
			u = *set.Users
		}
		if given["user-budget-usd"] {
			b, err := s.budget(s.userBudgetUSD, s.userPeriod, nil, given)
			if err != nil {
				return err
			}
			u.Budget = b
		}
		if given["user-rpm"] || given["user-rpd"] || given["user-tpm"] || given["user-concurrent"] {
			u.Limits = &ratelimit.Limits{RPM: s.userRPM, RPD: s.userRPD, TPM: s.userTPM, Concurrent: s.userConcurrent}
		}
		set.Users = &u
	}
	if s.noBudget {
		set.Budget = nil
	}
	if s.noLimits {
		set.Limits = nil
	}
	if s.noAllowedIPs {
		set.AllowedIPs = nil
	}
	if s.noUserDefaults {
		set.Users = nil
	}
	return nil
}

// budget builds a budget from the flags; with cur (keys set), what the
// flags do not say is kept.
func (s *settingsFlags) budget(usd, period string, cur *budget.Spec, given map[string]bool) (*budget.Spec, error) {
	b := budget.Spec{Period: budget.Period(period), Hard: !s.soft, AlertAt: budget.DefaultAlertAt}
	if cur != nil {
		b = *cur
		if given["period"] {
			b.Period = budget.Period(period)
		}
		if given["soft"] {
			b.Hard = !s.soft
		}
	}
	if usd != "" {
		n, err := pricing.ParseUSD(usd)
		if err != nil || n < 0 {
			return nil, usagef("--budget-usd %q: want an amount in USD like 50 or 12.50", usd)
		}
		b.Limit = n
	}
	if s.alertAt != "" && (cur == nil || given["alert-at"]) {
		b.AlertAt = nil
		for v := range strings.SplitSeq(s.alertAt, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return nil, usagef("--alert-at %q: want percentages like 50,80,100", s.alertAt)
			}
			b.AlertAt = append(b.AlertAt, n)
		}
	}
	if err := b.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	return &b, nil
}

func (s *settingsFlags) metadataMap() (map[string]string, error) {
	if s.metadata == "" {
		return nil, nil
	}
	md := map[string]string{}
	for kv := range strings.SplitSeq(s.metadata, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--metadata %q: want key=value pairs separated by commas", s.metadata)
		}
		md[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return md, nil
}

// adminError strips the admin service's prefixes from err for the terminal.
func adminError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, p := range []error{admin.ErrInvalid, admin.ErrForbidden} {
		msg = strings.TrimPrefix(msg, p.Error()+": ")
	}
	return errors.New(msg)
}

// keyError says that ref named no key, with hint (what lists the keys ref
// may name), and passes any other error through adminError.
func keyError(err error, ref, hint string) error {
	if errors.Is(err, keys.ErrNotFound) {
		return fmt.Errorf("no key with id or active name %q; %s", ref, hint)
	}
	return adminError(err)
}

const (
	hintEveryKey   = "`airgw keys list --all` shows every key"
	hintActiveKeys = "`airgw keys list` shows the active keys"
)

func (e *env) keysRotate(args []string) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	grace := fs.Duration("grace", 24*time.Hour, "how long the old key keeps working (0 stops it now)")
	asJSON := fs.Bool("json", false, "print the new key as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys rotate: name the key to rotate by its id or name")
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		svc, me := a.AdminService()
		plain, next, old, err := svc.RotateKey(ctx, me, pos[0], *grace)
		if err != nil {
			return keyError(err, pos[0], hintActiveKeys)
		}
		if *asJSON {
			return writeJSON(e.stdout, struct {
				Plaintext string `json:"key"`
				*keys.Key
			}{plain, next})
		}
		fmt.Fprintf(e.stdout, "%s\n\nThis is the only time the new key is shown: store it now.\nnew id %s  name %s\nthe old key %s keeps working until %s, then stops; budgets and limits carry over\n",
			plain, next.ID, next.Name, old.ID, old.RevokedAt.UTC().Format(time.RFC3339))
		return nil
	})
}

func (e *env) keysSet(args []string) error {
	fs := flag.NewFlagSet("keys set", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	var sf settingsFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print the key as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys set: name the key to change by its id or name")
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		svc, me := a.AdminService()
		k, err := svc.Key(ctx, me, pos[0])
		if err != nil {
			return keyError(err, pos[0], hintEveryKey)
		}
		set := k.Settings
		if err := sf.apply(fs, &set); err != nil {
			return err
		}
		u := keys.Update{Settings: &set}
		if sf.metadata != "" {
			md, err := sf.metadataMap()
			if err != nil {
				return err
			}
			u.Metadata = &md
		}
		after, err := svc.UpdateKey(ctx, me, k.ID, u)
		if err != nil {
			return adminError(err)
		}
		if *asJSON {
			return writeJSON(e.stdout, after)
		}
		fmt.Fprintf(e.stdout, "updated %s (%s); running gateways apply it within 5 seconds\n", after.ID, after.Name)
		return nil
	})
}
