package app

import (
	"fmt"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/policy"
	"github.com/airgw/airgw/internal/ratelimit"
)

// teamsOf turns the config's teams into the runtime's.
func teamsOf(cfg *config.Config) (map[string]*gateway.Team, error) {
	teams := make(map[string]*gateway.Team, len(cfg.Teams))
	for i := range cfg.Teams {
		t := &cfg.Teams[i]
		prefix := "teams." + t.Name
		rules, err := policyRules(prefix+".policies", "team `"+t.Name+"`", t.Policies)
		if err != nil {
			return nil, err
		}
		if t.Models != nil {
			if rules == nil {
				rules = &policy.Rules{Owner: "team `" + t.Name + "`"}
			}
			rules.Allow = append([]policy.List{{Name: prefix + ".models", Patterns: t.Models}}, rules.Allow...)
		}
		team := &gateway.Team{Rules: rules, Limits: limitsOf(t.Limits), Budget: specOf(t.Budget)}
		if u := t.Users; u != nil {
			team.Users = &keys.UserDefaults{Budget: specOf(u.Budget), Limits: limitsOf(u.Limits)}
		}
		teams[t.Name] = team
	}
	return teams, nil
}

// limitsOf converts config limits; nil stays nil.
func limitsOf(l *config.Limits) *ratelimit.Limits {
	if l == nil {
		return nil
	}
	out := &ratelimit.Limits{RPM: l.RPM, RPD: l.RPD, TPM: l.TPM, Concurrent: l.Concurrent}
	for _, m := range l.Models {
		out.Models = append(out.Models, ratelimit.ModelLimits{Model: m.Model, RPM: m.RPM, RPD: m.RPD, TPM: m.TPM, Concurrent: m.Concurrent})
	}
	return out
}

// specOf converts a config budget; nil stays nil.
func specOf(b *config.Budget) *budget.Spec {
	if b == nil {
		return nil
	}
	return &budget.Spec{Limit: int64(b.Limit), Period: budget.Period(b.Period), Hard: b.Hard, AlertAt: b.AlertAt}
}

// configBudgets lists the budgets the config defines, for the tracker's
// snapshot and its rebuild at start.
func configBudgets(cfg *config.Config) []budget.Budget {
	var out []budget.Budget
	if b := specOf(cfg.Budget); b != nil {
		out = append(out, budget.Budget{Account: "global", Owner: "this gateway", Path: "budget", Spec: *b})
	}
	for _, t := range cfg.Teams {
		if b := specOf(t.Budget); b != nil {
			out = append(out, budget.Budget{Account: "team:" + t.Name, Owner: "team `" + t.Name + "`", Path: "teams." + t.Name + ".budget", Spec: *b})
		}
	}
	return out
}

// policyRules compiles one level of policies; prefix is its path in the
// config (policies, teams.search.policies), which names each rule.
func policyRules(prefix, owner string, pol *config.Policies) (*policy.Rules, error) {
	if pol == nil {
		return nil, nil
	}
	r := &policy.Rules{Owner: owner}
	empty := true
	if pol.AllowModels != nil {
		r.Allow, empty = append(r.Allow, policy.List{Name: prefix + ".allow_models", Patterns: pol.AllowModels}), false
	}
	if len(pol.DenyModels) > 0 {
		r.Deny, empty = append(r.Deny, policy.List{Name: prefix + ".deny_models", Patterns: pol.DenyModels}), false
	}
	if pol.RequirePurpose {
		r.RequirePurpose, empty = prefix+".require_purpose", false
	}
	if pol.MaxPromptTokens > 0 {
		r.MaxPromptTokens, r.MaxPromptTokensName, empty = pol.MaxPromptTokens, prefix+".max_prompt_tokens", false
	}
	if mt := pol.MaxTokens; mt != nil {
		r.MaxTokens, empty = &policy.Cap{Name: prefix + ".max_tokens", Limit: mt.Limit, Clamp: mt.Action == "clamp"}, false
	}
	if pii := pol.PII; pii != nil {
		p, err := policy.NewPII(prefix+".pii", pii.Action, pii.Detect)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pii.Pos, err)
		}
		r.PII, empty = p, false
	}
	for _, dp := range pol.DenyPatterns {
		p, err := policy.NewPattern(prefix+".deny_patterns."+dp.Name, dp.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dp.Pos, err)
		}
		r.Patterns, empty = append(r.Patterns, p), false
	}
	if pol.SourceIPs != nil {
		r.Sources, empty = &policy.Sources{Name: prefix + ".source_ips", Prefixes: pol.SourceIPs}, false
	}
	if empty {
		return nil, nil
	}
	return r, nil
}

// ruleNames lists the names of a policy level's rules.
func ruleNames(r *policy.Rules) []string {
	var out []string
	for _, l := range r.Allow {
		out = append(out, l.Name)
	}
	for _, l := range r.Deny {
		out = append(out, l.Name)
	}
	if r.RequirePurpose != "" {
		out = append(out, r.RequirePurpose)
	}
	if r.MaxPromptTokensName != "" {
		out = append(out, r.MaxPromptTokensName)
	}
	if r.MaxTokens != nil {
		out = append(out, r.MaxTokens.Name)
	}
	if r.PII != nil {
		out = append(out, r.PII.Name)
	}
	for _, p := range r.Patterns {
		out = append(out, p.Name)
	}
	if r.Sources != nil {
		out = append(out, r.Sources.Name)
	}
	return out
}
