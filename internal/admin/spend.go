package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
)

// This file holds budgets and rate limits as the admin API shows them,
// with their live state, and the reset of a budget's spend.

func (a *API) mountSpend(s *Server) {
	account := map[string]string{"account": "only this account (global, team:<name>, key:<family>, user:<owner>/<id>)"}
	s.Handle("GET", "/admin/v1/budgets", teamRoles, Doc{Summary: "Every budget with its limit, period, spend, reservations in flight, what remains, the alerts sent, the last reset and the reset time.",
		Query: account, Response: "BudgetList"}, a.listBudgets)
	s.Handle("POST", "/admin/v1/budgets/reset", teamRoles, Doc{Summary: "Reset a budget's spend in its current period to zero (a team_admin: its team's keys and end users only); audited, kept across restarts.",
		Request: "BudgetReset", Response: "BudgetResetResult"}, a.resetBudget)
	s.Handle("GET", "/admin/v1/limits", teamRoles, Doc{Summary: "The rate limits of the gateway, teams, keys and end users, with each limit's live count, what remains and when room frees up (as the x-ratelimit-* headers).",
		Query: account, Response: "LimitList"}, a.listLimits)
}

// ErrNotFound is returned for an account with no budget.
var ErrNotFound = errors.New("admin: not found")

// ListBudgets returns every budget p may see: the gateway's (admin only),
// the teams', the keys' and the end users' (their own or their owner's
// default), with the path where each is set.
func (s *Service) ListBudgets(ctx context.Context, p *Principal) ([]budget.Budget, error) {
	var out []budget.Budget
	set := s.settings()
	if set.Budget != nil && p.Role == RoleAdmin {
		out = append(out, budget.Budget{Account: "global", Owner: "this gateway", Path: "budget", Spec: *set.Budget})
	}
	for _, t := range set.Teams {
		if p.CanSeeTeam(t.Name) && t.Budget != nil {
			out = append(out, budget.Budget{Account: "team:" + t.Name, Owner: "team `" + t.Name + "`", Path: "teams." + t.Name + ".budget", Spec: *t.Budget})
		}
	}
	ks, err := s.visibleKeys(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		if k.Budget != nil {
			out = append(out, budget.Budget{Account: "key:" + k.FamilyID(), Owner: "key `" + k.Name + "`", Path: "keys." + k.Name + ".budget", Spec: *k.Budget})
		}
	}
	for _, u := range s.endUsers(p, ks) {
		spec, path := u.budget()
		if spec != nil {
			out = append(out, budget.Budget{Account: u.account, Owner: "end user `" + u.id + "`", Path: path, Spec: *spec})
		}
	}
	return out, nil
}

func (s *Service) settings() *Settings {
	if s.Settings == nil {
		return &Settings{}
	}
	return s.Settings()
}

// visibleKeys lists the keys p may see. Revoked keys are left out, and so
// are keys rotated away (their revocation is set at rotation, for the end
// of the grace period), so each family is listed once.
func (s *Service) visibleKeys(ctx context.Context, p *Principal) ([]keys.Key, error) {
	ks, err := s.Keys.List(ctx, keys.ListFilter{})
	if err != nil {
		return nil, err
	}
	out := ks[:0]
	for _, k := range ks {
		if p.CanSeeTeam(k.Team) {
			out = append(out, k)
		}
	}
	return out, nil
}

// endUser is an end user with the settings that apply to it.
type endUser struct {
	account, owner, id string
	own                *userSettings
	key                *keys.UserDefaults // its key's defaults, for a key's user
	keyName            string
	team               *keys.UserDefaults // its team's defaults
}

type userSettings struct {
	budget *budget.Spec
	limits *ratelimit.Limits
}

// budget is the user's budget: its own, else its key's default, else its
// team's, as the gateway picks it; nil when none applies.
func (u *endUser) budget() (*budget.Spec, string) {
	switch {
	case u.own.budget != nil:
		return u.own.budget, "users." + u.owner + "/" + u.id + ".budget"
	case u.key != nil && u.key.Budget != nil:
		return u.key.Budget, "keys." + u.keyName + ".users.budget"
	case u.team != nil && u.team.Budget != nil:
		return u.team.Budget, "teams." + userTeam(u.owner) + ".users.budget"
	}
	return nil, ""
}

// limits is the user's limits, picked like its budget.
func (u *endUser) limits() (*ratelimit.Limits, string) {
	switch {
	case u.own.limits != nil:
		return u.own.limits, "users." + u.owner + "/" + u.id + ".limits"
	case u.key != nil && u.key.Limits != nil:
		return u.key.Limits, "keys." + u.keyName + ".users.limits"
	case u.team != nil && u.team.Limits != nil:
		return u.team.Limits, "teams." + userTeam(u.owner) + ".users.limits"
	}
	return nil, ""
}

// endUsers lists the end users p may see, with their settings; ks are the
// keys p may see.
func (s *Service) endUsers(p *Principal, ks []keys.Key) []endUser {
	if s.Users == nil {
		return nil
	}
	set := s.settings()
	teams := map[string]*keys.UserDefaults{}
	for _, t := range set.Teams {
		teams["team:"+t.Name] = t.Users
	}
	type keyDefaults struct {
		name string
		d    *keys.UserDefaults
	}
	byFamily := map[string]keyDefaults{}
	for _, k := range ks {
		byFamily["key:"+k.FamilyID()] = keyDefaults{k.Name, k.Users}
	}
	var out []endUser
	for _, u := range s.Users.List("") {
		if !p.CanSeeTeam(userTeam(u.Owner)) {
			continue
		}
		kd := byFamily[u.Owner]
		out = append(out, endUser{account: u.Account(), owner: u.Owner, id: u.ID, own: &userSettings{u.Budget, u.Limits},
			key: kd.d, keyName: kd.name, team: teams[u.Owner]})
	}
	return out
}

// budgetView is a budget with its state, as the admin API shows it.
type budgetView struct {
	Account      string      `json:"account"`
	Owner        string      `json:"owner"`
	Path         string      `json:"path"`
	Budget       budget.Spec `json:"budget"`
	SpentUSD     string      `json:"spent_usd"`
	ReservedUSD  string      `json:"reserved_usd"`
	RemainingUSD string      `json:"remaining_usd"`
	Alerted      int         `json:"alerted_percent"`
	PeriodStart  time.Time   `json:"period_start,omitzero"`
	ResetsAt     time.Time   `json:"resets_at,omitzero"`
	LastReset    time.Time   `json:"last_reset,omitzero"`
}

func viewOf(b budget.Budget, st *budget.Status) budgetView {
	v := budgetView{Account: b.Account, Owner: strings.ReplaceAll(b.Owner, "`", ""), Path: b.Path, Budget: b.Spec,
		SpentUSD: "unknown", ReservedUSD: "unknown", RemainingUSD: "unknown"}
	if st != nil {
		v.SpentUSD, v.ReservedUSD, v.RemainingUSD = dollars(st.Spent), dollars(st.Reserved), dollars(st.Remaining())
		v.Alerted, v.PeriodStart, v.ResetsAt, v.LastReset = st.Alerted, st.PeriodStart, st.ResetsAt, st.LastReset
	}
	return v
}

func (a *API) listBudgets(w http.ResponseWriter, r *http.Request, p *Principal) {
	bs, err := a.Svc.ListBudgets(r.Context(), p)
	if err != nil {
		a.fail(w, err)
		return
	}
	only := r.URL.Query().Get("account")
	out := []budgetView{}
	now := a.Svc.now()
	for _, b := range bs {
		if only != "" && b.Account != only {
			continue
		}
		var st *budget.Status
		if a.Svc.Budgets != nil {
			s := a.Svc.Budgets.Status(b, now)
			st = &s
		}
		out = append(out, viewOf(b, st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"budgets": out})
}

func dollars(nano int64) string {
	return strconv.FormatInt(nano/1e9, 10) + "." + fmt.Sprintf("%09d", nano%1e9)
}

// ResetBudget sets the spend of the budget of account in its current
// period to zero and re-arms its alerts; reservations of requests in
// flight stay and settle as usual. account may name a key by its name or
// id ("key:ci-bot") besides its family. An admin may reset any budget; a
// team_admin those of its team's keys and end users, not its team's own
// budget (the operator's ceiling). The reset is an audit record with the
// budget's state before and after, and survives a restart (the Tracker's
// journal).
func (s *Service) ResetBudget(ctx context.Context, p *Principal, account string) (before, after budgetView, err error) {
	if s.Budgets == nil {
		return before, after, fmt.Errorf("%w: spend lives in the serving gateway: reset a budget through its admin API (airgw budgets reset talks to it)", ErrInvalid)
	}
	root := &Principal{Name: p.Name, Role: RoleAdmin}
	all, err := s.ListBudgets(ctx, root)
	if err != nil {
		return before, after, err
	}
	b, ok := find(all, account)
	if !ok && strings.HasPrefix(account, "key:") {
		if k, kerr := s.Keys.Get(ctx, strings.TrimPrefix(account, "key:")); kerr == nil {
			account = "key:" + k.FamilyID()
			b, ok = find(all, account)
		}
	}
	if !ok {
		return before, after, fmt.Errorf("%w: no budget applies to account %q; GET /admin/v1/budgets lists them", ErrNotFound, account)
	}
	team, keyID, err := s.accountTeam(ctx, account)
	if err != nil {
		return before, after, err
	}
	if p.Role != RoleAdmin {
		if !strings.HasPrefix(account, "key:") && !strings.HasPrefix(account, "user:") {
			return before, after, fmt.Errorf("%w: the budget of %s is the operator's ceiling: only an admin may reset it", ErrForbidden, strings.ReplaceAll(b.Owner, "`", ""))
		}
		if err := teamOK(p, team); err != nil {
			return before, after, err
		}
	}
	stBefore, stAfter, err := s.Budgets.Reset(ctx, b, s.now(), p.Actor())
	if err != nil {
		return before, after, err
	}
	before, after = viewOf(b, &stBefore), viewOf(b, &stAfter)
	s.record(p, "budget.reset", account, team, keyID, before, after)
	return before, after, nil
}

func find(bs []budget.Budget, account string) (budget.Budget, bool) {
	for _, b := range bs {
		if b.Account == account {
			return b, true
		}
	}
	return budget.Budget{}, false
}

// accountTeam returns the team an account belongs to ("" for the gateway
// and for keys without a team) and, for a key's, its family id.
func (s *Service) accountTeam(ctx context.Context, account string) (team, keyID string, err error) {
	switch {
	case strings.HasPrefix(account, "team:"):
		return strings.TrimPrefix(account, "team:"), "", nil
	case strings.HasPrefix(account, "key:"):
		k, err := s.Keys.Get(ctx, strings.TrimPrefix(account, "key:"))
		if err != nil {
			return "", "", err
		}
		return k.Team, k.FamilyID(), nil
	case strings.HasPrefix(account, "user:"):
		owner, _, _ := strings.Cut(strings.TrimPrefix(account, "user:"), "/")
		return userTeam(owner), "", nil
	}
	return "", "", nil
}

func (a *API) resetBudget(w http.ResponseWriter, r *http.Request, p *Principal) {
	var in struct {
		Account string `json:"account"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	if in.Account == "" {
		a.fail(w, fmt.Errorf("%w: account is required (global, team:<name>, key:<name or id>, user:<owner>/<id>)", ErrInvalid))
		return
	}
	before, after, err := a.Svc.ResetBudget(r.Context(), p, in.Account)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"before": before, "after": after})
}

// limitView is one scope's limits with their live state.
type limitView struct {
	Scope  string            `json:"scope"`
	Path   string            `json:"path"`
	Limits *ratelimit.Limits `json:"limits"`
	// State is each limit's live count; absent for the defaults of end
	// users (each user has its own counters, listed under its account)
	// and where no gateway serves (the CLI's offline view).
	State []limitState `json:"state,omitempty"`
}

// limitState is one limit's live count, what remains and when room frees
// up: the figures of the x-ratelimit-* headers.
type limitState struct {
	Name  string `json:"name"`
	Model string `json:"model,omitempty"`
	Kind  string `json:"kind"`
	Limit int64  `json:"limit"`
	// Used is the requests or tokens in the window, or the requests in
	// flight for concurrent.
	Used      int64     `json:"used"`
	Remaining int64     `json:"remaining"`
	Reset     string    `json:"reset,omitempty"`
	ResetsAt  time.Time `json:"resets_at,omitzero"`
}

// limitScope is one row of GET /admin/v1/limits before its state.
type limitScope struct {
	scope    ratelimit.Scope
	template bool // end users' defaults: no counters of their own
}

// limitScopes lists the limits p may see: the gateway's (admin only), the
// teams', the keys', their end users' defaults, and every end user's
// (their own or their owner's default).
func (s *Service) limitScopes(ctx context.Context, p *Principal) ([]limitScope, error) {
	set := s.settings()
	var out []limitScope
	add := func(key, path string, l *ratelimit.Limits, template bool) {
		if !l.IsZero() {
			out = append(out, limitScope{ratelimit.Scope{Key: key, Path: path, Limits: l}, template})
		}
	}
	if p.Role == RoleAdmin {
		add("global", "limits", set.Limits, false)
	}
	for _, t := range set.Teams {
		if !p.CanSeeTeam(t.Name) {
			continue
		}
		add("team:"+t.Name, "teams."+t.Name+".limits", t.Limits, false)
		if t.Users != nil {
			add("users of team:"+t.Name, "teams."+t.Name+".users.limits", t.Users.Limits, true)
		}
	}
	ks, err := s.visibleKeys(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		add("key:"+k.FamilyID(), "keys."+k.Name+".limits", k.Limits, false)
		if k.Users != nil {
			add("users of key:"+k.FamilyID(), "keys."+k.Name+".users.limits", k.Users.Limits, true)
		}
	}
	for _, u := range s.endUsers(p, ks) {
		l, path := u.limits()
		add(u.account, path, l, false)
	}
	return out, nil
}

func (a *API) listLimits(w http.ResponseWriter, r *http.Request, p *Principal) {
	scopes, err := a.Svc.limitScopes(r.Context(), p)
	if err != nil {
		a.fail(w, err)
		return
	}
	only := r.URL.Query().Get("account")
	now := a.Svc.now()
	out := []limitView{}
	for _, sc := range scopes {
		if only != "" && sc.scope.Key != only {
			continue
		}
		v := limitView{Scope: sc.scope.Key, Path: sc.scope.Path, Limits: sc.scope.Limits}
		if !sc.template && a.Svc.Limiter != nil {
			states, err := a.Svc.Limiter.Usage(r.Context(), now, []ratelimit.Scope{sc.scope})
			if err != nil && !errors.Is(err, ratelimit.ErrNoReader) {
				a.fail(w, err)
				return
			}
			for _, st := range states {
				ls := limitState{Name: st.Name, Model: st.Model, Kind: st.Kind.String(), Limit: st.Limit, Used: st.Used, Remaining: st.Remaining}
				if st.Reset > 0 {
					ls.Reset, ls.ResetsAt = ratelimit.FormatReset(st.Reset), now.Add(st.Reset).UTC()
				}
				v.State = append(v.State, ls)
			}
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"limits": out})
}
