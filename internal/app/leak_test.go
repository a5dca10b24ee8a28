package app

import (
	"context"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// TestNoGoroutineLeak is the short form of RELIABILITY.md T25's second
// half: after a mixed load (answers, streams, retried failures, timeouts,
// cut streams, clients that leave mid-stream), once the connections are
// closed, the number of goroutines is back to what it was before the load.
func TestNoGoroutineLeak(t *testing.T) {
	r := startRig(t, `routing: {retries: 1, timeout: 10s, backoff: {base: 1ms, max: 2ms}, breaker: {consecutive_failures: 1000}}
models:
  ok: {targets: [{provider: fault, model: ok}], @P@}
  narrow-only: {targets: [{provider: fault, model: ok}], @P@}
  flaky: {targets: [{provider: fault, model: "flaky:30"}], @P@}
  cut: {targets: [{provider: fault, model: "cut:2"}], @P@}
  stall: {idle_timeout: 50ms, targets: [{provider: fault, model: "stall:2"}], @P@}
  hang: {first_token_timeout: 50ms, targets: [{provider: fault, model: hang}], @P@}
  rl: {targets: [{provider: fault, model: "429:1"}], @P@}
`)
	quiesce := func() int {
		r.http.CloseIdleConnections()
		r.fault.CloseConnections()
		// Closed connections end their goroutines asynchronously.
		n := runtime.NumGoroutine()
		for range 50 {
			time.Sleep(20 * time.Millisecond)
			m := runtime.NumGoroutine()
			if m == n {
				break
			}
			n = m
		}
		return n
	}
	models := []string{"ok", "flaky", "cut", "stall", "hang", "rl"}
	mk := func(i int) req {
		return req{model: models[i%len(models)], stream: i%2 == 0}
	}
	r.many(2*len(models), 4, mk) // warm-up: every pool and lazy goroutine exists
	before := quiesce()

	r.many(300, 24, mk)
	// Clients that leave mid-stream and mid-call.
	for i := range 30 {
		ctx, cancel := context.WithCancel(context.Background())
		q := req{model: []string{"ok", "stall", "hang"}[i%3], stream: true}
		if q.model == "hang" {
			q.stream = i%2 == 0
			go func() { time.Sleep(10 * time.Millisecond); cancel() }()
		} else {
			q.onFirstEvent = cancel
		}
		r.do(ctx, q)
		cancel()
	}

	deadline := time.Now().Add(10 * time.Second)
	after := quiesce()
	for after > before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		after = quiesce()
	}
	if after > before {
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Fatalf("%d goroutines after the load, %d before it; the goroutines now:\n%s", after, before, b.String())
	}
	t.Logf("goroutines: %d before the load, %d after", before, after)
}
