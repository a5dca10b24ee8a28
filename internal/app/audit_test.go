package app

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/faulttest"
	"github.com/airgw/airgw/internal/keys"
)

// TestBodiesAndMetrics: bodies are stored, PII-redacted and capped, only
// for the keys and teams audit.bodies names; /metrics counts the requests
// the audit trail records.
func TestBodiesAndMetrics(t *testing.T) {
	fault := faulttest.NewServer(t)
	g := startYAML(t, strings.NewReplacer("@URL@", fault.URL(), "@KEY@", faulttest.Key).Replace(`
server: {listen: "127.0.0.1:0"}
storage: {sqlite: "@DIR@/airgw.db"}
log: {level: error}
audit:
  flush_interval: 5ms
  bodies: {teams: [search], keys: [named], max_bytes: 1KiB}
providers:
  fault: {type: openai, base_url: "@URL@", api_key: "@KEY@", allow_private_network: true}
models:
  ok: {targets: [{provider: fault, model: ok}], price: {input_per_mtok: 1, output_per_mtok: 2}}
teams: {search: {}, ads: {}}
`))
	mk := func(name, team string) string {
		plain, _, err := g.app.Keys().Create(context.Background(), keys.CreateOptions{Name: name, Team: team})
		if err != nil {
			t.Fatal(err)
		}
		return plain
	}
	send := func(key, content string, stream bool) string {
		body := `{"model":"ok","stream":` + map[bool]string{true: "true", false: "false"}[stream] +
			`,"messages":[{"role":"user","content":"` + content + `"}]}`
		req, _ := http.NewRequest("POST", g.base+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST = %d", resp.StatusCode)
		}
		return resp.Header.Get("X-Request-Id")
	}
	search, ads, named := mk("s", "search"), mk("a", "ads"), mk("named", "ads")
	plain := send(search, "mail bob@example.com please", false)
	streamed := send(search, "card 4111111111111111", true)
	long := send(named, strings.Repeat("word ", 300), false)
	none := send(ads, "mail bob@example.com please", false)

	resp, err := http.Get(strings.TrimSuffix(g.base, "/v1") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`airgw_requests_total{model="ok",provider="fault",team="search",status="200"} 2`,
		`airgw_requests_total{model="ok",provider="fault",team="ads",status="200"} 2`, "airgw_audit_spool_depth_records"} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, metricsText)
		}
	}

	g.stop()
	db := g.app.db
	ctx := context.Background()
	for _, tt := range []struct {
		id, name          string
		wantReq, wantResp string // substrings; empty: no bodies stored
		truncated         bool
	}{
		{plain, "team search, plain", `"content":"mail [REDACTED_EMAIL] please"`, `echo: mail [REDACTED_EMAIL] please`, false},
		{streamed, "team search, streamed", `card [REDACTED_CREDIT_CARD]`, `echo: card [REDACTED_CREDIT_CARD]`, false},
		{long, "key named, long", `word word`, `"choices"`, true},
		{none, "team ads", "", "", false},
	} {
		b, err := db.RecordBodies(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tt.wantReq == "" && b != nil:
			t.Errorf("%s: bodies stored %+v, want none", tt.name, b)
		case tt.wantReq == "":
		case b == nil:
			t.Errorf("%s: no bodies stored", tt.name)
		case !strings.Contains(b.Request, tt.wantReq) || !strings.Contains(b.Response, tt.wantResp) || b.Truncated != tt.truncated ||
			strings.Contains(b.Request+b.Response, "bob@example.com") || len(b.Request) > 1024 || len(b.Response) > 1024:
			t.Errorf("%s: bodies = %+v, want request with %q, response with %q, redacted, at most 1 KiB, truncated %v", tt.name, b, tt.wantReq, tt.wantResp, tt.truncated)
		}
	}
}
