package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/store/sqlite"
	"github.com/airgw/airgw/internal/users"
)

// recorder collects audit records.
type recorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (r *recorder) Write(rec audit.Record) { r.mu.Lock(); r.recs = append(r.recs, rec); r.mu.Unlock() }

// fakeUsage answers usage reports and remembers the last query.
type fakeUsage struct{ last audit.UsageQuery }

func (f *fakeUsage) Usage(_ context.Context, q audit.UsageQuery) ([]audit.UsageRow, error) {
	f.last = q
	return []audit.UsageRow{{Group: map[string]string{"team": q.Team}, Requests: 3, CostNanoUSD: 42}}, nil
}

// fakeRecords answers audit queries with one record per team asked.
type fakeRecords struct{ last audit.Filter }

func (f *fakeRecords) QueryRecords(_ context.Context, fl audit.Filter, fn func(audit.Record) error) error {
	f.last = fl
	return fn(audit.Record{RequestID: "req_1", Team: fl.Team})
}

const (
	adminKey   = "admin-credential-0000000001"
	auditorKey = "auditor-credential-00000001"
	redKey     = "red-team-credential-0000001"
)

type fixture struct {
	t       *testing.T
	srv     *httptest.Server
	api     *API
	svc     *Service
	rec     *recorder
	usage   *fakeUsage
	records *fakeRecords
	ids     map[string]string // "red", "blue", "none" → a key id of that team
	n       int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }
	spec := &budget.Spec{Limit: 5_000_000_000, Period: budget.Monthly, Hard: true}
	set := &Settings{Budget: spec, Models: []string{"gpt-4o", "claude-sonnet"}, Teams: []Team{
		{Name: "red", Budget: spec, Users: &keys.UserDefaults{Budget: spec}}, {Name: "blue", Budget: spec}}}
	f := &fixture{t: t, rec: &recorder{}, usage: &fakeUsage{}, records: &fakeRecords{}, ids: map[string]string{}}
	reg := users.New(db, users.Options{Now: now})
	f.svc = &Service{Keys: keys.NewManager(db, keys.NewHasher([]byte("0123456789abcdef0123456789abcdef")), now),
		Users: reg, Budgets: budget.NewTracker(budget.Options{}), Audit: f.rec, Settings: func() *Settings { return set }, Now: now}
	f.api = &API{Svc: f.svc, Usage: f.usage, Records: f.records,
		Verify: func(context.Context) (*audit.Report, error) { return &audit.Report{OK: true, Records: 7}, nil }}
	s := NewServer([]Credential{{Name: "root", Key: adminKey, Role: RoleAdmin}, {Name: "audit", Key: auditorKey, Role: RoleAuditor},
		{Name: "red-lead", Key: redKey, Role: RoleTeamAdmin, Team: "red"}}, Options{})
	f.api.Mount(s)
	f.srv = httptest.NewServer(s)
	t.Cleanup(f.srv.Close)
	for _, team := range []string{"red", "blue", ""} {
		f.ids[teamName(team)] = f.key(team)
		reg.Ensure("team:"+teamName(team), "alice")
	}
	return f
}

func teamName(t string) string {
	if t == "" {
		return "none"
	}
	return t
}

// key creates a fresh key in team and returns its id.
func (f *fixture) key(team string) string {
	f.n++
	_, k, err := f.svc.Keys.Create(context.Background(), keys.CreateOptions{Name: "k" + strings.Repeat("x", f.n%3) + string(rune('a'+f.n%26)) + string(rune('a'+f.n/26)), Team: team,
		Settings: keys.Settings{Budget: &budget.Spec{Limit: 2_000_000_000, Period: budget.Daily, Hard: true, AlertAt: budget.DefaultAlertAt}, Limits: &ratelimit.Limits{RPM: 100}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return k.ID
}

func (f *fixture) do(cred, method, path, body string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// call is one request to a route, about things of one team.
type call func(f *fixture, team string) (method, path, body string)

// matrix has a call for every route: TestAuthorizationMatrix fails for a
// route that is missing here.
var matrix = map[string]call{
	"GET /admin/v1/whoami":       func(*fixture, string) (string, string, string) { return "GET", "/admin/v1/whoami", "" },
	"GET /admin/v1/openapi.json": func(*fixture, string) (string, string, string) { return "GET", "/admin/v1/openapi.json", "" },
	"GET /admin/v1/keys":         func(_ *fixture, t string) (string, string, string) { return "GET", "/admin/v1/keys?team=" + t, "" },
	"POST /admin/v1/keys": func(f *fixture, t string) (string, string, string) {
		f.n++
		return "POST", "/admin/v1/keys", `{"name":"new-` + strings.Repeat("n", f.n) + `","team":"` + t + `","models":["gpt-*"],"budget":{"limit_usd":"5","period":"daily"}}`
	},
	"GET /admin/v1/keys/{id}": func(f *fixture, t string) (string, string, string) { return "GET", "/admin/v1/keys/" + f.ids[t], "" },
	"PATCH /admin/v1/keys/{id}": func(f *fixture, t string) (string, string, string) {
		return "PATCH", "/admin/v1/keys/" + f.ids[t], `{"metadata":{"owner":"ana"},"limits":{"rpm":5},"allowed_ips":["10.0.0.0/8"]}`
	},
	"POST /admin/v1/keys/{id}/revoke": func(f *fixture, t string) (string, string, string) {
		return "POST", "/admin/v1/keys/" + f.key(t) + "/revoke", ""
	},
	"POST /admin/v1/keys/{id}/rotate": func(f *fixture, t string) (string, string, string) {
		return "POST", "/admin/v1/keys/" + f.key(t) + "/rotate", `{"grace":"1h"}`
	},
	"GET /admin/v1/teams":        func(*fixture, string) (string, string, string) { return "GET", "/admin/v1/teams", "" },
	"GET /admin/v1/teams/{team}": func(_ *fixture, t string) (string, string, string) { return "GET", "/admin/v1/teams/" + t, "" },
	"GET /admin/v1/users": func(_ *fixture, t string) (string, string, string) {
		return "GET", "/admin/v1/users?owner=team:" + t, ""
	},
	"GET /admin/v1/users/{owner}/{user}": func(_ *fixture, t string) (string, string, string) {
		return "GET", "/admin/v1/users/team:" + t + "/alice", ""
	},
	"PUT /admin/v1/users/{owner}/{user}": func(_ *fixture, t string) (string, string, string) {
		return "PUT", "/admin/v1/users/team:" + t + "/alice", `{"budget":{"limit_usd":"1","period":"daily"}}`
	},
	"GET /admin/v1/budgets": func(*fixture, string) (string, string, string) { return "GET", "/admin/v1/budgets", "" },
	"GET /admin/v1/limits":  func(*fixture, string) (string, string, string) { return "GET", "/admin/v1/limits", "" },
	"POST /admin/v1/budgets/reset": func(f *fixture, t string) (string, string, string) {
		return "POST", "/admin/v1/budgets/reset", `{"account":"key:` + f.ids[t] + `"}`
	},
	"GET /admin/v1/usage": func(_ *fixture, t string) (string, string, string) {
		return "GET", "/admin/v1/usage?group_by=model,day&team=" + t, ""
	},
	"GET /admin/v1/audit/records": func(_ *fixture, t string) (string, string, string) {
		return "GET", "/admin/v1/audit/records?team=" + t, ""
	},
	"GET /admin/v1/audit/export": func(_ *fixture, t string) (string, string, string) {
		return "GET", "/admin/v1/audit/export?format=csv&team=" + t, ""
	},
	"GET /admin/v1/audit/verify": func(_ *fixture, _ string) (string, string, string) {
		return "GET", "/admin/v1/audit/verify", ""
	},
}

// teamScoped lists the routes whose "other team" call a team_admin must be
// refused; the others are not about one team (or filter to the caller's).
var teamScoped = map[string]bool{
	"GET /admin/v1/keys": true, "POST /admin/v1/keys": true, "GET /admin/v1/keys/{id}": true, "PATCH /admin/v1/keys/{id}": true,
	"POST /admin/v1/keys/{id}/revoke": true, "POST /admin/v1/keys/{id}/rotate": true, "GET /admin/v1/teams/{team}": true,
	"GET /admin/v1/users": true, "GET /admin/v1/users/{owner}/{user}": true, "PUT /admin/v1/users/{owner}/{user}": true,
	"GET /admin/v1/usage": true, "GET /admin/v1/audit/records": true, "GET /admin/v1/audit/export": true,
	"POST /admin/v1/budgets/reset": true,
}

// TestAuthorizationMatrix (RELIABILITY T34): every route × every role ×
// its own team's ids and another team's: the declared roles are allowed,
// the others get 403, a team_admin gets 403 for another team's ids, and no
// credential or a wrong one gets 401. Failed authorization is never 2xx.
func TestAuthorizationMatrix(t *testing.T) {
	f := newFixture(t)
	s := NewServer(nil, Options{})
	f.api.Mount(s)
	roles := map[Role]string{RoleAdmin: adminKey, RoleAuditor: auditorKey, RoleTeamAdmin: redKey}
	for _, rt := range s.Routes() {
		name := rt.Method + " " + rt.Path
		mk, ok := matrix[name]
		if !ok {
			t.Errorf("route %s has no case in the authorization matrix: add one", name)
			continue
		}
		for _, cred := range []string{"", "wrong-credential-000000000"} {
			m, p, b := mk(f, "red")
			if st, body := f.do(cred, m, p, b); st != 401 {
				t.Errorf("%s with credential %q: %d %s, want 401", name, cred, st, body)
			}
		}
		for role, cred := range roles {
			for _, team := range []string{"red", "blue"} {
				m, p, b := mk(f, team)
				st, body := f.do(cred, m, p, b)
				allowed := false
				for _, r := range rt.Roles {
					allowed = allowed || r == role
				}
				wantOK := allowed && !(role == RoleTeamAdmin && team == "blue" && teamScoped[name])
				switch {
				case wantOK && (st < 200 || st > 299):
					t.Errorf("%s as %s on %s's ids: %d %s, want 2xx", name, role, team, st, body)
				case !wantOK && st != 403:
					t.Errorf("%s as %s on %s's ids: %d %s, want 403", name, role, team, st, body)
				}
			}
		}
	}
	if len(matrix) != len(s.Routes()) {
		t.Errorf("the matrix has %d routes, the server %d: remove the stale cases", len(matrix), len(s.Routes()))
	}
}

// TestTeamAdminSeesOnlyItsTeam: list routes filter to the team_admin's
// team, and usage and audit queries are forced to it.
func TestTeamAdminSeesOnlyItsTeam(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/admin/v1/keys", "/admin/v1/teams", "/admin/v1/users", "/admin/v1/budgets", "/admin/v1/limits"} {
		st, body := f.do(redKey, "GET", path, "")
		if st != 200 || strings.Contains(body, "blue") || strings.Contains(body, f.ids["none"]) {
			t.Errorf("GET %s as red's team_admin = %d %s, want red's things only", path, st, body)
		}
	}
	if st, _ := f.do(redKey, "GET", "/admin/v1/usage?group_by=model", ""); st != 200 || f.usage.last.Team != "red" {
		t.Errorf("usage as red's team_admin = %d with team filter %q, want forced to red", st, f.usage.last.Team)
	}
	st, body := f.do(adminKey, "GET", "/admin/v1/budgets", "")
	if st != 200 || !strings.Contains(body, `"account": "global"`) || !strings.Contains(body, "team:blue") || !strings.Contains(body, `"spent_usd": "0.000000000"`) {
		t.Errorf("budgets as admin = %d %s, want every budget with its spend", st, body)
	}
}

// TestChangesAreAudited: each change is an admin audit record with the
// actor, the action, the target and the state before and after, and no
// secret (the key's plaintext or hash) in it.
func TestChangesAreAudited(t *testing.T) {
	f := newFixture(t)
	st, body := f.do(redKey, "POST", "/admin/v1/keys", `{"name":"ci-bot","models":["gpt-4o"],"limits":{"rpm":60}}`)
	if st != 201 {
		t.Fatalf("create = %d %s", st, body)
	}
	var created struct {
		Key  string `json:"key"`
		ID   string `json:"id"`
		Team string `json:"team"`
	}
	_ = json.Unmarshal([]byte(body), &created)
	if !strings.HasPrefix(created.Key, "sk-airgw-") || created.Team != "red" {
		t.Errorf("create = %s, want the plaintext once and the team_admin's team", body)
	}
	f.do(redKey, "PATCH", "/admin/v1/keys/"+created.ID, `{"budget":{"limit_usd":"12.5","period":"weekly"}}`)
	f.do(adminKey, "POST", "/admin/v1/keys/"+created.ID+"/revoke", "")
	want := []struct{ actor, action string }{
		{"admin-key:red-lead", "key.create"}, {"admin-key:red-lead", "key.update"}, {"admin-key:root", "key.revoke"},
	}
	if len(f.rec.recs) != len(want) {
		t.Fatalf("audit records = %d, want %d", len(f.rec.recs), len(want))
	}
	for i, w := range want {
		r := f.rec.recs[i]
		if r.Kind != audit.KindAdmin || r.Change == nil || r.Change.Actor != w.actor || r.Change.Action != w.action || r.Change.Target != "key:"+created.ID || r.Team != "red" {
			t.Errorf("record %d = %+v %+v, want %s by %s on key:%s", i, r, r.Change, w.action, w.actor, created.ID)
			continue
		}
		raw, _ := json.Marshal(r)
		if strings.Contains(string(raw), created.Key) || strings.Contains(string(raw), `"hash"`) {
			t.Errorf("record %d holds the key's secret: %s", i, raw)
		}
	}
	if u := f.rec.recs[1].Change; !strings.Contains(string(u.After), `"limit_usd":"12.50"`) || strings.Contains(string(u.Before), "12.50") {
		t.Errorf("update before %s after %s, want the budget only after", u.Before, u.After)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/admin/v1/keys", `{"name":"x","team":"green"}`, 400, "team \"green\" is not in the config"},
		{"POST", "/admin/v1/keys", `{"name":"x","models":["mistral"]}`, 400, "model \"mistral\" is not in the config"},
		{"POST", "/admin/v1/keys", `{"name":"x","bogus":1}`, 400, "unknown field \"bogus\""},
		{"POST", "/admin/v1/keys", `{"name":"x","budget":{"limit_usd":"-1","period":"daily"}}`, 400, "limit_usd"},
		{"POST", "/admin/v1/keys", `{"name":"has space"}`, 400, "only letters, digits"},
		{"PATCH", "/admin/v1/keys/key_nope", `{}`, 404, "no such key"},
		{"POST", "/admin/v1/keys/" + f.ids["red"] + "/rotate", `{"grace":"forever"}`, 400, "grace"},
		{"GET", "/admin/v1/usage?group_by=color", "", 400, "group_by \"color\""},
		{"GET", "/admin/v1/audit/records?limit=5000", "", 400, "limit"},
		{"GET", "/admin/v1/audit/export?format=xml", "", 400, "format \"xml\""},
		{"GET", "/admin/v1/audit/export?since=yesterday", "", 400, "since"},
		{"GET", "/admin/v1/audit/records?kind=bogus", "", 400, "kind"},
		{"DELETE", "/admin/v1/keys", "", 405, "not allowed"},
		{"GET", "/admin/v1/nothing", "", 404, "no admin route"},
	}
	for _, tt := range tests {
		st, body := f.do(adminKey, tt.method, tt.path, tt.body)
		var e apiError
		_ = json.Unmarshal([]byte(body), &e)
		if st != tt.status || !strings.Contains(e.Error.Message, tt.msg) || e.Error.RequestID == "" {
			t.Errorf("%s %s %s = %d %s, want %d containing %q", tt.method, tt.path, tt.body, st, body, tt.status, tt.msg)
		}
	}
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	f := newFixture(t)
	st, body := f.do(auditorKey, "GET", "/admin/v1/openapi.json", "")
	if st != 200 {
		t.Fatalf("openapi.json = %d", st)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json = %v, %q", err, doc.OpenAPI)
	}
	n := 0
	for path, ops := range doc.Paths {
		for m, op := range ops {
			n++
			if _, ok := matrix[strings.ToUpper(m)+" "+path]; !ok {
				t.Errorf("openapi.json documents %s %s, which the server does not serve", m, path)
			}
			if op["x-airgw-roles"] == nil || op["summary"] == "" {
				t.Errorf("%s %s lacks roles or a summary", m, path)
			}
		}
	}
	if n != len(matrix) {
		t.Errorf("openapi.json documents %d operations, want %d", n, len(matrix))
	}
}

func TestOpenServer(t *testing.T) {
	s := NewServer(nil, Options{Open: true})
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/admin/v1/whoami", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"role": "admin"`) {
		t.Errorf("open server whoami = %d %s, want the demo admin", w.Code, w.Body)
	}
	closed := NewServer(nil, Options{})
	w = httptest.NewRecorder()
	closed.ServeHTTP(w, httptest.NewRequest("GET", "/admin/v1/whoami", nil))
	if w.Code != 401 {
		t.Errorf("a server without credentials = %d, want 401 (fail closed)", w.Code)
	}
}

// TestAuditExportAndVerify: the export streams the records in the format
// asked with every filter of `airgw audit export` (key_id and key both
// name the key); verify answers the trail's report.
func TestAuditExportAndVerify(t *testing.T) {
	f := newFixture(t)
	st, body := f.do(auditorKey, "GET", "/admin/v1/audit/export?format=jsonl&team=red&key_id=key_9&tag=beta&error_class=any&kind=request&since=24h", "")
	want := audit.Filter{Team: "red", KeyID: "key_9", Tag: "beta", ErrorClass: "any", Kind: audit.KindRequest}
	got := f.records.last
	got.Since = time.Time{}
	if st != 200 || !strings.Contains(body, `"request_id":"req_1"`) || got != want || f.records.last.Since.IsZero() {
		t.Errorf("export = %d %s with filter %+v, want 200 with req_1 and filter %+v and a since", st, body, f.records.last, want)
	}
	st, body = f.do(auditorKey, "GET", "/admin/v1/audit/export?format=csv&key=key_8", "")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if st != 200 || len(lines) != 2 || !strings.Contains(lines[0], "request_id") || strings.Contains(lines[0], "{") ||
		!strings.Contains(lines[1], "req_1") || f.records.last.KeyID != "key_8" {
		t.Errorf("csv export = %d %q (key %q), want a CSV header and key_8", st, body, f.records.last.KeyID)
	}
	st, body = f.do(auditorKey, "GET", "/admin/v1/audit/verify", "")
	if st != 200 || !strings.Contains(body, `"ok": true`) || !strings.Contains(body, `"records": 7`) {
		t.Errorf("verify = %d %s, want 200 with the report", st, body)
	}
}
