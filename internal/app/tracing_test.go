package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
)

// headerRecorder is a fake OpenAI upstream that records the traceparent
// of every request; its first answer is a 503 when failFirst is set, so
// that a request makes two attempts.
type headerRecorder struct {
	mu        sync.Mutex
	failFirst bool
	seen      []string // traceparent of each request, "" when absent
}

func (h *headerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h.mu.Lock()
	h.seen = append(h.seen, r.Header.Get("Traceparent"))
	n := len(h.seen)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if h.failFirst && n == 1 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
		return
	}
	_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
}

func (h *headerRecorder) traceparents() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// otlpSpan is the part of an exported span the test reads.
type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Kind         int    `json:"kind"`
}

// serveTraced serves one request through a gateway whose upstream is up
// and whose tracing section is tracingYAML ("" for none), with the
// client's traceparent; it returns the traceparents the upstream saw and
// the spans exported by the time the gateway stopped.
func serveTraced(t *testing.T, tracingYAML, clientTraceParent string) ([]string, []otlpSpan) {
	t.Helper()
	up := &headerRecorder{failFirst: true}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	var mu sync.Mutex
	var spans []otlpSpan
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Spans []otlpSpan `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("collector: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
	}))
	defer collector.Close()
	yaml := `
server: {listen: "127.0.0.1:0"}
storage: {sqlite: "` + filepath.ToSlash(t.TempDir()) + `/airgw.db"}
log: {level: error}
audit: {flush_interval: 5ms}
routing: {retries: 1, timeout: 10s}
` + strings.ReplaceAll(tracingYAML, "@COLLECTOR@", collector.URL) + `
providers:
  up: {type: openai, base_url: "` + upstream.URL + `/v1", api_key: "sk-test-upstream-key", allow_private_network: true}
models:
  m: {targets: [{provider: up, model: m}], price: {input_per_mtok: 1, output_per_mtok: 1}}
`
	cfg, err := config.Parse("trace.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	key, _, err := a.Keys().Create(context.Background(), keys.CreateOptions{Name: "traced"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(ad net.Addr) { addrc <- ad }) }()
	req, _ := http.NewRequest("POST", "http://"+(<-addrc).String()+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	if clientTraceParent != "" {
		req.Header.Set("Traceparent", clientTraceParent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	cancel() // the exporter flushes at shutdown
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return up.traceparents(), spans
}

// TestTraceParentSentUpstream checks W3C trace context propagation: with
// tracing on, each upstream attempt's request carries a traceparent whose
// trace id is the request's (the client's, when it sent one) and whose
// parent id is that attempt's exported span; with tracing off, none.
func TestTraceParentSentUpstream(t *testing.T) {
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const clientSpan = "00f067aa0ba902b7"
	seen, spans := serveTraced(t, "tracing: {otlp_endpoint: \"@COLLECTOR@\"}", "00-"+clientTrace+"-"+clientSpan+"-01")
	if len(seen) != 2 {
		t.Fatalf("upstream requests = %d, want 2 (a 503, then a retry)", len(seen))
	}
	attemptSpans := map[string]otlpSpan{}
	var root otlpSpan
	for _, s := range spans {
		if s.Kind == 3 {
			attemptSpans[s.SpanID] = s
		} else {
			root = s
		}
	}
	if root.TraceID != clientTrace || root.ParentSpanID != clientSpan {
		t.Errorf("request span = %+v, want trace %s, parent %s (the client's)", root, clientTrace, clientSpan)
	}
	ids := map[string]bool{}
	for i, tp := range seen {
		parts := strings.Split(tp, "-")
		if len(parts) != 4 || parts[0] != "00" || parts[1] != clientTrace || parts[3] != "01" {
			t.Errorf("attempt %d traceparent = %q, want 00-%s-<span>-01", i+1, tp, clientTrace)
			continue
		}
		ids[parts[2]] = true
		s, ok := attemptSpans[parts[2]]
		if !ok {
			t.Errorf("attempt %d traceparent %q: no exported attempt span has id %s (spans %+v)", i+1, tp, parts[2], spans)
		} else if s.ParentSpanID != root.SpanID || s.TraceID != clientTrace {
			t.Errorf("attempt span %+v: want trace %s, parent %s", s, clientTrace, root.SpanID)
		}
	}
	if len(ids) != 2 {
		t.Errorf("traceparents %q: want a distinct span id per attempt", seen)
	}

	t.Run("new_trace", func(t *testing.T) {
		seen, spans := serveTraced(t, "tracing: {otlp_endpoint: \"@COLLECTOR@\"}", "")
		for _, tp := range seen {
			if len(tp) != 55 || !strings.HasPrefix(tp, "00-") || !strings.HasSuffix(tp, "-01") {
				t.Errorf("traceparent = %q, want a sampled W3C traceparent", tp)
			}
		}
		if len(spans) != 3 || len(seen) == 2 && len(seen[0]) == 55 && seen[0][3:35] != spans[0].TraceID {
			t.Errorf("spans %+v, traceparents %q: want 3 spans of the upstream's trace", spans, seen)
		}
	})
	t.Run("unsampled", func(t *testing.T) {
		seen, spans := serveTraced(t, "tracing: {otlp_endpoint: \"@COLLECTOR@\"}", "00-"+clientTrace+"-"+clientSpan+"-00")
		for _, tp := range seen {
			if !strings.HasPrefix(tp, "00-"+clientTrace+"-") || !strings.HasSuffix(tp, "-00") {
				t.Errorf("traceparent = %q, want the client's trace, not sampled", tp)
			}
		}
		if len(spans) != 0 {
			t.Errorf("exported %d spans of an unsampled request, want 0", len(spans))
		}
	})
	t.Run("tracing_off", func(t *testing.T) {
		seen, _ := serveTraced(t, "", "00-"+clientTrace+"-"+clientSpan+"-01")
		for i, tp := range seen {
			if tp != "" {
				t.Errorf("attempt %d: traceparent %q sent upstream with tracing off, want none", i+1, tp)
			}
		}
	})
}
