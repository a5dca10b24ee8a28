package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	c, err := newRawClient(url, http.Header{"Authorization": {"Bearer k"}}, []byte(`{"model":"m"}`), 5*time.Second, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.closeIdle)
	return c
}

func TestRawClientResponses(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/fixed", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" || r.ContentLength != 13 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Length", "13")
		w.Write(b)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("part one,"))
		w.(http.Flusher).Flush()
		w.Write([]byte("part two"))
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{"data: {\"a\":1}\n\n", "data: {\"a\":2}\n\n", "data: [DONE]\n\n"} {
			w.Write([]byte(ev))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/sse-cut", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: {\"a\":1}\n\n"))
	})
	mux.HandleFunc("/sse-error", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: {\"error\":{\"message\":\"boom\"}}\n\ndata: [DONE]\n\n"))
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(`{"error":{}}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		path    string
		stream  bool
		wantErr string
		ttft    bool
		reuse   bool // the connection goes back to the pool
	}{
		{"/fixed", false, "", false, true},
		{"/chunked", false, "", false, true},
		{"/sse", true, "", true, true},
		{"/sse-cut", true, "stream_incomplete", true, true},
		{"/sse-error", true, "stream_error", true, true},
		{"/close", false, "", false, false},
		{"/teapot", false, "418", false, true},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			c := newTestRaw(t, srv.URL+tt.path)
			// Twice, so that the second request runs on a reused
			// connection when there is one.
			for i := range 2 {
				r := c.do(time.Now(), tt.stream)
				if r.err != tt.wantErr {
					t.Errorf("request %d: err = %q, want %q", i, r.err, tt.wantErr)
				}
				if (r.ttft > 0) != tt.ttft {
					t.Errorf("request %d: ttft = %v, want > 0: %v", i, r.ttft, tt.ttft)
				}
				if r.latency <= 0 || !r.done {
					t.Errorf("request %d: latency = %v, done = %v, want > 0, true", i, r.latency, r.done)
				}
			}
			if got := len(c.idle); got != map[bool]int{true: 1, false: 0}[tt.reuse] {
				t.Errorf("idle connections = %d, want reuse %v", got, tt.reuse)
			}
		})
	}
}

// TestRawClientRetriesClosedIdle checks that a pooled connection the server
// has closed is replaced once, without an error.
func TestRawClientRetriesClosedIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		// Each connection answers one request, then closes without
		// saying so, as a server whose idle timeout fired would.
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	c := newTestRaw(t, "http://"+ln.Addr().String()+"/v1/chat/completions")
	for i := range 3 {
		if r := c.do(time.Now(), false); r.err != "" {
			t.Errorf("request %d: err = %q, want none", i, r.err)
		}
	}
}

func TestRawClientRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestRaw(t, "http://"+addr+"/")
	if r := c.do(time.Now(), false); r.err != "conn_dial" {
		t.Errorf("err = %q, want conn_dial", r.err)
	}
}
