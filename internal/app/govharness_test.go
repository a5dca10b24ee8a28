package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
)

// govGateway is a running airgw for governance tests: the real handler on
// 127.0.0.1:0, a temporary SQLite file, and strict OpenAI and Anthropic
// fakes as providers oa and an.
type govGateway struct {
	t    *testing.T
	app  *App
	base string // http://127.0.0.1:port
	// adminBase is the admin API's http://127.0.0.1:port, when it started.
	adminBase string
	oa        *openaitest.Server
	an        *anthropictest.Server
	http      *http.Client
	stop      func()
}

// govPrelude is the start of every governance test config: @DIR@, @OA@
// and @AN@ are replaced by the data directory and the fakes' URLs. Models
// chat-oa and chat-an cost $2.50 in and $10 out per Mtok.
const govPrelude = `
server: {listen: "127.0.0.1:0"}
storage: {sqlite: "@DIR@/airgw.db"}
log: {level: error}
audit: {flush_interval: 5ms}
routing: {retries: 0}
providers:
  oa: {type: openai, base_url: "@OA@", api_key: "` + openaitest.Key + `", allow_private_network: true}
  an: {type: anthropic, base_url: "@AN@", api_key: "` + anthropictest.Key + `", allow_private_network: true}
models:
  chat-oa: {targets: [{provider: oa, model: echo}], price: {input_per_mtok: 2.5, output_per_mtok: 10}}
  chat-an: {targets: [{provider: an, model: claude-echo}], price: {input_per_mtok: 2.5, output_per_mtok: 10}}
  embed-oa: {targets: [{provider: oa, model: text-embedding-3-small}], price: {input_per_mtok: 0.02, output_per_mtok: 0}}
`

// startGov starts a gateway with govPrelude followed by rest, and creates
// the keys given.
func startGov(t *testing.T, rest string, ks ...keys.CreateOptions) (*govGateway, map[string]string) {
	t.Helper()
	return startGovIn(t, t.TempDir(), rest, ks...)
}

// startGovIn is startGov with the data directory dir, so that a test can
// start a second gateway on the first one's database.
func startGovIn(t *testing.T, dir, rest string, ks ...keys.CreateOptions) (*govGateway, map[string]string) {
	t.Helper()
	// The client's own transport: connections it dialled but never used
	// would hold the server's shutdown for 5 s (net/http treats a new
	// connection as busy that long), so stop closes them first.
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	g := &govGateway{t: t, oa: openaitest.NewServer(t), an: anthropictest.NewServer(t), http: &http.Client{Transport: tr}}
	prelude := govPrelude
	if strings.Contains(rest, "\nadmin:") { // the admin API on its own port too
		prelude = strings.Replace(prelude, `listen: "127.0.0.1:0"`, `listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"`, 1)
	}
	yaml := strings.NewReplacer("@DIR@", filepath.ToSlash(dir), "@OA@", g.oa.URL(), "@AN@", g.an.URL()).Replace(prelude + rest)
	cfg, err := config.Parse("gov.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	g.app = a
	plain := map[string]string{}
	for _, k := range ks {
		p, _, err := a.Keys().Create(context.Background(), k)
		if err != nil {
			t.Fatalf("creating key %s: %v", k.Name, err)
		}
		plain[k.Name] = p
	}
	adminc := make(chan net.Addr, 1)
	a.AdminReady = func(ad net.Addr) { adminc <- ad }
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(ad net.Addr) { addrc <- ad }) }()
	select {
	case ad := <-addrc:
		g.base = "http://" + ad.String()
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start within 10s")
	}
	select {
	case ad := <-adminc: // the admin listener opens before the data plane's
		g.adminBase = "http://" + ad.String()
	default:
	}
	stopped := false
	g.stop = func() {
		if stopped {
			return
		}
		stopped = true
		tr.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(func() { g.stop(); a.Close() })
	return g, plain
}

// do sends one request and returns its status, headers and body.
func (g *govGateway) do(method, path, key, body string, header ...string) (int, http.Header, string) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := g.http.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// records stops the gateway and returns every audit record by request id.
func (g *govGateway) records() map[string]audit.Record {
	g.t.Helper()
	g.stop()
	out := map[string]audit.Record{}
	err := g.app.Records().QueryRecords(context.Background(), audit.Filter{}, func(r audit.Record) error {
		out[r.RequestID] = r
		return nil
	})
	if err != nil {
		g.t.Fatalf("QueryRecords: %v", err)
	}
	return out
}

// upstreamBodies returns every body the two fakes received.
func (g *govGateway) upstreamBodies() []string {
	var out []string
	for _, r := range g.oa.Requests() {
		out = append(out, string(r.Raw))
	}
	for _, r := range g.an.Requests() {
		out = append(out, string(r.Raw))
	}
	return out
}

// routeCase is one way to reach a provider: a route, its body for a model
// and a prompt, and whether it streams.
type routeCase struct {
	name, path string
	body       func(model, prompt string) string
}

// chatRoutes are the routes that send a prompt to a chat model, streaming
// and not, in both dialects.
var chatRoutes = []routeCase{
	{"openai-chat", "/v1/chat/completions", func(m, p string) string {
		return `{"model":"` + m + `","messages":[{"role":"user","content":` + jsonString(p) + `}]}`
	}},
	{"openai-chat-stream", "/v1/chat/completions", func(m, p string) string {
		return `{"model":"` + m + `","stream":true,"messages":[{"role":"user","content":` + jsonString(p) + `}]}`
	}},
	{"anthropic-messages", "/v1/messages", func(m, p string) string {
		return `{"model":"` + m + `","max_tokens":64,"messages":[{"role":"user","content":` + jsonString(p) + `}]}`
	}},
	{"anthropic-messages-stream", "/v1/messages", func(m, p string) string {
		return `{"model":"` + m + `","max_tokens":64,"stream":true,"messages":[{"role":"user","content":` + jsonString(p) + `}]}`
	}},
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
