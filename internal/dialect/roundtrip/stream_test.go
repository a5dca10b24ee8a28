package roundtrip

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	anth "github.com/airgw/airgw/internal/dialect/anthropic"
	oai "github.com/airgw/airgw/internal/dialect/openai"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/providertest"
)

// streamWriter is what both dialects' writers offer for streams.
type streamWriter interface {
	WriteEvent(*llm.Event) error
	EndStream(*llm.Error) error
}

// streamRoundTrip reads the stream body through the adapter, writes its
// events (without their native encoding) with the dialect's writer, and
// reads that through the adapter again. It returns both readings; ok is
// false when the adapter refused the first stream.
func streamRoundTrip(t *testing.T, provider func(*upstream) llm.Provider, writer func(http.ResponseWriter) streamWriter, body []byte) (first, second providertest.Result, ok bool) {
	t.Helper()
	read := func(b []byte) (providertest.Result, []llm.Event, error) {
		req := &llm.Request{Model: "m", MaxTokens: 10, Stream: true, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "x"}}}}}
		reply, err := provider(&upstream{contentType: "text/event-stream", reply: b}).Chat(context.Background(), req)
		if err != nil {
			return providertest.Result{}, nil, err
		}
		var evs []llm.Event
		rec := &recordStream{Stream: reply.Stream, events: &evs}
		res, err := providertest.Collect(t, rec)
		return res, evs, err
	}
	first, evs, err := read(body)
	if err != nil {
		return first, second, false
	}
	rec := httptest.NewRecorder()
	w := writer(rec)
	for i := range evs {
		ev := evs[i]
		ev.Native = nil
		if err := w.WriteEvent(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.EndStream(nil); err != nil {
		t.Fatal(err)
	}
	second, _, err = read(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("the dialect's rendering of a stream does not read back: %v\n%s", err, rec.Body.Bytes())
	}
	return first, second, true
}

// recordStream keeps every event it passes on.
type recordStream struct {
	llm.Stream
	events *[]llm.Event
}

func (r *recordStream) Next() (llm.Event, error) {
	ev, err := r.Stream.Next()
	if err == nil {
		*r.events = append(*r.events, ev)
	}
	return ev, err
}

// TestStreamRoundTrip: every recorded stream reads the same through the
// adapter after the dialect of its own format wrote it from neutral events.
func TestStreamRoundTrip(t *testing.T) {
	cases := []struct {
		pattern  string
		provider func(*upstream) llm.Provider
		writer   func(http.ResponseWriter) streamWriter
	}{
		{"../anthropic/testdata/fixtures/messages-stream-*.http",
			func(up *upstream) llm.Provider { return anthropicProvider(t, up) },
			func(w http.ResponseWriter) streamWriter { return anth.NewWriter(w, "req_1") }},
		{"../../provider/openai/openaitest/testdata/*chat-stream-*.http",
			func(up *upstream) llm.Provider { return openaiProvider(t, up) },
			func(w http.ResponseWriter) streamWriter { return oai.NewWriter(w, "req_1") }},
	}
	for _, c := range cases {
		files, err := filepath.Glob(c.pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures match %s", c.pattern)
		}
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				first, second, ok := streamRoundTrip(t, c.provider, c.writer, responseBody(t, f))
				if !ok {
					t.Fatal("the recorded stream does not read")
				}
				first.Events, second.Events = 0, 0 // a writer may merge or split events; not their content
				if fmt.Sprint(first) != fmt.Sprint(second) {
					t.Errorf("stream changed through the dialect:\n got %+v\nwant %+v", second, first)
				}
			})
		}
	}
}

// FuzzAnthropicStreamRoundTrip: reading a stream and writing it back
// reaches a fixed point after one round.
func FuzzAnthropicStreamRoundTrip(f *testing.F) {
	files, _ := filepath.Glob("../anthropic/testdata/fixtures/messages-stream-*.http")
	for _, file := range files {
		f.Add(responseBody(f, file))
	}
	provider := func(t *testing.T) func(*upstream) llm.Provider {
		return func(up *upstream) llm.Provider { return anthropicProvider(t, up) }
	}
	writer := func(w http.ResponseWriter) streamWriter { return anth.NewWriter(w, "req_1") }
	f.Fuzz(func(t *testing.T, body []byte) {
		_, second, ok := streamRoundTrip(t, provider(t), writer, body)
		if !ok {
			return
		}
		// Render the first reading and read it twice more.
		_, third, ok := streamRoundTrip(t, provider(t), writer, renderAnthropic(t, body))
		if !ok {
			t.Fatal("a rendered stream does not read")
		}
		second.Events, third.Events = 0, 0
		if fmt.Sprint(second) != fmt.Sprint(third) {
			t.Fatalf("no fixed point:\n got %+v\nwant %+v", third, second)
		}
	})
}

// renderAnthropic reads body through the adapter and returns the dialect's
// rendering of its neutral events.
func renderAnthropic(t *testing.T, body []byte) []byte {
	t.Helper()
	req := &llm.Request{Model: "m", MaxTokens: 10, Stream: true, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "x"}}}}}
	reply, err := anthropicProvider(t, &upstream{contentType: "text/event-stream", reply: body}).Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Stream.Close()
	rec := httptest.NewRecorder()
	w := anth.NewWriter(rec, "req_1")
	for {
		ev, err := reply.Stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream that read once fails the second time: %v", err)
		}
		ev.Native = nil
		if err := w.WriteEvent(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.EndStream(nil); err != nil {
		t.Fatal(err)
	}
	return rec.Body.Bytes()
}
