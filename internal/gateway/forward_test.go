package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airgw/airgw/internal/breaker"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/retry"
	"github.com/airgw/airgw/internal/route"
	"github.com/google/go-cmp/cmp"

	oai "github.com/airgw/airgw/internal/dialect/openai"
)

// These tests drive the attempt loop of forward.go with scripted providers
// inside a synctest bubble, so that backoffs, Retry-After and deadlines are
// measured on the bubble's fake clock, exactly and without sleeping.

// script is a provider whose calls answer in turn from a list; the last
// answer repeats. It records the fake time of each call.
type script struct {
	mu      sync.Mutex
	answers []func(ctx context.Context) (*llm.Reply, error)
	at      []time.Time
}

func (s *script) Chat(ctx context.Context, _ *llm.Request) (*llm.Reply, error) {
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	a := s.answers[min(len(s.at), len(s.answers))-1]
	s.mu.Unlock()
	return a(ctx)
}

func (s *script) calls() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

func fail(code llm.Code, status int, retryAfter time.Duration) func(context.Context) (*llm.Reply, error) {
	return func(context.Context) (*llm.Reply, error) {
		return nil, &llm.Error{Code: code, UpstreamStatus: status, Sent: true, RetryAfter: retryAfter, Message: "scripted " + string(code)}
	}
}

func succeed(ctx context.Context) (*llm.Reply, error) {
	return okResponse(ctx, &llm.Request{Model: "x"})
}

// block waits for release (or the attempt's end) before answering 200.
func block(release <-chan struct{}) func(context.Context) (*llm.Reply, error) {
	return func(ctx context.Context) (*llm.Reply, error) {
		select {
		case <-release:
			return succeed(ctx)
		case <-ctx.Done():
			return nil, &llm.Error{Code: llm.CodeProviderTimeout, Sent: true, Message: "cut", Err: ctx.Err()}
		}
	}
}

// loop is a gateway with one alias, "m", over the given targets.
type loop struct {
	gw    *Gateway
	audit *fakeAudit
}

func newLoop(t *testing.T, rt Runtime, o Options, targets ...route.Target) *loop {
	t.Helper()
	p := price
	for i := range targets {
		targets[i].Price, targets[i].Weight = &p, 1
	}
	r := route.NewRoute("m", targets)
	r.Strategy = route.Priority
	rt.Routes = route.NewTable(r)
	rt.Teams = map[string]*Team{}
	l := &loop{audit: &fakeAudit{}}
	o.Auth, o.Audit = fakeAuth{"good": {ID: "key_1", Name: "app"}}, l.audit
	l.gw = New(&rt, o)
	return l
}

func (l *loop) do(ctx context.Context, idempotencyKey string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	l.gw.Serve(ctx, &Call{RequestID: "req_f", Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", APIKey: "good",
		Body: []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`), IdempotencyKey: idempotencyKey,
		Decode: func(b []byte) (*llm.Request, error) { return oai.DecodeChat(b, oai.Limits{}) },
		Out:    oai.NewWriter(w, "req_f")})
	return w
}

func (l *loop) classes() [][]string {
	l.audit.mu.Lock()
	defer l.audit.mu.Unlock()
	var out [][]string
	for _, r := range l.audit.recs {
		var cs []string
		for _, a := range r.Attempts {
			cs = append(cs, a.Model+"="+a.ErrorClass)
		}
		out = append(out, append(cs, "→"+r.ErrorClass))
	}
	return out
}

// steady is a backoff whose jitter is always its ceiling.
var steady = retry.Backoff{Base: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0.999999999 }}

func TestRetryWaitsBackoffAndRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter time.Duration
		wantGaps   []time.Duration
	}{
		{"backoff_doubles", 0, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}},
		{"retry_after_wins", 700 * time.Millisecond, []time.Duration{700 * time.Millisecond, 700 * time.Millisecond, 700 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := &script{answers: []func(context.Context) (*llm.Reply, error){
					fail(llm.CodeProviderRateLimited, 429, tt.retryAfter), fail(llm.CodeProviderRateLimited, 429, tt.retryAfter),
					fail(llm.CodeProviderRateLimited, 429, tt.retryAfter), succeed}}
				l := newLoop(t, Runtime{Retries: 3, Backoff: steady, Timeout: time.Minute}, Options{},
					route.Target{Provider: "up", Model: "a", Client: up})
				if w := l.do(context.Background(), ""); w.Code != 200 || w.Header().Get("X-Airgw-Attempts") != "4" {
					t.Fatalf("Serve = %d attempts %s, want 200 after 4", w.Code, w.Header().Get("X-Airgw-Attempts"))
				}
				at := up.calls()
				var gaps []time.Duration
				for i := 1; i < len(at); i++ {
					gaps = append(gaps, at[i].Sub(at[i-1]).Round(time.Millisecond))
				}
				if diff := cmp.Diff(tt.wantGaps, gaps); diff != "" {
					t.Errorf("waits between attempts (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestRetryNeverPastTheDeadline: a backoff (here a Retry-After) that ends
// after the request's deadline is not waited out: the client gets the
// provider's answer at once, with its Retry-After.
func TestRetryNeverPastTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &script{answers: []func(context.Context) (*llm.Reply, error){fail(llm.CodeProviderRateLimited, 429, 30*time.Second)}}
		l := newLoop(t, Runtime{Retries: 2, Backoff: steady, Timeout: 10 * time.Second}, Options{},
			route.Target{Provider: "up", Model: "a", Client: up})
		start := time.Now()
		w := l.do(context.Background(), "")
		if w.Code != 429 || w.Header().Get("Retry-After") != "30" || time.Since(start) != 0 {
			t.Errorf("Serve = %d Retry-After %q after %v, want 429 with Retry-After 30 at once", w.Code, w.Header().Get("Retry-After"), time.Since(start))
		}
		if n := len(up.calls()); n != 1 {
			t.Errorf("upstream calls = %d, want 1", n)
		}
	})
}

// TestClientLeavesDuringBackoff: the record says client_cancelled, not the
// provider error that started the backoff.
func TestClientLeavesDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &script{answers: []func(context.Context) (*llm.Reply, error){fail(llm.CodeProviderRateLimited, 429, 5*time.Second)}}
		l := newLoop(t, Runtime{Retries: 2, Backoff: steady, Timeout: time.Minute}, Options{},
			route.Target{Provider: "up", Model: "a", Client: up})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		l.do(ctx, "")
		want := [][]string{{"a=provider_rate_limited", "→client_cancelled"}}
		if diff := cmp.Diff(want, l.classes()); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
}

// TestRetryBudgetCountsRetryAttempts: a retry holds its budget token while
// its attempt runs, not only while it backs off.
func TestRetryBudgetCountsRetryAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		first := &script{answers: []func(context.Context) (*llm.Reply, error){fail(llm.CodeProviderUnavailable, 503, 0), block(release)}}
		second := &script{answers: []func(context.Context) (*llm.Reply, error){fail(llm.CodeProviderUnavailable, 503, 0), succeed}}
		rt := Runtime{Retries: 1, Backoff: steady, Timeout: time.Minute}
		budget := retry.NewBudget(0.2, 1) // one retry in flight at most
		a := newLoop(t, rt, Options{Budget: budget}, route.Target{Provider: "up", Model: "a", Client: first})
		b := newLoop(t, rt, Options{Budget: budget}, route.Target{Provider: "up", Model: "b", Client: second})
		done := make(chan int)
		go func() { done <- a.do(context.Background(), "").Code }()
		synctest.Wait() // a is in its retry attempt, blocked upstream
		if w := b.do(context.Background(), ""); w.Code != 503 || w.Header().Get("X-Airgw-Attempts") != "1" {
			t.Errorf("b while a retries = %d after %s attempts, want 503 after 1 (budget spent)", w.Code, w.Header().Get("X-Airgw-Attempts"))
		}
		close(release)
		if code := <-done; code != 200 {
			t.Errorf("a = %d, want 200 from its retry", code)
		}
		if w := b.do(context.Background(), ""); w.Code != 200 {
			t.Errorf("b after a finished = %d, want 200 (its retry admitted again)", w.Code)
		}
		if req, ret := budget.InFlight(); req != 0 || ret != 0 {
			t.Errorf("budget in flight after both = %d requests, %d retries, want 0 and 0", req, ret)
		}
	})
}

// TestRetryPassAfterMixedFailures: a pass whose last failure cannot be
// resent (a credential refused) still retries the target whose failure
// can (a 503).
func TestRetryPassAfterMixedFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flaky := &script{answers: []func(context.Context) (*llm.Reply, error){fail(llm.CodeProviderUnavailable, 503, 0), succeed}}
		denied := &script{answers: []func(context.Context) (*llm.Reply, error){func(context.Context) (*llm.Reply, error) {
			return nil, &llm.Error{Code: llm.CodeProviderAuthFailed, UpstreamStatus: 401, Sent: true, NoClientRetry: true, Message: "bad credential"}
		}}}
		l := newLoop(t, Runtime{Retries: 1, Backoff: steady, Timeout: time.Minute}, Options{},
			route.Target{Provider: "up", Model: "a", Client: flaky}, route.Target{Provider: "up", Model: "b", Client: denied})
		if w := l.do(context.Background(), ""); w.Code != 200 {
			t.Errorf("Serve = %d %s, want 200 from a's retry", w.Code, w.Body)
		}
		want := [][]string{{"a=provider_unavailable", "b=provider_auth_failed", "a=", "→"}}
		if diff := cmp.Diff(want, l.classes()); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
}

// TestExhaustedWithBreakersOpen: when the failures of a request opened
// every breaker of its plan, the answer says when to come back and asks
// SDKs not to retry before.
func TestExhaustedWithBreakersOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := &script{answers: []func(context.Context) (*llm.Reply, error){fail(llm.CodeProviderUnavailable, 503, 0)}}
		set := breaker.NewSet(breaker.Settings{ConsecutiveFailures: 2, Cooldown: 20 * time.Second}, nil)
		l := newLoop(t, Runtime{Retries: 1, Backoff: steady, Timeout: time.Minute}, Options{Breakers: set},
			route.Target{Provider: "up", Model: "a", Client: down})
		w := l.do(context.Background(), "")
		if w.Code != 503 || w.Header().Get("X-Should-Retry") != "false" || w.Header().Get("Retry-After") != "20" {
			t.Errorf("Serve = %d x-should-retry %q Retry-After %q, want 503 false 20", w.Code, w.Header().Get("X-Should-Retry"), w.Header().Get("Retry-After"))
		}
		w = l.do(context.Background(), "")
		if w.Code != 503 || !strings.Contains(w.Body.String(), "circuit breakers open") || len(down.calls()) != 2 {
			t.Errorf("Serve while open = %d %s after %d upstream calls, want 503 without a call", w.Code, w.Body, len(down.calls()))
		}
	})
}

// TestNoResendAfterTimeoutUnlessIdempotent: a timeout after the body was
// sent may have been processed upstream: resent (to the same target or
// another) only when the client sent an Idempotency-Key.
func TestNoResendAfterTimeoutUnlessIdempotent(t *testing.T) {
	for _, idem := range []string{"", "key-1"} {
		t.Run("idempotency_key="+idem, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				slow := &script{answers: []func(context.Context) (*llm.Reply, error){fail(llm.CodeProviderTimeout, 0, 0), succeed}}
				l := newLoop(t, Runtime{Retries: 1, Backoff: steady, Timeout: time.Minute}, Options{},
					route.Target{Provider: "up", Model: "a", Client: slow})
				w := l.do(context.Background(), idem)
				want, wantCalls := map[string]int{"": 504, "key-1": 200}[idem], map[string]int{"": 1, "key-1": 2}[idem]
				if w.Code != want || len(slow.calls()) != wantCalls {
					t.Errorf("Serve = %d after %d calls, want %d after %d", w.Code, len(slow.calls()), want, wantCalls)
				}
			})
		})
	}
}

func TestRetryable(t *testing.T) {
	ftt := &llm.Error{Code: llm.CodeProviderTimeout, Sent: true, Err: errFirstToken}
	tests := []struct {
		name                 string
		e                    *llm.Error
		idem, failover, want bool
	}{
		{"503_resend", &llm.Error{Code: llm.CodeProviderUnavailable, UpstreamStatus: 503, Sent: true}, false, false, true},
		{"429_resend", &llm.Error{Code: llm.CodeProviderRateLimited, UpstreamStatus: 429, Sent: true}, false, false, true},
		{"refused_before_send", &llm.Error{Code: llm.CodeProviderUnavailable}, false, false, true},
		{"reset_after_send", &llm.Error{Code: llm.CodeProviderUnavailable, Sent: true}, false, true, false},
		{"reset_after_send_idempotent", &llm.Error{Code: llm.CodeProviderUnavailable, Sent: true}, true, false, true},
		{"malformed_200", &llm.Error{Code: llm.CodeProviderError, UpstreamStatus: 200, Sent: true}, false, true, false},
		{"timeout_after_send", &llm.Error{Code: llm.CodeProviderTimeout, Sent: true}, false, true, false},
		{"timeout_before_send", &llm.Error{Code: llm.CodeProviderTimeout}, false, false, true},
		{"first_token_failover", ftt, false, true, true},
		{"first_token_same_target", ftt, false, false, false},
		{"auth_failover", &llm.Error{Code: llm.CodeProviderAuthFailed, UpstreamStatus: 401, Sent: true, NoClientRetry: true}, false, true, true},
		{"auth_same_target", &llm.Error{Code: llm.CodeProviderAuthFailed, UpstreamStatus: 401, Sent: true, NoClientRetry: true}, true, false, false},
		{"quota_same_target", &llm.Error{Code: llm.CodeProviderRateLimited, UpstreamStatus: 429, Sent: true, NoClientRetry: true}, false, false, false},
		{"quota_failover", &llm.Error{Code: llm.CodeProviderRateLimited, UpstreamStatus: 429, Sent: true, NoClientRetry: true}, false, true, true},
		{"stream_broke", &llm.Error{Code: llm.CodeStreamInterrupted, Sent: true}, false, true, false},
		{"context_length", &llm.Error{Code: llm.CodeContextLengthExceeded, UpstreamStatus: 400, Sent: true}, true, true, false},
		{"client_cancelled", &llm.Error{Code: llm.CodeClientCancelled}, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.e, tt.idem, tt.failover); got != tt.want {
				t.Errorf("retryable(%s, idempotent=%v, failover=%v) = %v, want %v", tt.e.Code, tt.idem, tt.failover, got, tt.want)
			}
		})
	}
}

var _ llm.Provider = (*script)(nil)

// TestBreakerIgnoresClientFaults: a client that goes away and a request the
// provider refuses as the client's fault do not count against the target;
// the provider's own failures do.
func TestBreakerIgnoresClientFaults(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(context.Context) (*llm.Reply, error)
		cancel   bool // the client leaves during the attempt
		wantOpen bool
	}{
		{"client_cancel", block(nil), true, false},
		{"context_length", fail(llm.CodeContextLengthExceeded, 400, 0), false, false},
		{"content_filtered", fail(llm.CodeContentFiltered, 400, 0), false, false},
		{"upstream_invalid", fail(llm.CodeUpstreamInvalidRequest, 400, 0), false, false},
		{"unavailable", fail(llm.CodeProviderUnavailable, 503, 0), false, true},
		{"rate_limited", fail(llm.CodeProviderRateLimited, 429, 0), false, true},
		{"auth", fail(llm.CodeProviderAuthFailed, 401, 0), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				set := breaker.NewSet(breaker.Settings{ConsecutiveFailures: 1, Cooldown: time.Minute}, nil)
				up := &script{answers: []func(context.Context) (*llm.Reply, error){tt.answer}}
				l := newLoop(t, Runtime{Timeout: time.Minute}, Options{Breakers: set}, route.Target{Provider: "up", Model: "a", Client: up})
				ctx, cancel := context.WithCancel(context.Background())
				if tt.cancel {
					go func() { synctest.Wait(); cancel() }()
				}
				l.do(ctx, "")
				cancel()
				if got := set.Get("up/a").State() == breaker.Open; got != tt.wantOpen {
					t.Errorf("breaker open after one %s = %v, want %v", tt.name, got, tt.wantOpen)
				}
			})
		})
	}
}

// TestHeldNativeEventsDoNotCommit: an event that carries only the
// provider's own bytes (Azure's leading prompt_filter_results chunk) does
// not start the client's stream, so a failure right after it still fails
// over, and the failed attempt's event never reaches the client; on the
// answering target it is relayed, in order, before the first real event.
func TestHeldNativeEventsDoNotCommit(t *testing.T) {
	filter := func(tag string) llm.Event {
		return llm.Event{Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions",
			Body: []byte(`{"choices":[],"prompt_filter_results":[{"prompt_index":0,"tag":"` + tag + `"}]}`)}}
	}
	// Target a sends its filter chunk, then nothing until the first-token
	// timeout cancels it.
	stalled := func(ctx context.Context) (*llm.Reply, error) {
		return &llm.Reply{Stream: &stallStream{ctx: ctx, evs: []llm.Event{filter("a")}}}, nil
	}
	answer := func(context.Context) (*llm.Reply, error) {
		return &llm.Reply{Stream: &sliceStream{err: io.EOF, evs: []llm.Event{filter("b"),
			{ID: "c", Role: llm.RoleAssistant}, {ID: "c", Text: "hello"}, {ID: "c", FinishReason: llm.FinishStop}}}}, nil
	}
	l := newLoop(t, Runtime{Timeout: time.Minute, FirstTokenTimeout: 50 * time.Millisecond}, Options{},
		route.Target{Provider: "up", Model: "a", Client: &script{answers: []func(context.Context) (*llm.Reply, error){stalled}}},
		route.Target{Provider: "up", Model: "b", Client: &script{answers: []func(context.Context) (*llm.Reply, error){answer}}})
	w := httptest.NewRecorder()
	l.gw.Serve(context.Background(), &Call{RequestID: "req_h", Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", APIKey: "good",
		Body:   []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`),
		Decode: func(b []byte) (*llm.Request, error) { return oai.DecodeChat(b, oai.Limits{}) },
		Out:    oai.NewWriter(w, "req_h")})
	body := w.Body.String()
	if w.Code != 200 || strings.Contains(body, `"tag":"a"`) || !strings.Contains(body, `"tag":"b"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("Serve = %d, body:\n%s\nwant 200 from target b with its filter chunk and not a's", w.Code, body)
	}
	if i, j := strings.Index(body, `"tag":"b"`), strings.Index(body, "hello"); i > j {
		t.Errorf("the held event came after the first real one:\n%s", body)
	}
	want := [][]string{{"a=provider_timeout", "b=", "→"}}
	if diff := cmp.Diff(want, l.classes()); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// stallStream yields evs, then blocks until ctx ends.
type stallStream struct {
	ctx context.Context
	evs []llm.Event
}

func (s *stallStream) Next() (llm.Event, error) {
	if len(s.evs) > 0 {
		ev := s.evs[0]
		s.evs = s.evs[1:]
		return ev, nil
	}
	<-s.ctx.Done()
	return llm.Event{}, &llm.Error{Code: llm.CodeStreamInterrupted, Sent: true, Message: "cancelled", Err: s.ctx.Err()}
}

func (s *stallStream) Close() error { return nil }

// TestCommitHeaders: the answer names the target that served it, the
// attempts it took and the upstream's request id when there is one.
func TestCommitHeaders(t *testing.T) {
	for _, tt := range []struct {
		name, upstreamID string
	}{{"with_id", "up-123"}, {"without_id", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			up := &script{answers: []func(context.Context) (*llm.Reply, error){func(ctx context.Context) (*llm.Reply, error) {
				r, err := okResponse(ctx, &llm.Request{Model: "x"})
				if tt.upstreamID != "" {
					r.Header = http.Header{"X-Request-Id": {tt.upstreamID}}
				}
				return r, err
			}}}
			l := newLoop(t, Runtime{Timeout: time.Minute}, Options{}, route.Target{Provider: "up", Model: "a", Client: up})
			w := l.do(context.Background(), "")
			got := map[string]string{}
			for _, k := range []string{"X-Airgw-Provider", "X-Airgw-Model", "X-Airgw-Attempts", "X-Airgw-Upstream-Request-Id"} {
				if v := w.Header().Values(k); len(v) > 0 {
					got[k] = strings.Join(v, ",")
				}
			}
			want := map[string]string{"X-Airgw-Provider": "up", "X-Airgw-Model": "a", "X-Airgw-Attempts": "1"}
			if tt.upstreamID != "" {
				want["X-Airgw-Upstream-Request-Id"] = tt.upstreamID
			}
			if w.Code != 200 || !cmp.Equal(got, want) {
				t.Errorf("Serve = %d %v, want 200 %v", w.Code, got, want)
			}
		})
	}
}
