package gemini

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	"github.com/google/go-cmp/cmp"
)

// splitReader returns its data in pieces of the given sizes, cycling.
type splitReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(r.sizes[r.i%len(r.sizes)], len(p), len(r.data))
	r.i++
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func streamOf(body io.Reader) *stream {
	return newStream(context.Background(), func() {}, "gem", "", 1700000000, io.NopCloser(body))
}

// TestStreamSplitAnywhere reads every recorded stream split at every byte
// boundary pattern: the events must not depend on how TCP cut them.
func TestStreamSplitAnywhere(t *testing.T) {
	for _, name := range []string{"stream-text", "stream-usage-mid-stream", "stream-thinking-function-call", "vertex-stream-text"} {
		t.Run(name, func(t *testing.T) {
			_, _, body, err := geminitest.LoadFixture(name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := collect(t, streamOf(bytes.NewReader(body)))
			if err != nil {
				t.Fatal(err)
			}
			for _, sizes := range [][]int{{1}, {2}, {3, 7}, {5, 1, 13}, {64}, {len(body) - 1}} {
				got, err := collect(t, streamOf(&splitReader{data: body, sizes: sizes}))
				if err != nil {
					t.Fatalf("sizes %v: %v", sizes, err)
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("sizes %v (-whole +split):\n%s", sizes, d)
				}
			}
		})
	}
}

func TestStreamEnds(t *testing.T) {
	const (
		text1 = `data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1},"responseId":"r1","modelVersion":"m"}` + "\r\n\r\n"
		stop  = `data: {"candidates":[{"content":{"parts":[{"text":"!"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2},"responseId":"r1","modelVersion":"m"}` + "\r\n\r\n"
	)
	tests := []struct {
		name string
		body string
		code llm.Code // "" for a clean end
		text string
	}{
		{"complete", text1 + stop, "", "Hi!"},
		{"eof-without-finish", text1, llm.CodeStreamInterrupted, "Hi"},
		{"empty", "", llm.CodeStreamInterrupted, ""},
		{"cut-inside-event", text1 + stop[:40], llm.CodeStreamInterrupted, "Hi"},
		{"error-in-stream", text1 + `data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}` + "\r\n\r\n",
			llm.CodeProviderUnavailable, "Hi"},
		{"invalid-in-stream", text1 + `data: {"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}` + "\r\n\r\n",
			llm.CodeStreamInterrupted, "Hi"},
		{"rate-limit-in-stream", `data: {"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}` + "\n\n",
			llm.CodeProviderRateLimited, ""},
		{"prompt-blocked", `data: {"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":3},"responseId":"r1"}` + "\r\n\r\n",
			llm.CodeContentFiltered, ""},
		{"malformed", text1 + "data: {not json\r\n\r\n", llm.CodeStreamInterrupted, "Hi"},
		{"safety", `data: {"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"finishReason":"SAFETY"}]}` + "\n\n", "", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(t, streamOf(strings.NewReader(tt.body)))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("collect = %v, want a clean end", err)
				}
			} else {
				var e *llm.Error
				if !errors.As(err, &e) || e.Code != tt.code || !e.Sent {
					t.Fatalf("collect error = %v, want %s", err, tt.code)
				}
				if tt.code == llm.CodeProviderRateLimited && e.RetryAfter != 1500*time.Millisecond {
					t.Errorf("RetryAfter = %v, want 1.5s", e.RetryAfter)
				}
			}
			if got.Text != tt.text {
				t.Errorf("text = %q, want %q", got.Text, tt.text)
			}
			if tt.name == "safety" && got.Finish != llm.FinishContentFilter {
				t.Errorf("finish = %q, want content_filter", got.Finish)
			}
		})
	}
}

func TestCutStream(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	req := userReq("cut:2", "one two three four")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeStreamInterrupted {
		t.Fatalf("collect = %v, want stream_interrupted", err)
	}
	if got.Text != "echo: one " || got.Usage == nil || got.Usage.OutputTokens != 2 {
		t.Errorf("before the cut: text %q usage %+v, want two words and their usage", got.Text, got.Usage)
	}
}

// TestCancelMidStream closes the stream after the first event: the fake
// must see its request end promptly.
func TestCancelMidStream(t *testing.T) {
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := 0; ; i++ {
			if _, err := io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"x "}],"role":"model"}}]}`+"\r\n\r\n"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	defer ts.Close()
	c := newClient(t, ts.URL+"/v1beta")
	req := userReq("m", "hi")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reply.Stream.Next(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	reply.Stream.Close()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the server did not see the connection close")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("close took %v", d)
	}
	var e *llm.Error
	if _, err := reply.Stream.Next(); !errors.As(err, &e) || e.Code != llm.CodeClientCancelled {
		t.Errorf("Next after Close = %v, want client_cancelled", err)
	}
}

func TestStreamNotEventStream(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"candidates":[]}]`)
	}))
	defer ts.Close()
	req := userReq("m", "hi")
	req.Stream = true
	_, err := newClient(t, ts.URL).Chat(context.Background(), req)
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderError {
		t.Errorf("Chat = %v, want provider_error", err)
	}
}
