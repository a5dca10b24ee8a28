package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
)

// matrixPrice is every matrix model's price: $2.50 in, $10 out per Mtok.
var matrixPrice = pricing.Price{Input: 2_500_000, Output: 10_000_000}

// upstream is one provider type behind airgw in the matrix.
type upstream struct {
	typ   string // the provider type, for test names
	alias string // the chat model alias clients ask for
	// embed and responses are the aliases of its embeddings and Responses
	// API models; empty when the provider type serves none.
	embed, responses string
	// usage is what the fake billed for its last request.
	usage func() (llm.Usage, bool)
	calls func() int
}

// matrix is a gateway with one alias per provider type, each served by
// that provider's strict fake.
type matrix struct {
	base string // http://127.0.0.1:port
	key  string
	app  *App
	ups  []upstream
	stop func()
}

// matrixConfig is the gateway's configuration; the %s are filled in by
// startMatrix, in order.
const matrixConfig = `
server: {listen: "127.0.0.1:0"}
storage: {sqlite: %q}
log: {level: error}
audit: {flush_interval: 5ms}
routing: {retries: 0}
providers:
  # A timeout wraps the client: its embeddings and token counting must stay.
  oa: {type: openai, base_url: %q, api_key: %q, allow_private_network: true, timeout: 60s}
  az: {type: azure_openai, base_url: %q, api_key: %q, api_version: "2024-10-21", allow_private_network: true}
  fw: {type: openai_compatible, preset: fireworks, base_url: %q, api_key: %q, allow_private_network: true}
  an: {type: anthropic, base_url: %q, api_key: %q, allow_private_network: true, timeout: 60s}
  ge: {type: gemini, base_url: %q, api_key: %q, allow_private_network: true}
  br: {type: bedrock, region: %s, base_url: %q, allow_private_network: true}
models:
  via-openai: {targets: [{provider: oa, model: echo}], price: &p {input_per_mtok: 2.5, output_per_mtok: 10}}
  via-azure: {targets: [{provider: az, model: echo-deployment}], price: *p}
  via-compatible: {targets: [{provider: fw, model: accounts/fireworks/models/echo}], price: *p}
  via-anthropic: {targets: [{provider: an, model: claude-echo}], price: *p}
  via-gemini: {targets: [{provider: ge, model: gemini-echo}], price: *p}
  via-bedrock: {targets: [{provider: br, model: anthropic.claude-echo-v1}], price: *p}
  embed-openai: {targets: [{provider: oa, model: text-embedding-3-small}], price: *p}
  embed-azure: {targets: [{provider: az, model: embedding-deployment}], price: *p}
  embed-compatible: {targets: [{provider: fw, model: nomic-ai/nomic-embed-text-v1.5}], price: *p}
  embed-gemini: {targets: [{provider: ge, model: gemini-embedding-001}], price: *p}
  embed-bedrock: {targets: [{provider: br, model: cohere.embed-english-v3}], price: *p}
`

func startMatrix(t *testing.T) *matrix {
	t.Helper()
	oa := openaitest.NewServer(t)
	az := openaitest.NewServer(t, openaitest.WithAzure("2024-10-21"))
	fw := openaitest.NewServer(t)
	an := anthropictest.NewServer(t)
	ge := geminitest.NewServer(t)
	br := bedrocktest.NewServer(t)
	// Bedrock credentials come from the standard AWS environment; keep the
	// developer's own files out of it.
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", bedrocktest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", bedrocktest.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_PROFILE", "")

	yaml := fmt.Sprintf(matrixConfig, filepath.ToSlash(filepath.Join(dir, "airgw.db")),
		oa.URL(), openaitest.Key, az.URL(), openaitest.Key, fw.URL(), openaitest.Key,
		an.URL(), anthropictest.Key, ge.URL(), geminitest.Key, bedrocktest.Region, br.URL())
	cfg, err := config.Parse("matrix.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := a.Keys().Create(context.Background(), keys.CreateOptions{Name: "matrix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(ad net.Addr) { addrc <- ad }) }()
	var base string
	select {
	case ad := <-addrc:
		base = "http://" + ad.String()
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	m := &matrix{base: base, key: key, app: a, ups: []upstream{
		{"openai", "via-openai", "embed-openai", "via-openai", oa.Usage, oa.Calls},
		{"azure_openai", "via-azure", "embed-azure", "via-azure", az.Usage, az.Calls},
		{"openai_compatible", "via-compatible", "embed-compatible", "via-compatible", fw.Usage, fw.Calls},
		{"anthropic", "via-anthropic", "", "", an.Usage, an.Calls},
		{"gemini", "via-gemini", "embed-gemini", "", ge.Usage, ge.Calls},
		{"bedrock", "via-bedrock", "embed-bedrock", "", br.Usage, br.Calls},
	}}
	stopped := false
	m.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	t.Cleanup(func() { m.stop(); a.Close() })
	return m
}

// matrixRecord is what the audit record of one request must say.
type matrixRecord struct {
	cost      int64
	estimated bool
}

// checkRecords stops the gateway and checks that every request in want has
// its audit record, with status 200 and exactly the expected cost.
func (m *matrix) checkRecords(t *testing.T, want map[string]matrixRecord) {
	t.Helper()
	m.stop()
	got := map[string]audit.Record{}
	if err := m.app.Records().QueryRecords(context.Background(), audit.Filter{}, func(r audit.Record) error { got[r.RequestID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		r, ok := got[id]
		switch {
		case !ok:
			t.Errorf("no audit record for %s", id)
		case r.CostNanoUSD != w.cost || r.Status != 200 || r.UsageEstimated != w.estimated:
			t.Errorf("record %s (%s via %s) = cost %d status %d estimated %v, want cost %d, 200, estimated %v",
				id, r.Dialect, r.RequestedModel, r.CostNanoUSD, r.Status, r.UsageEstimated, w.cost, w.estimated)
		}
	}
}
