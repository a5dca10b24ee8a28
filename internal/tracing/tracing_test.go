package tracing

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

// collector is a fake OTLP/HTTP collector that keeps what it receives.
type collector struct {
	mu      sync.Mutex
	spans   []span
	headers []http.Header
	bodies  []string
	status  int
}

func newCollector(t *testing.T) (*collector, *httptest.Server) {
	c := &collector{status: 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("collector got %s %s (%s), want POST /v1/traces as JSON", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		var req exportRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Errorf("collector: body is not OTLP JSON: %v", err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.headers = append(c.headers, r.Header.Clone())
		c.bodies = append(c.bodies, string(b))
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		w.WriteHeader(c.status)
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *collector) got() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.spans...)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func served(id string) *audit.Record {
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	return &audit.Record{Kind: audit.KindRequest, RequestID: id, Start: start, End: start.Add(1500 * time.Millisecond),
		KeyID: "key_1", Team: "search", Purpose: "secret-purpose", EndUser: "alice@example.com", ClientIP: "203.0.113.9",
		Endpoint: "/v1/chat/completions", RequestedModel: "gpt-4o", Provider: "openai", ServedModel: "gpt-4o-2024-08-06",
		Status: 200, InputTokens: 12, OutputTokens: 34, CostNanoUSD: 2_500_000, TTFTMillis: 300, Stream: true,
		Attempts: []audit.Attempt{
			{StartMillis: 1, Provider: "azure", Model: "gpt-4o-prod", Status: 503, ErrorClass: "provider_unavailable", LatencyMillis: 100},
			{StartMillis: 120, Provider: "openai", Model: "gpt-4o-2024-08-06", Status: 200, LatencyMillis: 1300},
		}}
}

func attrsOf(s span) map[string]string {
	out := map[string]string{}
	for _, a := range s.Attributes {
		v := a.Value
		switch {
		case v.String != nil:
			out[a.Key] = *v.String
		case v.Int != nil:
			out[a.Key] = *v.Int
		case v.Double != nil:
			b, _ := json.Marshal(*v.Double)
			out[a.Key] = string(b)
		case v.Bool != nil:
			b, _ := json.Marshal(*v.Bool)
			out[a.Key] = string(b)
		}
	}
	return out
}

func closeExporter(t *testing.T, e *Exporter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSpansOfARequest(t *testing.T) {
	c, srv := newCollector(t)
	e := New(Options{Endpoint: srv.URL + "/", Headers: map[string]string{"Authorization": "Bearer collector-token"}, SampleRatio: 1, Logger: quiet()})
	rec := served("req_1")
	rec.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	e.Record(rec)
	closeExporter(t, e)
	spans := c.got()
	if len(spans) != 3 {
		t.Fatalf("spans = %d, want a request span and 2 attempts", len(spans))
	}
	root, a1, a2 := spans[0], spans[1], spans[2]
	if root.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || root.ParentSpanID != "00f067aa0ba902b7" || root.Kind != kindServer || root.Name != "chat gpt-4o" {
		t.Errorf("request span = %+v, want a server span in the caller's trace, named chat gpt-4o", root)
	}
	if root.Start != "1793534400000000000" || root.End != "1793534401500000000" {
		t.Errorf("request span times = %s..%s", root.Start, root.End)
	}
	want := map[string]string{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
		"gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": "12", "gen_ai.usage.output_tokens": "34",
		"http.response.status_code": "200", "airgw.request_id": "req_1", "airgw.cost_usd": "0.0025", "airgw.team": "search"}
	got := attrsOf(root)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("request span %s = %q, want %q", k, got[k], v)
		}
	}
	for i, a := range []span{a1, a2} {
		if a.TraceID != root.TraceID || a.ParentSpanID != root.SpanID || a.Kind != kindClient {
			t.Errorf("attempt %d span = %+v, want a client child of the request span", i+1, a)
		}
	}
	if a1.Status.Code != statusError || attrsOf(a1)["error.type"] != "provider_unavailable" || a1.Start != "1793534400001000000" || a1.End != "1793534400101000000" {
		t.Errorf("failed attempt span = %+v", a1)
	}
	if attrsOf(a2)["gen_ai.provider.name"] != "openai" || a2.Status.Code != statusUnset {
		t.Errorf("second attempt span = %+v", a2)
	}
	if h := c.headers[0].Get("Authorization"); h != "Bearer collector-token" {
		t.Errorf("export Authorization = %q", h)
	}
	for _, private := range []string{"secret-purpose", "alice@example.com", "203.0.113.9"} {
		if strings.Contains(c.bodies[0], private) {
			t.Errorf("exported spans contain %q: purpose, end user and client IP stay in the audit trail", private)
		}
	}
}

func TestSampling(t *testing.T) {
	tests := []struct {
		name        string
		ratio       float64
		traceparent string
		want        int
	}{
		{"ratio-0", 0, "", 0},
		{"ratio-1", 1, "", 3},
		{"parent-sampled-overrides-ratio", 0, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 3},
		{"parent-not-sampled", 1, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 0},
		{"malformed-parent-ignored", 1, "00-zz-00f067aa0ba902b7-01", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newCollector(t)
			e := New(Options{Endpoint: srv.URL, SampleRatio: tt.ratio, Logger: quiet()})
			rec := served("req_1")
			rec.TraceParent = tt.traceparent
			e.Record(rec)
			closeExporter(t, e)
			if n := len(c.got()); n != tt.want {
				t.Errorf("spans = %d, want %d", n, tt.want)
			}
		})
	}
}

func TestExportFailureDropsAndCounts(t *testing.T) {
	c, srv := newCollector(t)
	c.status = 500
	e := New(Options{Endpoint: srv.URL, SampleRatio: 1, Logger: quiet()})
	e.Record(served("a"))
	closeExporter(t, e)
	if exported, _, failed := e.Stats(); exported != 0 || failed != 3 {
		t.Errorf("Stats = %d exported, %d failed, want 0 and 3", exported, failed)
	}
}

func TestFullQueueDrops(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	e := New(Options{Endpoint: srv.URL, SampleRatio: 1, QueueSize: 2, Interval: time.Hour, Logger: quiet()})
	for range 300 { // 256 fill a batch whose export hangs; the queue holds 2
		e.Record(served("x"))
	}
	if _, dropped, _ := e.Stats(); dropped == 0 {
		t.Errorf("dropped = 0 with a hung collector and a full queue, want drops (Record never blocks)")
	}
}

func TestParseTraceParent(t *testing.T) {
	for in, ok := range map[string]bool{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": true,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01": false,
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7":    false,
		"": false,
	} {
		if _, got := parseTraceParent(in); got != ok {
			t.Errorf("parseTraceParent(%q) ok = %v, want %v", in, got, ok)
		}
	}
}

// TestStartDecidesForTheRecord: the trace context Start gives a request
// (the ids sent upstream, the sampling decision) is the one its spans are
// exported with, whatever the ratio says when the record arrives.
func TestStartDecidesForTheRecord(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name        string
		ratio       float64
		traceparent string
		wantTrace   string // "" for a new one
		wantSampled bool
	}{
		{"parent", 0, parent, "4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"parent-not-sampled", 1, parent[:53] + "00", "4bf92f3577b34da6a3ce929d0e0e4736", false},
		{"new-sampled", 1, "", "", true},
		{"new-not-sampled", 0, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newCollector(t)
			e := New(Options{Endpoint: srv.URL, SampleRatio: tt.ratio, Logger: quiet()})
			tid, sid, sampled := e.Start(tt.traceparent)
			if len(tid) != 32 || len(sid) != 16 || tt.wantTrace != "" && tid != tt.wantTrace || sampled != tt.wantSampled {
				t.Fatalf("Start(%q) = %s, %s, %v; want trace %q, sampled %v", tt.traceparent, tid, sid, sampled, tt.wantTrace, tt.wantSampled)
			}
			rec := served("req_1")
			rec.TraceParent, rec.TraceID, rec.SpanID, rec.Sampled = tt.traceparent, tid, sid, sampled
			rec.Attempts[0].SpanID, rec.Attempts[1].SpanID = e.SpanID(), e.SpanID()
			e.Record(rec)
			closeExporter(t, e)
			spans := c.got()
			if !sampled {
				if len(spans) != 0 {
					t.Errorf("exported %d spans of an unsampled request", len(spans))
				}
				return
			}
			if len(spans) != 3 || spans[0].TraceID != tid || spans[0].SpanID != sid ||
				spans[1].SpanID != rec.Attempts[0].SpanID || spans[2].SpanID != rec.Attempts[1].SpanID || spans[2].ParentSpanID != sid {
				t.Errorf("spans = %+v, want the request span %s and the attempts' ids under it, in trace %s", spans, sid, tid)
			}
		})
	}
}
