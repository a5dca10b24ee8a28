package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

const adminTestKey = "admin-test-credential-0123456789"

// TestAdminEndToEnd: an operator gives a key a budget through the admin
// API, the key spends on the data plane, the budget shows that spend, a
// rotation keeps the spend, and every change is in the audit trail.
func TestAdminEndToEnd(t *testing.T) {
	g, _ := startGov(t, `
admin: {key: "`+adminTestKey+`"}
teams:
  search:
    budget: {limit_usd: 1, period: monthly}
`)
	if g.adminBase == "" {
		t.Fatal("the admin API did not start with admin.key set")
	}
	adm := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		saved := g.base
		g.base = g.adminBase
		st, _, out := g.do(method, path, adminTestKey, body)
		g.base = saved
		var m map[string]any
		_ = json.Unmarshal([]byte(out), &m)
		return st, m
	}
	st, created := adm("POST", "/admin/v1/keys", `{"name":"ci-bot","team":"search","budget":{"limit_usd":"0.5","period":"daily"},"limits":{"rpm":100}}`)
	if st != 201 {
		t.Fatalf("create key = %d %v", st, created)
	}
	plain, id := created["key"].(string), created["id"].(string)
	status, h, body := g.do("POST", "/v1/chat/completions", plain, `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"hello"}]}`)
	if status != 200 || h.Get("X-Ratelimit-Limit-Requests") != "100" || h.Get("X-Airgw-Budget-Remaining-USD") == "" {
		t.Fatalf("data plane = %d %s, headers %v; want 200 under the key's limit and budget", status, body, h)
	}
	cost := h.Get("X-Airgw-Cost-USD")
	st, budgets := adm("GET", "/admin/v1/budgets", "")
	found := 0
	for _, b := range budgets["budgets"].([]any) {
		b := b.(map[string]any)
		if b["account"] == "key:"+id || b["account"] == "team:search" {
			found++
			if b["spent_usd"] != cost {
				t.Errorf("budget %v spent %v, want the request's cost %s", b["account"], b["spent_usd"], cost)
			}
		}
	}
	if st != 200 || found != 2 {
		t.Errorf("GET /admin/v1/budgets = %d, found %d of the key's and team's budgets: %v", st, found, budgets)
	}
	st, rotated := adm("POST", "/admin/v1/keys/"+id+"/rotate", `{"grace":"1h"}`)
	if st != 200 {
		t.Fatalf("rotate = %d %v", st, rotated)
	}
	newPlain := rotated["key"].(string)
	for _, k := range []string{plain, newPlain} {
		_, h, _ := g.do("POST", "/v1/chat/completions", k, `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"hello"}]}`)
		if h.Get("X-Ratelimit-Remaining-Requests") == "" {
			t.Errorf("during the grace period a key got no answer under the shared limits")
		}
	}
	// The family's counters carried over: 3 requests against rpm 100.
	_, h, _ = g.do("POST", "/v1/chat/completions", newPlain, `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"hello"}]}`)
	if got := h.Get("X-Ratelimit-Remaining-Requests"); got != "96" {
		t.Errorf("remaining requests after 4 in the family = %q, want 96 (the rotated key shares the old one's counters)", got)
	}
	if snap := g.app.BudgetSnapshot(); len(snap) < 2 {
		t.Errorf("BudgetSnapshot = %+v, want the team's and the key's budgets", snap)
	}
	// The reload routes are mounted, for the admin role.
	if st, cfg := adm("GET", "/admin/v1/config", ""); st != 200 || cfg["sha256"] == nil {
		t.Errorf("GET /admin/v1/config = %d %v, want the effective config", st, cfg)
	}
	if st, res := adm("POST", "/admin/v1/reload", ""); st != 200 && st != 422 {
		t.Errorf("POST /admin/v1/reload = %d %v, want a reload result", st, res)
	}
	// The audit trail through the admin API: exported with the CLI's
	// filters once the spool has drained it, and verified.
	saved := g.base
	g.base = g.adminBase
	var st2 int
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st2, _, out = g.do("GET", "/admin/v1/audit/export?format=jsonl&kind=admin&key_id="+id, adminTestKey, ""); strings.Count(out, "\n") >= 2 {
			break
		}
	}
	g.base = saved
	if lines := strings.Split(strings.TrimSpace(out), "\n"); st2 != 200 || len(lines) != 2 ||
		!strings.Contains(lines[0], `"action":"key.create"`) || !strings.Contains(lines[1], `"action":"key.rotate"`) {
		t.Errorf("GET /admin/v1/audit/export?kind=admin&key_id=… = %d %q, want the key's creation and rotation records", st2, out)
	}
	if st, rep := adm("GET", "/admin/v1/audit/verify", ""); st != 200 || rep["ok"] != true || rep["records"].(float64) < 1 {
		t.Errorf("GET /admin/v1/audit/verify = %d %v, want ok over the records stored", st, rep)
	}
	recs := g.records()
	var actions []string
	for _, r := range recs {
		if r.Kind == audit.KindAdmin {
			actions = append(actions, r.Change.Action+" by "+r.Change.Actor)
			raw, _ := json.Marshal(r)
			if strings.Contains(string(raw), plain) || strings.Contains(string(raw), newPlain) || strings.Contains(string(raw), adminTestKey) {
				t.Errorf("an admin record holds a secret: %s", raw)
			}
		}
	}
	if strings.Join(actions, ",") != "key.create by admin-key:admin,key.rotate by admin-key:admin" &&
		strings.Join(actions, ",") != "key.rotate by admin-key:admin,key.create by admin-key:admin" {
		t.Errorf("admin records = %v, want the create and the rotation by admin-key:admin", actions)
	}
}

// TestAdminNotStartedWithoutCredential: with no admin credential the
// admin listener does not start (the control plane fails closed).
func TestAdminNotStartedWithoutCredential(t *testing.T) {
	g, _ := startGov(t, "")
	if g.adminBase != "" {
		t.Errorf("the admin API started at %s without a credential", g.adminBase)
	}
	_ = context.Background()
}
