package providertest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// proxy sits between the adapter under test and its fake, at the wire
// level, so that the suite can check what no adapter can fake from inside:
// how many requests reached the upstream, whether the adapter's connection
// was really dropped when it cancelled, and how it copes with responses
// cut into pieces at arbitrary byte boundaries.
type proxy struct {
	srv      *httptest.Server
	upstream *url.URL
	client   *http.Client

	mu      sync.Mutex
	mode    mode
	calls   int
	gone    chan struct{} // closed when a stalled request's client went away
	pending chan struct{} // closed when a stalled request has sent its first half
}

// mode is how the proxy relays a response body.
type mode struct {
	// piece is the most bytes written (and flushed) at once; the sizes
	// cycle through a fixed pseudo-random sequence in [1, piece]. Zero
	// relays the body as it is read.
	piece int
	// stall relays only the first half of the body, then waits until the
	// client goes away.
	stall bool
}

func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("upstream URL %q: %v", upstream, err)
	}
	tr := &http.Transport{Proxy: nil, DisableCompression: true}
	p := &proxy{upstream: u, client: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.srv.Close()
		tr.CloseIdleConnections()
	})
	return p
}

// baseURL is the adapter's base URL: the upstream's, reached through the
// proxy.
func (p *proxy) baseURL() string {
	u := *p.upstream
	pu, _ := url.Parse(p.srv.URL)
	u.Scheme, u.Host = pu.Scheme, pu.Host
	return u.String()
}

// set changes how the following responses are relayed and resets the
// request count.
func (p *proxy) set(m mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.calls = m, 0
	p.gone, p.pending = make(chan struct{}), make(chan struct{})
}

// state returns the number of requests relayed since the last set and the
// channels of a stalled request.
func (p *proxy) state() (calls int, pending, gone <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.pending, p.gone
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.calls++
	m, gone, pending := p.mode, p.gone, p.pending
	p.mu.Unlock()

	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "providertest proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	u := *p.upstream
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, "providertest proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	// The adapter signed (SigV4) or addressed the proxy's host: keep it.
	out.Host = r.Host
	resp, err := p.client.Do(out)
	if err != nil {
		if r.Context().Err() == nil {
			http.Error(w, "providertest proxy: "+err.Error(), http.StatusBadGateway)
		}
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	pw := &pieceWriter{w: w, rc: rc, max: m.piece}
	if !m.stall {
		if _, err := io.Copy(pw, resp.Body); err != nil {
			// The upstream broke the stream: break ours too, rather than
			// end the chunked body cleanly and hide the cut.
			panic(http.ErrAbortHandler)
		}
		return
	}
	all, _ := io.ReadAll(resp.Body)
	_, _ = pw.Write(all[:len(all)/2])
	_ = rc.Flush()
	close(pending)
	<-r.Context().Done()
	close(gone)
}

// pieceWriter writes through w in pieces of varying size, flushing each, so
// that the reader on the other side of the connection sees the stream
// split at arbitrary byte boundaries.
type pieceWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	max int
	n   uint32 // state of the size sequence
}

func (pw *pieceWriter) Write(b []byte) (int, error) {
	if pw.max <= 0 {
		n, err := pw.w.Write(b)
		_ = pw.rc.Flush()
		return n, err
	}
	written := 0
	for len(b) > 0 {
		pw.n = pw.n*1664525 + 1013904223 // LCG: deterministic, no shared rand
		size := 1 + int(pw.n>>16)%pw.max
		size = min(size, len(b))
		n, err := pw.w.Write(b[:size])
		written += n
		if err != nil {
			return written, err
		}
		if err := pw.rc.Flush(); err != nil {
			return written, err
		}
		b = b[size:]
	}
	return written, nil
}

// waitClosed waits for ch, at most as long as ctx allows.
func waitClosed(ctx context.Context, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}
