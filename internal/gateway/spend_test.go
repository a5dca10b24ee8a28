package gateway

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/demo"
	"github.com/airgw/airgw/internal/ratelimit"

	oai "github.com/airgw/airgw/internal/dialect/openai"
)

// governed gives the harness's team a budget of $1 and a limit of one
// request in flight, and returns the tracker.
func governed(h *harness) (*budget.Tracker, budget.Budget) {
	tr := budget.NewTracker(budget.Options{})
	h.gw.budgets = tr
	h.gw.limiter = ratelimit.New(ratelimit.NewMemory())
	spec := budget.Spec{Limit: 1_000_000_000, Period: budget.Monthly, Hard: true}
	team := h.gw.rt.Load().Teams["search"]
	team.Budget = &spec
	team.Limits = &ratelimit.Limits{Concurrent: 1, TPM: 10_000_000}
	return tr, budget.Budget{Account: "team:search", Spec: spec}
}

// TestSettledOnEveryExitPath: whatever ends a request (an answer, a
// provider error, a panic, a cut stream, a client that hangs up, the
// gateway's timeout), its reservation is released, its actual cost (the
// record's) is charged, and its rate-limit slot is given back.
func TestSettledOnEveryExitPath(t *testing.T) {
	stream := `{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"tell me a long story"}]}`
	plain := `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name    string
		body    string
		fn      func(context.Context, *llm.Request) (*llm.Reply, error)
		cancel  bool // the client hangs up mid-stream
		timeout bool
		class   string
	}{
		{name: "success", body: plain, fn: okResponse},
		{name: "provider-error", body: plain, class: "provider_unavailable", fn: func(context.Context, *llm.Request) (*llm.Reply, error) {
			return nil, &llm.Error{Code: llm.CodeProviderUnavailable, Message: "503"}
		}},
		{name: "panic", body: plain, class: "internal_error", fn: func(context.Context, *llm.Request) (*llm.Reply, error) { panic("boom") }},
		{name: "stream-cut", body: stream, class: "stream_interrupted", fn: func(context.Context, *llm.Request) (*llm.Reply, error) {
			return &llm.Reply{Stream: &sliceStream{err: &llm.Error{Code: llm.CodeStreamInterrupted, Message: "cut", Sent: true},
				evs: []llm.Event{{ID: "c", Role: llm.RoleAssistant}, {ID: "c", Text: "partial answer"}}}}, nil
		}},
		{name: "client-cancel", body: stream, cancel: true, class: "client_cancelled", fn: func(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
			return (&demo.Provider{ChunkDelay: time.Millisecond}).Chat(ctx, req)
		}},
		{name: "timeout", body: plain, timeout: true, class: "provider_timeout", fn: func(ctx context.Context, _ *llm.Request) (*llm.Reply, error) {
			<-ctx.Done()
			return nil, &llm.Error{Code: llm.CodeProviderUnavailable, Message: "x", Err: ctx.Err()}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.fn)
			tr, b := governed(h)
			if tt.timeout {
				h.gw.rt.Load().Timeout = 10 * time.Millisecond
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := httptest.NewRecorder()
			var out = oai.NewWriter(w, "req_1")
			if tt.cancel {
				out = oai.NewWriter(&cancellingRecorder{ResponseRecorder: w, after: 3, cancel: cancel}, "req_1")
			}
			h.gw.Serve(ctx, &Call{RequestID: "req_1", Dialect: llm.DialectOpenAI, APIKey: "good", Body: []byte(tt.body),
				Decode: func(b []byte) (*llm.Request, error) { return oai.DecodeChat(b, oai.Limits{}) }, Out: out})
			r := h.only(t)
			if r.ErrorClass != tt.class {
				t.Errorf("record class = %q, want %q", r.ErrorClass, tt.class)
			}
			st := tr.Status(b, time.Now())
			if st.Reserved != 0 || st.Spent != r.CostNanoUSD {
				t.Errorf("after %s: reserved %d spent %d, want 0 reserved and the record's cost %d", tt.name, st.Reserved, st.Spent, r.CostNanoUSD)
			}
			// The one concurrent slot is free again.
			h.prov.fn = okResponse
			if w2 := h.do(context.Background(), "good", plain); w2.Code != 200 {
				t.Errorf("after %s, the next request = %d %s: the slot or the reservation leaked", tt.name, w2.Code, w2.Body)
			}
		})
	}
}

// TestBudgetHeaders: a complete answer says what its budget has left
// after it; a refusal says what is left and why it does not fit.
func TestBudgetHeaders(t *testing.T) {
	h := newHarness(t, okResponse)
	tr, b := governed(h)
	w := h.do(context.Background(), "good", `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
	// okResponse costs 1000 × $1/Mtok + 500 × $3/Mtok = $0.0025.
	if got := w.Header().Get("X-Airgw-Budget-Remaining-USD"); got != "0.997500000" {
		t.Errorf("X-Airgw-Budget-Remaining-USD = %q, want 0.997500000", got)
	}
	if st := tr.Status(b, time.Now()); st.Spent != 2_500_000 {
		t.Errorf("spent = %d, want 2500000", st.Spent)
	}
	// A request whose worst case ($3/Mtok × 1,000,000 output tokens = $3) cannot fit.
	w = h.do(context.Background(), "good", `{"model":"m","max_tokens":1000000,"messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != 402 || !strings.Contains(w.Body.String(), "could cost up to $3.00") || !strings.Contains(w.Body.String(), "1000000 output tokens") {
		t.Errorf("Serve(huge max_tokens) = %d %s, want 402 naming the worst case", w.Code, w.Body)
	}
	if h.prov.calls.Load() != 1 {
		t.Errorf("provider calls = %d, want 1", h.prov.calls.Load())
	}
}

func BenchmarkGovernedServe(b *testing.B) {
	h := newHarness(b, okResponse)
	h.gw.audit = discardAudit{}
	governed(h)
	team := h.gw.rt.Load().Teams["search"]
	team.Limits = &ratelimit.Limits{RPM: 1 << 30, TPM: 1 << 40, Concurrent: 1 << 20}
	team.Budget.Limit = 1 << 62
	body := `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	b.Run("governed", func(b *testing.B) {
		for b.Loop() {
			h.do(context.Background(), "good", body)
		}
	})
	team.Limits, team.Budget = nil, nil
	b.Run("ungoverned", func(b *testing.B) {
		for b.Loop() {
			h.do(context.Background(), "good", body)
		}
	})
}

type discardAudit struct{}

func (discardAudit) Write(audit.Record) {}

func TestEndUserTooLong(t *testing.T) {
	h := newHarness(t, okResponse)
	w := h.do(context.Background(), "good", `{"model":"m","user":"`+strings.Repeat("u", 300)+`","messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"param":"user"`) || h.prov.calls.Load() != 0 {
		t.Errorf("Serve(user of 300 bytes) = %d %s, want 400 naming user and no provider call", w.Code, w.Body)
	}
}

func TestFormatUSD(t *testing.T) {
	for _, tt := range []struct {
		nano int64
		want string
	}{
		{0, "0.000000000"}, {1, "0.000000001"}, {30000, "0.000030000"}, {123456789, "0.123456789"},
		{1e9, "1.000000000"}, {12_500_000_001, "12.500000001"}, {-1, "-0.000000001"}, {-2_000_000_000, "-2.000000000"},
		{math.MaxInt64, "9223372036.854775807"}, {math.MinInt64, "-9223372036.854775808"},
	} {
		if got := formatUSD(tt.nano); got != tt.want {
			t.Errorf("formatUSD(%d) = %q, want %q", tt.nano, got, tt.want)
		}
	}
}
