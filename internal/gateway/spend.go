package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/route"
	"github.com/airgw/airgw/internal/users"
)

// This file holds the rate-limit and budget steps and their settlement.
// Both count against the same levels: the gateway ("global"), the key's
// team ("team:<name>"), the key's rotation family ("key:<family>") and the
// end user ("user:<owner>/<id>", owned by the team, or by the key family
// for keys without a team). Those names are stable across config reloads
// and key rotations, so counters and spend carry over.

// Accounts names the accounts that the spend of a request counts against:
// the gateway's, its key's team's (when it has one), its key family's, and
// its end user's (when it names one). Rebuilding spend from the ledger at
// start uses it to file each record where the request path does.
func Accounts(team, keyFamily, endUser string) []string {
	out := []string{"global"}
	if team != "" {
		out = append(out, "team:"+team)
	}
	out = append(out, "key:"+keyFamily)
	if endUser != "" {
		out = append(out, users.Account(userOwner(team, keyFamily), endUser))
	}
	return out
}

// userOwner is who an end user belongs to: the key's team, else its family.
func userOwner(team, keyFamily string) string {
	if team != "" {
		return "team:" + team
	}
	return "key:" + keyFamily
}

// defaultOutputTokens is the output assumed for a tokens-per-minute
// estimate when a request sets no max_tokens and its model's output limit
// is unknown.
const defaultOutputTokens = 4096

// level is one scope of a request: its account name and what the runtime
// and the key say about it.
type level struct {
	account, owner string
	limitsPath     string
	limits         *ratelimit.Limits
	budgetPath     string
	budget         *budget.Spec
}

// levels lists the request's scopes, gateway first. It creates the end
// user on first use.
func (g *Gateway) levels(s *state) []level {
	if s.levels != nil {
		return s.levels
	}
	rt, k := s.rt, s.key
	team, _ := teamOf(rt, k) // policy checked it
	out := make([]level, 1, 4)
	out[0] = level{account: "global", owner: "this gateway", limitsPath: "limits", limits: rt.Limits, budgetPath: "budget", budget: rt.Budget}
	if k.Team != "" {
		out = append(out, team.level(k.Team))
	}
	kp := "keys." + k.Name
	out = append(out, level{account: "key:" + k.FamilyID(), owner: "key `" + k.Name + "`",
		limitsPath: kp + ".limits", limits: k.Limits, budgetPath: kp + ".budget", budget: k.Budget})
	if s.EndUser != "" {
		u := g.users.Ensure(userOwner(k.Team, k.FamilyID()), s.EndUser)
		lv := level{account: u.Account(), owner: "end user `" + s.EndUser + "`"}
		lv.limits, lv.limitsPath = userSetting(u.Limits, u, kp, k.Users, team.Users, func(d *keys.UserDefaults) *ratelimit.Limits { return d.Limits }, "limits")
		lv.budget, lv.budgetPath = userSetting(u.Budget, u, kp, k.Users, team.Users, func(d *keys.UserDefaults) *budget.Spec { return d.Budget }, "budget")
		out = append(out, lv)
	}
	s.levels = out
	return out
}

// userSetting picks an end user's limits or budget: its own, else its
// key's defaults, else its team's; the path says where it was set.
func userSetting[T any](own *T, u *users.User, keyPath string, keyDefaults, teamDefaults *keys.UserDefaults, get func(*keys.UserDefaults) *T, field string) (*T, string) {
	switch {
	case own != nil:
		return own, "users." + u.Owner + "/" + u.ID + "." + field
	case keyDefaults != nil && get(keyDefaults) != nil:
		return get(keyDefaults), keyPath + ".users." + field
	case teamDefaults != nil && get(teamDefaults) != nil:
		return get(teamDefaults), "teams." + u.Owner[len("team:"):] + ".users." + field
	}
	return nil, ""
}

// limit counts the request against the rate limits of every level, and
// sets the x-ratelimit-* headers of the answer, whatever it is.
func (g *Gateway) limit(ctx context.Context, s *state) error {
	lv := g.levels(s)
	scopes := make([]ratelimit.Scope, 0, len(lv))
	for i := range lv {
		if l := &lv[i]; !l.limits.IsZero() {
			scopes = append(scopes, ratelimit.Scope{Key: l.account, Owner: l.owner, Path: l.limitsPath, Limits: l.limits})
		}
	}
	if len(scopes) == 0 {
		return nil
	}
	t, err := g.limiter.Admit(ctx, g.now(), scopes, s.req.Model, s.tokenEstimate())
	t.SetHeaders(s.Out.Header())
	if err == nil {
		s.ticket = t
	}
	return err
}

// tokenEstimate is the request's tokens for tokens-per-minute limits: the
// prompt estimate plus the most it may generate.
func (s *state) tokenEstimate() int64 {
	switch s.Kind {
	case KindEmbeddings:
		var n int64
		for _, in := range s.embedding.Input {
			n += int64(llm.EstimateTextTokens(in))
		}
		return n
	case KindCountTokens:
		return 0
	}
	out := int64(s.req.MaxTokens)
	if out == 0 {
		if out = s.outputLimit(); out == 0 {
			out = defaultOutputTokens
		}
	}
	return llm.EstimateInputTokens(s.req) + out
}

// candidates lists every target that may serve the request: the route's,
// its fallbacks' and its context fallback's, priced ones only (the others
// are never tried).
func (s *state) candidates() []*route.Target {
	var out []*route.Target
	add := func(r *route.Route) {
		for i := range r.Targets {
			if r.Targets[i].Price != nil {
				out = append(out, &r.Targets[i])
			}
		}
	}
	add(s.route)
	for _, name := range append(s.route.Fallbacks, s.route.ContextFallback) {
		if r, ok := s.rt.Routes.Lookup(name); ok && name != "" {
			add(r)
		}
	}
	return out
}

// outputLimit is the most output tokens any candidate can produce; 0 when
// one of them does not say.
func (s *state) outputLimit() int64 {
	var most int64
	for _, t := range s.candidates() {
		if t.Price.MaxOutputTokens <= 0 {
			return 0
		}
		most = max(most, t.Price.MaxOutputTokens)
	}
	return most
}

// reserve reserves the request's worst-case cost against every budget of
// its levels, and sets X-Airgw-Budget-Remaining-USD. Requests with no
// budget still open a hold, so that their spend is counted for budgets set
// later.
func (g *Gateway) reserve(_ context.Context, s *state) error {
	lv := g.levels(s)
	r := budget.Request{At: s.start, Accounts: make([]string, 0, len(lv)), Budgets: make([]budget.Budget, 0, len(lv))}
	hard := false
	for i := range lv {
		l := &lv[i]
		r.Accounts = append(r.Accounts, l.account)
		if l.budget != nil {
			r.Budgets = append(r.Budgets, budget.Budget{Account: l.account, Owner: l.owner, Path: l.budgetPath, Spec: *l.budget})
			hard = hard || l.budget.Hard
		}
	}
	if hard {
		amount, detail, err := s.worstCost()
		if err != nil {
			return err
		}
		r.Amount, r.Detail = amount, detail
	}
	h, err := g.budgets.Reserve(r)
	if left, ok := h.Remaining(); ok {
		s.Out.Header().Set("X-Airgw-Budget-Remaining-USD", formatUSD(left))
	}
	if err != nil {
		return err
	}
	s.hold = h
	return nil
}

// worstCost is the most the request can cost on any of its candidates.
func (s *state) worstCost() (int64, string, error) {
	var in, out int64
	switch s.Kind {
	case KindEmbeddings:
		in = budget.EmbeddingBound(s.embedding)
	case KindCountTokens:
		return 0, "counting tokens is free", nil
	default:
		in, out = budget.PromptBound(s.req), int64(s.req.MaxTokens)
		if out == 0 {
			if out = s.outputLimit(); out == 0 {
				return 0, "", &llm.Error{Code: llm.CodeInvalidRequest, Param: "max_tokens", NoClientRetry: true,
					Message: "a budget applies to this key, and model `" + s.route.Name + "` has no known output limit, so the worst-case cost of a request without max_tokens cannot be bounded; send max_tokens, or ask an operator to set `models." + s.route.Name + ".max_output_tokens`"}
			}
		}
	}
	var worst int64
	for _, t := range s.candidates() {
		worst = max(worst, budget.WorstCost(*t.Price, in, out))
	}
	// Only a refusal shows it, but every request builds it: without fmt.
	b := make([]byte, 0, 80+len(s.req.Model))
	b = append(b, "at most "...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, " prompt tokens and "...)
	b = strconv.AppendInt(b, out, 10)
	b = append(b, " output tokens of model `"...)
	b = append(b, s.req.Model...)
	b = append(b, '`')
	return worst, string(b), nil
}

// settleSpend ends the request's hold on its rate limits and budgets: the
// actual cost replaces the reservation, the actual tokens the estimate.
// finish calls it on every exit path.
func (g *Gateway) settleSpend(s *state, cost int64) {
	s.hold.Settle(cost)
	if s.ticket != nil {
		s.ticket.Done(context.Background(), s.usage.InputTokens+s.usage.OutputTokens)
	}
}

// setCost sets the cost header of a complete answer and, where a budget
// applies, what remains of it after this request.
func (s *state) setCost(h http.Header, cost int64) {
	h.Set("X-Airgw-Cost-USD", formatUSD(cost))
	if left, ok := s.hold.Remaining(); ok {
		h.Set("X-Airgw-Budget-Remaining-USD", formatUSD(max(left-cost, 0)))
	}
}
