package admin

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/users"
)

func (a *API) mountGovernance(s *Server) {
	s.Handle("GET", "/admin/v1/teams", teamRoles, Doc{Summary: "The configured teams (a team_admin sees its own).", Response: "TeamList"}, a.listTeams)
	s.Handle("GET", "/admin/v1/teams/{team}", teamRoles, Doc{Summary: "One team: models, budget, limits, end-user defaults, policies.", Response: "Team"}, a.getTeam)
	s.Handle("GET", "/admin/v1/users", teamRoles, Doc{Summary: "End users, created on first use.",
		Query: map[string]string{"owner": "team:<name> or key:<family>"}, Response: "UserList"}, a.listUsers)
	s.Handle("GET", "/admin/v1/users/{owner}/{user}", teamRoles, Doc{Summary: "One end user with its own settings.", Response: "User"}, a.getUser)
	s.Handle("PUT", "/admin/v1/users/{owner}/{user}", teamRoles, Doc{Summary: "Set an end user's own budget and limits; null restores its owner's defaults.", Request: "UserSettings", Response: "User"}, a.putUser)
	s.Handle("GET", "/admin/v1/budgets", teamRoles, Doc{Summary: "Every budget with its spend, reservations in flight, period and reset time.", Response: "BudgetList"}, a.listBudgets)
	s.Handle("GET", "/admin/v1/limits", teamRoles, Doc{Summary: "The rate limits of the gateway, teams, keys and end users.", Response: "LimitList"}, a.listLimits)
	s.Handle("GET", "/admin/v1/usage", usageRoles, Doc{Summary: "Usage report: requests, tokens and cost grouped by any of " + strings.Join(audit.Dimensions, ", ") + " (a team_admin sees its team's).",
		Query: filterDoc(map[string]string{"group_by": "comma-separated dimensions"}), Response: "Usage"}, a.usage)
	s.Handle("GET", "/admin/v1/audit/records", auditRoles, Doc{Summary: "Audit records, oldest first, including admin changes.",
		Query: filterDoc(map[string]string{"limit": "1 to 1000, default 100"}), Response: "RecordList"}, a.records)
	s.Handle("GET", "/admin/v1/audit/export", auditRoles, Doc{Summary: "Every matching audit record, oldest first, streamed as JSON Lines or CSV (as `airgw audit export`).",
		Query: filterDoc(map[string]string{"format": "jsonl (default) or csv", "limit": "at most this many records; default all"})}, a.export)
	s.Handle("GET", "/admin/v1/audit/verify", auditRoles, Doc{Summary: "Check the audit trail's hash chains and signed checkpoints (as `airgw audit verify`); ok is false with the first bad record of each broken chain.",
		Response: "VerifyReport"}, a.verify)
}

// filterDoc documents the audit filter parameters, with extra ones.
func filterDoc(extra map[string]string) map[string]string {
	out := map[string]string{"key_id": "a key id (key works too)"}
	for _, p := range audit.FilterParams {
		if p.Name != "limit" {
			out[p.Name] = p.Help
		}
	}
	maps.Copy(out, extra)
	return out
}

func (a *API) settings() *Settings {
	if a.Svc.Settings == nil {
		return &Settings{}
	}
	return a.Svc.Settings()
}

func (a *API) listTeams(w http.ResponseWriter, r *http.Request, p *Principal) {
	out := []Team{}
	for _, t := range a.settings().Teams {
		if p.CanSeeTeam(t.Name) {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": out})
}

func (a *API) getTeam(w http.ResponseWriter, r *http.Request, p *Principal) {
	name := r.PathValue("team")
	if err := teamOK(p, name); err != nil {
		a.fail(w, err)
		return
	}
	t := a.settings().Team(name)
	if t == nil {
		writeError(w, http.StatusNotFound, "not_found", "no team `"+name+"` in the config; GET /admin/v1/teams lists them")
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *API) users() *users.Registry { return a.Svc.Users }

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p *Principal) {
	owner := r.URL.Query().Get("owner")
	if p.Role == RoleTeamAdmin {
		if owner != "" && owner != "team:"+p.Team {
			a.fail(w, teamOK(p, userTeam(owner)))
			return
		}
		owner = "team:" + p.Team
	}
	out := []users.User{}
	if reg := a.users(); reg != nil {
		out = append(out, reg.List(owner)...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p *Principal) {
	owner, id := r.PathValue("owner"), r.PathValue("user")
	if err := teamOK(p, userTeam(owner)); err != nil {
		a.fail(w, err)
		return
	}
	var u users.User
	ok := false
	if reg := a.users(); reg != nil {
		u, ok = reg.Get(owner, id)
	}
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no end user `"+id+"` of "+owner+"; users are created by their first request")
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *API) putUser(w http.ResponseWriter, r *http.Request, p *Principal) {
	var in struct {
		Budget *budget.Spec      `json:"budget"`
		Limits *ratelimit.Limits `json:"limits"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	owner := r.PathValue("owner")
	if !strings.HasPrefix(owner, "team:") && !strings.HasPrefix(owner, "key:") {
		a.fail(w, fmt.Errorf("%w: owner %q: want team:<name> or key:<family>", ErrInvalid, owner))
		return
	}
	u, err := a.Svc.SetUser(r.Context(), p, owner, r.PathValue("user"), in.Budget, in.Limits)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// budgetView is a budget with its state, as GET /admin/v1/budgets shows it.
type budgetView struct {
	Account     string      `json:"account"`
	Owner       string      `json:"owner"`
	Path        string      `json:"path"`
	Budget      budget.Spec `json:"budget"`
	SpentUSD    string      `json:"spent_usd"`
	ReservedUSD string      `json:"reserved_usd"`
	PeriodStart time.Time   `json:"period_start"`
	ResetsAt    time.Time   `json:"resets_at,omitzero"`
}

// budgets lists every budget p may see: the gateway's, the teams', the
// keys' and the end users' (their own or their owner's default).
func (a *API) budgets(r *http.Request, p *Principal) ([]budget.Budget, error) {
	set := a.settings()
	var out []budget.Budget
	if set.Budget != nil && p.Role == RoleAdmin {
		out = append(out, budget.Budget{Account: "global", Owner: "this gateway", Path: "budget", Spec: *set.Budget})
	}
	teamUsers := map[string]*keys.UserDefaults{}
	for _, t := range set.Teams {
		if !p.CanSeeTeam(t.Name) {
			continue
		}
		if t.Budget != nil {
			out = append(out, budget.Budget{Account: "team:" + t.Name, Owner: "team `" + t.Name + "`", Path: "teams." + t.Name + ".budget", Spec: *t.Budget})
		}
		teamUsers["team:"+t.Name] = t.Users
	}
	ks, err := a.Svc.Keys.List(r.Context(), keys.ListFilter{})
	if err != nil {
		return nil, err
	}
	type keyDefaults struct {
		name string
		d    *keys.UserDefaults
	}
	keyUsers := map[string]keyDefaults{}
	for _, k := range ks {
		if !p.CanSeeTeam(k.Team) {
			continue
		}
		if k.Budget != nil {
			out = append(out, budget.Budget{Account: "key:" + k.FamilyID(), Owner: "key `" + k.Name + "`", Path: "keys." + k.Name + ".budget", Spec: *k.Budget})
		}
		keyUsers["key:"+k.FamilyID()] = keyDefaults{k.Name, k.Users}
	}
	if reg := a.users(); reg != nil {
		for _, u := range reg.List("") {
			if !p.CanSeeTeam(userTeam(u.Owner)) {
				continue
			}
			spec, path := u.Budget, "users."+u.Owner+"/"+u.ID+".budget"
			if kd := keyUsers[u.Owner]; spec == nil && kd.d != nil && kd.d.Budget != nil {
				spec, path = kd.d.Budget, "keys."+kd.name+".users.budget"
			}
			if d := teamUsers[u.Owner]; spec == nil && d != nil && d.Budget != nil {
				spec, path = d.Budget, "teams."+userTeam(u.Owner)+".users.budget"
			}
			if spec != nil {
				out = append(out, budget.Budget{Account: u.Account(), Owner: "end user `" + u.ID + "`", Path: path, Spec: *spec})
			}
		}
	}
	return out, nil
}

func (a *API) listBudgets(w http.ResponseWriter, r *http.Request, p *Principal) {
	bs, err := a.budgets(r, p)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := []budgetView{}
	now := a.Svc.now()
	for _, b := range bs {
		v := budgetView{Account: b.Account, Owner: strings.ReplaceAll(b.Owner, "`", ""), Path: b.Path, Budget: b.Spec, SpentUSD: "unknown", ReservedUSD: "unknown"}
		if a.Svc.Budgets != nil {
			st := a.Svc.Budgets.Status(b, now)
			v.SpentUSD, v.ReservedUSD = dollars(st.Spent), dollars(st.Reserved)
			v.PeriodStart, v.ResetsAt = st.PeriodStart, st.ResetsAt
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"budgets": out})
}

func dollars(nano int64) string {
	s := strconv.FormatInt(nano/1e9, 10) + "." + fmt.Sprintf("%09d", nano%1e9)
	return s
}

// limitView is one scope's configured limits.
type limitView struct {
	Scope  string            `json:"scope"`
	Path   string            `json:"path"`
	Limits *ratelimit.Limits `json:"limits"`
}

func (a *API) listLimits(w http.ResponseWriter, r *http.Request, p *Principal) {
	set := a.settings()
	out := []limitView{}
	if set.Limits != nil && p.Role == RoleAdmin {
		out = append(out, limitView{"global", "limits", set.Limits})
	}
	for _, t := range set.Teams {
		if !p.CanSeeTeam(t.Name) {
			continue
		}
		if t.Limits != nil {
			out = append(out, limitView{"team:" + t.Name, "teams." + t.Name + ".limits", t.Limits})
		}
		if t.Users != nil && t.Users.Limits != nil {
			out = append(out, limitView{"users of team:" + t.Name, "teams." + t.Name + ".users.limits", t.Users.Limits})
		}
	}
	ks, err := a.Svc.Keys.List(r.Context(), keys.ListFilter{})
	if err != nil {
		a.fail(w, err)
		return
	}
	for _, k := range ks {
		if !p.CanSeeTeam(k.Team) {
			continue
		}
		if k.Limits != nil {
			out = append(out, limitView{"key:" + k.FamilyID(), "keys." + k.Name + ".limits", k.Limits})
		}
		if k.Users != nil && k.Users.Limits != nil {
			out = append(out, limitView{"users of key:" + k.FamilyID(), "keys." + k.Name + ".users.limits", k.Users.Limits})
		}
	}
	if reg := a.users(); reg != nil {
		for _, u := range reg.List("") {
			if u.Limits != nil && p.CanSeeTeam(userTeam(u.Owner)) {
				out = append(out, limitView{u.Account(), "users." + u.Owner + "/" + u.ID + ".limits", u.Limits})
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"limits": out})
}

// filter reads the audit filter of a query.
// filter reads the audit filters of the query (audit.FilterParams; key_id
// is accepted for key), scoped to a team_admin's own team. The limit is
// each route's own business.
func (a *API) filter(r *http.Request, p *Principal) (audit.Filter, error) {
	q := r.URL.Query()
	get := func(name string) string {
		switch name {
		case "key":
			if v := q.Get("key"); v != "" {
				return v
			}
			return q.Get("key_id")
		case "limit":
			return ""
		}
		return q.Get(name)
	}
	f, err := audit.ParseFilter(get, a.Svc.now())
	if err != nil {
		return f, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if p.Role == RoleTeamAdmin {
		if f.Team != "" && f.Team != p.Team {
			return f, teamOK(p, f.Team)
		}
		f.Team = p.Team
	}
	return f, nil
}

func (a *API) usage(w http.ResponseWriter, r *http.Request, p *Principal) {
	f, err := a.filter(r, p)
	if err != nil {
		a.fail(w, err)
		return
	}
	q := audit.UsageQuery{Filter: f}
	if g := r.URL.Query().Get("group_by"); g != "" {
		for _, d := range strings.Split(g, ",") {
			if d = strings.TrimSpace(d); !slices.Contains(audit.Dimensions, d) {
				a.fail(w, fmt.Errorf("%w: group_by %q: want some of %s", ErrInvalid, d, strings.Join(audit.Dimensions, ", ")))
				return
			}
			q.GroupBy = append(q.GroupBy, d)
		}
	}
	if a.Usage == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "usage reports are not available in this build")
		return
	}
	rows, err := a.Usage.Usage(r.Context(), q)
	if err != nil {
		a.fail(w, err)
		return
	}
	if rows == nil {
		rows = []audit.UsageRow{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"group_by": q.GroupBy, "rows": rows})
}

func (a *API) records(w http.ResponseWriter, r *http.Request, p *Principal) {
	f, err := a.filter(r, p)
	if err != nil {
		a.fail(w, err)
		return
	}
	f.Limit = 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			a.fail(w, fmt.Errorf("%w: limit %q: want 1 to 1000", ErrInvalid, v))
			return
		}
		f.Limit = n
	}
	if a.Records == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "audit queries are not available in this build")
		return
	}
	out := []audit.Record{}
	if err := a.Records.QueryRecords(r.Context(), f, func(rec audit.Record) error { out = append(out, rec); return nil }); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out})
}
