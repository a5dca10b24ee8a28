package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCanarySecretsNeverLeak plants a provider key, an HMAC secret and a
// virtual key, runs successes and every kind of failure with the log at
// debug level, and checks that none of them appears in the log, in any
// response (headers or body), or in the audit trail (RELIABILITY.md T32).
func TestCanarySecretsNeverLeak(t *testing.T) {
	const providerKey = "sk-proj-CANARYPROVIDERKEY0123456789"
	const hmacSecret = "CANARYHMACSECRET-0123456789abcdef0123456789"
	const collectorToken = "CANARYCOLLECTORTOKEN-0123456789"
	const signingKey = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
	fake := openaitest.NewServer(t, openaitest.WithKey(providerKey))
	var traces syncBuffer // every span export the collector received
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+collectorToken {
			t.Errorf("span export without the collector's token")
		}
		b, _ := io.ReadAll(r.Body)
		traces.Write(b)
	}))
	defer collector.Close()
	dir := t.TempDir()
	yaml := `
server: {listen: "127.0.0.1:0"}
storage: {sqlite: "` + filepath.ToSlash(dir) + `/airgw.db"}
auth: {hmac_secret: "` + hmacSecret + `"}
log: {level: debug}
audit: {flush_interval: 5ms, signing_key: "` + signingKey + `"}
tracing: {otlp_endpoint: "` + collector.URL + `", headers: {Authorization: "Bearer ` + collectorToken + `"}}
providers:
  good: {type: openai, base_url: "` + fake.URL() + `", api_key: "` + providerKey + `", allow_private_network: true}
  wrongkey: {type: openai, base_url: "` + fake.URL() + `", api_key: "` + providerKey + `-rotated", allow_private_network: true}
  guarded: {type: openai_compatible, base_url: "` + fake.URL() + `", api_key: "` + providerKey + `"}
models:
  ok: {targets: [{provider: good, model: echo}], price: {input_per_mtok: 1, output_per_mtok: 1}}
  badkey: {targets: [{provider: wrongkey, model: echo}], price: {input_per_mtok: 1, output_per_mtok: 1}}
  guarded: {targets: [{provider: guarded, model: echo}], price: {input_per_mtok: 1, output_per_mtok: 1}}
  e500: {targets: [{provider: good, model: "error:500"}], price: {input_per_mtok: 1, output_per_mtok: 1}}
  cut: {targets: [{provider: good, model: "cut:2"}], price: {input_per_mtok: 1, output_per_mtok: 1}}
`
	cfg, err := config.Parse("canary.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	a, err := Open(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	virtualKey, _, err := a.Keys().Create(context.Background(), keys.CreateOptions{Name: "canary-app"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(ad net.Addr) { addrc <- ad }) }()
	base := "http://" + (<-addrc).String() + "/v1"

	var seen strings.Builder // every response header and body
	send := func(key, body string) {
		req, _ := http.NewRequest("POST", base+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Airgw-Purpose", "canary")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = resp.Header.Write(&seen)
		seen.Write(b)
	}
	msg := func(model string, stream bool) string {
		b, _ := json.Marshal(map[string]any{"model": model, "stream": stream, "messages": []map[string]string{{"role": "user", "content": "hi"}}})
		return string(b)
	}
	for _, model := range []string{"ok", "badkey", "guarded", "e500", "cut"} {
		send(virtualKey, msg(model, false))
		send(virtualKey, msg(model, true))
	}
	send(virtualKey+"x", msg("ok", false))                     // bad checksum
	send(virtualKey[:len(virtualKey)-1]+"A", msg("ok", false)) // a typo
	send("sk-airgw-"+strings.Repeat("A", 38), msg("ok", false))
	send(virtualKey, `{"model":"ok","messages":[{"role":"user","content":"`+virtualKey+`"}],"temperature":"`+providerKey+`"}`)

	var metricsText strings.Builder
	if resp, err := http.Get(strings.TrimSuffix(base, "/v1") + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metricsText.Write(b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var spool strings.Builder // the spool's files, byte for byte
	filepath.WalkDir(cfg.Audit.SpoolDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			spool.Write(b)
		}
		return nil
	})
	var export bytes.Buffer
	enc := json.NewEncoder(&export)
	if err := a.Records().QueryRecords(context.Background(), audit.Filter{}, func(r audit.Record) error { return enc.Encode(r) }); err != nil {
		t.Fatal(err)
	}
	if strings.Count(export.String(), "\n") != 14 {
		t.Errorf("audit records = %d, want 14", strings.Count(export.String(), "\n"))
	}
	secrets := map[string]string{
		"provider key":         providerKey,
		"hmac secret":          hmacSecret,
		"collector token":      collectorToken,
		"signing key":          signingKey,
		"virtual key":          virtualKey,
		"virtual key's random": virtualKey[len("sk-airgw-") : len(virtualKey)-6],
	}
	for where, text := range map[string]string{"log": logs.String(), "responses": seen.String(), "audit": export.String(),
		"metrics": metricsText.String(), "traces": traces.String(), "audit spool": spool.String()} {
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", what, where)
			}
		}
	}
	if !strings.Contains(logs.String(), `"msg":"request"`) {
		t.Errorf("no access log lines; the check above proves nothing:\n%s", logs.String())
	}
	for where, text := range map[string]string{"metrics": metricsText.String(), "traces": traces.String(), "audit spool": spool.String()} {
		if !strings.Contains(text, "canary") && !strings.Contains(text, "airgw_requests_total") && !strings.Contains(text, "gen_ai.request.model") {
			t.Errorf("the %s hold nothing about the requests; the check above proves nothing:\n%.400s", where, text)
		}
	}
	// The process logger masks every configured secret, whatever logs it.
	var masked bytes.Buffer
	NewLogger(config.Log{Format: "json"}, &masked, ConfigSecrets(cfg)...).Error("oops", "err", errors.New("upstream rejected "+providerKey), "hdr", "Bearer "+collectorToken, "key", virtualKey)
	for what, secret := range secrets {
		if strings.Contains(masked.String(), secret) {
			t.Errorf("NewLogger with ConfigSecrets lets the %s through: %s", what, masked.String())
		}
	}
}

// TestLostSecretRefusesToStart: a data directory that lost hmac.secret
// while the database holds keys must not get a fresh secret, which would
// silently invalidate every key.
func TestLostSecretRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("demo.yaml", config.DemoYAML(dir), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Keys().Create(context.Background(), keys.CreateOptions{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	secretPath := filepath.Join(filepath.Dir(cfg.Storage.SQLite), keys.SecretFile)
	if err := os.Remove(secretPath); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "restore the file") {
		t.Errorf("Open with a lost secret = %v, want a refusal telling to restore it", err)
	}
	if _, err := os.Stat(secretPath); !errors.Is(err, os.ErrNotExist) {
		t.Error("Open created a new secret despite existing keys")
	}
}
