package admin

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
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
	a.mountSpend(s)
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

func (a *API) settings() *Settings { return a.Svc.settings() }

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
