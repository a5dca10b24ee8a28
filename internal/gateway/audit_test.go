package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/audit"
	oai "github.com/airgw/airgw/internal/dialect/openai"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
)

// spoolAudit is an AuditBeginner: it keeps the in-flight marks, can
// refuse them, and snapshots the client's response when the record
// arrives.
type spoolAudit struct {
	fakeAudit
	mu      sync.Mutex
	begins  []audit.Record
	refuse  error
	out     *httptest.ResponseRecorder
	atWrite []string // the client's body when each record was written
}

func (s *spoolAudit) Begin(r audit.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.begins = append(s.begins, r)
	return s.refuse
}

func (s *spoolAudit) Write(r audit.Record) {
	s.mu.Lock()
	if s.out != nil {
		s.atWrite = append(s.atWrite, s.out.Body.String())
	}
	s.mu.Unlock()
	s.fakeAudit.Write(r)
}

func withSpool(h *harness) *spoolAudit {
	sa := &spoolAudit{}
	h.gw.audit = sa
	return sa
}

func TestBeginMarksRequestsBeforeTheProvider(t *testing.T) {
	h := newHarness(t, okResponse)
	sa := withSpool(h)
	h.do(context.Background(), "good", hello)
	h.do(context.Background(), "nobody", hello) // refused before any provider: no mark
	if len(sa.begins) != 1 {
		t.Fatalf("Begin calls = %d, want 1 (only the request that reached a provider)", len(sa.begins))
	}
	b := sa.begins[0]
	if b.RequestID != "req_test" || b.KeyID != "key_1" || b.Team != "search" || b.RequestedModel != "m" || b.Purpose != "triage" || b.Status != 0 || !b.End.IsZero() {
		t.Errorf("Begin record = %+v, want what is known before the provider: key, team, model, purpose; no status, no end", b)
	}
	if len(sa.recs) != 2 {
		t.Errorf("records = %d, want 2", len(sa.recs))
	}
}

func TestBeginRefusalIs503WithRetryAfter(t *testing.T) {
	h := newHarness(t, okResponse)
	sa := withSpool(h)
	sa.refuse = fmt.Errorf("%w: 1.0 GiB of records wait for the database", audit.ErrSpoolFull)
	w := h.do(context.Background(), "good", hello)
	if w.Code != 503 || w.Header().Get("Retry-After") != "30" || !strings.Contains(w.Body.String(), `"code":"service_unavailable"`) ||
		!strings.Contains(w.Body.String(), "audit trail") {
		t.Errorf("refused request = %d Retry-After %q %s, want 503 service_unavailable naming the audit trail, Retry-After 30", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if h.prov.calls.Load() != 0 {
		t.Errorf("provider calls = %d, want 0", h.prov.calls.Load())
	}
	if len(sa.recs) != 1 || sa.recs[0].Status != 503 || sa.recs[0].ErrorClass != string(llm.CodeServiceUnavailable) {
		t.Errorf("records = %+v, want the refusal recorded", sa.recs)
	}
}

func TestStreamEndsAfterItsRecord(t *testing.T) {
	u := llm.Usage{InputTokens: 10, OutputTokens: 2}
	h := newHarness(t, func(context.Context, *llm.Request) (*llm.Reply, error) {
		return &llm.Reply{Stream: &sliceStream{err: io.EOF, evs: []llm.Event{
			{ID: "c", Role: llm.RoleAssistant}, {ID: "c", Text: "hey"}, {ID: "c", FinishReason: llm.FinishStop}, {ID: "c", Usage: &u},
		}}}, nil
	})
	sa := withSpool(h)
	w := httptest.NewRecorder()
	sa.out = w
	h.gw.Serve(context.Background(), &Call{RequestID: "req_s", Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", APIKey: "good",
		Body:   []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`),
		Decode: func(b []byte) (*llm.Request, error) { return oai.DecodeChat(b, oai.Limits{}) }, Out: oai.NewWriter(w, "req_s")})
	if len(sa.atWrite) != 1 || strings.Contains(sa.atWrite[0], "[DONE]") || !strings.Contains(sa.atWrite[0], "hey") {
		t.Errorf("client stream when the record was written = %q, want the content without the end", sa.atWrite)
	}
	if !strings.HasSuffix(w.Body.String(), "data: [DONE]\n\n") {
		t.Errorf("final stream = %q, want it ended", w.Body.String())
	}
}

func TestBodiesOnlyWhenEnabled(t *testing.T) {
	for _, stream := range []bool{false, true} {
		h := newHarness(t, func(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
			if req.Stream {
				return &llm.Reply{Stream: &sliceStream{err: io.EOF, evs: []llm.Event{{ID: "c", Role: llm.RoleAssistant}, {ID: "c", Text: "streamed answer"}}}}, nil
			}
			return okResponse(ctx, req)
		})
		sa := withSpool(h)
		h.gw.Runtime().StoreBodies = func(k *keys.Key) bool { return k.Team == "search" }
		body := fmt.Sprintf(`{"model":"m","stream":%v,"messages":[{"role":"user","content":"my prompt"}]}`, stream)
		h.do(context.Background(), "good", body)
		h.do(context.Background(), "onlydemo", strings.Replace(body, `"m"`, `"demo"`, 1))
		if len(sa.recs) != 2 {
			t.Fatalf("records = %d, want 2", len(sa.recs))
		}
		b := sa.recs[0].Bodies
		wantResp := `ok`
		if stream {
			wantResp = "streamed answer"
		}
		if b == nil || b.Request != body || !strings.Contains(b.Response, wantResp) {
			t.Errorf("stream=%v: bodies of an enabled key = %+v, want the request as sent and a response with %q", stream, b, wantResp)
		}
		if sa.recs[1].Bodies != nil {
			t.Errorf("stream=%v: bodies stored for a key that is not enabled", stream)
		}
	}
}
