package app

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestResilienceFirstTokenFailover: a stream whose first chunk does not come
// within first_token_timeout is cancelled upstream and served by the next
// target, since nothing reached the client yet.
func TestResilienceFirstTokenFailover(t *testing.T) {
	r := startRig(t, `routing: {retries: 0, timeout: 10s}
models:
  ft: {strategy: priority, first_token_timeout: 200ms, targets: [{provider: fault, model: "slowfirst:2s"}, {provider: fault, model: "ok:ft"}], @P@}
`)
	res := r.do(context.Background(), req{model: "ft", stream: true})
	if res.status != 200 || res.header.Get("X-Airgw-Model") != "ok:ft" || res.header.Get("X-Airgw-Attempts") != "2" || res.events[len(res.events)-1] != "[DONE]" {
		t.Errorf("ft = %d by %s after %s attempts, events %q, want a complete stream by ok:ft after 2", res.status, res.header.Get("X-Airgw-Model"), res.header.Get("X-Airgw-Attempts"), res.events)
	}
	if res.took >= 2*time.Second {
		t.Errorf("ft took %v, want well under the slow target's 2s", res.took)
	}
	if a, b := r.fault.Calls("slowfirst:2s"), r.fault.Calls("ok:ft"); a != 1 || b != 1 {
		t.Errorf("calls = %d slow, %d ok, want 1 each", a, b)
	}
	if cs := r.fault.Cancels(); len(cs) != 1 || cs[0].Model != "slowfirst:2s" || cs[0].At.Sub(cs[0].Start) > time.Second {
		t.Errorf("upstream cancels = %+v, want the slow target's request cancelled after about 200ms", cs)
	}
	rec := r.records()[res.id()]
	if diff := cmp.Diff([]string{"slowfirst:2s=provider_timeout", "ok:ft"}, attemptModels(rec)); diff != "" {
		t.Errorf("record attempts (-want +got):\n%s", diff)
	}
	t.Logf("FIGURE first-token: failover to the second target after a 200ms first-token timeout, answered in %v", res.took.Round(time.Millisecond))
}

// TestResilienceIdleTimeout: a stream that stops sending mid-way ends, after
// idle_timeout, with a stream_interrupted error event.
func TestResilienceIdleTimeout(t *testing.T) {
	r := startRig(t, `routing: {retries: 2, timeout: 10s, idle_timeout: 200ms, breaker: {consecutive_failures: 1000}}
models:
  idle: {targets: [{provider: fault, model: "stall:2"}], @P@}
`)
	res := r.do(context.Background(), req{model: "idle", stream: true})
	if code, ok := endsWithError(res.events); !ok || code != "stream_interrupted" || len(res.events) != 3 {
		t.Errorf("idle = %q, want 2 chunks then a stream_interrupted error event", res.events)
	}
	if res.took > 2*time.Second {
		t.Errorf("idle took %v, want about 200ms", res.took)
	}
	if n := r.fault.Calls("stall:2"); n != 1 {
		t.Errorf("upstream calls = %d, want 1", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(r.fault.Cancels()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(r.fault.Cancels()) != 1 {
		t.Errorf("upstream cancels = %v, want the stalled request cancelled", r.fault.Cancels())
	}
	rec := r.records()[res.id()]
	if rec.Status != 502 || rec.ErrorClass != "stream_interrupted" {
		t.Errorf("record = %d %s, want 502 stream_interrupted", rec.Status, rec.ErrorClass)
	}
}

// TestResilienceClientCancel: a client that goes away mid-stream has the
// upstream request cancelled at once and its record written as
// client_cancelled.
func TestResilienceClientCancel(t *testing.T) {
	r := startRig(t, `routing: {retries: 1, timeout: 20s, backoff: {base: 1ms, max: 5ms}}
models:
  cc: {targets: [{provider: fault, model: "stall:2"}], @P@}
  wait: {targets: [{provider: fault, model: "429:5"}], @P@}
`)
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled time.Time
	res := r.do(ctx, req{model: "cc", stream: true, onFirstEvent: func() {
		cancelled = time.Now()
		cancel()
	}})
	if res.status != 200 || len(res.events) == 0 {
		t.Fatalf("cc = %d %q, want a stream with a first chunk", res.status, res.events)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(r.fault.Cancels()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cs := r.fault.Cancels()
	if len(cs) != 1 {
		t.Fatalf("upstream cancels = %v, want 1", cs)
	}
	seen := cs[0].At.Sub(cancelled)
	if seen > 100*time.Millisecond {
		t.Errorf("upstream saw the cancel %v after the client, want ≤ 100ms", seen)
	}
	rec, ok := r.waitRecord(res.id(), 5*time.Second)
	if !ok || rec.ErrorClass != "client_cancelled" || rec.Status != 499 {
		t.Errorf("record within 5s = %v %d %q, want 499 client_cancelled", ok, rec.Status, rec.ErrorClass)
	}
	// Usage settles from what was sent and delivered (the prompt, and the
	// text relayed before the cancel), estimated, never $0.
	if rec.InputTokens == 0 || !rec.UsageEstimated || rec.CostNanoUSD == 0 {
		t.Errorf("record usage = %d in, %d out, estimated %v, cost %d, want an estimate and a cost", rec.InputTokens, rec.OutputTokens, rec.UsageEstimated, rec.CostNanoUSD)
	}
	if rec.End.Before(cancelled) || rec.End.Sub(cancelled) > time.Second {
		t.Errorf("record end = %v, want within 1s after the client's cancel at %v", rec.End, cancelled)
	}
	t.Logf("FIGURE cancel: upstream saw the client's cancel after %v; record written as %s", seen.Round(time.Microsecond), rec.ErrorClass)

	t.Run("during_backoff", func(t *testing.T) {
		// The client leaves while airgw waits out a 5s Retry-After.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var id string
		res := r.do(ctx, req{model: "wait"})
		if res.err == nil {
			t.Fatalf("wait = %d %s, want the client to give up first", res.status, res.body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for id == "" && time.Now().Before(deadline) {
			for rid, rec := range r.liveRecords() {
				if rec.RequestedModel == "wait" {
					id = rid
					if rec.ErrorClass != "client_cancelled" || rec.Status != 499 || len(rec.Attempts) != 1 {
						t.Errorf("a client that left during the backoff is recorded as %d %s after %d attempts, want 499 client_cancelled after 1", rec.Status, rec.ErrorClass, len(rec.Attempts))
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if id == "" {
			t.Error("no record within 5s of the client leaving during the backoff")
		}
		if n := r.fault.Calls("429:5"); n != 1 {
			t.Errorf("upstream calls = %d, want 1 (no retry after the client left)", n)
		}
	})
}

// TestResilienceRetryAfter: a retry after a 429 waits at least the
// provider's Retry-After.
func TestResilienceRetryAfter(t *testing.T) {
	r := startRig(t, `routing: {retries: 1, timeout: 10s, backoff: {base: 1ms, max: 5ms}}
models:
  ra: {targets: [{provider: fault, model: "429:1:1"}], @P@}
`)
	res := r.do(context.Background(), req{model: "ra"})
	if res.status != 200 || res.attempts() != 2 {
		t.Errorf("ra = %d after %d attempts, want 200 after 2", res.status, res.attempts())
	}
	if res.took < time.Second || res.took > 5*time.Second {
		t.Errorf("ra took %v, want ≥ 1s (Retry-After: 1) and well under 5s", res.took)
	}
	var starts []time.Time
	for _, q := range r.fault.Requests() {
		starts = append(starts, q.Start)
	}
	if len(starts) != 2 || starts[1].Sub(starts[0]) < time.Second {
		t.Errorf("upstream calls at %v, want 2, ≥ 1s apart", starts)
	}
	rec := r.records()[res.id()]
	if diff := cmp.Diff([]string{"429:1:1=provider_rate_limited", "429:1:1"}, attemptModels(rec)); diff != "" {
		t.Errorf("record attempts (-want +got):\n%s", diff)
	}
	if len(starts) == 2 {
		t.Logf("FIGURE retry-after: Retry-After 1s honoured: the retry went %v after the 429", starts[1].Sub(starts[0]).Round(time.Millisecond))
	}
}

// TestResilienceTotalTimeout: routing.timeout (here a model's timeout)
// bounds the whole request: a hanging provider gives 504 provider_timeout
// in time, and the upstream request is cancelled.
func TestResilienceTotalTimeout(t *testing.T) {
	r := startRig(t, `routing: {retries: 2, timeout: 10s, first_token_timeout: 5s}
models:
  tt: {timeout: 300ms, targets: [{provider: fault, model: hang}], @P@}
  tt-slow: {timeout: 5s, first_token_timeout: 100ms, targets: [{provider: fault, model: "slowbody:400ms"}], @P@}
`)
	for _, stream := range []bool{false, true} {
		res := r.do(context.Background(), req{model: "tt", stream: stream})
		if res.status != 504 || res.code() != "provider_timeout" || res.attempts() != 1 {
			t.Errorf("tt(stream=%v) = %d %s after %d attempts, want 504 provider_timeout after 1", stream, res.status, res.body, res.attempts())
		}
		if res.took < 300*time.Millisecond || res.took > 300*time.Millisecond+3*time.Second {
			t.Errorf("tt(stream=%v) took %v, want 300ms + at most 3s (a loaded machine's margin)", stream, res.took)
		}
		t.Logf("FIGURE timeout: timeout 300ms, hanging provider (stream=%v): 504 after %v", stream, res.took.Round(time.Millisecond))
	}
	// The fake sees each connection close a moment after airgw answered.
	for deadline := time.Now().Add(10 * time.Second); len(r.fault.Cancels()) < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(r.fault.Cancels()); n != 2 {
		t.Errorf("upstream cancels = %d, want 2", n)
	}
	t.Run("first_token_timeout_is_for_streams", func(t *testing.T) {
		// A non-streaming answer has no first token before its last: it
		// is bounded by the request's timeout (and providers.*.timeout),
		// never cut by first_token_timeout.
		res := r.do(context.Background(), req{model: "tt-slow"})
		if res.status != 200 || res.attempts() != 1 {
			t.Errorf("tt-slow = %d %s after %d attempts, want 200 after 1 (first_token_timeout 100ms does not cut a 400ms non-streaming answer)", res.status, res.body, res.attempts())
		}
	})
}
