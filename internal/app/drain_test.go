package app

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/faulttest"
)

// TestGracefulDrain is RELIABILITY.md T18: on shutdown (SIGTERM cancels
// Serve's context) airgw stops accepting connections, lets the requests in
// flight finish within server.shutdown_timeout, ends the ones still running
// after it with an explicit error (an error event for a stream that had
// begun, a 503 otherwise), and records every one of them.
func TestGracefulDrain(t *testing.T) {
	fault := faulttest.NewServer(t)
	head := strings.Replace(faultHead, "shutdown_timeout: 5s", "shutdown_timeout: 1s", 1)
	yaml := strings.NewReplacer("@FAULT_URL@", fault.URL(), "@FAULT_KEY@", faulttest.Key, "@P@", price).Replace(head + `
routing: {retries: 0, timeout: 60s}
models:
  finishing: {targets: [{provider: fault, model: "slowfirst:500ms"}], @P@}
  stuck: {targets: [{provider: fault, model: "stall:2"}], @P@}
  hanging: {targets: [{provider: fault, model: "hang"}], @P@}
`)
	g := startYAML(t, yaml)
	r := &rig{liveGateway: g, fault: fault, http: &http.Client{Transport: &http.Transport{DisableCompression: true}}}

	type sent struct {
		name string
		res  result
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []sent
	)
	started := make(chan struct{}, 3)
	send := func(name string, q req) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if q.stream && q.onFirstEvent == nil {
				q.onFirstEvent = func() { started <- struct{}{} }
			}
			res := r.do(context.Background(), q)
			mu.Lock()
			results = append(results, sent{name, res})
			mu.Unlock()
		}()
	}
	send("finishing", req{model: "finishing", stream: true})
	send("stuck", req{model: "stuck", stream: true})
	send("hanging", req{model: "hanging"})
	// The finishing stream sends its first event after 500 ms, so it is
	// still in flight when the drain begins; the stuck one has begun.
	<-started
	deadline := time.Now().Add(5 * time.Second)
	for len(fault.Requests()) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(fault.Requests()); n != 3 {
		t.Fatalf("the fake provider saw %d requests before the drain, want 3", n)
	}

	stopped := make(chan struct{})
	go func() { g.stop(); close(stopped) }()
	// The listener closes at once: a new connection is refused.
	refused := false
	for time.Now().Before(deadline) && !refused {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(strings.TrimSuffix(g.base, "/v1") + "/healthz")
		if err != nil {
			refused = true
			break
		}
		resp.Body.Close()
		time.Sleep(5 * time.Millisecond)
	}
	if !refused {
		t.Error("new connections were still accepted during the drain")
	}
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return within 20 s of the shutdown (shutdown_timeout is 1 s)")
	}
	wg.Wait()

	recs := g.records()
	if len(results) != 3 {
		t.Fatalf("%d answers, want 3", len(results))
	}
	for _, s := range results {
		res := s.res
		id := res.id()
		rec, ok := recs[id]
		if !ok {
			t.Errorf("%s: request %q has no audit record (answer %d, err %v)", s.name, id, res.status, res.err)
			continue
		}
		switch s.name {
		case "finishing": // finished within the drain timeout
			if res.status != 200 || res.err != nil || len(res.events) == 0 || res.events[len(res.events)-1] != "[DONE]" {
				t.Errorf("finishing stream: status %d err %v events %q, want a complete stream ending in [DONE]", res.status, res.err, res.events)
			}
			if rec.Status != 200 || rec.ErrorClass != "" || rec.CostNanoUSD == 0 {
				t.Errorf("finishing record = status %d class %q cost %d, want 200, no error, priced", rec.Status, rec.ErrorClass, rec.CostNanoUSD)
			}
		case "stuck": // a stream that had begun: an explicit error event, no [DONE]
			last := ""
			if len(res.events) > 0 {
				last = res.events[len(res.events)-1]
			}
			if !strings.Contains(last, `"error"`) || !strings.Contains(last, "shut") {
				t.Errorf("stuck stream ended with %q (err %v), want an error event saying the gateway shut down", last, res.err)
			}
			if rec.ErrorClass != "stream_interrupted" {
				t.Errorf("stuck record class = %q, want stream_interrupted", rec.ErrorClass)
			}
		case "hanging": // nothing sent yet: 503, the client may send it again
			if res.status != 503 || res.code() != "service_unavailable" || res.header.Get("Retry-After") == "" {
				t.Errorf("hanging request: status %d code %q Retry-After %q, want 503 service_unavailable with Retry-After; body %s", res.status, res.code(), res.header.Get("Retry-After"), res.body)
			}
			if rec.Status != 503 || rec.ErrorClass != "service_unavailable" {
				t.Errorf("hanging record = %d %q, want 503 service_unavailable", rec.Status, rec.ErrorClass)
			}
		}
	}
	if n := len(fault.Cancels()); n < 2 {
		t.Errorf("the provider saw %d cancelled calls, want the stuck and the hanging ones cancelled", n)
	}
}
