package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestDeliverSignedWithRetries: a failing endpoint gets the event again
// after 1s and 2s (injected sleeps), with the same event id and a valid
// signature, until it accepts it.
func TestDeliverSignedWithRetries(t *testing.T) {
	secret := []byte("webhook-secret-0123456789")
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		n := len(got)
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	var waits []time.Duration
	s := New(Options{URL: srv.URL, Secret: secret, Retries: 4,
		Now:   func() time.Time { return time.Unix(1_800_000_000, 0) },
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
	s.Enqueue([]byte(`{"type":"budget.threshold"}`))
	s.deliver(context.Background(), <-s.queue)
	if len(got) != 3 {
		t.Fatalf("deliveries = %d, want 3 (two failures, then success)", len(got))
	}
	if len(waits) != 2 || waits[0] != time.Second || waits[1] != 2*time.Second {
		t.Errorf("waits = %v, want [1s 2s]", waits)
	}
	for i, r := range got {
		if r.Header.Get("X-Airgw-Event-Id") != got[0].Header.Get("X-Airgw-Event-Id") {
			t.Errorf("attempt %d has another event id", i)
		}
		if r.Header.Get("X-Airgw-Timestamp") != "1800000000" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("attempt %d headers = %v", i, r.Header)
		}
		if !Verify(secret, r.Header.Get("X-Airgw-Timestamp"), bodies[i], r.Header.Get("X-Airgw-Signature")) {
			t.Errorf("attempt %d: signature %q does not verify", i, r.Header.Get("X-Airgw-Signature"))
		}
		if Verify([]byte("another-secret-000000000"), r.Header.Get("X-Airgw-Timestamp"), bodies[i], r.Header.Get("X-Airgw-Signature")) {
			t.Errorf("attempt %d: signature verifies under another secret", i)
		}
	}
}

func TestNoRetryOnClientError(t *testing.T) {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n++; w.WriteHeader(http.StatusBadRequest) }))
	defer srv.Close()
	s := New(Options{URL: srv.URL, Secret: []byte("x"), Retries: 4, Sleep: func(context.Context, time.Duration) error { return nil }})
	s.deliver(context.Background(), event{id: "evt_1", body: []byte(`{}`)})
	if n != 1 {
		t.Errorf("attempts on a 400 = %d, want 1", n)
	}
}

func TestQueueBounded(t *testing.T) {
	s := New(Options{URL: "http://127.0.0.1:1", Secret: []byte("x"), QueueSize: 2})
	if !s.Enqueue([]byte("1")) || !s.Enqueue([]byte("2")) || s.Enqueue([]byte("3")) {
		t.Error("Enqueue past QueueSize should drop, never block")
	}
}
