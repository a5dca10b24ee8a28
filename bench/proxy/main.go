// Command proxy is the benchmark baseline: a bare httputil.ReverseProxy in
// front of one upstream, with nothing added. The gateway's overhead is
// reported relative to this proxy's, measured in the same run.
//
// It flushes every write (FlushInterval -1) so that streamed events pass
// through as they arrive, and prints "listening on ADDR" once it accepts
// connections.
//
// The one thing it adds to ReverseProxy is reading the request body into
// memory before forwarding it, as every LLM gateway does anyway to decode it.
// Streaming the inbound body straight upstream loses a few percent of
// streamed responses: the server closes the inbound body when the response
// headers are written, the transport's final read of it fails, and the
// upstream connection is torn down mid-response (golang/go#40747).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9091", "listen address (port 0 picks a free port)")
	upstream := flag.String("upstream", "http://127.0.0.1:9090", "upstream base URL")
	quiet := flag.Bool("quiet", true, "discard the proxy's error log")
	flag.Parse()

	up, err := url.Parse(*upstream)
	if err != nil || up.Scheme == "" || up.Host == "" {
		log.Fatalf("proxy: bad -upstream %q", *upstream)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
		},
		FlushInterval: -1,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		},
	}
	if *quiet {
		rp.ErrorLog = log.New(io.Discard, "", 0)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("proxy: %v", err)
	}
	srv := &http.Server{
		Handler:           bufferBody(rp),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("proxy: %v", err)
	}
}

// maxBody bounds the request bodies bufferBody reads; larger ones get 413.
const maxBody = 4 << 20

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// bufferBody reads the whole request body before calling next.
func bufferBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bufs.Get().(*bytes.Buffer)
		defer func() { buf.Reset(); bufs.Put(buf) }()
		if r.Body != nil && r.Body != http.NoBody {
			n, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1))
			r.Body.Close()
			if err != nil {
				http.Error(w, "cannot read body", http.StatusBadRequest)
				return
			}
			if n > maxBody {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
			r.ContentLength = n
		}
		next.ServeHTTP(w, r)
	})
}
