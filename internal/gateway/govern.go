package gateway

import (
	"context"
	"net/netip"
	"sync"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/policy"
	"github.com/airgw/airgw/internal/ratelimit"
)

// Team is what the config says about one team.
type Team struct {
	// Rules are the team's policies, its model allow-list included; nil
	// means none.
	Rules *policy.Rules
	// Limits and Budget are the team's; nil means none.
	Limits *ratelimit.Limits
	Budget *budget.Spec
	// Users are what each end user of the team gets; nil means nothing.
	Users *keys.UserDefaults

	once  sync.Once
	names level // the team's account, owner and paths, built once
}

// level returns the team's level for a request, its strings built once.
func (t *Team) level(name string) level {
	t.once.Do(func() {
		p := "teams." + name
		t.names = level{account: "team:" + name, owner: "team `" + name + "`", limitsPath: p + ".limits", budgetPath: p + ".budget"}
	})
	l := t.names
	l.limits, l.budget = t.Limits, t.Budget
	return l
}

// policy checks the request against every policy level that applies: the
// gateway's, the key's team's and the key's own. Rules that let the request
// through after acting on it (redact, clamp, log) are recorded for the
// audit trail; the first that refuses it ends the pipeline.
func (g *Gateway) policy(_ context.Context, s *state) error {
	team, err := teamOf(s.rt, s.key)
	if err != nil {
		return err
	}
	sub := &policy.Subject{
		Model:    s.req.Model,
		Purpose:  s.Purpose,
		Chat:     s.req,
		Embed:    s.embedding,
		NoOutput: s.Kind != KindChat,
	}
	if ip, err := netip.ParseAddr(s.ClientIP); err == nil {
		sub.ClientIP = ip
	}
	kr := keyRules(s.key)
	for _, r := range [...]*policy.Rules{s.rt.Policy, team.Rules, kr} {
		ds, err := r.Check(sub)
		if err != nil {
			return err
		}
		for _, d := range ds {
			s.decisions = append(s.decisions, audit.Decision{Policy: d.Policy, Action: d.Action, Detail: d.Detail})
		}
	}
	return nil
}

// noTeam is the Team of keys without one.
var noTeam = &Team{}

// teamOf returns the team of k, refusing a key whose team the config no
// longer has.
func teamOf(rt *Runtime, k *keys.Key) (*Team, error) {
	if k.Team == "" {
		return noTeam, nil
	}
	t, ok := rt.Teams[k.Team]
	if !ok || t == nil {
		return nil, &llm.Error{Code: llm.CodeModelNotAllowed, NoClientRetry: true,
			Message: "key `" + k.Name + "` belongs to team `" + k.Team + "`, which is not in the gateway's config; an operator must add `teams." + k.Team + "` or move the key to another team"}
	}
	return t, nil
}

// keyRules is the key's own policy level: its model allow-list and its
// allowed source addresses.
func keyRules(k *keys.Key) *policy.Rules {
	if len(k.Models) == 0 && k.AllowedIPs == nil {
		return nil
	}
	r := &policy.Rules{Owner: "key `" + k.Name + "`"}
	if len(k.Models) > 0 {
		r.Allow = []policy.List{{Name: "keys." + k.Name + ".models", Patterns: k.Models}}
	}
	if k.AllowedIPs != nil {
		r.Sources = &policy.Sources{Name: "keys." + k.Name + ".allowed_ips", Prefixes: k.AllowedIPs}
	}
	return r
}

// allowedModel checks model against every level's allow and deny lists,
// for GET /v1/models.
func allowedModel(rt *Runtime, k *keys.Key, model string) error {
	team, err := teamOf(rt, k)
	if err != nil {
		return err
	}
	for _, r := range [...]*policy.Rules{rt.Policy, team.Rules, keyRules(k)} {
		if err := r.AllowsModel(model); err != nil {
			return err
		}
	}
	return nil
}
