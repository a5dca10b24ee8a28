package bedrock

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// streamSeeds returns the recorded stream bodies and a few synthetic ones.
func streamSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range bedrocktest.FixtureNames() {
		_, h, body, err := bedrocktest.LoadFixture(name)
		if err != nil {
			t.Fatal(err)
		}
		if h.Get("Content-Type") == contentEventStream {
			out = append(out, body)
		}
	}
	out = append(out,
		bedrocktest.EncodeFrames(echoFrames("a ", "b")...),
		bedrocktest.EncodeFrames(echoFrames()[0], bedrocktest.ExceptionFrame(wire.ExceptionThrottling, "slow down")),
		bedrocktest.EncodeFrames(bedrocktest.EventFrame(wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{Delta: wire.BlockDelta{ToolUse: &wire.ToolUseDelta{Input: "{"}}})),
	)
	huge := bytes.Clone(out[len(out)-1])
	binary.BigEndian.PutUint32(huge, 0xffffffff)
	return append(out, huge, []byte{0, 0, 0, 16, 0, 0, 0, 0})
}

// maxDecodeAlloc bounds the bytes decoding data may allocate: a fixed
// allowance for buffers plus a multiple of the input, never the lengths a
// frame merely declares.
func maxDecodeAlloc(data []byte) uint64 { return 1<<20 + 64*uint64(len(data)) }

func FuzzDecodeStream(f *testing.F) {
	for _, s := range streamSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Allocation bounds are checked by TestDecodeStreamAllocBound:
		// runtime.MemStats counts the fuzzing engine's own allocations
		// too, which made this target fail at random while minimizing.
		s := newStream(context.Background(), func() {}, "b", io.NopCloser(bytes.NewReader(data)), replyMeta{})
		var err error
		for range 1 << 16 {
			if _, err = s.Next(); err != nil {
				break
			}
		}
		if err == nil {
			t.Fatalf("stream of %d bytes did not end", len(data))
		}
		if err == io.EOF {
			return
		}
		var e *llm.Error
		if !errors.As(err, &e) || !e.Code.Known() || !e.Sent || e.Provider != "b" {
			t.Fatalf("stream error = %v, want a classified *llm.Error", err)
		}
	})
}

func TestDecodeStreamAllocBound(t *testing.T) {
	// A frame declaring 16 MiB of payload, with 100 bytes present.
	data := make([]byte, 116)
	binary.BigEndian.PutUint32(data, 16<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := collect(t, streamOf(data, nil))
	runtime.ReadMemStats(&after)
	if e := asError(t, err); e.Code != llm.CodeStreamInterrupted {
		t.Errorf("error = %+v", e)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > maxDecodeAlloc(data) {
		t.Errorf("allocated %d bytes for a 116-byte stream", got)
	}
}

func FuzzTranslate(f *testing.F) {
	f.Add("user", "hello", `{"a":1}`, pngURL, []byte(`{"type":"object"}`), "auto", true)
	f.Add("assistant", " ", "", "https://x/y.png", []byte(`null`), "none", false)
	f.Add("tool", `{"json":true}`, "[1]", "data:image/gif;base64,R0lGOD", []byte(`{`), "function", true)
	f.Add("developer", "", "{bad", "data:text/plain,hi", []byte(nil), "required", false)
	f.Fuzz(func(t *testing.T, role, text, args, image string, schema []byte, mode string, cache bool) {
		cc := ""
		if cache {
			cc = "ephemeral"
		}
		req := &llm.Request{Model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
			Tools:      []llm.Tool{{Name: "f", Parameters: schema}},
			ToolChoice: &llm.ToolChoice{Mode: mode, Name: "f"},
			Messages: []llm.Message{
				{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: text, CacheControl: cc}}},
				{Role: llm.Role(role), Content: []llm.Part{{Type: llm.PartText, Text: text, CacheControl: cc}, {Type: llm.PartImage, ImageURL: image}}},
				{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartThinking, Text: text, Signature: "s"}},
					ToolCalls: []llm.ToolCall{{ID: "t1", Name: "f", Arguments: args}}},
				{Role: llm.RoleTool, ToolCallID: "t1", Content: []llm.Part{{Type: llm.PartText, Text: text}}, IsError: cache},
				{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}}},
			}}
		b, err := marshalRequest("b", req)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || !e.Code.Known() || e.Message == "" {
				t.Fatalf("marshalRequest error = %v, want a classified *llm.Error", err)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var w wire.ConverseRequest
		if err := dec.Decode(&w); err != nil {
			t.Fatalf("encoding %s does not decode: %v", b, err)
		}
		for i, m := range w.Messages {
			if i > 0 && w.Messages[i-1].Role == m.Role {
				t.Fatalf("messages %d and %d share role %s", i-1, i, m.Role)
			}
			if len(m.Content) == 0 {
				t.Fatalf("message %d is empty", i)
			}
			for j, c := range m.Content {
				if c.Members() != 1 {
					t.Fatalf("messages[%d].content[%d] has %d members", i, j, c.Members())
				}
				if c.ToolUse != nil && (len(c.ToolUse.Input) == 0 || c.ToolUse.Input[0] != '{') {
					t.Fatalf("toolUse input %s is not an object", c.ToolUse.Input)
				}
			}
		}
	})
}

func BenchmarkStreamDecode(b *testing.B) {
	_, _, body, err := bedrocktest.LoadFixture("converse-stream-text")
	if err != nil {
		b.Fatal(err)
	}
	br := bytes.NewReader(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		br.Reset(body)
		s := newStream(context.Background(), func() {}, "b", io.NopCloser(br), replyMeta{})
		for {
			_, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}
