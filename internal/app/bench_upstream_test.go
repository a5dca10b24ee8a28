package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
)

const cannedCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_1"}`

// benchBody is the request of bench/loadgen's default body, with its end
// user.
const benchBody = `{"max_tokens":64,"messages":[{"content":"You are a concise assistant.","role":"system"},{"content":"Say hello to the benchmark in one short sentence.","role":"user"}],"model":"bench-model","temperature":0,"user":"bench-user"}`

// benchConfig turns every feature on, as bench/run.sh does (DESIGN.md §8):
// budgets and limits at every level, every PII detector, a deny pattern,
// the durable audit spool, metrics and the access log.
const benchConfig = `
server: {listen: "127.0.0.1:0"}
storage: {sqlite: "@DIR@/airgw.db"}
log: {level: info}
providers:
  fake: {type: openai_compatible, base_url: "@UP@/v1", api_key: k, allow_private_network: true}
models:
  bench-model: {targets: [{provider: fake, model: bench-model}], price: {input_per_mtok: 1, output_per_mtok: 2}}
budget: {limit_usd: 1000000000, period: monthly}
limits: {rpm: 100000000, tpm: 1000000000}
policies:
  max_prompt_tokens: 100000
  max_tokens: {limit: 4096, action: clamp}
  pii: {action: redact, detect: [email, phone, credit_card, iban, us_ssn, ip_address, secret]}
  deny_patterns: {override: "(?i)ignore (all )?previous instructions"}
teams:
  bench:
    models: [bench-model]
    budget: {limit_usd: 1000000000, period: monthly}
    limits: {rpm: 100000000, tpm: 1000000000, concurrent: 100000}
    users:
      budget: {limit_usd: 1000000, period: daily}
      limits: {rpm: 100000000}
    policies:
      pii: {action: block, detect: [secret]}
`

// BenchmarkUpstream measures the whole path over loopback HTTP, as
// bench/run.sh does, but in one process so that a CPU profile can attribute
// the gateway's own cost: airgw as served (App.Serve, every feature on, the
// access log written to a file as bench/run.sh's airgw writes airgw.log) in
// front of a canned upstream, against a bare httputil.ReverseProxy in front
// of the same upstream, in the same run.
//
//	go test -run XXX -bench Upstream -benchmem -cpuprofile cpu.out ./internal/app/
func BenchmarkUpstream(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, cannedCompletion)
	}))
	defer up.Close()

	b.Run("proxy", func(b *testing.B) {
		loop(b, proxyTo(b, up.URL)+"/v1/chat/completions", "", benchBody, false)
	})
	b.Run("airgw", func(b *testing.B) {
		base, key := serveBench(b, up.URL)
		loop(b, base+"/v1/chat/completions", key, benchBody, false)
	})
}

// BenchmarkUpstreamStream is BenchmarkUpstream for streamed responses: a
// canned stream of 16 content chunks and the usage chunk.
func BenchmarkUpstreamStream(b *testing.B) {
	var stream bytes.Buffer
	stream.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n")
	for i := range 16 {
		fmt.Fprintf(&stream, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{"content":"word%d "},"finish_reason":null}]}`+"\n\n", i)
	}
	stream.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n")
	stream.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}` + "\n\n")
	stream.WriteString("data: [DONE]\n\n")
	events := bytes.SplitAfter(stream.Bytes(), []byte("\n\n"))
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for _, ev := range events {
			_, _ = w.Write(ev)
			f.Flush()
		}
	}))
	defer up.Close()
	body := strings.Replace(benchBody, `"model"`, `"stream":true,"stream_options":{"include_usage":true},"model"`, 1)

	b.Run("proxy", func(b *testing.B) {
		loop(b, proxyTo(b, up.URL)+"/v1/chat/completions", "", body, true)
	})
	b.Run("airgw", func(b *testing.B) {
		base, key := serveBench(b, up.URL)
		loop(b, base+"/v1/chat/completions", key, body, true)
	})
}

// proxyTo starts the baseline: a bare ReverseProxy in front of upstream.
func proxyTo(b testing.TB, upstream string) string {
	u, _ := url.Parse(upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	rp.FlushInterval = -1
	srv := httptest.NewServer(rp)
	b.Cleanup(srv.Close)
	return srv.URL
}

// serveBench runs App.Serve with benchConfig in front of upstream until
// the benchmark ends, and returns its base URL and a key of team bench
// with its own budget and limits.
func serveBench(b testing.TB, upstream string) (base, key string) {
	dir := b.TempDir()
	yaml := strings.NewReplacer("@DIR@", filepath.ToSlash(dir), "@UP@", upstream).Replace(benchConfig)
	cfg, err := config.Parse("bench.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "airgw.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	a, err := Open(context.Background(), cfg, NewLogger(cfg.Log, logFile, ConfigSecrets(cfg)...))
	if err != nil {
		b.Fatal(err)
	}
	key, _, err = a.Keys().Create(context.Background(), keys.CreateOptions{Name: "bench", Team: "bench",
		Settings: keys.Settings{
			Budget: &budget.Spec{Limit: 1e18, Period: budget.Monthly, Hard: true},
			Limits: &ratelimit.Limits{RPM: 100000000, TPM: 1000000000},
		}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addr := make(chan net.Addr, 1)
	go func() { done <- a.Serve(ctx, func(ad net.Addr) { addr <- ad }) }()
	select {
	case ad := <-addr:
		base = "http://" + ad.String()
	case err := <-done:
		b.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		b.Fatal("gateway did not start within 10s")
	}
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Serve: %v", err)
		}
		a.Close()
	})
	return base, key
}

func loop(b *testing.B, url, key, body string, stream bool) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() {
		// The whole process's CPU (client, upstream and target alike) per
		// request: unlike ns/op, it does not depend on how much of the
		// shared machine's CPU the benchmark got, so compare it between
		// proxy and airgw in the same run.
		b.ReportMetric(float64((cpuTime()-cpu0)/time.Microsecond)/float64(b.N), "cpu-µs/op")
	}()
	// 64 clients per P, as bench/run.sh's saturation run (64 workers
	// against a gateway on one core).
	b.SetParallelism(64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if stream {
				var last string
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					if l := sc.Text(); l != "" {
						last = l
					}
				}
				if last != "data: [DONE]" {
					b.Errorf("stream ended with %q", last)
				}
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// cpuTime returns the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
