package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/policy"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/provider/demo"
	"github.com/airgw/airgw/internal/route"

	oai "github.com/airgw/airgw/internal/dialect/openai"
)

type fakeAuth map[string]*keys.Key

func (f fakeAuth) Authenticate(_ context.Context, presented string) (*keys.Key, error) {
	if k, ok := f[presented]; ok {
		return k, nil
	}
	return nil, &llm.Error{Code: llm.CodeAuthenticationFailed, Message: "unknown key"}
}

type fakeAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (f *fakeAudit) Write(r audit.Record) {
	f.mu.Lock()
	f.recs = append(f.recs, r)
	f.mu.Unlock()
}

// providerFunc adapts a function to llm.Provider and counts calls.
type providerFunc struct {
	calls atomic.Int32
	fn    func(ctx context.Context, req *llm.Request) (*llm.Reply, error)
}

func (p *providerFunc) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	p.calls.Add(1)
	return p.fn(ctx, req)
}

// sliceStream yields events, then err (io.EOF for a clean end).
type sliceStream struct {
	evs    []llm.Event
	err    error
	closed atomic.Bool
}

func (s *sliceStream) Next() (llm.Event, error) {
	if len(s.evs) == 0 {
		return llm.Event{}, s.err
	}
	ev := s.evs[0]
	s.evs = s.evs[1:]
	return ev, nil
}

func (s *sliceStream) Close() error { s.closed.Store(true); return nil }

var price = pricing.Price{Input: 1_000_000, Output: 3_000_000} // $1 and $3 per Mtok

type harness struct {
	gw    *Gateway
	audit *fakeAudit
	prov  *providerFunc
}

func newHarness(t testing.TB, fn func(ctx context.Context, req *llm.Request) (*llm.Reply, error)) *harness {
	t.Helper()
	h := &harness{audit: &fakeAudit{}, prov: &providerFunc{fn: fn}}
	p := price
	rt := &Runtime{
		Routes: route.NewTable(
			route.NewRoute("m", []route.Target{{Provider: "up", Client: h.prov, Model: "up-model", Weight: 1, Price: &p}}),
			route.NewRoute("demo", []route.Target{{Provider: "demo", Client: &demo.Provider{}, Model: "demo-1", Weight: 1, Price: &p}}),
			route.NewRoute("free", []route.Target{{Provider: "up", Client: h.prov, Model: "nopriced", Weight: 1, PriceHint: "`price:` under `models.free`"}}),
		),
		Teams: map[string]*Team{"search": {Rules: &policy.Rules{Owner: "team `search`",
			Allow: []policy.List{{Name: "teams.search.models", Patterns: []string{"m", "free"}}}}}},
		Timeout: time.Minute,
	}
	auth := fakeAuth{
		"good":     {ID: "key_1", Name: "app", Team: "search"},
		"onlydemo": {ID: "key_2", Name: "narrow", Models: []string{"demo"}},
		"lost":     {ID: "key_3", Name: "orphan", Team: "gone"},
	}
	h.gw = New(rt, Options{Auth: auth, Audit: h.audit})
	return h
}

func (h *harness) do(ctx context.Context, key, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.gw.Serve(ctx, &Call{
		RequestID: "req_test", Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", APIKey: key,
		Body:   []byte(body),
		Decode: func(b []byte) (*llm.Request, error) { return oai.DecodeChat(b, oai.Limits{}) },
		Out:    oai.NewWriter(w, "req_test"),
	})
	return w
}

func (h *harness) only(t *testing.T) audit.Record {
	t.Helper()
	if len(h.audit.recs) != 1 {
		t.Fatalf("audit records = %d, want exactly 1", len(h.audit.recs))
	}
	return h.audit.recs[0]
}

const hello = `{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"purpose":"triage"}}`

func okResponse(_ context.Context, req *llm.Request) (*llm.Reply, error) {
	return &llm.Reply{Response: &llm.Response{ID: "r1", Model: req.Model, UsageReported: true,
		Usage:   llm.Usage{InputTokens: 1000, OutputTokens: 500},
		Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartText, Text: "ok"}}}, FinishReason: llm.FinishStop}}}}, nil
}

func TestServeSuccessRecordsExactCost(t *testing.T) {
	h := newHarness(t, okResponse)
	w := h.do(context.Background(), "good", hello)
	if w.Code != 200 {
		t.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
	}
	// 1000 × $1/Mtok + 500 × $3/Mtok = $0.0025 = 2,500,000 nano-USD.
	if got := w.Header().Get("X-Airgw-Cost-USD"); got != "0.002500000" {
		t.Errorf("X-Airgw-Cost-USD = %q, want 0.002500000", got)
	}
	for k, want := range map[string]string{"X-Airgw-Provider": "up", "X-Airgw-Model": "up-model", "X-Airgw-Attempts": "1"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	r := h.only(t)
	if r.CostNanoUSD != 2_500_000 || r.InputTokens != 1000 || r.OutputTokens != 500 || r.UsageEstimated {
		t.Errorf("record cost/usage = %d/%d/%d est=%v, want 2500000/1000/500 false", r.CostNanoUSD, r.InputTokens, r.OutputTokens, r.UsageEstimated)
	}
	if r.KeyID != "key_1" || r.Team != "search" || r.Purpose != "triage" || r.Status != 200 || r.Provider != "up" || r.ServedModel != "up-model" || r.RequestedModel != "m" {
		t.Errorf("record = %+v, want key_1/search/triage/200/up/up-model/m", r)
	}
	if len(r.Attempts) != 1 || r.Attempts[0].Status != 200 {
		t.Errorf("record attempts = %+v, want one 200 attempt", r.Attempts)
	}
}

func TestServeRefusalsNeverCallTheProvider(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		body   string
		status int
		code   llm.Code
	}{
		{"no_key", "", hello, 401, llm.CodeAuthenticationFailed},
		{"unknown_key", "nope", hello, 401, llm.CodeAuthenticationFailed},
		{"malformed", "good", `{"model":"m"}`, 400, llm.CodeInvalidRequest},
		{"key_allow_list", "onlydemo", hello, 403, llm.CodeModelNotAllowed},
		{"team_allow_list", "good", `{"model":"demo","messages":[{"role":"user","content":"hi"}]}`, 403, llm.CodeModelNotAllowed},
		{"team_missing", "lost", hello, 403, llm.CodeModelNotAllowed},
		{"unknown_model", "onlydemo", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 403, llm.CodeModelNotAllowed},
		{"unpriced", "good", `{"model":"free","messages":[{"role":"user","content":"hi"}]}`, 403, llm.CodeModelUnpriced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, okResponse)
			w := h.do(context.Background(), tt.key, tt.body)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), `"code":"`+string(tt.code)+`"`) {
				t.Errorf("Serve(%s) = %d %s, want %d %s", tt.name, w.Code, w.Body, tt.status, tt.code)
			}
			if !strings.Contains(w.Body.String(), `"request_id":"req_test"`) {
				t.Errorf("Serve(%s) body %s lacks the request id", tt.name, w.Body)
			}
			if n := h.prov.calls.Load(); n != 0 {
				t.Errorf("Serve(%s) provider calls = %d, want 0", tt.name, n)
			}
			if r := h.only(t); r.Status != tt.status || r.ErrorClass != string(tt.code) {
				t.Errorf("Serve(%s) record = %d %s, want %d %s", tt.name, r.Status, r.ErrorClass, tt.status, tt.code)
			}
		})
	}
}

func TestServeUnknownModelForUnrestrictedKey(t *testing.T) {
	h := newHarness(t, okResponse)
	h.gw.auth = fakeAuth{"all": {ID: "key_9", Name: "all"}}
	w := h.do(context.Background(), "all", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != 404 || !strings.Contains(w.Body.String(), `"code":"model_not_found"`) {
		t.Errorf("Serve(unknown model) = %d %s, want 404 model_not_found", w.Code, w.Body)
	}
}

func TestServeStreamStripsUnrequestedUsage(t *testing.T) {
	u := llm.Usage{InputTokens: 10, OutputTokens: 2}
	for _, include := range []bool{false, true} {
		h := newHarness(t, func(context.Context, *llm.Request) (*llm.Reply, error) {
			return &llm.Reply{Stream: &sliceStream{err: io.EOF, evs: []llm.Event{
				{ID: "c", Role: llm.RoleAssistant}, {ID: "c", Text: "he"}, {ID: "c", Text: "y"},
				{ID: "c", FinishReason: llm.FinishStop}, {ID: "c", Usage: &u},
			}}}, nil
		})
		body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		if include {
			body = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
		}
		w := h.do(context.Background(), "good", body)
		out := w.Body.String()
		if !strings.HasSuffix(out, "data: [DONE]\n\n") || strings.Count(out, "data: ") != 5+btoi(include) {
			t.Errorf("stream(include_usage=%v) = %q, want 4 chunks%s and [DONE]", include, out, map[bool]string{true: " + usage"}[include])
		}
		if got := strings.Contains(out, `"usage"`); got != include {
			t.Errorf("stream(include_usage=%v) has usage = %v", include, got)
		}
		r := h.only(t)
		if r.InputTokens != 10 || r.OutputTokens != 2 || r.UsageEstimated || !r.Stream || r.CostNanoUSD != 16_000 {
			t.Errorf("record = %+v, want 10/2 tokens, 16,000 nano-USD (10×$1 + 2×$3 per Mtok), reported", r)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestServeStreamCutEndsWithErrorEvent(t *testing.T) {
	st := &sliceStream{err: &llm.Error{Code: llm.CodeStreamInterrupted, Message: "the provider closed the stream early", Sent: true},
		evs: []llm.Event{{ID: "c", Role: llm.RoleAssistant}, {ID: "c", Text: "partial answer"}}}
	h := newHarness(t, func(context.Context, *llm.Request) (*llm.Reply, error) { return &llm.Reply{Stream: st}, nil })
	w := h.do(context.Background(), "good", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	out := w.Body.String()
	if strings.Contains(out, "[DONE]") || !strings.Contains(out, `"code":"stream_interrupted"`) {
		t.Errorf("cut stream body = %q, want an error event and no [DONE]", out)
	}
	if !st.closed.Load() {
		t.Error("upstream stream not closed")
	}
	r := h.only(t)
	if r.ErrorClass != "stream_interrupted" || !r.UsageEstimated || r.OutputTokens == 0 || r.CostNanoUSD == 0 {
		t.Errorf("record = %+v, want stream_interrupted, estimated non-zero usage and cost", r)
	}
}

func TestServeProviderErrorBeforeStream(t *testing.T) {
	h := newHarness(t, func(context.Context, *llm.Request) (*llm.Reply, error) {
		return nil, &llm.Error{Code: llm.CodeProviderUnavailable, Message: "provider `up` answered 503", RetryAfter: 2 * time.Second}
	})
	w := h.do(context.Background(), "good", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != 503 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Retry-After") != "2" {
		t.Errorf("Serve = %d %q Retry-After %q, want a 503 JSON error with Retry-After 2", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Retry-After"))
	}
	if r := h.only(t); r.Attempts[0].ErrorClass != "provider_unavailable" || r.Status != 503 {
		t.Errorf("record = %+v, want 503 with a provider_unavailable attempt", r)
	}
}

func TestServePanicIsInternalErrorWithRecord(t *testing.T) {
	h := newHarness(t, func(context.Context, *llm.Request) (*llm.Reply, error) { panic("boom") })
	w := h.do(context.Background(), "good", hello)
	if w.Code != 500 || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("Serve(panic) = %d %s, want 500 without the panic text", w.Code, w.Body)
	}
	if r := h.only(t); r.ErrorClass != "internal_error" {
		t.Errorf("record class = %s, want internal_error", r.ErrorClass)
	}
}

func TestServeClientCancelMidStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h := newHarness(t, func(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
		return (&demo.Provider{ChunkDelay: time.Millisecond}).Chat(ctx, req)
	})
	w := &cancellingRecorder{ResponseRecorder: httptest.NewRecorder(), after: 3, cancel: cancel}
	h.gw.Serve(ctx, &Call{RequestID: "req_c", Dialect: llm.DialectOpenAI, APIKey: "good",
		Body:   []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"tell me a long story about gateways"}]}`),
		Decode: func(b []byte) (*llm.Request, error) { return oai.DecodeChat(b, oai.Limits{}) },
		Out:    oai.NewWriter(w, "req_c")})
	r := h.only(t)
	if r.ErrorClass != "client_cancelled" || r.Status != llm.StatusClientClosedRequest || r.OutputTokens == 0 || !r.UsageEstimated {
		t.Errorf("record = %+v, want client_cancelled 499 with estimated output tokens", r)
	}
}

// cancellingRecorder cancels the request after a number of writes, as a
// client hanging up mid-stream does.
type cancellingRecorder struct {
	*httptest.ResponseRecorder
	after  int
	cancel context.CancelFunc
}

func (c *cancellingRecorder) Write(b []byte) (int, error) {
	c.after--
	if c.after == 0 {
		c.cancel()
	}
	return c.ResponseRecorder.Write(b)
}

func TestServeTimeout(t *testing.T) {
	h := newHarness(t, func(ctx context.Context, _ *llm.Request) (*llm.Reply, error) {
		<-ctx.Done()
		return nil, &llm.Error{Code: llm.CodeProviderUnavailable, Message: "x", Err: ctx.Err()}
	})
	h.gw.rt.Load().Timeout = 10 * time.Millisecond
	w := h.do(context.Background(), "good", hello)
	if w.Code != 504 || !strings.Contains(w.Body.String(), "provider_timeout") {
		t.Errorf("Serve(timeout) = %d %s, want 504 provider_timeout", w.Code, w.Body)
	}
}

func TestModels(t *testing.T) {
	h := newHarness(t, okResponse)
	for key, want := range map[string]string{"good": "m", "onlydemo": "demo"} { // "free" has no price: never listed
		got, err := h.gw.Models(context.Background(), key)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("Models(%s) = %v, %v, want %s", key, got, err, want)
		}
	}
	if _, err := h.gw.Models(context.Background(), "nope"); !errors.As(err, new(*llm.Error)) {
		t.Errorf("Models(unknown key) error = %v, want an *llm.Error", err)
	}
}

var _ http.ResponseWriter = (*cancellingRecorder)(nil)
