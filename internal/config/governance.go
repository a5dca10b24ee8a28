package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	pathpkg "path"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // budget periods need zones on hosts without tzdata

	"gopkg.in/yaml.v3"
)

// This file holds the governance part of the schema: teams, budgets, rate
// limits, policies, alerts and admin credentials. What they mean at run time
// is in docs/governance.md.

// Team groups keys that share a model allow-list, a budget, limits and
// policies.
type Team struct {
	// Name is the key under teams.
	Name string `json:"name"`
	// Models is the team's allow-list of aliases and globs (claude-*). Nil
	// means every model; an empty list allows none.
	Models []string `json:"models"`
	// Budget is the team's spending limit; nil means none.
	Budget *Budget `json:"budget,omitempty"`
	// Limits are the team's rate limits; nil means none.
	Limits *Limits `json:"limits,omitempty"`
	// Policies apply to the team's requests on top of the global ones.
	Policies *Policies `json:"policies,omitempty"`
	// Users holds the budget and limits every end user of the team gets.
	Users *UserDefaults `json:"users,omitempty"`
	// Pos is where the team's name was written.
	Pos Pos `json:"-"`
}

// Budget is a spending limit over a calendar period.
type Budget struct {
	// Limit is the most that may be spent per period.
	Limit Money `json:"limit_usd"`
	// Period is daily, weekly (starting Monday), monthly or total.
	Period string `json:"period"`
	// Hard refuses requests whose worst-case cost would exceed the limit;
	// a soft budget only alerts. Default true.
	Hard bool `json:"hard"`
	// AlertAt lists the percentages of the limit at which an alert is sent,
	// each once per period. Default 50, 80, 100; empty means none.
	AlertAt []int `json:"alert_at"`
	// Pos is where the budget mapping starts.
	Pos Pos `json:"-"`
}

// Limits are rate limits; zero means no limit.
type Limits struct {
	// RPM is requests per minute.
	RPM int `json:"rpm,omitempty"`
	// RPD is requests per day.
	RPD int `json:"rpd,omitempty"`
	// TPM is tokens per minute: prompt estimate plus max_tokens when a
	// request is admitted, corrected to the actual usage after it.
	TPM int `json:"tpm,omitempty"`
	// Concurrent is requests in flight at once.
	Concurrent int `json:"concurrent,omitempty"`
	// Models are limits for one model alias (or glob) within this scope,
	// in file order; a request counts against both.
	Models []ModelLimits `json:"models,omitempty"`
	// Pos is where the limits mapping starts.
	Pos Pos `json:"-"`
}

// ModelLimits are the limits of one model alias or glob.
type ModelLimits struct {
	Model string `json:"model"`
	Limits
}

// UserDefaults are what each end user of a team gets when first seen.
type UserDefaults struct {
	Budget *Budget `json:"budget,omitempty"`
	Limits *Limits `json:"limits,omitempty"`
	Pos    Pos     `json:"-"`
}

// Policies are request policies. Each rule is named after its path in the
// file (policies.pii, teams.search.policies.max_tokens) in errors and in
// the audit trail.
type Policies struct {
	// AllowModels, when set, is the only models (aliases or globs) that may
	// be requested; DenyModels are refused even when allowed.
	AllowModels []string `json:"allow_models,omitempty"`
	DenyModels  []string `json:"deny_models,omitempty"`
	// RequirePurpose refuses requests without a purpose.
	RequirePurpose bool `json:"require_purpose"`
	// MaxPromptTokens refuses larger prompts (estimated); zero means no limit.
	MaxPromptTokens int `json:"max_prompt_tokens"`
	// MaxTokens caps the output tokens a request may ask for.
	MaxTokens *MaxTokens `json:"max_tokens,omitempty"`
	// PII configures personal-data detection; nil means off.
	PII *PII `json:"pii,omitempty"`
	// DenyPatterns refuse requests whose input matches, in file order.
	DenyPatterns []DenyPattern `json:"deny_patterns,omitempty"`
	// SourceIPs, when set, are the only client addresses allowed.
	SourceIPs []netip.Prefix `json:"source_ips,omitempty"`
	// Pos is where the policies mapping starts.
	Pos Pos `json:"-"`
}

// MaxTokens caps max_tokens.
type MaxTokens struct {
	// Limit is the largest max_tokens allowed.
	Limit int `json:"limit"`
	// Action is reject (a 403) or clamp (lower it, and set it when the
	// request has none). Default reject.
	Action string `json:"action"`
	Pos    Pos    `json:"-"`
}

// PII configures detection of personal data in prompts.
type PII struct {
	// Action is redact (replace before the provider sees it), block or log.
	Action string `json:"action"`
	// Detect lists detectors: email, phone, credit_card, iban, us_ssn,
	// ip_address, secret.
	Detect []string `json:"detect"`
	// Pos is where the pii mapping starts.
	Pos Pos `json:"-"`
}

// DenyPattern is a named regular expression (RE2 syntax) that refuses
// requests whose input text matches it.
type DenyPattern struct {
	Name    string `json:"name"`
	Pattern string `json:"pattern"`
	Pos     Pos    `json:"-"`
}

// Alerts says where budget alerts go besides the log.
type Alerts struct {
	// Webhook receives each alert as a signed JSON POST; nil means none.
	Webhook *Webhook `json:"webhook,omitempty"`
}

// Webhook is an HTTP endpoint that receives alerts.
type Webhook struct {
	// URL is the http(s) endpoint.
	URL string `json:"url"`
	// Secret keys the HMAC-SHA-256 signature sent in X-Airgw-Signature.
	Secret Secret `json:"secret"`
	// Timeout bounds one delivery attempt. Default 5s.
	Timeout Duration `json:"timeout"`
	// Retries is how many more attempts a failed delivery gets, 0 to 10,
	// with doubling waits from 1s. Default 4.
	Retries int `json:"retries"`
	// AllowPrivateNetwork permits a URL on a private or loopback address.
	AllowPrivateNetwork bool `json:"allow_private_network,omitempty"`
	Pos                 Pos  `json:"-"`
}

// defaultAlertAt is Budget.AlertAt when the file does not set it.
var defaultAlertAt = []int{50, 80, 100}

func (d *decoder) team(k, n node, p path) Team {
	t := Team{Name: k.Value, Pos: d.pos(k)}
	d.checkName(k, p, "team", false)
	d.object(n, p, []field{
		{"models", func(v node, p path) {
			t.Models = []string{}
			d.strs(v, p, func(s string, _ node, _ path) { t.Models = append(t.Models, s) })
		}},
		{"budget", func(v node, p path) { t.Budget = d.budget(v, p) }},
		{"limits", func(v node, p path) { t.Limits = d.limits(v, p, true) }},
		{"policies", func(v node, p path) { pol := d.policies(v, p); t.Policies = &pol }},
		{"users", func(v node, p path) {
			u := &UserDefaults{Pos: d.pos(resolve(v))}
			if d.object(v, p, []field{
				{"budget", func(v node, p path) { u.Budget = d.budget(v, p) }},
				{"limits", func(v node, p path) { u.Limits = d.limits(v, p, true) }},
			}) {
				t.Users = u
			}
		}},
	})
	return t
}

func (d *decoder) budget(n node, p path) *Budget {
	b := &Budget{Hard: true, AlertAt: defaultAlertAt, Pos: d.pos(resolve(n))}
	if !d.object(n, p, []field{
		{"limit_usd", func(v node, p path) { d.money(v, p, &b.Limit) }},
		{"period", func(v node, p path) { d.enum(v, p, "budget period", budgetPeriods, &b.Period) }},
		{"hard", func(v node, p path) { d.boolean(v, p, &b.Hard) }},
		{"alert_at", func(v node, p path) {
			b.AlertAt = []int{}
			d.list(v, p, func(item node, ip path) {
				pct := 0
				d.integer(item, ip, 1, 1000, &pct)
				switch {
				case pct == 0:
				case slices.Contains(b.AlertAt, pct):
					d.addf(d.pos(item), ip, "%d%% is listed twice", pct)
				default:
					b.AlertAt = append(b.AlertAt, pct)
				}
			})
			slices.Sort(b.AlertAt)
		}},
	}) {
		return nil
	}
	return b
}

func (d *decoder) limits(n node, p path, withModels bool) *Limits {
	l := &Limits{Pos: d.pos(resolve(n))}
	fields := []field{
		{"rpm", func(v node, p path) { d.integer(v, p, 0, math.MaxInt32, &l.RPM) }},
		{"rpd", func(v node, p path) { d.integer(v, p, 0, math.MaxInt32, &l.RPD) }},
		{"tpm", func(v node, p path) { d.integer(v, p, 0, math.MaxInt32, &l.TPM) }},
		{"concurrent", func(v node, p path) { d.integer(v, p, 0, math.MaxInt32, &l.Concurrent) }},
	}
	if withModels {
		fields = append(fields, field{"models", func(v node, p path) {
			d.entries(v, p, func(k, v node, p path) {
				if ml := d.limits(v, p, false); ml != nil {
					l.Models = append(l.Models, ModelLimits{Model: k.Value, Limits: *ml})
				}
			})
		}})
	}
	if !d.object(n, p, fields) {
		return nil
	}
	return l
}

func (d *decoder) policies(n node, p path) Policies {
	pol := Policies{Pos: d.pos(resolve(n))}
	models := func(dst *[]string) func(v node, p path) {
		return func(v node, p path) {
			*dst = []string{}
			d.strs(v, p, func(s string, _ node, _ path) { *dst = append(*dst, s) })
		}
	}
	d.object(n, p, []field{
		{"allow_models", models(&pol.AllowModels)},
		{"deny_models", models(&pol.DenyModels)},
		{"require_purpose", func(v node, p path) { d.boolean(v, p, &pol.RequirePurpose) }},
		{"max_prompt_tokens", func(v node, p path) { d.integer(v, p, 0, math.MaxInt32, &pol.MaxPromptTokens) }},
		{"max_tokens", func(v node, p path) {
			mt := &MaxTokens{Action: "reject", Pos: d.pos(resolve(v))}
			if d.object(v, p, []field{
				{"limit", func(v node, p path) { d.integer(v, p, 1, math.MaxInt32, &mt.Limit) }},
				{"action", func(v node, p path) { d.enum(v, p, "max_tokens action", capActions, &mt.Action) }},
			}) {
				pol.MaxTokens = mt
			}
		}},
		{"pii", func(v node, p path) {
			pii := &PII{Pos: d.pos(resolve(v))}
			if d.object(v, p, []field{
				{"action", func(v node, p path) { d.enum(v, p, "PII action", piiActions, &pii.Action) }},
				{"detect", func(v node, p path) {
					pii.Detect = []string{}
					d.list(v, p, func(item node, p path) {
						var s string
						d.enum(item, p, "PII detector", piiDetectors, &s)
						if s != "" && !slices.Contains(pii.Detect, s) {
							pii.Detect = append(pii.Detect, s)
						}
					})
				}},
			}) {
				pol.PII = pii
			}
		}},
		{"deny_patterns", func(v node, p path) {
			d.entries(v, p, func(k, v node, p path) {
				dp := DenyPattern{Name: k.Value, Pos: d.pos(k)}
				d.checkName(k, p, "deny pattern", false)
				parsed(d, v, p, "a regular expression (RE2 syntax)", parseRegexp, &dp.Pattern)
				pol.DenyPatterns = append(pol.DenyPatterns, dp)
			})
		}},
		{"source_ips", func(v node, p path) {
			pol.SourceIPs = []netip.Prefix{}
			if n := resolve(v); n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
				d.addf(d.pos(n), p, "is empty, which would refuse every client; list at least one range such as 10.0.0.0/8, or remove it")
			}
			d.list(v, p, func(item node, ip path) {
				var pr netip.Prefix
				parsed(d, item, ip, "an IP address or CIDR range like 10.0.0.0/8", parsePrefix, &pr)
				if pr.IsValid() {
					pol.SourceIPs = append(pol.SourceIPs, pr)
				}
			})
		}},
	})
	return pol
}

func (d *decoder) alerts(n node, p path, a *Alerts) {
	d.object(n, p, []field{
		{"webhook", func(v node, p path) {
			w := &Webhook{Timeout: Duration(5 * time.Second), Retries: 4, Pos: d.pos(resolve(v))}
			if d.object(v, p, []field{
				{"url", func(v node, p path) {
					parsed(d, v, p, "a URL like https://hooks.example.com/airgw", parseBaseURL, &w.URL)
				}},
				{"secret", func(v node, p path) { d.secret(v, p, &w.Secret) }},
				{"timeout", func(v node, p path) { d.duration(v, p, &w.Timeout) }},
				{"retries", func(v node, p path) { d.integer(v, p, 0, 10, &w.Retries) }},
				{"allow_private_network", func(v node, p path) { d.boolean(v, p, &w.AllowPrivateNetwork) }},
			}) {
				a.Webhook = w
			}
		}},
	})
}

func (d *decoder) admin(n node, p path, a *Admin) {
	a.Pos = d.pos(resolve(n))
	d.object(n, p, []field{
		{"key", func(v node, p path) { d.secret(v, p, &a.Key) }},
		{"credentials", func(v node, p path) {
			d.entries(v, p, func(k, v node, p path) {
				c := AdminCredential{Name: k.Value, Pos: d.pos(k)}
				d.checkName(k, p, "credential", false)
				d.object(v, p, []field{
					{"key", func(v node, p path) { d.secret(v, p, &c.Key) }},
					{"role", func(v node, p path) { d.enum(v, p, "admin role", adminRoles, &c.Role) }},
					{"team", func(v node, p path) { d.str(v, p, &c.Team) }},
				})
				a.Credentials = append(a.Credentials, c)
			})
		}},
	})
}

func parseZone(s string) (string, error) {
	if _, err := time.LoadLocation(s); err != nil || s == "" || s == "Local" {
		return "", errors.New("unknown zone; use UTC or a name from the IANA database such as America/New_York")
	}
	return s, nil
}

func parseRegexp(s string) (string, error) {
	if _, err := regexp.Compile(s); err != nil {
		return "", hiddenError{fmt.Errorf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))}
	}
	return s, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errNoDetail
	}
	return pr.Masked(), nil
}

// validateGovernance checks budgets, limits, policies, alerts and admin
// credentials against the rest of the file.
func (d *decoder) validateGovernance(c *Config, root Pos) {
	d.checkBudget("budget", c.Budget)
	d.checkLimits(c, "limits", c.Limits)
	d.checkPolicies(c, "policies", &c.Policies)
	aliases := c.modelNames()
	for _, t := range c.Teams {
		p := entryPath("teams", t.Name)
		d.checkModelRefs(p+".models", t.Models, aliases)
		d.checkBudget(p+".budget", t.Budget)
		d.checkLimits(c, p+".limits", t.Limits)
		if t.Policies != nil {
			d.checkPolicies(c, p+".policies", t.Policies)
		}
		if u := t.Users; u != nil {
			d.checkBudget(p+".users.budget", u.Budget)
			d.checkLimits(c, p+".users.limits", u.Limits)
		}
	}
	if w := c.Alerts.Webhook; w != nil {
		d.required("alerts.webhook.url", w.Pos, "give the endpoint, such as https://hooks.example.com/airgw")
		d.required("alerts.webhook.secret", w.Pos, "alerts are signed with HMAC-SHA-256; set a secret such as ${AIRGW_WEBHOOK_SECRET} (openssl rand -hex 32)")
		if n := len(w.Secret.Value()); n > 0 && n < 16 {
			d.add("alerts.webhook.secret", w.Pos, "must be at least 16 bytes, got %d; generate one with: openssl rand -hex 32", n)
		}
		if d.written("alerts.webhook.timeout") && w.Timeout <= 0 {
			d.add("alerts.webhook.timeout", w.Pos, "must be more than 0")
		}
	}
	d.validateAdmin(c, root)
}

func (d *decoder) checkBudget(p string, b *Budget) {
	if b == nil {
		return
	}
	d.required(p+".limit_usd", b.Pos, "give the limit in USD, such as 500")
	d.required(p+".period", b.Pos, "set it to one of "+strings.Join(budgetPeriods, ", "))
}

func (d *decoder) checkLimits(c *Config, p string, l *Limits) {
	if l == nil {
		return
	}
	aliases := c.modelNames()
	for _, ml := range l.Models {
		mp := entryPath(p+".models", ml.Model)
		d.checkModelRefs(mp, []string{ml.Model}, aliases)
	}
}

func (d *decoder) checkPolicies(c *Config, p string, pol *Policies) {
	aliases := c.modelNames()
	d.checkModelRefs(p+".allow_models", pol.AllowModels, aliases)
	d.checkModelRefs(p+".deny_models", pol.DenyModels, aliases)
	if pii := pol.PII; pii != nil {
		d.required(p+".pii.action", pii.Pos, "set it to one of "+strings.Join(piiActions, ", "))
		if d.written(p+".pii.detect") && len(pii.Detect) == 0 && !d.failed[p+".pii.detect"] {
			d.add(p+".pii.detect", pii.Pos, "list at least one detector: %s", strings.Join(piiDetectors, ", "))
		}
		d.required(p+".pii.detect", pii.Pos, "list the detectors to use: "+strings.Join(piiDetectors, ", "))
	}
	if mt := pol.MaxTokens; mt != nil {
		d.required(p+".max_tokens.limit", mt.Pos, "give the largest max_tokens a request may ask for, such as 4096")
	}
}

// checkModelRefs checks a list of model aliases or globs: an alias must
// exist, a glob must match at least one alias, and nothing is listed twice.
func (d *decoder) checkModelRefs(p string, refs, aliases []string) {
	for i, ref := range refs {
		ip := p
		if !strings.HasSuffix(p, "."+ref) && !strings.HasSuffix(p, ".\""+ref+"\"") {
			ip = fmt.Sprintf("%s[%d]", p, i)
		}
		switch {
		case IsGlob(ref):
			if _, err := pathpkg.Match(ref, ""); err != nil {
				d.add(ip, Pos{}, "model pattern %q is malformed; use * and ? as wildcards, such as claude-*", ref)
			} else if !slices.ContainsFunc(aliases, func(a string) bool { ok, _ := pathpkg.Match(ref, a); return ok }) {
				d.add(ip, Pos{}, "model pattern %q matches no model (expected one of %s)", ref, strings.Join(aliases, ", "))
			}
		case !slices.Contains(aliases, ref):
			d.add(ip, Pos{}, "%s", unknownMessage("model", ref, aliases, false))
		case slices.Index(refs, ref) < i:
			d.add(ip, Pos{}, "model %q is listed twice", ref)
		}
	}
}

// IsGlob reports whether a model reference is a pattern (it holds *, ? or [).
func IsGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

func (d *decoder) validateAdmin(c *Config, root Pos) {
	a := &c.Admin
	if n := len(a.Key.Value()); n > 0 && n < 16 {
		d.add("admin.key", a.Pos, "must be at least 16 bytes, got %d; generate one with: openssl rand -hex 32", n)
	}
	teams := make([]string, len(c.Teams))
	for i, t := range c.Teams {
		teams[i] = t.Name
	}
	seen := map[string]string{}
	if a.Key != "" {
		seen[a.Key.Value()] = "admin.key"
	}
	for _, cr := range a.Credentials {
		p := entryPath("admin.credentials", cr.Name)
		d.required(p+".key", cr.Pos, "set the credential, such as ${AIRGW_AUDITOR_KEY} (openssl rand -hex 32)")
		d.required(p+".role", cr.Pos, "set it to one of "+strings.Join(adminRoles, ", "))
		if n := len(cr.Key.Value()); n > 0 && n < 16 {
			d.add(p+".key", cr.Pos, "must be at least 16 bytes, got %d; generate one with: openssl rand -hex 32", n)
		}
		if first, dup := seen[cr.Key.Value()]; dup && cr.Key != "" {
			d.add(p+".key", cr.Pos, "is the same credential as %s; every credential must be different so that the audit trail names the right actor", first)
		}
		seen[cr.Key.Value()] = p
		switch {
		case cr.Role == "team_admin" && cr.Team == "":
			d.add(p+".team", cr.Pos, "missing; role team_admin manages one team: name it")
		case cr.Role == "team_admin" && !slices.Contains(teams, cr.Team):
			d.add(p+".team", cr.Pos, "%s", unknownMessage("team", cr.Team, teams, false))
		case cr.Role != "team_admin" && cr.Team != "" && cr.Role != "":
			d.add(p+".team", cr.Pos, "only applies to role team_admin; remove it")
		}
	}
	if d.written("server.admin_listen") && !d.written("admin.key") && !d.written("admin.credentials") {
		d.add("server.admin_listen", root, "the admin API refuses to start without a credential; set admin.key (such as ${AIRGW_ADMIN_KEY}, generated with: openssl rand -hex 32), or remove admin_listen")
	}
}
