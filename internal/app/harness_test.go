package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
)

// liveGateway is a running airgw on 127.0.0.1:0 with the real handler, a
// temporary SQLite file and a strict fake OpenAI upstream.
type liveGateway struct {
	t      *testing.T
	app    *App
	base   string // http://127.0.0.1:port/v1
	fake   *openaitest.Server
	cancel context.CancelFunc
	done   chan error
	keys   map[string]string // name → plaintext
}

// testConfig is the config every end-to-end test runs with. @FAKE_URL@ is
// the fake upstream's base URL and @DIR@ the temporary data directory.
const testConfig = `
server: {listen: "127.0.0.1:0", max_body: 64KiB}
storage: {sqlite: "@DIR@/airgw.db"}
log: {level: error}
audit: {flush_interval: 5ms, batch_size: 64}
routing: {timeout: 20s, retries: 0}  # resilience has its own tests
providers:
  fake:
    type: openai
    base_url: "@FAKE_URL@"
    api_key: ${FAKE_KEY}
    allow_private_network: true
  guarded:
    type: openai_compatible
    base_url: "@FAKE_URL@"
    api_key: ${FAKE_KEY}
  demo: {type: demo}
models:
  gpt-4o:
    targets: [{provider: fake, model: gpt-4o}]
  echo:
    targets: [{provider: fake, model: echo}]
    price: {input_per_mtok: 2.5, output_per_mtok: 10}
  fixture-tools:
    targets: [{provider: fake, model: "fixture:chat-tool-call"}]
    price: {input_per_mtok: 2.5, output_per_mtok: 10}
  upstream-500:
    targets: [{provider: fake, model: "error:500"}]
    price: {input_per_mtok: 1, output_per_mtok: 1}
  upstream-429:
    targets: [{provider: fake, model: "error:429"}]
    price: {input_per_mtok: 1, output_per_mtok: 1}
  upstream-401:
    targets: [{provider: fake, model: "error:401"}]
    price: {input_per_mtok: 1, output_per_mtok: 1}
  cut:
    targets: [{provider: fake, model: "cut:3"}]
    price: {input_per_mtok: 1, output_per_mtok: 1}
  mystery:
    targets: [{provider: fake, model: mystery-model-9000}]
  private:
    targets: [{provider: guarded, model: echo}]
    price: {input_per_mtok: 1, output_per_mtok: 1}
  demo-fast:
    targets: [{provider: demo, model: demo-fast}]
    price: {input_per_mtok: 0.15, output_per_mtok: 0.6}
teams:
  search:
    models: [gpt-4o, echo, fixture-tools, upstream-500, upstream-429, upstream-401, cut, mystery, private, demo-fast]
  narrow:
    models: [demo-fast]
`

func startGateway(t *testing.T) *liveGateway {
	t.Helper()
	fake := openaitest.NewServer(t)
	dir := t.TempDir()
	yaml := strings.NewReplacer("@DIR@", filepath.ToSlash(dir), "@FAKE_URL@", fake.URL()).Replace(testConfig)
	env := func(name string) (string, bool) {
		if name == "FAKE_KEY" {
			return openaitest.Key, true
		}
		return os.LookupEnv(name)
	}
	cfg, err := config.Parse("test.yaml", []byte(yaml), env)
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	g := serveLive(t, a, []keys.CreateOptions{
		{Name: "search-app", Team: "search"},
		{Name: "narrow-app", Team: "narrow"},
		{Name: "echo-only", Team: "search", Models: []string{"echo"}},
	})
	g.fake = fake
	return g
}

// serveLive creates the keys in a and serves it on 127.0.0.1:0 (the
// config's listen address) until the test ends; g.keys holds each key's
// plaintext by name.
func serveLive(t *testing.T, a *App, ks []keys.CreateOptions) *liveGateway {
	t.Helper()
	g := &liveGateway{t: t, app: a, done: make(chan error, 1), keys: map[string]string{}}
	for _, k := range ks {
		plain, _, err := a.Keys().Create(context.Background(), k)
		if err != nil {
			t.Fatalf("creating key %s: %v", k.Name, err)
		}
		g.keys[k.Name] = plain
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	addr := make(chan net.Addr, 1)
	go func() { g.done <- a.Serve(ctx, func(a net.Addr) { addr <- a }) }()
	select {
	case ad := <-addr:
		g.base = "http://" + ad.String() + "/v1"
	case err := <-g.done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start within 10s")
	}
	t.Cleanup(func() { g.stop(); a.Close() })
	return g
}

// stop shuts the gateway down, flushing every audit record. It is safe to
// call twice.
func (g *liveGateway) stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Errorf("Serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		g.t.Error("gateway did not stop within 30s")
	}
}

// client is an official OpenAI SDK client for the gateway with retries off,
// so that each call is exactly one request.
func (g *liveGateway) client(key string, opts ...option.RequestOption) *openai.Client {
	c := openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(g.base), option.WithAPIKey(key), option.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

// records stops the gateway and returns every audit record by request id.
func (g *liveGateway) records() map[string]audit.Record {
	g.t.Helper()
	g.stop()
	out := map[string]audit.Record{}
	err := g.app.Records().QueryRecords(context.Background(), audit.Filter{}, func(r audit.Record) error {
		if _, dup := out[r.RequestID]; dup {
			return fmt.Errorf("duplicate audit record %s", r.RequestID)
		}
		out[r.RequestID] = r
		return nil
	})
	if err != nil {
		g.t.Fatalf("QueryRecords: %v", err)
	}
	return out
}

// post sends a raw request to the gateway.
func (g *liveGateway) post(path, key, contentType, body string) *http.Response {
	g.t.Helper()
	req, _ := http.NewRequest("POST", g.base+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}
