package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/server"
)

// BenchmarkHandler measures the gateway's own work per request: the real
// handler (key check, decode, allow-lists, routing, pricing, the audit
// writer into SQLite, the access log) in front of the in-process demo
// provider, against a baseline handler that only reads the body and writes
// a response of the same size. Compare the two in the same run:
//
//	go test -run XXX -bench Handler -benchmem ./internal/app/
func BenchmarkHandler(b *testing.B) {
	body := `{"model":"demo-fast","messages":[{"role":"user","content":"Hello, how are you today?"}]}`
	b.Run("baseline", func(b *testing.B) {
		resp := strings.Repeat("x", 420)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, resp)
		})
		run(b, h, "", body)
	})
	b.Run("airgw", func(b *testing.B) {
		dir := b.TempDir()
		cfg, err := config.Parse("bench.yaml", config.DemoYAML(dir), func(string) (string, bool) { return "", false })
		if err != nil {
			b.Fatal(err)
		}
		cfg.Storage.SQLite = filepath.Join(dir, "airgw.db")
		a, err := Open(context.Background(), cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		key, _, err := a.Keys().Create(context.Background(), keys.CreateOptions{Name: "bench", Team: "demo"})
		if err != nil {
			b.Fatal(err)
		}
		rt, _, err := BuildRuntime(cfg, pricing.Default())
		if err != nil {
			b.Fatal(err)
		}
		auth := keys.NewAuthenticator(a.db, a.hasher, keys.AuthOptions{})
		defer auth.Close(context.Background())
		aw, err := a.openSpool(context.Background()) // the durable audit trail, as served
		if err != nil {
			b.Fatal(err)
		}
		defer aw.Close(context.Background())
		log := slog.New(slog.NewJSONHandler(io.Discard, nil)) // the access line is formatted, not written
		gw := gateway.New(rt, gateway.Options{Auth: auth, Audit: aw, Logger: log})
		run(b, server.New(gw, server.Options{}), key, body)
	})
}

func run(b *testing.B, h http.Handler, key, body string) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
