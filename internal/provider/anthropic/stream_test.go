package anthropic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	"github.com/google/go-cmp/cmp"
)

// sseServer answers every request with body as an event stream.
func sseServer(t *testing.T, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func streamReq(model string) *llm.Request {
	r := userReq(model, "a b c")
	r.Stream = true
	return r
}

// splitServer writes a fixture's body 1-7 bytes at a time, flushing after
// each write.
func splitServer(t *testing.T, fixture string) *httptest.Server {
	status, h, body, err := anthropictest.LoadFixture(fixture)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		rc := http.NewResponseController(w)
		for i := 0; len(body) > 0; i++ {
			n := min(1+i*5%7, len(body))
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
	for _, fixture := range []string{"messages-stream-text", "messages-stream-thinking", "messages-stream-tool-use-input-json", "messages-stream-parallel-tool-use"} {
		t.Run(fixture, func(t *testing.T) {
			fake := anthropictest.NewServer(t)
			req := streamReq("fixture:" + fixture)
			reply, err := newClient(t, fake.URL()).Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			want, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			reply, err = newClient(t, splitServer(t, fixture).URL).Chat(context.Background(), req)
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
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	// After message_start (the role event): content_block_start and ping
	// say nothing, then one event per word.
	for _, tt := range []struct{ k, events int }{{0, 1}, {1, 1}, {2, 1}, {3, 2}, {5, 4}} {
		t.Run(fmt.Sprint("cut-", tt.k), func(t *testing.T) {
			reply, err := c.Chat(context.Background(), streamReq(fmt.Sprintf("cut:%d", tt.k)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, reply.Stream)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != llm.CodeStreamInterrupted || !e.Sent || e.Provider != "claude" {
				t.Fatalf("stream cut after %d events = %v, want stream_interrupted, sent", tt.k, err)
			}
			if got.Events != tt.events || got.Usage != nil {
				t.Errorf("stream cut after %d events delivered %d events, usage %v; want %d, none", tt.k, got.Events, got.Usage, tt.events)
			}
			if _, err2 := reply.Stream.Next(); !errors.Is(err2, e) {
				t.Errorf("Next after error = %v, want %v (sticky)", err2, e)
			}
			if _, ok := srv.Usage(); ok {
				t.Errorf("fake reported usage for a cut stream")
			}
		})
	}
}

func TestStreamMidstreamError(t *testing.T) {
	srv := anthropictest.NewServer(t)
	reply, err := newClient(t, srv.URL()).Chat(context.Background(), streamReq("midstream-error"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderUnavailable || !e.Sent || e.UpstreamStatus != 200 {
		t.Fatalf("midstream error = %+v, want provider_unavailable, sent", err)
	}
	if got.Text != "echo: a " {
		t.Errorf("text before the error = %q, want %q", got.Text, "echo: a ")
	}
}

// TestStreamCumulativeUsage checks that usage reports replace each other:
// message_start's input counts stay unless message_delta repeats them, and
// the last output total wins.
func TestStreamCumulativeUsage(t *testing.T) {
	const start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":200,\"output_tokens\":1}}}\n\n"
	const stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	tests := []struct {
		name   string
		deltas string
		want   llm.Usage
	}{
		{"output-only", "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
			llm.Usage{InputTokens: 213, OutputTokens: 15, CacheReadTokens: 200, CacheWriteTokens: 3}},
		{"two-deltas-last-wins", "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},\"usage\":{\"output_tokens\":15}}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":40}}\n\n",
			llm.Usage{InputTokens: 213, OutputTokens: 40, CacheReadTokens: 200, CacheWriteTokens: 3}},
		{"input-repeated", "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"input_tokens\":11,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":200,\"output_tokens\":9}}\n\n",
			llm.Usage{InputTokens: 214, OutputTokens: 9, CacheReadTokens: 200, CacheWriteTokens: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := sseServer(t, start+tt.deltas+stop)
			reply, err := newClient(t, srv.URL).Chat(context.Background(), streamReq("m"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got.Usage); diff != "" {
				t.Errorf("usage mismatch (-want +got):\n%s", diff)
			}
			if tt.name == "input-repeated" && (got.StopSeq != "END" || got.Finish != llm.FinishStop) {
				t.Errorf("finish %q stop sequence %q, want stop END", got.Finish, got.StopSeq)
			}
		})
	}
}

// TestStreamBroken covers streams that end without message_stop and
// events that do not decode.
func TestStreamBroken(t *testing.T) {
	const start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"x\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n"
	const text = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
	tests := []struct {
		name, body string
		code       llm.Code
	}{
		{"eof-before-message-stop", start + text, llm.CodeStreamInterrupted},
		{"eof-after-message-delta", start + text + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n", llm.CodeStreamInterrupted},
		{"mid-event", start + text + "event: content_block_delta\ndata: {\"type\":", llm.CodeStreamInterrupted},
		{"malformed", start + text + "event: content_block_delta\ndata: {\"index\":\"zero\"}\n\n", llm.CodeStreamInterrupted},
		{"negative-usage", start + text + "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-5}}\n\n", llm.CodeStreamInterrupted},
		{"error-rate-limit", start + text + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}\n\n", llm.CodeProviderRateLimited},
		{"error-api", start + text + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}\n\n", llm.CodeProviderUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, err := newClient(t, sseServer(t, tt.body).URL).Chat(context.Background(), streamReq("m"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, reply.Stream)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != tt.code || !e.Sent || got.Text != "hi" {
				t.Errorf("stream %s = %q, %v; want \"hi\", %s", tt.name, got.Text, err, tt.code)
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
				io.WriteString(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n")
				http.NewResponseController(w).Flush()
				<-r.Context().Done() // the client went away
				close(gone)
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			reply, err := newClient(t, srv.URL).Chat(ctx, streamReq("m"))
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

// TestStreamCancelFake cancels a stream the strict fake is pausing: the
// fake sees the connection close at once.
func TestStreamCancelFake(t *testing.T) {
	srv := anthropictest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reply, err := newClient(t, srv.URL()).Chat(ctx, streamReq("slow:10s"))
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := reply.Stream.Next(); err != nil || ev.Role != llm.RoleAssistant {
		t.Fatalf("first Next = %+v, %v; want message_start", ev, err)
	}
	start := time.Now()
	cancel()
	_, err = reply.Stream.Next()
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeClientCancelled {
		t.Errorf("Next after cancel = %v, want client_cancelled", err)
	}
	for !srv.Requests()[0].Aborted {
		if time.Since(start) > 2*time.Second {
			t.Fatal("the fake did not see the connection close within 2s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStreamJSONInsteadOfSSE(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	}))
	defer srv.Close()
	_, err := newClient(t, srv.URL).Chat(context.Background(), streamReq("m"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderUnavailable {
		t.Errorf("Chat(stream, JSON error answer) = %v, want provider_unavailable", err)
	}
}
