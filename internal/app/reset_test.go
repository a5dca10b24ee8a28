package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/pricing"
)

// TestBudgetResetSurvivesRestart: spend, an admin reset through the admin
// API, more spend, a restart: the budget's spend is what was spent after
// the reset, not the ledger's whole month, and GET /admin/v1/limits gives
// the numbers of the last answer's x-ratelimit-* headers.
func TestBudgetResetSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	conf := `
admin: {key: "` + adminTestKey + `"}
teams:
  search:
    budget: {limit_usd: 10, period: monthly}
`
	body := `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"hello"}]}`
	g, ks := startGovIn(t, dir, conf, keys.CreateOptions{Name: "app", Team: "search"})
	adm := func(g *govGateway, method, path, body string) (int, map[string]any) {
		t.Helper()
		saved := g.base
		g.base = g.adminBase
		st, _, out := g.do(method, path, adminTestKey, body)
		g.base = saved
		var m map[string]any
		_ = json.Unmarshal([]byte(out), &m)
		return st, m
	}
	teamSpent := func(g *govGateway) string {
		t.Helper()
		st, m := adm(g, "GET", "/admin/v1/budgets?account=team:search", "")
		bs, _ := m["budgets"].([]any)
		if st != 200 || len(bs) != 1 {
			t.Fatalf("GET /admin/v1/budgets?account=team:search = %d %v", st, m)
		}
		return bs[0].(map[string]any)["spent_usd"].(string)
	}
	send := func(g *govGateway) int64 {
		t.Helper()
		status, h, resp := g.do("POST", "/v1/chat/completions", ks["app"], body)
		if status != 200 {
			t.Fatalf("request: %d %s", status, resp)
		}
		n, _ := pricing.ParseUSD(h.Get("X-Airgw-Cost-USD"))
		return n
	}
	for range 3 {
		send(g)
	}
	st, m := adm(g, "POST", "/admin/v1/budgets/reset", `{"account":"team:search"}`)
	if st != 200 || m["after"].(map[string]any)["spent_usd"] != "0.000000000" {
		t.Fatalf("reset = %d %v", st, m)
	}
	after := send(g)
	if got := teamSpent(g); got != dollarsText(after) {
		t.Errorf("spent after the reset = %s, want the one request since: %s", got, dollarsText(after))
	}
	g.stop()
	g.app.Close()

	g2, _ := startGovIn(t, dir, conf)
	if got := teamSpent(g2); got != dollarsText(after) {
		t.Errorf("spent after a restart = %s, want %s: the reset must survive it", got, dollarsText(after))
	}
	recs := g2.records()
	resets := 0
	for _, r := range recs {
		if r.Change != nil && r.Change.Action == "budget.reset" && r.Change.Actor == "admin-key:admin" && r.Change.Target == "team:search" {
			resets++
		}
	}
	if resets != 1 {
		t.Errorf("audit records of the reset = %d, want 1", resets)
	}
}

// TestLimitsLiveStateEndToEnd: what GET /admin/v1/limits says of a key's
// limit is what the last answer's headers said.
func TestLimitsLiveStateEndToEnd(t *testing.T) {
	g, _ := startGov(t, `
admin: {key: "`+adminTestKey+`"}
teams:
  search: {limits: {rpm: 50}}
`)
	saved := g.base
	g.base = g.adminBase
	st, _, out := g.do("POST", "/admin/v1/keys", adminTestKey, `{"name":"ci","team":"search","limits":{"rpm":7}}`)
	g.base = saved
	var created struct{ Key, ID string }
	if err := json.Unmarshal([]byte(out), &created); st != 201 || err != nil {
		t.Fatalf("create = %d %s", st, out)
	}
	var h map[string][]string
	for range 3 {
		status, hh, resp := g.do("POST", "/v1/chat/completions", created.Key, `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`)
		if status != 200 {
			t.Fatalf("request = %d %s", status, resp)
		}
		h = hh
	}
	g.base = g.adminBase
	st, _, out = g.do("GET", "/admin/v1/limits?account=key:"+created.ID, adminTestKey, "")
	g.base = saved
	var got struct {
		Limits []struct {
			State []struct {
				Name      string `json:"name"`
				Limit     int64  `json:"limit"`
				Used      int64  `json:"used"`
				Remaining int64  `json:"remaining"`
			} `json:"state"`
		} `json:"limits"`
	}
	if err := json.Unmarshal([]byte(out), &got); st != 200 || err != nil || len(got.Limits) != 1 || len(got.Limits[0].State) != 1 {
		t.Fatalf("limits = %d %s", st, out)
	}
	s := got.Limits[0].State[0]
	if s.Name != "keys.ci.limits.rpm" || s.Used != 3 || strconv.FormatInt(s.Remaining, 10) != h["X-Ratelimit-Remaining-Requests"][0] ||
		strconv.FormatInt(s.Limit, 10) != h["X-Ratelimit-Limit-Requests"][0] {
		t.Errorf("live state %+v, want what the headers said: %v", s, h)
	}
}

func dollarsText(nano int64) string {
	return strconv.FormatInt(nano/1e9, 10) + "." + leftPad(strconv.FormatInt(nano%1e9, 10))
}

func leftPad(s string) string {
	for len(s) < 9 {
		s = "0" + s
	}
	return s
}

// TestAlertsNotRepeatedAfterRestart: an end user's budget (which the
// spend rebuild does not know) alerts at 50% once; after a restart, more
// spend below the next threshold sends nothing, where it used to send 50%
// again.
func TestAlertsNotRepeatedAfterRestart(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	alerts := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	dir := t.TempDir()
	conf := `
alerts:
  webhook: {url: "` + hook.URL + `", secret: "0123456789abcdef0123", allow_private_network: true, retries: 0}
teams:
  search:
    users:
      budget: {limit_usd: 0.0001, period: monthly, hard: false}
`
	body := `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"hello"}]}`
	g, ks := startGovIn(t, dir, conf, keys.CreateOptions{Name: "app", Team: "search"})
	send := func(g *govGateway) {
		t.Helper()
		status, h, resp := g.do("POST", "/v1/chat/completions", ks["app"], body, "X-Airgw-User", "alice")
		if status != 200 || h.Get("X-Airgw-Cost-USD") != "0.000025000" {
			t.Fatalf("request = %d %s, cost %s; the test assumes $0.000025 a request", status, resp, h.Get("X-Airgw-Cost-USD"))
		}
	}
	send(g) // 25%
	send(g) // 50%: alert
	g.stop()
	if a := alerts(); len(a) != 1 || !strings.Contains(a[0], `"threshold_percent":50`) || !strings.Contains(a[0], `"budget":"user:team:search/alice"`) {
		t.Fatalf("alerts before the restart = %q, want 50%% for alice", a)
	}
	g.app.Close()

	g2, _ := startGovIn(t, dir, conf)
	send(g2) // 75%: nothing new
	g2.stop()
	if a := alerts(); len(a) != 1 {
		t.Errorf("alerts after a restart = %q, want none new (50%% was sent before it)", a[1:])
	}
}
