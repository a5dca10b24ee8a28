package idempotency

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/google/go-cmp/cmp"
)

func TestFinal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     llm.Code // "" for success
		upstream bool
		want     bool
	}{
		{"Success", "", true, true},
		{"SuccessWithoutProvider", "", false, false},
		{"ContextLength", llm.CodeContextLengthExceeded, true, true},
		{"ContentFiltered", llm.CodeContentFiltered, true, true},
		{"UpstreamInvalid", llm.CodeUpstreamInvalidRequest, true, true},
		{"ProviderUnavailable", llm.CodeProviderUnavailable, true, false},
		{"ProviderRateLimited", llm.CodeProviderRateLimited, true, false},
		{"ProviderTimeout", llm.CodeProviderTimeout, true, false},
		{"StreamInterrupted", llm.CodeStreamInterrupted, true, false},
		{"ClientCancelled", llm.CodeClientCancelled, true, false},
		{"Internal", llm.CodeInternal, true, false},
		{"ModelNotFoundBeforeProvider", llm.CodeModelNotFound, false, false},
		{"BudgetBeforeProvider", llm.CodeBudgetExceeded, false, false},
		{"PolicyBeforeProvider", llm.CodePolicyViolation, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err *llm.Error
			if tc.code != "" {
				err = &llm.Error{Code: tc.code}
			}
			if got := Final(err, tc.upstream); got != tc.want {
				t.Errorf("Final(%q, upstream %v) = %v, want %v", tc.code, tc.upstream, got, tc.want)
			}
		})
	}
}

// brokenStore fails every call.
type brokenStore struct{}

var errBroken = errors.New("database is down")

func (brokenStore) Begin(context.Context, string, string, []byte, time.Time, time.Duration, time.Duration) (Outcome, *Stored, error) {
	return 0, nil, errBroken
}
func (brokenStore) Complete(context.Context, string, string, Stored) error { return errBroken }
func (brokenStore) Release(context.Context, string, string) error          { return errBroken }

func TestGuardBegin(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		store    Store
		prepare  func(g *Guard) // runs before the checked Begin
		body     string
		wantCode llm.Code // "" for a claim or a replay
		replay   bool
	}{
		{name: "FirstUseProceeds", store: NewMemory(), body: "x"},
		{name: "DuplicateInFlight", store: NewMemory(), body: "x", wantCode: llm.CodeIdempotencyConflict,
			prepare: func(g *Guard) {
				g.Begin(ctx, "key_1", "k", "/v1/chat/completions", []byte("x"), NewRecorder(httptest.NewRecorder()))
			}},
		{name: "OtherBody", store: NewMemory(), body: "y", wantCode: llm.CodeIdempotencyMismatch,
			prepare: func(g *Guard) {
				g.Begin(ctx, "key_1", "k", "/v1/chat/completions", []byte("x"), NewRecorder(httptest.NewRecorder()))
			}},
		{name: "OtherEndpoint", store: NewMemory(), body: "x", wantCode: llm.CodeIdempotencyMismatch,
			prepare: func(g *Guard) {
				g.Begin(ctx, "key_1", "k", "/v1/embeddings", []byte("x"), NewRecorder(httptest.NewRecorder()))
			}},
		{name: "OtherScope", store: NewMemory(), body: "y",
			prepare: func(g *Guard) {
				g.Begin(ctx, "key_2", "k", "/v1/chat/completions", []byte("x"), NewRecorder(httptest.NewRecorder()))
			}},
		{name: "Completed", store: NewMemory(), body: "x", replay: true,
			prepare: func(g *Guard) { serveOnce(t, g, "x", nil) }},
		{name: "FailedIsReleased", store: NewMemory(), body: "x",
			prepare: func(g *Guard) { serveOnce(t, g, "x", &llm.Error{Code: llm.CodeProviderUnavailable}) }},
		{name: "StoreDown", store: brokenStore{}, body: "x", wantCode: llm.CodeServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(tc.store, Options{Now: func() time.Time { return now }})
			if tc.prepare != nil {
				tc.prepare(g)
			}
			claim, stored, err := g.Begin(ctx, "key_1", "k", "/v1/chat/completions", []byte(tc.body), NewRecorder(httptest.NewRecorder()))
			var le *llm.Error
			switch {
			case tc.wantCode != "":
				if !errors.As(err, &le) || le.Code != tc.wantCode {
					t.Fatalf("Begin = %v, want %s", err, tc.wantCode)
				}
				if !strings.Contains(le.Message, "Idempotency-Key") {
					t.Errorf("message %q does not name the header", le.Message)
				}
				if tc.wantCode == llm.CodeIdempotencyMismatch && !le.NoClientRetry {
					t.Error("mismatch allows client retries; a retry cannot help")
				}
			case err != nil:
				t.Fatalf("Begin: %v", err)
			case tc.replay:
				if stored == nil || claim != nil || string(stored.Body) != `{"ok":true}` || stored.Status != 200 {
					t.Errorf("Begin = claim %v, stored %+v; want the stored result", claim, stored)
				}
			default:
				if claim == nil || stored != nil {
					t.Errorf("Begin = claim %v, stored %+v; want a claim", claim, stored)
				}
			}
		})
	}
}

// serveOnce claims key "k", answers {"ok":true} and settles with err.
func serveOnce(t *testing.T, g *Guard, body string, err *llm.Error) {
	t.Helper()
	rec := NewRecorder(httptest.NewRecorder())
	claim, _, berr := g.Begin(context.Background(), "key_1", "k", "/v1/chat/completions", []byte(body), rec)
	if berr != nil || claim == nil {
		t.Fatalf("Begin = %v, %v; want a claim", claim, berr)
	}
	rec.Header().Set("Content-Type", "application/json")
	rec.WriteHeader(200)
	rec.Write([]byte(`{"ok":true}`))
	claim.Settle(context.Background(), err, true)
}

func TestRecorder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		armed  bool
		write  func(w http.ResponseWriter)
		want   Stored
		wantOK bool
	}{
		{name: "Response", armed: true, wantOK: true,
			write: func(w http.ResponseWriter) {
				h := w.Header()
				h.Set("Content-Type", "application/json")
				h.Set("Content-Length", "11")
				h.Set("X-Airgw-Provider", "fake")
				h.Set("X-Request-Id", "req_1")
				h.Set("X-Ratelimit-Remaining-Requests", "9") // per request: not kept
				w.WriteHeader(200)
				w.Write([]byte(`{"ok":true}`))
				h.Set("X-Airgw-Late", "after the status") // never sent: not kept
			},
			want: Stored{Status: 200, Body: []byte(`{"ok":true}`), Header: http.Header{
				"Content-Type": {"application/json"}, "Content-Length": {"11"}, "X-Airgw-Provider": {"fake"}, "X-Request-Id": {"req_1"}}}},
		{name: "Stream", armed: true, wantOK: true,
			write: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				w.WriteHeader(200)
				rc := http.NewResponseController(w)
				for _, ev := range []string{"data: {\"a\":1}\n\n", "data: [DONE]\n\n"} {
					w.Write([]byte(ev))
					if err := rc.Flush(); err != nil {
						t.Errorf("Flush through the Recorder: %v", err)
					}
				}
			},
			want: Stored{Status: 200, Stream: true, Body: []byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"),
				Header: http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}}},
		{name: "ImplicitStatus", armed: true, wantOK: true,
			write: func(w http.ResponseWriter) { w.Write([]byte("hi")) },
			want:  Stored{Status: 200, Body: []byte("hi"), Header: http.Header{}}},
		{name: "Error", armed: true, wantOK: true,
			write: func(w http.ResponseWriter) {
				w.Header().Set("X-Should-Retry", "false")
				w.WriteHeader(400)
				w.Write([]byte(`{"error":{}}`))
			},
			want: Stored{Status: 400, Body: []byte(`{"error":{}}`), Header: http.Header{"X-Should-Retry": {"false"}}}},
		{name: "TooLarge", armed: true,
			write: func(w http.ResponseWriter) {
				chunk := bytes.Repeat([]byte("x"), 1<<20)
				for range MaxBody/len(chunk) + 1 {
					w.Write(chunk)
				}
			}},
		{name: "NotArmed",
			write: func(w http.ResponseWriter) { w.Write([]byte("hi")) }},
		{name: "NothingWritten", armed: true, write: func(http.ResponseWriter) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hr := httptest.NewRecorder()
			rec := NewRecorder(hr)
			if tc.armed {
				rec.arm()
			}
			tc.write(rec)
			got, ok := rec.Result()
			if ok != tc.wantOK {
				t.Fatalf("Result() ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Result() (-want +got):\n%s", diff)
			}
			if !bytes.Equal(hr.Body.Bytes(), got.Body) || hr.Code != got.Status {
				t.Errorf("client got %d %q, recorded %d %q", hr.Code, hr.Body.Bytes(), got.Status, got.Body)
			}
			if got.Stream && !hr.Flushed {
				t.Error("stream not flushed to the client")
			}
		})
	}
}

func TestWriteReplay(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Stored
	}{
		{"Response", Stored{Status: 200, Body: []byte(`{"id":"chatcmpl-1"}`), Header: http.Header{
			"Content-Type": {"application/json"}, "Content-Length": {"19"}, "X-Airgw-Cost-Usd": {"0.000001000"}, "X-Request-Id": {"req_first"}}}},
		{"Stream", Stored{Status: 200, Stream: true, Body: []byte("data: {}\n\ndata: [DONE]\n\n"), Header: http.Header{
			"Content-Type": {"text/event-stream; charset=utf-8"}, "X-Request-Id": {"req_first"}}}},
		{"FinalError", Stored{Status: 400, Body: []byte(`{"error":{"code":"context_length_exceeded"}}`), Header: http.Header{
			"Content-Type": {"application/json"}, "X-Should-Retry": {"false"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hr := httptest.NewRecorder()
			hr.Header().Set("X-Request-Id", "req_second")
			rec := NewRecorder(hr)
			rec.arm()
			if err := rec.Replay(&tc.s); err != nil {
				t.Fatal(err)
			}
			if hr.Code != tc.s.Status || !bytes.Equal(hr.Body.Bytes(), tc.s.Body) {
				t.Errorf("replay = %d %q, want %d %q", hr.Code, hr.Body.Bytes(), tc.s.Status, tc.s.Body)
			}
			h := hr.Header()
			for k, vs := range tc.s.Header {
				if k == "X-Request-Id" {
					continue
				}
				if !cmp.Equal(h.Values(k), vs) {
					t.Errorf("header %s = %q, want %q", k, h.Values(k), vs)
				}
			}
			if h.Get(ReplayedHeader) != "true" || h.Get("X-Request-Id") != "req_second" {
				t.Errorf("headers %v: want %s: true and the replay's own X-Request-Id", h, ReplayedHeader)
			}
			if want := tc.s.Header.Get("X-Request-Id"); h.Get(OriginalRequestHeader) != want {
				t.Errorf("%s = %q, want %q", OriginalRequestHeader, h.Get(OriginalRequestHeader), want)
			}
			if hr.Flushed != tc.s.Stream {
				t.Errorf("flushed = %v, want %v", hr.Flushed, tc.s.Stream)
			}
			if _, ok := rec.Result(); ok || !rec.Replayed() {
				t.Error("a replay was recorded to be stored again")
			}
		})
	}
}

func TestPurgeEvery(t *testing.T) {
	m := NewMemory()
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	if out, _, _ := m.Begin(context.Background(), "s", "k", []byte("h"), now.Add(-48*time.Hour), DefaultTTL, DefaultStale); out != Proceed {
		t.Fatalf("Begin = %v", out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one purge, then return
	New(m, Options{Now: func() time.Time { return now }}).PurgeEvery(ctx, time.Hour)
	if n, _ := m.Purge(context.Background(), now); n != 0 || len(m.rows) != 0 {
		t.Errorf("expired row left after PurgeEvery: %d rows", len(m.rows))
	}
}

// TestSetStale: a claim in flight for 15 minutes is a conflict under a
// 30-minute stale bound, and is taken over once the bound drops to 10
// minutes (a reload that shortened the request timeouts).
func TestSetStale(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	g := New(NewMemory(), Options{Stale: 30 * time.Minute, Now: func() time.Time { return now }})
	if claim, _, err := g.Begin(ctx, "key_1", "k", "/v1/chat/completions", []byte("x"), NewRecorder(httptest.NewRecorder())); claim == nil || err != nil {
		t.Fatalf("Begin = %v, %v; want a claim", claim, err)
	}
	now = now.Add(15 * time.Minute)
	if _, _, err := g.Begin(ctx, "key_1", "k", "/v1/chat/completions", []byte("x"), NewRecorder(httptest.NewRecorder())); err == nil {
		t.Fatal("Begin after 15m with stale 30m: a claim, want idempotency_conflict")
	}
	g.SetStale(10 * time.Minute)
	if g.Stale() != 10*time.Minute {
		t.Errorf("Stale() = %s, want 10m0s", g.Stale())
	}
	if claim, _, err := g.Begin(ctx, "key_1", "k", "/v1/chat/completions", []byte("x"), NewRecorder(httptest.NewRecorder())); claim == nil || err != nil {
		t.Errorf("Begin after 15m with stale 10m = %v, %v; want the abandoned claim taken over", claim, err)
	}
}
