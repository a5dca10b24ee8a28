package openai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestRequestBodyRelease(t *testing.T) {
	rb := &requestBody{b: []byte("hello")}
	r1, _ := rb.open()
	if _, err := io.ReadAll(io.LimitReader(r1, 2)); err != nil {
		t.Fatal(err)
	}
	rb.release() // not sent in full: kept
	r2, err := rb.open()
	if err != nil {
		t.Fatalf("open after an early release = %v, want a fresh reader", err)
	}
	if b, _ := io.ReadAll(r2); string(b) != "hello" {
		t.Errorf("GetBody reader = %q, want hello", b)
	}
	rb.release() // sent: dropped
	if rb.b != nil {
		t.Error("body kept after release, want it dropped")
	}
	if _, err := rb.open(); !errors.Is(err, errBodyReleased) {
		t.Errorf("open after release = %v, want errBodyReleased", err)
	}
}

// The upstream gets the whole body with its length; once the streamed
// response arrived, the client no longer holds the body for the stream's
// lifetime.
func TestStreamRequestBodySentAndReleased(t *testing.T) {
	var (
		mu  sync.Mutex
		got []byte
		cl  string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got, _ = io.ReadAll(r.Body)
		cl = r.Header.Get("Content-Length")
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	body := []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"` + strings.Repeat("x", 10000) + `"}]}`)
	resp, cancel, err := c.post(context.Background(), srv.URL+"/v1/chat/completions", body, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	defer resp.Body.Close()
	rb := resp.Request.GetBody
	if rb == nil {
		t.Fatal("request has no GetBody")
	}
	if _, err := rb(); !errors.Is(err, errBodyReleased) {
		t.Errorf("GetBody after the response = %v, want the body released", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if string(got) != string(body) || cl != strconv.Itoa(len(body)) {
		t.Errorf("upstream got %d bytes with Content-Length %q, want %d bytes with their length", len(got), cl, len(body))
	}
}

// A body read up to its length counts as sent even if nothing asks for
// its EOF (the transport stops at Content-Length): a write that fails
// after that may have delivered it whole, so the request must not be sent
// again. A partly read body does not count; a small body, sent as a
// bytes.Reader (no requestBody), is judged by the transport alone.
func TestRequestBodyWasRead(t *testing.T) {
	rb := &requestBody{b: []byte("hello")}
	r, _ := rb.open()
	if _, err := io.ReadAll(io.LimitReader(r, 3)); err != nil || rb.wasRead() {
		t.Fatalf("after 3 of 5 bytes: wasRead = %v (err %v), want false", rb.wasRead(), err)
	}
	if _, err := io.ReadAll(io.LimitReader(r, 2)); err != nil || !rb.wasRead() {
		t.Errorf("after 5 of 5 bytes, EOF never asked: wasRead = %v (err %v), want true", rb.wasRead(), err)
	}
	var none *requestBody
	none.release()
	if none.wasRead() {
		t.Error("a nil requestBody reports itself read")
	}
}
