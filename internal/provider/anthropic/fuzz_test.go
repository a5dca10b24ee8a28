package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	"github.com/airgw/airgw/internal/sse"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

// eventSeeds returns the name and data of every event of the recorded
// streams.
func eventSeeds(t testing.TB) (names []string, data [][]byte) {
	for _, name := range anthropictest.FixtureNames() {
		_, h, body, err := anthropictest.LoadFixture(name)
		if err != nil {
			t.Fatal(err)
		}
		if !isEventStream(h) {
			continue
		}
		r := sse.NewReader(bytes.NewReader(body))
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			names = append(names, ev.Name)
			data = append(data, bytes.Clone(ev.Data))
		}
	}
	return names, data
}

func FuzzDecodeEvent(f *testing.F) {
	names, data := eventSeeds(f)
	for i := range data {
		f.Add(names[i], data[i])
	}
	f.Add("error", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	f.Add("", []byte(`{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{"}}`))
	f.Add("message_delta", []byte(`{"type":"message_delta","usage":{"output_tokens":1e400}}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		s := newStream(context.Background(), func() {}, "claude", "sk-ant-key-12345678", true, io.NopCloser(bytes.NewReader(nil)))
		// A tool_use block at index 0 and a message started, so that the
		// deltas have something to attach to.
		s.decode("", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`))
		ev, emit, _, e := s.decode(name, data)
		if e != nil {
			if !e.Code.Known() || e.Provider != "claude" || !e.Sent {
				t.Fatalf("decode(%q, %q) error = %+v, want a known class", name, data, e)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("decode(%q, %q) accepted invalid JSON", name, data)
		}
		if emit && (ev.Native == nil || !bytes.Equal(ev.Native.Body, data)) {
			t.Fatalf("decode(%q, %q) Native = %v, want the event's data", name, data, ev.Native)
		}
		if u := ev.Usage; u != nil && (u.InputTokens < 0 || u.OutputTokens < 0 || u.CacheReadTokens > u.InputTokens || u.CacheWriteTokens > u.InputTokens) {
			t.Fatalf("decode(%q, %q) usage = %+v", name, data, u)
		}
	})
}

// FuzzTranslate builds a neutral request from the fuzzer's input and
// checks that translation either refuses it with a classified error or
// produces a valid Messages body.
func FuzzTranslate(f *testing.F) {
	f.Add("hello", `{"a":1}`, "https://x/y.png", "toolu_1", uint8(0), 0)
	f.Add("", "", "data:image/png;base64,AAAA", "", uint8(0xff), 5000)
	f.Add("\x00\xff", `[`, "data:,", "t", uint8(0x55), -3)
	f.Fuzz(func(t *testing.T, text, args, image, id string, flags uint8, n int) {
		req := &llm.Request{Model: "m", MaxTokens: n, Stop: []string{text}, User: text}
		if flags&1 != 0 {
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: text}}, ContentIsString: flags&2 != 0})
		}
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}, {Type: llm.PartImage, ImageURL: image}}},
			llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartThinking, Text: text, Signature: id}},
				ToolCalls: []llm.ToolCall{{ID: id, Name: text, Arguments: args}}},
			llm.Message{Role: llm.RoleTool, ToolCallID: id, Content: []llm.Part{{Type: llm.PartText, Text: args}}, ContentIsString: flags&4 != 0, IsError: flags&8 != 0})
		if flags&16 != 0 {
			req.Tools = []llm.Tool{{Name: text, Parameters: json.RawMessage(args)}}
			req.ToolChoice = &llm.ToolChoice{Mode: []string{"auto", "none", "required", "function", text}[int(flags>>5)%5], Name: text}
		}
		if flags&32 != 0 {
			req.Thinking = &llm.Thinking{Enabled: flags&64 != 0, BudgetTokens: n}
		}
		b, err := marshalRequest(req, "claude", DefaultMaxTokens)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || !e.Code.Known() {
				t.Fatalf("marshalRequest error = %v, want a classified *llm.Error", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("marshalRequest produced invalid JSON: %s", b)
		}
		var w wire.MessagesRequest
		if err := json.Unmarshal(b, &w); err != nil {
			t.Fatalf("marshalRequest output does not decode: %v\n%s", err, b)
		}
		if w.MaxTokens <= 0 || len(w.Messages) == 0 {
			t.Fatalf("marshalRequest = max_tokens %d, %d messages", w.MaxTokens, len(w.Messages))
		}
		for i := 1; i < len(w.Messages); i++ {
			if w.Messages[i].Role == w.Messages[i-1].Role {
				t.Fatalf("marshalRequest left two %s messages in a row: %s", w.Messages[i].Role, b)
			}
		}
	})
}

func BenchmarkStreamDecode(b *testing.B) {
	_, _, body, err := anthropictest.LoadFixture("messages-stream-thinking-long")
	if err != nil {
		b.Fatal(err)
	}
	for _, native := range []bool{false, true} {
		name := "translate"
		if native {
			name = "native"
		}
		b.Run(name, func(b *testing.B) {
			br := bytes.NewReader(body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			events := 0
			for b.Loop() {
				br.Reset(body)
				s := newStream(context.Background(), func() {}, "claude", "", native, io.NopCloser(br))
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
		})
	}
}
