package bedrock

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

func text(s string) *string { return &s }

// echoFrames is a complete stream: start, the words of msg, stop, usage.
func echoFrames(words ...string) []eventstream.Message {
	msgs := []eventstream.Message{bedrocktest.EventFrame(wire.EventMessageStart, wire.MessageStartEvent{Role: "assistant"})}
	for _, w := range words {
		msgs = append(msgs, bedrocktest.EventFrame(wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{Delta: wire.BlockDelta{Text: text(w)}}))
	}
	return append(msgs,
		bedrocktest.EventFrame(wire.EventContentBlockStop, wire.ContentBlockStopEvent{}),
		bedrocktest.EventFrame(wire.EventMessageStop, wire.MessageStopEvent{StopReason: "end_turn"}),
		bedrocktest.EventFrame(wire.EventMetadata, wire.MetadataEvent{Usage: &wire.TokenUsage{InputTokens: 3, OutputTokens: int64(len(words)), TotalTokens: 3 + int64(len(words))}}))
}

// streamOf returns a stream reading body through r (body when r is nil).
func streamOf(body []byte, wrap func(io.Reader) io.Reader) *stream {
	var r io.Reader = bytes.NewReader(body)
	if wrap != nil {
		r = wrap(r)
	}
	return newStream(context.Background(), func() {}, "b", io.NopCloser(r), replyMeta{id: "rid", model: "m", created: 1})
}

// chunkReader returns data in chunks of random sizes.
type chunkReader struct {
	r   io.Reader
	rnd *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n := 1 + c.rnd.IntN(40)
	if n > len(p) {
		n = len(p)
	}
	return c.r.Read(p[:n])
}

func TestStreamSplitAtAnyBoundary(t *testing.T) {
	body := bedrocktest.EncodeFrames(echoFrames("alpha ", "beta ", "gamma")...)
	want := collected{Role: llm.RoleAssistant, Text: "alpha beta gamma", Finish: llm.FinishStop,
		Usage: &llm.Usage{InputTokens: 3, OutputTokens: 3}, Events: 6}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":     nil,
		"one-byte":  iotest.OneByteReader,
		"half":      iotest.HalfReader,
		"data-err":  iotest.DataErrReader,
		"random-1":  func(r io.Reader) io.Reader { return &chunkReader{r, rand.New(rand.NewPCG(1, 2))} },
		"random-42": func(r io.Reader) io.Reader { return &chunkReader{r, rand.New(rand.NewPCG(42, 7))} },
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := collect(t, streamOf(body, wrap))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("stream (-want +got):\n%s", d)
			}
		})
	}
	// Every split point of the recorded fixture, in two writes.
	_, _, rec, err := bedrocktest.LoadFixture("converse-stream-thinking")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := collect(t, streamOf(rec, nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(rec); i += 7 {
		r := io.MultiReader(bytes.NewReader(rec[:i]), bytes.NewReader(rec[i:]))
		got, err := collect(t, newStream(context.Background(), func() {}, "b", io.NopCloser(r), replyMeta{}))
		if err != nil || got.Text != ref.Text || got.Signature != ref.Signature {
			t.Fatalf("split at %d: %+v, %v", i, got, err)
		}
	}
}

func TestStreamTruncation(t *testing.T) {
	full := bedrocktest.EncodeFrames(echoFrames("a ", "b")...)
	frames, _ := bedrocktest.SplitFrames(full)
	noMeta := bytes.Join(frames[:len(frames)-1], nil)
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"mid-prelude", full[:5]},
		{"mid-frame", full[:len(frames[0])+10]},
		{"no-stop", bytes.Join(frames[:3], nil)},
		{"stop-without-metadata", noMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := collect(t, streamOf(tt.body, nil))
			e := asError(t, err)
			if e.Code != llm.CodeStreamInterrupted || !e.Sent || !strings.Contains(e.Message, "before it was complete") {
				t.Errorf("error = %+v, want stream_interrupted", e)
			}
		})
	}
}

func TestStreamCorruptFrames(t *testing.T) {
	good := bedrocktest.EncodeFrames(echoFrames("a")...)
	badCRC := bytes.Clone(good)
	badCRC[20] ^= 0xff
	huge := bytes.Clone(good)
	binary.BigEndian.PutUint32(huge, 1<<31)
	badLens := bytes.Clone(good)
	binary.BigEndian.PutUint32(badLens[4:], 1<<20)
	tests := []struct {
		name string
		body []byte
		msg  string
	}{
		{"crc", badCRC, "corrupt"},
		{"huge", huge, "larger than airgw accepts"},
		{"header-length", badLens, "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := collect(t, streamOf(tt.body, nil))
			e := asError(t, err)
			if e.Code != llm.CodeStreamInterrupted || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("error = %+v, want stream_interrupted %q", e, tt.msg)
			}
		})
	}
}

func TestStreamEvents(t *testing.T) {
	frames := []eventstream.Message{
		bedrocktest.EventFrame(wire.EventMessageStart, wire.MessageStartEvent{Role: "assistant"}),
		bedrocktest.EventFrame("someFutureEvent", map[string]int{"x": 1}),
		bedrocktest.EventFrame(wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{Delta: wire.BlockDelta{ReasoningContent: &wire.ReasoningDelta{RedactedContent: []byte("secret")}}}),
		bedrocktest.EventFrame(wire.EventContentBlockStart, wire.ContentBlockStartEvent{ContentBlockIndex: 1, Start: wire.BlockStart{ToolUse: &wire.ToolUseStart{ToolUseID: "t1", Name: "f"}}}),
		bedrocktest.EventFrame(wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{ContentBlockIndex: 1, Delta: wire.BlockDelta{ToolUse: &wire.ToolUseDelta{Input: `{"a":`}}}),
		bedrocktest.EventFrame(wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{ContentBlockIndex: 1, Delta: wire.BlockDelta{ToolUse: &wire.ToolUseDelta{Input: `1}`}}}),
		bedrocktest.EventFrame(wire.EventContentBlockStart, wire.ContentBlockStartEvent{ContentBlockIndex: 2, Start: wire.BlockStart{ToolUse: &wire.ToolUseStart{ToolUseID: "t2", Name: "g"}}}),
		bedrocktest.EventFrame(wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{ContentBlockIndex: 2, Delta: wire.BlockDelta{ToolUse: &wire.ToolUseDelta{Input: `{}`}}}),
		bedrocktest.EventFrame(wire.EventMessageStop, wire.MessageStopEvent{StopReason: "max_tokens"}),
		bedrocktest.EventFrame(wire.EventMetadata, wire.MetadataEvent{Usage: &wire.TokenUsage{InputTokens: 5, OutputTokens: 9, TotalTokens: 14, CacheWriteInputTokens: 50}}),
	}
	s := streamOf(bedrocktest.EncodeFrames(frames...), nil)
	var evs []llm.Event
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	base := llm.Event{ID: "rid", Model: "m", Created: 1}
	with := func(f func(*llm.Event)) llm.Event { e := base; f(&e); return e }
	want := []llm.Event{
		with(func(e *llm.Event) { e.Role = llm.RoleAssistant }),
		with(func(e *llm.Event) { e.RedactedThinking = "c2VjcmV0" }),
		with(func(e *llm.Event) { e.ToolCalls = []llm.ToolCallDelta{{Index: 0, ID: "t1", Name: "f"}} }),
		with(func(e *llm.Event) { e.ToolCalls = []llm.ToolCallDelta{{Index: 0, Arguments: `{"a":`}} }),
		with(func(e *llm.Event) { e.ToolCalls = []llm.ToolCallDelta{{Index: 0, Arguments: `1}`}} }),
		with(func(e *llm.Event) { e.ToolCalls = []llm.ToolCallDelta{{Index: 1, ID: "t2", Name: "g"}} }),
		with(func(e *llm.Event) { e.ToolCalls = []llm.ToolCallDelta{{Index: 1, Arguments: `{}`}} }),
		with(func(e *llm.Event) { e.FinishReason = llm.FinishLength }),
		with(func(e *llm.Event) {
			e.Usage = &llm.Usage{InputTokens: 55, OutputTokens: 9, CacheWriteTokens: 50}
		}),
	}
	if d := cmp.Diff(want, evs); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}

func TestStreamErrorMessageType(t *testing.T) {
	var h eventstream.Headers
	h.Set(wire.HeaderMessageType, eventstream.StringValue(wire.MessageTypeError))
	h.Set(wire.HeaderErrorCode, eventstream.StringValue("InternalFailure"))
	h.Set(wire.HeaderErrorMessage, eventstream.StringValue("boom"))
	body := bedrocktest.EncodeFrames(echoFrames()[0], eventstream.Message{Headers: h})
	_, err := collect(t, streamOf(body, nil))
	if e := asError(t, err); e.Code != llm.CodeProviderUnavailable || !strings.Contains(e.Error(), "boom") {
		t.Errorf("error = %v, want provider_unavailable with the cause logged", e)
	}
}

func TestStreamCut(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	req := userReq("cut:3", "one two three four five")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	e := asError(t, err)
	if e.Code != llm.CodeStreamInterrupted || !e.Sent || got.Events != 3 || got.Finish != "" {
		t.Errorf("cut stream = %+v, %+v, want 3 events then stream_interrupted", got, e)
	}
}

func TestStreamCancel(t *testing.T) {
	// A stream that sends one event, then stalls until the client leaves.
	stall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentEventStream)
		_, _ = w.Write(bedrocktest.EncodeFrames(echoFrames()[0]))
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	url := newHTTPServer(t, stall)
	c := newClient(t, nil, func(cfg *Config) { cfg.BaseURL = url })
	for _, how := range []string{"close", "context"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := userReq("m", "hi")
			req.Stream = true
			reply, err := c.Chat(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			s := reply.Stream
			if ev, err := s.Next(); err != nil || ev.Role != llm.RoleAssistant {
				t.Fatalf("first event = %+v, %v", ev, err)
			}
			done := make(chan error, 1)
			go func() { _, err := s.Next(); done <- err }()
			time.Sleep(20 * time.Millisecond)
			if how == "close" {
				s.Close()
			} else {
				cancel()
			}
			select {
			case err := <-done:
				if e := asError(t, err); e.Code != llm.CodeClientCancelled || !e.Sent {
					t.Errorf("Next after %s = %+v, want client_cancelled", how, e)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("Next did not return after %s", how)
			}
			s.Close() // idempotent
		})
	}
}

func TestStreamLarge(t *testing.T) {
	// 4,000 deltas and one 1 MiB delta.
	words := make([]string, 4000)
	for i := range words {
		words[i] = "w "
	}
	words = append(words, strings.Repeat("x", 1<<20))
	got, err := collect(t, streamOf(bedrocktest.EncodeFrames(echoFrames(words...)...), nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Text) != 8000+1<<20 || got.Usage.OutputTokens != 4001 {
		t.Errorf("large stream: %d bytes of text, usage %+v", len(got.Text), got.Usage)
	}
}

func TestChatLargeResponse(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	big := strings.Repeat("lorem ", 400_000) // 2.4 MB echoed back
	reply, err := c.Chat(context.Background(), userReq("m", big))
	if err != nil {
		t.Fatal(err)
	}
	if got := reply.Response.Choices[0].Message.Text(); got != "echo: "+big {
		t.Errorf("text has %d bytes, want %d", len(got), len("echo: "+big))
	}
}

func TestStreamNonEventStreamAnswer(t *testing.T) {
	url := newHTTPServer(t, jsonHandler(`{"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn"}`))
	c := newClient(t, nil, func(cfg *Config) { cfg.BaseURL = url })
	req := userReq("m", "hi")
	req.Stream = true
	_, err := c.Chat(context.Background(), req)
	if e := asError(t, err); e.Code != llm.CodeProviderError || !strings.Contains(e.Message, "instead of an event stream") {
		t.Errorf("error = %+v, want provider_error", e)
	}
}
