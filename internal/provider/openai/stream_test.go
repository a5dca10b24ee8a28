package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/google/go-cmp/cmp"
)

// splitServer writes a fixture's body 1-7 bytes at a time, flushing after
// each write.
func splitServer(t *testing.T, fixture string) *httptest.Server {
	status, h, body, err := openaitest.LoadFixture(fixture)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		rc := http.NewResponseController(w)
		for i, n := 0, 1; len(body) > 0; i++ {
			n = min(1+i*5%7, len(body))
			if _, err := w.Write(body[:n]); err != nil {
				return
			}
			rc.Flush()
			body = body[n:]
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStreamSplitWrites(t *testing.T) {
	for _, fixture := range []string{"chat-stream-multi-tool-gpt4o", "azure-chat-stream-tool-call-o4-mini", "chat-stream-with-usage", "chat-stream-langchaingo"} {
		t.Run(fixture, func(t *testing.T) {
			// Reference: the fixture served whole by the fake.
			fake := openaitest.NewServer(t)
			req := userReq("fixture:"+fixture, "x")
			req.Stream = true
			reply, err := newClient(t, fake.URL()).Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			want, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			srv := splitServer(t, fixture)
			reply, err = newClient(t, srv.URL).Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" || got.Events == 0 {
				t.Errorf("split stream %s mismatch (-whole +split):\n%s", fixture, diff)
			}
		})
	}
}

func TestStreamCut(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, k := range []int{0, 1, 3, 7} {
		t.Run(fmt.Sprint("cut-", k), func(t *testing.T) {
			req := userReq(fmt.Sprintf("cut:%d", k), "a b c")
			req.Stream = true
			reply, err := c.Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, reply.Stream)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != llm.CodeStreamInterrupted || !e.Sent || e.Provider != "oai" {
				t.Fatalf("stream cut after %d chunks = %v, want stream_interrupted, sent", k, err)
			}
			if got.Events != k {
				t.Errorf("stream cut after %d chunks delivered %d events", k, got.Events)
			}
			// Sticky.
			if _, err2 := reply.Stream.Next(); !errors.Is(err2, e) {
				t.Errorf("Next after error = %v, want %v", err2, e)
			}
		})
	}
}

// TestStreamTruncatedClean covers an upstream that ends the body cleanly
// but without [DONE], and one cut inside an event.
func TestStreamTruncatedClean(t *testing.T) {
	for name, body := range map[string]string{
		"no-done":   "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
		"mid-event": "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"id\":",
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, body)
			}))
			defer srv.Close()
			req := userReq("m", "x")
			req.Stream = true
			reply, err := newClient(t, srv.URL).Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, reply.Stream)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != llm.CodeStreamInterrupted || got.Text != "hi" {
				t.Errorf("stream %s = %q, %v; want \"hi\", stream_interrupted", name, got.Text, err)
			}
		})
	}
}

func TestStreamErrorEvent(t *testing.T) {
	tests := []struct {
		name, chunk string
		code        llm.Code
	}{
		{"server-error", `{"error":{"message":"The server had an error processing your request.","type":"server_error","param":null,"code":null}}`, llm.CodeProviderUnavailable},
		{"rate-limit", `{"error":{"message":"Rate limit reached. Please try again in 2s.","type":"requests","code":"rate_limit_exceeded"}}`, llm.CodeProviderRateLimited},
		{"content-filter", `{"error":{"message":"filtered","type":"invalid_request_error","code":"content_filter"}}`, llm.CodeContentFiltered},
		{"malformed", `{"choices":[{"index":"zero"}]}`, llm.CodeStreamInterrupted},
		{"bad-usage", `{"choices":[],"usage":{"prompt_tokens":-1,"completion_tokens":2}}`, llm.CodeStreamInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n")
				io.WriteString(w, "data: "+tt.chunk+"\n\n")
			}))
			defer srv.Close()
			req := userReq("m", "x")
			req.Stream = true
			reply, err := newClient(t, srv.URL).Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			_, err = collect(t, reply.Stream)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != tt.code || !e.Sent {
				t.Errorf("stream with %s = %v, want %s", tt.chunk, err, tt.code)
			}
		})
	}
}

// TestStreamCancel checks that cancelling the caller's context, or closing
// the stream, mid-stream closes the upstream connection promptly.
func TestStreamCancel(t *testing.T) {
	for _, how := range []string{"context", "close"} {
		t.Run(how, func(t *testing.T) {
			gone := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n")
				http.NewResponseController(w).Flush()
				<-r.Context().Done() // the client went away
				close(gone)
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := userReq("m", "x")
			req.Stream = true
			reply, err := newClient(t, srv.URL).Chat(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if ev, err := reply.Stream.Next(); err != nil || ev.Text != "hi" {
				t.Fatalf("first Next = %+v, %v", ev, err)
			}
			errc := make(chan error, 1)
			go func() { _, err := reply.Stream.Next(); errc <- err }()
			time.Sleep(10 * time.Millisecond)
			if how == "context" {
				cancel()
			} else {
				reply.Stream.Close()
			}
			select {
			case <-gone:
			case <-time.After(2 * time.Second):
				t.Fatal("upstream did not see the connection close within 2s")
			}
			err = <-errc
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != llm.CodeClientCancelled || !e.Sent {
				t.Errorf("Next after %s cancel = %v, want client_cancelled", how, err)
			}
			reply.Stream.Close()
		})
	}
}

// TestStreamJSONInsteadOfSSE covers a compatible server that ignores
// "stream" and answers with JSON.
func TestStreamJSONInsteadOfSSE(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","choices":[]}`)
	}))
	defer srv.Close()
	req := userReq("m", "x")
	req.Stream = true
	_, err := newClient(t, srv.URL).Chat(context.Background(), req)
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderError || !strings.Contains(e.Message, "instead of an event stream") {
		t.Errorf("Chat(stream, JSON answer) = %v, want provider_error", err)
	}
}

func TestDecodeChunkChoices(t *testing.T) {
	evs, e := decodeChunk("oai", "", []byte(`{"id":"c","model":"m","created":5,"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":1}}}`))
	if e != nil {
		t.Fatal(e)
	}
	for i := range evs {
		evs[i].Native = nil
	}
	want := []llm.Event{
		{ID: "c", Model: "m", Created: 5, Index: 0, Text: "a"},
		{ID: "c", Model: "m", Created: 5, Index: 1, Text: "b", FinishReason: llm.FinishStop,
			Usage: &llm.Usage{InputTokens: 3, OutputTokens: 2, CacheReadTokens: 1, ReasoningTokens: 1}},
	}
	if diff := cmp.Diff(want, evs); diff != "" {
		t.Errorf("decodeChunk(two choices) mismatch (-want +got):\n%s", diff)
	}
	evs, e = decodeChunk("oai", "", []byte(`{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}`))
	if e != nil || len(evs) != 0 {
		t.Errorf("decodeChunk(azure prompt filter chunk) = %v, %v, want no events", evs, e)
	}
}

func TestChatSlowDeadline(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Chat(ctx, userReq("slow:10s", "x"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderTimeout || !e.Sent {
		t.Errorf("Chat(slow:10s, 50ms deadline) = %v, want provider_timeout, sent", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Chat(slow:10s, 50ms deadline) took %v", d)
	}
	reply, err := c.Chat(context.Background(), userReq("slow:10ms", "late"))
	if err != nil || reply.Response.Choices[0].Message.Text() != "echo: late" {
		t.Errorf("Chat(slow:10ms) = %v, %v", reply, err)
	}
}
