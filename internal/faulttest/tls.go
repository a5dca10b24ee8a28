package faulttest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// NewUntrustedTLSServer starts a Server that speaks HTTPS with a
// certificate no client trusts (httptest's own), so that every connection
// fails in the TLS handshake, before a byte of the request is sent. Its URL
// is https://127.0.0.1:<port>/v1.
func NewUntrustedTLSServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{calls: map[string]int{}, sent: map[string]int64{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.Config.ErrorLog = discardLog // the refused handshakes are the point
	s.srv.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// ResetListener accepts TCP connections on 127.0.0.1, reads the first bytes
// a client sends (the request line for http://, the TLS ClientHello for
// https://), then resets the connection with an RST. With an https:// URL
// the reset comes during the TLS handshake, before any byte of the HTTP
// request was sent: a failure that is always safe to retry.
type ResetListener struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

// NewResetListener starts a ResetListener, closed when the test ends.
func NewResetListener(t testing.TB) *ResetListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faulttest: listen: %v", err)
	}
	r := &ResetListener{ln: ln}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.Close)
	return r
}

func (r *ResetListener) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.conns.Add(1)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.ReadAtLeast(c, make([]byte, 5), 5)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		}()
	}
}

// HTTPSURL returns the listener's base URL with the https scheme.
func (r *ResetListener) HTTPSURL() string { return "https://" + r.ln.Addr().String() + "/v1" }

// Conns returns how many connections were accepted (and reset).
func (r *ResetListener) Conns() int { return int(r.conns.Load()) }

// Close stops accepting and waits for the connections in hand.
func (r *ResetListener) Close() {
	_ = r.ln.Close()
	r.wg.Wait()
}
