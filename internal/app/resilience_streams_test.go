package app

// End-to-end tests of streams under faults (RELIABILITY.md T22, T27's slow
// readers, client cancels) and of Idempotency-Key (T07), with the same rig
// as resilience_test.go.

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/audit"
)

// stopReading starts a stream of alias, reads its first event and then
// reads nothing more, holding the connection open until the test ends or
// cancel is called. It returns the request id.
func stopReading(t *testing.T, r *rig, alias string) (id string, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/chat/completions",
		strings.NewReader(`{"model":"`+alias+`","stream":true,"messages":[{"role":"user","content":"everything at once"}]}`))
	hr.Header.Set("Authorization", "Bearer "+r.keys["app"])
	resp, err := r.http.Do(hr)
	if err != nil {
		t.Fatalf("POST %s: %v", alias, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatalf("reading the first event: %v", err)
	}
	return resp.Header.Get("X-Request-Id"), cancel
}

// TestResilienceSlowReader: a client that stops reading a stream makes
// airgw stop reading the provider (TCP back-pressure end to end) instead of
// buffering the rest of the answer; when the client goes away the upstream
// request is cancelled and the record settles as client_cancelled.
func TestResilienceSlowReader(t *testing.T) {
	const chunks = 60000 // ≈ 66 MiB of events
	r := startRig(t, `routing: {retries: 0, timeout: 60s}
models:
  flood: {targets: [{provider: fault, model: "flood:60000"}], @P@}
`)
	id, cancel := stopReading(t, r, "flood")
	// The upstream keeps writing until every buffer between it and the
	// client is full, then blocks.
	plateau, stable := int64(-1), 0
	for deadline := time.Now().Add(20 * time.Second); stable < 10 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		n := r.fault.Sent("flood:60000")
		if n == plateau {
			stable++
		} else {
			plateau, stable = n, 0
		}
	}
	total := int64(chunks) * 1100
	if stable < 10 {
		t.Fatalf("the upstream never stopped writing to a client that does not read (%d bytes sent)", plateau)
	}
	const bound = 24 << 20 // socket buffers on two loopback hops
	if plateau > bound {
		t.Errorf("bytes the upstream sent to a client that stopped reading = %d, want ≤ %d (the kernel's socket buffers, not airgw's memory)", plateau, bound)
	}
	cancel()
	rec, ok := r.waitRecord(id, 5*time.Second)
	if !ok || rec.ErrorClass != "client_cancelled" || rec.Status != 499 || rec.OutputTokens == 0 || rec.CostNanoUSD == 0 {
		t.Errorf("record within 5s = %v %d %s, %d output tokens, cost %d, want 499 client_cancelled with the delivered tokens billed", ok, rec.Status, rec.ErrorClass, rec.OutputTokens, rec.CostNanoUSD)
	}
	t.Logf("FIGURE slow-reader: a client that stopped reading a %d MiB stream held the upstream at %.1f MiB sent (kernel socket buffers), %.1f%% of the stream",
		total>>20, float64(plateau)/(1<<20), 100*float64(plateau)/float64(total))
}

// TestResilienceStuckReaderReleased: a client that stops reading and never
// goes away cannot hold its request past the request's timeout: the write
// blocked on it fails a second later, the upstream request is cancelled
// and the record is written.
func TestResilienceStuckReaderReleased(t *testing.T) {
	r := startRig(t, `routing: {retries: 0, timeout: 60s}
models:
  stuck: {timeout: 500ms, targets: [{provider: fault, model: "flood:60000"}], @P@}
`)
	start := time.Now()
	id, _ := stopReading(t, r, "stuck") // held open until the test ends
	rec, ok := r.waitRecord(id, 10*time.Second)
	if !ok {
		t.Fatalf("no record within 10s for a request with a 500ms timeout whose client stopped reading")
	}
	// Either the write blocked on the client failed (client_cancelled), or
	// airgw was reading the provider when the deadline passed and its
	// error event went out within the grace (provider_timeout).
	if rec.ErrorClass != "client_cancelled" && rec.ErrorClass != "provider_timeout" || rec.CostNanoUSD == 0 {
		t.Errorf("record = %d %s cost %d, want client_cancelled or provider_timeout with the delivered tokens billed", rec.Status, rec.ErrorClass, rec.CostNanoUSD)
	}
	if took := rec.End.Sub(start); took > 3*time.Second {
		t.Errorf("record written %v after the start, want within the 500ms timeout + 1s grace + 1.5s", took)
	}
	t.Logf("FIGURE stuck-reader: a client that stopped reading and kept its connection open was released and recorded %v after the start of a request with a 500ms timeout (1s write grace)", rec.End.Sub(start).Round(10*time.Millisecond))
}

// TestResilienceT22AnthropicCut: an Anthropic client whose stream (served
// by an OpenAI-family provider) is cut gets `event: error` and no
// message_stop.
func TestResilienceT22AnthropicCut(t *testing.T) {
	r := startRig(t, `routing: {retries: 2, timeout: 10s, backoff: {base: 1ms, max: 5ms}, breaker: {consecutive_failures: 1000}}
models:
  cut: {targets: [{provider: fault, model: "cut:3"}], @P@}
`)
	hr, _ := http.NewRequest(http.MethodPost, r.base+"/messages",
		strings.NewReader(`{"model":"cut","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"resilience is a feature"}]}`))
	hr.Header.Set("X-Api-Key", r.keys["app"])
	hr.Header.Set("Anthropic-Version", "2023-06-01")
	hr.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(hr)
	if err != nil {
		t.Fatalf("POST /v1/messages: %v", err)
	}
	defer resp.Body.Close()
	var names []string
	sc := bufio.NewScanner(resp.Body)
	var last string
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			names = append(names, name)
		}
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			last = d
		}
	}
	if resp.StatusCode != 200 || len(names) < 2 || names[len(names)-1] != "error" || slices.Contains(names, "message_stop") {
		t.Errorf("cut Anthropic stream = %d, events %v, want content then a final `event: error` and no message_stop", resp.StatusCode, names)
	}
	if !strings.Contains(last, `"type":"error"`) || !strings.Contains(last, "request_id") {
		t.Errorf("error event data = %s, want an Anthropic error object with the request id", last)
	}
	if n := r.fault.Calls("cut:3"); n != 1 {
		t.Errorf("upstream calls = %d, want 1 (0 retries after the first byte)", n)
	}
	rec := r.records()[resp.Header.Get("X-Request-Id")]
	if rec.ErrorClass != "stream_interrupted" || rec.Dialect != "anthropic" || len(rec.Attempts) != 1 {
		t.Errorf("record = %s %s after %d attempts, want stream_interrupted anthropic after 1", rec.ErrorClass, rec.Dialect, len(rec.Attempts))
	}
}

// TestResilienceT07Idempotency: with an Idempotency-Key, a repeated request
// is answered byte for byte from the store, with no second upstream call
// and no second charge; a concurrent duplicate is 409, the same key with
// another body 422, and a failure that a retry can fix is not stored.
func TestResilienceT07Idempotency(t *testing.T) {
	r := startRig(t, `routing: {retries: 0, timeout: 10s, breaker: {consecutive_failures: 1000}}
models:
  idem: {targets: [{provider: fault, model: "ok:idem"}], @P@}
  slow: {targets: [{provider: fault, model: "slowbody:400ms"}], @P@}
  flaky: {targets: [{provider: fault, model: "fail:1"}], @P@}
`)
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	var ids []string
	for _, stream := range []bool{false, true} {
		k := "t07-" + map[bool]string{false: "json", true: "sse"}[stream]
		first := r.do(context.Background(), req{model: "idem", stream: stream, header: key(k)})
		again := r.do(context.Background(), req{model: "idem", stream: stream, header: key(k)})
		ids = append(ids, first.id(), again.id())
		if first.status != 200 || again.status != 200 || string(again.body) != string(first.body) || len(first.body) == 0 {
			t.Errorf("stream=%v: replay = %d %q, want 200 and the first answer's bytes %q", stream, again.status, again.body, first.body)
		}
		if again.header.Get("Idempotent-Replayed") != "true" || again.header.Get("X-Airgw-Original-Request-Id") != first.id() {
			t.Errorf("stream=%v: replay headers Idempotent-Replayed %q, original id %q, want true and %s", stream,
				again.header.Get("Idempotent-Replayed"), again.header.Get("X-Airgw-Original-Request-Id"), first.id())
		}
		if again.id() == first.id() {
			t.Errorf("stream=%v: replay X-Request-Id = the first's, want its own (it has its own record)", stream)
		}
	}
	if n := r.fault.Calls("ok:idem"); n != 2 {
		t.Errorf("upstream calls for 2 requests each sent twice = %d, want 2", n)
	}

	t.Run("other_body_422", func(t *testing.T) {
		res := r.do(context.Background(), req{header: key("t07-json"),
			body: `{"model":"idem","messages":[{"role":"user","content":"another question"}]}`})
		if res.status != 422 || res.code() != "idempotency_mismatch" || res.header.Get("X-Should-Retry") != "false" {
			t.Errorf("same key, other body = %d %s x-should-retry %q, want 422 idempotency_mismatch false", res.status, res.body, res.header.Get("X-Should-Retry"))
		}
	})
	t.Run("concurrent_409", func(t *testing.T) {
		var wg sync.WaitGroup
		var first result
		wg.Add(1)
		go func() {
			defer wg.Done()
			first = r.do(context.Background(), req{model: "slow", header: key("t07-slow")})
		}()
		for deadline := time.Now().Add(5 * time.Second); r.fault.Calls("slowbody:400ms") == 0 && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		dup := r.do(context.Background(), req{model: "slow", header: key("t07-slow")})
		wg.Wait()
		if dup.status != 409 || dup.code() != "idempotency_conflict" || dup.header.Get("Retry-After") == "" {
			t.Errorf("concurrent duplicate = %d %s Retry-After %q, want 409 idempotency_conflict with Retry-After", dup.status, dup.body, dup.header.Get("Retry-After"))
		}
		if first.status != 200 {
			t.Errorf("first of the pair = %d %s, want 200", first.status, first.body)
		}
		if after := r.do(context.Background(), req{model: "slow", header: key("t07-slow")}); after.status != 200 || string(after.body) != string(first.body) {
			t.Errorf("after the first finished = %d, want its replay", after.status)
		}
		if n := r.fault.Calls("slowbody:400ms"); n != 1 {
			t.Errorf("upstream calls = %d, want 1", n)
		}
	})
	t.Run("retryable_failure_not_stored", func(t *testing.T) {
		failed := r.do(context.Background(), req{model: "flaky", header: key("t07-flaky")})
		retried := r.do(context.Background(), req{model: "flaky", header: key("t07-flaky")})
		if failed.status != 503 || retried.status != 200 || retried.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("503 then retry with the same key = %d, %d (replayed %q), want 503 then a fresh 200", failed.status, retried.status, retried.header.Get("Idempotent-Replayed"))
		}
		ids = append(ids, failed.id(), retried.id())
	})

	recs := r.records()
	costs := make([]int64, len(ids))
	for i, id := range ids {
		costs[i] = recs[id].CostNanoUSD
	}
	// first JSON, replay, first SSE, replay, the 503, its successful retry
	if len(costs) != 6 || costs[0] <= 0 || costs[2] <= 0 || costs[5] <= 0 {
		t.Fatalf("costs = %v, want the first answers and the retry charged", costs)
	}
	if diff := cmp.Diff([]int64{costs[0], 0, costs[2], 0, 0, costs[5]}, costs); diff != "" {
		t.Errorf("recorded costs (-want +got):\n%s", diff)
	}
	if rec := recs[ids[1]]; len(rec.Attempts) != 0 || !hasDecision(rec, "idempotency", "replay") || rec.Status != 200 {
		t.Errorf("replay record = %d, %d attempts, policies %v, want 200, no attempt and an idempotency replay decision", rec.Status, len(rec.Attempts), rec.Policies)
	}
	t.Logf("FIGURE T07: 2 requests sent twice each with an Idempotency-Key (JSON and SSE): 2 upstream calls, replays byte-identical, charged %d and %d nano-USD once each, replays 0", costs[0], costs[2])
}

func hasDecision(rec audit.Record, policy, action string) bool {
	for _, d := range rec.Policies {
		if d.Policy == policy && d.Action == action {
			return true
		}
	}
	return false
}
