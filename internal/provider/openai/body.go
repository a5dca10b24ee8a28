package openai

import (
	"errors"
	"io"
	"sync"
)

// releaseMin is the smallest upstream body sent as a requestBody. net/http
// flushes the headers before a body it does not know to be in memory (an
// extra write(2) per request), so small bodies, which cost little to keep,
// go as a bytes.Reader with the headers in one write.
const releaseMin = 8 << 10

// errBodyReleased is GetBody's answer once the body was released; the
// transport asks for it only to resend a request that got no response.
var errBodyReleased = errors.New("openai: request body already released")

// requestBody is an upstream request body that lets go of its bytes once
// they are sent and the response has arrived. The transport keeps the
// request, with its body and GetBody, until the response body is closed:
// for a stream, as long as the stream lasts, and the body is the whole
// prompt (often tens of KiB, up to MaxRequestBytes). Nothing reads it again
// after the response arrived (redirects are not followed), so post releases
// it then. It is safe for concurrent use: the transport may close a body
// from another goroutine.
type requestBody struct {
	mu   sync.Mutex
	b    []byte
	sent bool // a reader reached the end of b
}

// open returns a reader from the start of the body, as GetBody.
func (r *requestBody) open() (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.b == nil {
		return nil, errBodyReleased
	}
	return &bodyReader{body: r}, nil
}

// release drops the bytes once they were sent in full; a body the
// upstream answered before reading all of it is kept, as the transport may
// still be writing it.
func (r *requestBody) release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sent {
		r.b = nil
	}
}

// wasRead reports whether a reader reached the end of the body: every
// byte was handed to the connection, so the provider may have it whole.
func (r *requestBody) wasRead() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent
}

type bodyReader struct {
	body *requestBody
	off  int
}

func (br *bodyReader) Read(p []byte) (int, error) {
	r := br.body
	r.mu.Lock()
	defer r.mu.Unlock()
	if br.off >= len(r.b) {
		r.sent = r.sent || r.b != nil
		return 0, io.EOF
	}
	n := copy(p, r.b[br.off:])
	br.off += n
	// The last byte is out: the transport reads no further than the
	// Content-Length, so the EOF above may never be asked for.
	r.sent = r.sent || br.off == len(r.b)
	return n, nil
}

func (br *bodyReader) Close() error { return nil }
