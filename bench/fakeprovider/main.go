// Command fakeprovider is a fast fake of the OpenAI Chat Completions API for
// benchmarks: POST /v1/chat/completions, streaming (SSE) and not.
//
// Response bodies are built once per model and reused, so the server spends
// as little CPU per request as possible and is never the bottleneck of a
// benchmark. Any bearer key is accepted. It prints "listening on ADDR" on
// stdout once it accepts connections.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var cfg config
	addr := flag.String("addr", "127.0.0.1:9090", "listen address (port 0 picks a free port)")
	flag.DurationVar(&cfg.latency, "latency", 0, "delay before the first response byte")
	flag.IntVar(&cfg.chunks, "chunks", 16, "content chunks per streamed response (also completion tokens)")
	flag.DurationVar(&cfg.chunkInterval, "chunk-interval", 0, "delay between streamed chunks")
	flag.IntVar(&cfg.promptTokens, "prompt-tokens", 12, "prompt_tokens reported in usage")
	flag.Parse()
	if cfg.chunks < 1 {
		log.Fatal("fakeprovider: -chunks must be at least 1")
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("fakeprovider: %v", err)
	}
	srv := &http.Server{
		Handler:           newHandler(cfg, time.Now()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(os.Stderr, "fakeprovider: ", 0),
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
		log.Fatalf("fakeprovider: %v", err)
	}
}
