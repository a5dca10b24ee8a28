package app

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/server"
)

// concurrently sends n requests released together and returns their
// statuses, headers and bodies.
func (g *govGateway) concurrently(n int, send func(i int) (int, http.Header, string)) ([]int, []http.Header, []string) {
	statuses, headers, bodies := make([]int, n), make([]http.Header, n), make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i], headers[i], bodies[i] = send(i)
		})
	}
	close(start)
	wg.Wait()
	return statuses, headers, bodies
}

// remaining reads X-Airgw-Budget-Remaining-USD as nano-USD.
func remaining(t *testing.T, h http.Header) int64 {
	t.Helper()
	v := h.Get("X-Airgw-Budget-Remaining-USD")
	n, err := pricing.ParseUSD(v)
	if err != nil {
		t.Fatalf("X-Airgw-Budget-Remaining-USD = %q: %v", v, err)
	}
	return n
}

// TestBudgetRace (RELIABILITY T01, single node): 200 concurrent requests
// through the HTTP handler against one team budget that fits a few dozen:
// the recorded spend never exceeds the limit, every request refused is a
// 402 that reached no provider, and the gateway's own count of what is
// left equals the limit minus the recorded costs, to the nano-dollar.
func TestBudgetRace(t *testing.T) {
	const limit = 3_000_000 // $0.003
	g, ks := startGov(t, `
teams:
  search:
    budget: {limit_usd: 0.003, period: monthly}
`, keys.CreateOptions{Name: "app", Team: "search"})
	body := `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"four words of prompt"}]}`
	statuses, headers, bodies := g.concurrently(200, func(int) (int, http.Header, string) {
		return g.do("POST", "/v1/chat/completions", ks["app"], body)
	})
	ok, refused := 0, 0
	for i, st := range statuses {
		switch st {
		case 200:
			ok++
		case 402:
			refused++
			if !strings.Contains(bodies[i], "budget_exceeded") || !strings.Contains(bodies[i], "teams.search.budget") {
				t.Errorf("refusal body = %s, want budget_exceeded naming teams.search.budget", bodies[i])
			}
			if !strings.Contains(bodies[i], " prompt tokens and 8 output tokens of model `chat-oa`") {
				t.Errorf("refusal body = %s, want the bound it reserved: at most … prompt tokens and 8 output tokens of model `chat-oa`", bodies[i])
			}
		default:
			t.Errorf("status %d: %s", st, bodies[i])
		}
	}
	if g.oa.Calls() != ok {
		t.Errorf("provider calls = %d, want %d (one per 200, none for a refusal)", g.oa.Calls(), ok)
	}
	if ok == 0 || refused == 0 {
		t.Fatalf("%d admitted and %d refused; the test needs both", ok, refused)
	}
	// One more request reads what the gateway thinks is left after it.
	_, h, _ := g.do("POST", "/v1/chat/completions", ks["app"], body)
	left := remaining(t, h)
	ids := map[string]bool{h.Get("X-Request-Id"): true}
	for _, h := range headers {
		ids[h.Get("X-Request-Id")] = true
	}
	var spent int64
	recs := g.records()
	for id, r := range recs {
		if ids[id] {
			spent += r.CostNanoUSD
		}
	}
	if spent > limit {
		t.Errorf("recorded spend %d nano-USD exceeds the limit %d", spent, limit)
	}
	if left != limit-spent {
		t.Errorf("gateway says %d left, want limit − recorded costs = %d − %d = %d", left, limit, spent, limit-spent)
	}
	t.Logf("FIGURE T01: 200 concurrent requests, budget $0.003: %d admitted, %d refused (402), spend %s of %s, 0 overspend",
		ok, refused, pricing.FormatUSD(spent), pricing.FormatUSD(limit))
}

// TestUserFirstUse (RELIABILITY T02): 50 concurrent first requests of a
// never-seen end user with a team's default user budget create one user
// row and spend no more than the user's budget.
func TestUserFirstUse(t *testing.T) {
	g, ks := startGov(t, `
teams:
  search:
    users:
      budget: {limit_usd: 0.0004, period: daily}
`, keys.CreateOptions{Name: "app", Team: "search"})
	body := `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"hello there"}]}`
	statuses, headers, _ := g.concurrently(50, func(int) (int, http.Header, string) {
		return g.do("POST", "/v1/chat/completions", ks["app"], body, "X-Airgw-User", "new-user@example.com")
	})
	ok := 0
	for _, st := range statuses {
		if st == 200 {
			ok++
		} else if st != 402 {
			t.Errorf("status %d, want 200 or 402", st)
		}
	}
	recs := g.records() // stops the gateway: new users are saved
	us, err := g.app.db.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].Owner != "team:search" || us[0].ID != "new-user@example.com" {
		t.Errorf("end_users rows = %+v, want exactly one for team:search/new-user@example.com", us)
	}
	var spent int64
	for _, h := range headers {
		spent += recs[h.Get("X-Request-Id")].CostNanoUSD
	}
	if spent > 400_000 || ok == 0 || ok == 50 {
		t.Errorf("user spent %d nano-USD over %d admitted requests, want ≤ 400000 with some admitted and some refused", spent, ok)
	}
}

// providerRoutes are bodies for every route that can reach a provider,
// streaming and not. TestGovernedRoutes fails when the server has a route
// that is missing here.
var providerRoutes = map[string][]string{
	"POST /v1/chat/completions": {
		`{"model":"chat-oa","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"chat-an","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
	},
	"POST /v1/responses": {
		`{"model":"chat-oa","max_output_tokens":16,"input":"hi"}`,
		`{"model":"chat-oa","max_output_tokens":16,"stream":true,"input":"hi"}`,
	},
	"POST /v1/embeddings": {`{"model":"embed-oa","input":"hi"}`},
	"POST /v1/messages": {
		`{"model":"chat-an","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"chat-oa","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
	},
	"POST /v1/messages/count_tokens": {`{"model":"chat-an","messages":[{"role":"user","content":"hi"}]}`},
}

// TestGovernedRoutes (RELIABILITY T03): every route that can reach a
// provider, in every dialect, streaming or not, runs authentication and
// the budget: with no key, a revoked key, or a key whose budget is
// exhausted, no request reaches a provider. A control key shows that each
// request would otherwise have reached one.
func TestGovernedRoutes(t *testing.T) {
	routes := server.New(gateway.New(&gateway.Runtime{}, gateway.Options{}), server.Options{}).Routes()
	for _, r := range routes {
		if _, ok := providerRoutes[r]; !ok {
			t.Errorf("route %s has no case in providerRoutes: add one so that it is checked for governance", r)
		}
	}
	g, ks := startGov(t, "", keys.CreateOptions{Name: "revoked"}, keys.CreateOptions{Name: "broke",
		Settings: keys.Settings{Budget: &budget.Spec{Limit: 0, Period: budget.Monthly, Hard: true}}})
	if _, err := g.app.Keys().Revoke(context.Background(), "revoked"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, key string
		status    int
	}{{"no-key", "", 401}, {"revoked", ks["revoked"], 401}, {"exhausted-budget", ks["broke"], 402}}
	for _, r := range routes {
		path := strings.TrimPrefix(r, "POST ")
		for i, body := range providerRoutes[r] {
			for _, c := range cases {
				status, _, resp := g.do("POST", path, c.key, body)
				if status != c.status {
					t.Errorf("%s body %d with %s: status %d, want %d: %s", r, i, c.name, status, c.status, resp)
				}
			}
		}
	}
	if n := g.oa.Calls() + g.an.Calls(); n != 0 {
		t.Errorf("providers received %d requests, want 0", n)
	}
	// The control: the same requests with a working key reach a provider.
	_, ctrl, _ := g.app.Keys().Create(context.Background(), keys.CreateOptions{Name: "control"})
	_ = ctrl
	plain, _, err := g.app.Keys().Create(context.Background(), keys.CreateOptions{Name: "control-2"})
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, r := range routes {
		for _, body := range providerRoutes[r] {
			status, _, resp := g.do("POST", strings.TrimPrefix(r, "POST "), plain, body)
			if status != 200 {
				t.Errorf("control %s: status %d: %s", r, status, resp)
			}
			sent++
		}
	}
	if n := g.oa.Calls() + g.an.Calls(); n != sent {
		t.Errorf("control requests reached providers %d times, want %d", n, sent)
	}
}

// TestLimitRefusals (T29 for limits): a 429 in the client's dialect with
// Retry-After and the limit's name, x-ratelimit-* headers on every answer,
// and no provider call.
func TestLimitRefusals(t *testing.T) {
	g, ks := startGov(t, `
teams:
  search:
    limits:
      rpm: 2
      models:
        chat-an: {rpm: 1}
`, keys.CreateOptions{Name: "app", Team: "search"})
	key := ks["app"]
	oa := `{"model":"chat-oa","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	an := `{"model":"chat-an","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	steps := []struct {
		path, body   string
		status       int
		limit, shape string
		remaining    string
	}{
		{"/v1/messages", an, 200, "", "", "0"}, // the tightest request limit: the model's
		{"/v1/messages", an, 429, "teams.search.limits.models.chat-an.rpm", `"type":"error"`, "0"},
		{"/v1/chat/completions", oa, 200, "", "", "0"},
		{"/v1/chat/completions", oa, 429, "teams.search.limits.rpm", `"code":"rate_limited"`, "0"},
	}
	calls := 0
	for i, st := range steps {
		status, h, body := g.do("POST", st.path, key, st.body)
		if status != st.status {
			t.Fatalf("step %d: status %d, want %d: %s", i, status, st.status, body)
		}
		if h.Get("X-Ratelimit-Limit-Requests") == "" || h.Get("X-Ratelimit-Remaining-Requests") != st.remaining {
			t.Errorf("step %d: x-ratelimit headers = limit %q remaining %q, want remaining %s", i,
				h.Get("X-Ratelimit-Limit-Requests"), h.Get("X-Ratelimit-Remaining-Requests"), st.remaining)
		}
		if status == 200 {
			calls++
			continue
		}
		if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 61 {
			t.Errorf("step %d: Retry-After = %q, want 1 to 61 seconds", i, h.Get("Retry-After"))
		}
		if !strings.Contains(body, "`"+st.limit+"`") || !strings.Contains(body, st.shape) || !strings.Contains(body, "retry after") {
			t.Errorf("step %d: body %s, want the limit %s named in the %s shape", i, body, st.limit, st.shape)
		}
	}
	if n := g.oa.Calls() + g.an.Calls(); n != calls {
		t.Errorf("provider calls = %d, want %d", n, calls)
	}
}

// TestSpendSurvivesRestart: spend is rebuilt from the audit trail at
// start, by key family, team and end user, so a restart gives no budget
// back.
func TestSpendSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	conf := `
teams:
  search:
    budget: {limit_usd: 1, period: daily}
    users:
      budget: {limit_usd: 0.5, period: total}
`
	body := `{"model":"chat-oa","max_tokens":8,"messages":[{"role":"user","content":"hello"}]}`
	g, ks := startGovIn(t, dir, conf, keys.CreateOptions{Name: "app", Team: "search",
		Settings: keys.Settings{Budget: &budget.Spec{Limit: 250_000_000, Period: budget.Monthly, Hard: true}}})
	var spent int64
	for range 3 {
		status, h, resp := g.do("POST", "/v1/chat/completions", ks["app"], body, "X-Airgw-User", "alice")
		if status != 200 {
			t.Fatalf("before restart: %d %s", status, resp)
		}
		n, _ := pricing.ParseUSD(h.Get("X-Airgw-Cost-USD"))
		spent += n
	}
	g.stop()
	g.app.Close()

	g2, _ := startGovIn(t, dir, conf)
	status, h, resp := g2.do("POST", "/v1/chat/completions", ks["app"], body, "X-Airgw-User", "alice")
	if status != 200 {
		t.Fatalf("after restart: %d %s", status, resp)
	}
	cost, _ := pricing.ParseUSD(h.Get("X-Airgw-Cost-USD"))
	// The tightest budget is the key's $0.25 monthly.
	if got, want := remaining(t, h), 250_000_000-spent-cost; got != want {
		t.Errorf("after restart the key has %d left, want %d: the spend before the restart (%d) must count", got, want, spent)
	}
}
