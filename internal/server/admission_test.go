package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/server"
)

// gateReader is a request body that reports its first read, then waits
// for release before giving its content.
type gateReader struct {
	once    sync.Once
	reading chan struct{}
	release chan struct{}
	r       *strings.Reader
}

func (g *gateReader) Read(p []byte) (int, error) {
	g.once.Do(func() { close(g.reading); <-g.release })
	return g.r.Read(p)
}

// TestMaxInFlight: beyond server.max_in_flight requests in flight, a
// request gets 503 with Retry-After at once and reaches no provider; once
// a slot frees, requests are served again.
func TestMaxInFlight(t *testing.T) {
	h := newHarness(t, server.Options{MaxInFlight: 1})
	gate := &gateReader{reading: make(chan struct{}), release: make(chan struct{}), r: strings.NewReader(hello)}
	first := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", gate)
	first.Header.Set("Authorization", "Bearer good")
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- h.do(first) }()
	<-gate.reading // the first request is in flight, reading its body

	w := h.do(chatRequest(hello, map[string]string{"Authorization": "Bearer good"}))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("second request: status %d, want 503; body %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Errorf("second request: Retry-After = %q, want 1", got)
	}
	if e := decodeError(t, w); e.Error.Code != "service_unavailable" || !strings.Contains(e.Error.Message, "server.max_in_flight") {
		t.Errorf("second request: error %+v, want service_unavailable naming server.max_in_flight", e.Error)
	}
	if n := h.prov.calls.Load(); n != 0 {
		t.Errorf("provider calls while refusing = %d, want 0", n)
	}
	if got := h.srv.Shed(); got != 1 {
		t.Errorf("Shed() = %d, want 1", got)
	}

	close(gate.release)
	if w := <-done; w.Code != http.StatusOK {
		t.Fatalf("first request: status %d, want 200; body %s", w.Code, w.Body)
	}
	if w := h.do(chatRequest(hello, map[string]string{"Authorization": "Bearer good"})); w.Code != http.StatusOK {
		t.Errorf("after the first ended: status %d, want 200; body %s", w.Code, w.Body)
	}

	h.srv.SetMaxInFlight(0) // no limit
	if w := h.do(chatRequest(hello, map[string]string{"Authorization": "Bearer good"})); w.Code != http.StatusOK {
		t.Errorf("with no limit: status %d, want 200", w.Code)
	}
}
