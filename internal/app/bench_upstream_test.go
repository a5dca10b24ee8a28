package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/server"
)

const cannedCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_1"}`

// BenchmarkUpstream measures the whole path over loopback HTTP, as
// bench/run.sh does, but in one process so that a CPU profile can attribute
// the gateway's own cost: airgw in front of a canned upstream, against a
// bare httputil.ReverseProxy in front of the same upstream, in the same run.
//
//	go test -run XXX -bench Upstream -benchmem -cpuprofile cpu.out ./internal/app/
func BenchmarkUpstream(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, cannedCompletion)
	}))
	defer up.Close()
	body := `{"model":"bench-model","messages":[{"role":"user","content":"Hello, how are you today?"}]}`

	b.Run("proxy", func(b *testing.B) {
		u, _ := url.Parse(up.URL)
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
		srv := httptest.NewServer(rp)
		defer srv.Close()
		loop(b, srv.URL+"/v1/chat/completions", "", body)
	})
	b.Run("airgw", func(b *testing.B) {
		dir := b.TempDir()
		yaml := `
storage: {sqlite: "` + filepath.ToSlash(dir) + `/airgw.db"}
providers:
  fake: {type: openai_compatible, base_url: "` + up.URL + `/v1", api_key: k, allow_private_network: true}
models:
  bench-model: {targets: [{provider: fake, model: bench-model}], price: {input_per_mtok: 1, output_per_mtok: 2}}
`
		cfg, err := config.Parse("bench.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
		if err != nil {
			b.Fatal(err)
		}
		a, err := Open(context.Background(), cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		key, _, _ := a.Keys().Create(context.Background(), keys.CreateOptions{Name: "bench"})
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
		gw := gateway.New(rt, gateway.Options{Auth: auth, Audit: aw, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		srv := httptest.NewServer(server.New(gw, server.Options{}))
		defer srv.Close()
		loop(b, srv.URL+"/v1/chat/completions", key, body)
	})
}

func loop(b *testing.B, url, key, body string) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
