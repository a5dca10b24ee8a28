package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"
)

// rawClient is a minimal HTTP/1.1 client for one URL and one request,
// written once at start: it costs a fraction of net/http's CPU per request,
// so that the load generator is not the bottleneck of a saturation run on a
// small machine. It handles what any HTTP/1.1 server may answer (fixed
// length, chunked, or close-delimited bodies; keep-alive or close) and
// nothing else: no TLS, no redirects, no HTTP/2, no proxies.
type rawClient struct {
	addr    string
	req     []byte
	timeout time.Duration
	maxIdle int

	mu   sync.Mutex
	idle []*rawConn
}

type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

var errBadResponse = errors.New("loadgen: malformed HTTP response")

func newRawClient(rawURL string, header http.Header, body []byte, timeout time.Duration, maxIdle int) (*rawClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("loadgen: the raw client needs an http:// URL, got %q", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	keys := make([]string, 0, len(header))
	for k := range header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return &rawClient{addr: addr, req: b.Bytes(), timeout: timeout, maxIdle: maxIdle}, nil
}

func (c *rawClient) get() (rc *rawConn, reused bool, err error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		rc = c.idle[n-1]
		c.idle = c.idle[:n-1]
	}
	c.mu.Unlock()
	if rc != nil {
		return rc, true, nil
	}
	conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return nil, false, err
	}
	return &rawConn{c: conn, br: bufio.NewReaderSize(conn, 16<<10)}, false, nil
}

func (c *rawClient) put(rc *rawConn) {
	c.mu.Lock()
	if len(c.idle) < c.maxIdle {
		c.idle = append(c.idle, rc)
		rc = nil
	}
	c.mu.Unlock()
	if rc != nil {
		rc.c.Close()
	}
}

// closeIdle closes every idle connection.
func (c *rawClient) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, rc := range idle {
		rc.c.Close()
	}
}

// do sends the request and reads the whole response. A reused connection
// that the server had closed is retried once on a new one, as net/http
// does, if no byte of a response arrived.
func (c *rawClient) do(scheduled time.Time, stream bool) result {
	r := result{scheduled: scheduled, done: true}
	r.lag = time.Since(scheduled)
	for attempt := 0; ; attempt++ {
		rc, reused, err := c.get()
		if err != nil {
			r.err = errKind(err)
			r.latency = time.Since(scheduled)
			return r
		}
		rc.c.SetDeadline(time.Now().Add(c.timeout))
		keep, started, err := c.exchange(rc, stream, &r)
		if err != nil && reused && !started && attempt == 0 {
			rc.c.Close()
			continue
		}
		if err != nil {
			r.err = errKind(err)
			r.latency = time.Since(scheduled)
		}
		if err == nil && keep {
			c.put(rc)
		} else {
			rc.c.Close()
		}
		return r
	}
}

// exchange writes the request on rc and reads the response into r. started
// reports whether any byte of a response arrived; keep whether rc may be
// reused.
func (c *rawClient) exchange(rc *rawConn, stream bool, r *result) (keep, started bool, err error) {
	if _, err := rc.c.Write(c.req); err != nil {
		return false, false, err
	}
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return false, len(line) > 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return false, true, errBadResponse
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return false, true, errBadResponse
	}
	keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told not to
	contentLength, chunked := int64(-1), false
	for {
		h, err := rc.br.ReadSlice('\n')
		if err != nil {
			return false, true, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return false, true, errBadResponse
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "content-length"):
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				return false, true, errBadResponse
			}
			contentLength = n
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case asciiEqualFold(k, "connection"):
			lv := bytes.ToLower(v)
			if bytes.Contains(lv, []byte("close")) {
				keep = false
			} else if bytes.Contains(lv, []byte("keep-alive")) {
				keep = true
			}
		}
	}

	var body io.Reader
	switch {
	case status == http.StatusNoContent || status == http.StatusNotModified || status < 200:
		body = eofReader{}
	case chunked:
		body = httputil.NewChunkedReader(rc.br)
	case contentLength >= 0:
		body = &io.LimitedReader{R: rc.br, N: contentLength}
	default:
		body, keep = rc.br, false // delimited by the end of the connection
	}

	if status != http.StatusOK {
		_, err = io.Copy(io.Discard, body)
		r.err = strconv.Itoa(status)
		r.latency = time.Since(r.scheduled)
	} else {
		br := bufPool.Get().(*bufio.Reader)
		br.Reset(body)
		readBody(br, stream, r)
		br.Reset(nil)
		bufPool.Put(br)
		if r.err != "" && r.err != "stream_error" && r.err != "stream_incomplete" {
			return false, true, nil // a transport error, already recorded
		}
	}
	if err != nil {
		return false, true, err
	}
	if lr, ok := body.(*io.LimitedReader); ok && lr.N > 0 {
		return false, true, io.ErrUnexpectedEOF
	}
	if chunked {
		// The trailer section ends with an empty line.
		for {
			t, err := rc.br.ReadSlice('\n')
			if err != nil {
				return false, true, err
			}
			if len(bytes.TrimRight(t, "\r\n")) == 0 {
				break
			}
		}
	}
	return keep, true, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
