package app

import (
	"fmt"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/policy"
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
		teams[t.Name] = &gateway.Team{Rules: rules}
	}
	return teams, nil
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

// unenforced refuses the governance settings this build parses but does not
// act on yet (they land one pipeline step at a time): accepting a budget
// and then ignoring it would give false safety.
func unenforced(cfg *config.Config) error {
	var found []string
	add := func(path string, set bool) {
		if set {
			found = append(found, path)
		}
	}
	add("admin", cfg.Admin.HasAdminCredential())
	add("budget", cfg.Budget != nil)
	add("limits", cfg.Limits != nil)
	add("alerts", cfg.Alerts.Webhook != nil)
	for _, m := range cfg.Models {
		add("models."+m.Name+".max_output_tokens", m.MaxOutputTokens > 0)
	}
	for _, t := range cfg.Teams {
		add("teams."+t.Name+".budget", t.Budget != nil)
		add("teams."+t.Name+".limits", t.Limits != nil)
		add("teams."+t.Name+".users", t.Users != nil)
	}
	if len(found) > 0 {
		return fmt.Errorf("%v: not yet supported in this build of airgw; remove it", found)
	}
	return nil
}
