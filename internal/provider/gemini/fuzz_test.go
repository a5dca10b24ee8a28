package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

// fixtureSeeds returns the bodies of the recorded responses: whole streams
// and generateContent answers.
func fixtureSeeds(t testing.TB) (streams, bodies [][]byte) {
	for _, name := range geminitest.FixtureNames() {
		_, h, body, err := geminitest.LoadFixture(name)
		if err != nil {
			t.Fatal(err)
		}
		if isEventStream(h) {
			streams = append(streams, body)
		} else {
			bodies = append(bodies, body)
		}
	}
	return streams, bodies
}

// FuzzDecodeStream feeds arbitrary bytes to the stream decoder: it must
// end, with io.EOF or a classified error, and never report usage a
// provider could not bill.
func FuzzDecodeStream(f *testing.F) {
	streams, _ := fixtureSeeds(f)
	for _, s := range streams {
		f.Add(s)
	}
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":null}}]},\"finishReason\":\"STOP\"}]}\r\n\r\n"))
	f.Add([]byte("data: {\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"slow down\"}}\n\n"))
	f.Add([]byte("data: {\"usageMetadata\":{\"promptTokenCount\":-1}}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newStream(context.Background(), func() {}, "gem", geminitest.Key, 1700000000, io.NopCloser(bytes.NewReader(data)))
		var err error
		for range 1 << 16 {
			var ev llm.Event
			if ev, err = s.Next(); err != nil {
				break
			}
			if u := ev.Usage; u != nil && (u.InputTokens < 0 || u.OutputTokens < 0 || u.CacheReadTokens > u.InputTokens || u.ReasoningTokens > u.OutputTokens) {
				t.Fatalf("event usage = %+v from %q", u, data)
			}
		}
		if err == nil {
			t.Fatalf("stream of %d bytes did not end", len(data))
		}
		if err == io.EOF {
			return
		}
		var e *llm.Error
		if !errors.As(err, &e) || !e.Code.Known() || !e.Sent || e.Provider != "gem" {
			t.Fatalf("stream error = %v, want a classified *llm.Error", err)
		}
		if bytes.Contains([]byte(e.Error()), []byte(geminitest.Key)) {
			t.Fatalf("stream error %q contains the key", e.Error())
		}
	})
}

// FuzzDecodeResponse feeds arbitrary bytes as a generateContent answer.
func FuzzDecodeResponse(f *testing.F) {
	_, bodies := fixtureSeeds(f)
	for _, b := range bodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, e := decodeResponse("gem", geminitest.Key, 1700000000, data)
		if e != nil {
			if !e.Code.Known() || e.Provider != "gem" {
				t.Fatalf("decodeResponse error = %+v, want a classified error", e)
			}
			return
		}
		if len(r.Choices) == 0 {
			t.Fatalf("decodeResponse(%q) = no choices and no error", data)
		}
		for _, c := range r.Choices {
			for _, tc := range c.Message.ToolCalls {
				if !json.Valid([]byte(tc.Arguments)) {
					t.Fatalf("tool call arguments %q are not JSON", tc.Arguments)
				}
			}
		}
	})
}

// FuzzTranslate builds neutral requests from the fuzzer's input: the
// translation either refuses them with a classified error or produces a
// generateContent body that decodes strictly and keeps what was asked: the
// user's text, the tool calls' names and arguments, and their results
// (translate→translate-back on the parts Gemini's format can carry).
func FuzzTranslate(f *testing.F) {
	f.Add("hello", `{"a":1}`, "data:image/png;base64,iVBORw0KGgo=", `{"type":"object","properties":{"a":{"type":"string"}}}`, "auto", uint8(0))
	f.Add("", "", "https://x/y.png", `null`, "none", uint8(0xff))
	f.Add("\x00\xff", "[1]", "data:,", `{"anyOf":[{"type":"string"}]}`, "function", uint8(0x55))
	f.Fuzz(func(t *testing.T, text, args, image, schema, mode string, flags uint8) {
		c, err := New(Config{Name: "gem", APIKey: geminitest.Key})
		if err != nil {
			t.Fatal(err)
		}
		req := &llm.Request{Model: "m", Stop: []string{text}}
		if flags&1 != 0 {
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: text}}})
		}
		user := llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}}}
		if flags&2 != 0 {
			user.Content = append(user.Content, llm.Part{Type: llm.PartImage, ImageURL: image})
		}
		req.Messages = append(req.Messages, user,
			llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: args}}},
			llm.Message{Role: llm.RoleTool, ToolCallID: "c1", Content: []llm.Part{{Type: llm.PartText, Text: args}}, IsError: flags&4 != 0})
		if flags&8 != 0 {
			req.Tools = []llm.Tool{{Name: "f", Parameters: json.RawMessage(schema)}}
			req.ToolChoice = &llm.ToolChoice{Mode: mode, Name: "f"}
		}
		if flags&16 != 0 {
			req.ResponseFormat = &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(schema)}
		}
		w, err := c.toWire(req)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || !e.Code.Known() || (e.Code != llm.CodeInvalidRequest && e.Code != llm.CodeFeatureNotSupported) {
				t.Fatalf("toWire error = %v, want invalid_request or feature_not_supported", err)
			}
			return
		}
		b, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("toWire result does not encode: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var back wire.Request
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("toWire output does not decode strictly: %v\n%s", err, b)
		}
		var userText, call, result string
		for _, ct := range back.Contents {
			for _, p := range ct.Parts {
				switch {
				case ct.Role == wire.RoleUser && p.FunctionResponse != nil:
					result = p.FunctionResponse.Name
				case ct.Role == wire.RoleUser:
					userText += p.Text
				case p.FunctionCall != nil:
					var args any
					if json.Unmarshal(p.FunctionCall.Args, &args) != nil {
						t.Fatalf("function call args %q are not JSON", p.FunctionCall.Args)
					}
					call = p.FunctionCall.Name
				}
			}
		}
		// Text reaches Gemini as JSON, where invalid UTF-8 becomes U+FFFD.
		var want string
		if b, err := json.Marshal(text); err != nil || json.Unmarshal(b, &want) != nil {
			t.Fatalf("text %q does not survive JSON", text)
		}
		if userText != want || call != "f" || result != "f" {
			t.Fatalf("translation lost content: user %q (want %q), call %q, result for %q\n%s", userText, want, call, result, b)
		}
	})
}
