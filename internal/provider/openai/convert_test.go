package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	wire "github.com/airgw/airgw/internal/wire/openai"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func ptr[T any](v T) *T { return &v }

func text(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

// encodeCases are neutral requests whose wire encodings are kept as golden
// files in testdata/golden/<name>.json.
var encodeCases = []struct {
	name   string
	compat bool
	req    llm.Request
}{
	{"basic", false, llm.Request{Model: "gpt-4o-mini", MaxTokens: 50, Temperature: ptr(0.0),
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("Hello"), ContentIsString: true}}}},
	{"basic-compatible", true, llm.Request{Model: "llama3", MaxTokens: 50,
		Messages: []llm.Message{
			{Role: llm.RoleDeveloper, Content: text("Be brief."), ContentIsString: true},
			{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "Hel"}, {Type: llm.PartText, Text: "lo"}}},
		}}},
	{"parts-openai", false, llm.Request{Model: "gpt-4o",
		Messages: []llm.Message{
			{Role: llm.RoleDeveloper, Content: text("Be brief.")},
			{Role: llm.RoleUser, Content: []llm.Part{
				{Type: llm.PartText, Text: "What is in this image?"},
				{Type: llm.PartImage, ImageURL: "https://example.com/cat.png", ImageDetail: "high"},
				{Type: llm.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
			}},
		}}},
	{"tools-conversation", false, llm.Request{Model: "gpt-5", Stream: true, IncludeUsage: false,
		ParallelToolCalls: ptr(false), ToolChoice: &llm.ToolChoice{Mode: "function", Name: "weather"},
		Tools: []llm.Tool{{Name: "weather", Description: "Get weather information for a location", Strict: ptr(false),
			Parameters: json.RawMessage(`{"properties":{"location":{"description":"the city","type":"string"}},"required":["location"],"type":"object"}`)}},
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: text("You are a helpful assistant"), ContentIsString: true},
			{Role: llm.RoleUser, Content: text("What's the weather in Florence,Italy?"), ContentIsString: true},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_eKRQ", Name: "weather", Arguments: `{"location":"Florence, Italy"}`}}},
			{Role: llm.RoleTool, ToolCallID: "call_eKRQ", Content: text("40 C"), ContentIsString: true},
		}}},
	{"parallel-without-tools", false, llm.Request{Model: "gpt-4o", ParallelToolCalls: ptr(true), ToolChoice: &llm.ToolChoice{Mode: "none"},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("hi"), ContentIsString: true}}}},
	{"sampling-and-format", false, llm.Request{Model: "gpt-4o", TopP: ptr(0.9), Temperature: ptr(1.2), Stop: []string{"END", "STOP"},
		N: 3, Seed: ptr(int64(42)), User: "user-7", Metadata: map[string]string{"purpose": "ignored"},
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "answer", Strict: ptr(true),
			Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}`)},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("give a"), ContentIsString: true, Name: "alice"}}}},
	{"json-object", true, llm.Request{Model: "mistral", N: 1, ResponseFormat: &llm.ResponseFormat{Type: "json_object"}, Stream: true,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("json please"), ContentIsString: true}}}},
	// An Anthropic client's conversation: earlier thinking blocks are not
	// sent, a failed tool call says so in its content.
	{"from-anthropic-thinking-and-tool-error", false, llm.Request{Model: "gpt-4o",
		Tools: []llm.Tool{{Name: "lookup", Parameters: json.RawMessage(`{"type":"object"}`)}},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: text("find it"), ContentIsString: true},
			{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartThinking, Text: "I should look it up", Signature: "sig"}, {Type: llm.PartRedactedThinking, Data: "opaque"}, {Type: llm.PartText, Text: "Looking."}},
				ToolCalls: []llm.ToolCall{{ID: "toolu_1", Name: "lookup", Arguments: `{}`}}},
			{Role: llm.RoleTool, ToolCallID: "toolu_1", IsError: true, Content: []llm.Part{{Type: llm.PartText, Text: "not found"}}},
		}}},
	{"empty-content", false, llm.Request{Model: "gpt-4o",
		Messages: []llm.Message{{Role: llm.RoleUser}, {Role: llm.RoleAssistant}}}},
}

func TestEncodeGolden(t *testing.T) {
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			b, err := marshalRequest(&tt.req, tt.compat)
			if err != nil {
				t.Fatal(err)
			}
			// Strictly decodable back into the wire type.
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var w wire.ChatRequest
			if err := dec.Decode(&w); err != nil {
				t.Fatalf("marshalRequest(%s) is not a valid ChatRequest: %v", tt.name, err)
			}
			var got bytes.Buffer
			json.Indent(&got, b, "", "  ")
			got.WriteByte('\n')
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("marshalRequest(%s) = \n%s\nwant (testdata/golden/%s.json)\n%s", tt.name, got.Bytes(), tt.name, want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		req   llm.Request
		param string
	}{
		{"image-no-url", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage}}}}}, "messages[0]"},
		{"unknown-part", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: text("a")}, {Role: llm.RoleUser, Content: []llm.Part{{Type: "audio"}}}}}, "messages[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := marshalRequest(&tt.req, false)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != llm.CodeInvalidRequest || e.Param != tt.param {
				t.Errorf("marshalRequest(%s) = %v, want invalid_request on %s", tt.name, err, tt.param)
			}
		})
	}
}

// TestEncodeRefusesWhatItWouldDrop checks that a request from another
// dialect asking for what Chat Completions cannot do is refused with
// feature_not_supported naming it, never sent without it.
func TestEncodeRefusesWhatItWouldDrop(t *testing.T) {
	base := func() *llm.Request {
		return &llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: text("hi"), ContentIsString: true}}}
	}
	tests := []struct {
		name, want string
		mod        func(*llm.Request)
	}{
		{"top_k", "`top_k`", func(r *llm.Request) { r.TopK = ptr(5) }},
		{"thinking", "`thinking`", func(r *llm.Request) { r.Thinking = &llm.Thinking{Enabled: true, BudgetTokens: 2048} }},
		{"native_only", "`container`", func(r *llm.Request) { r.NativeOnly = func() []string { return []string{"container"} } }},
	}
	fake := openaitest.NewServer(t)
	c := newClient(t, fake.URL())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base()
			tt.mod(req)
			_, err := c.Chat(context.Background(), req)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != llm.CodeFeatureNotSupported || !bytes.Contains([]byte(e.Message), []byte(tt.want)) {
				t.Errorf("Chat(%s) = %v, want feature_not_supported naming %s", tt.name, err, tt.want)
			}
		})
	}
	if n := fake.Calls(); n != 0 {
		t.Errorf("upstream calls = %d, want 0", n)
	}
	// Thinking switched off asks for nothing OpenAI cannot do.
	req := base()
	req.Thinking = &llm.Thinking{}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Errorf("Chat(thinking disabled) = %v, want an answer", err)
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	tests := []struct {
		name, body string
		code       llm.Code
	}{
		{"not-json", `<html>`, llm.CodeProviderError},
		{"no-choices", `{"id":"x","choices":[]}`, llm.CodeProviderError},
		{"error-in-200", `{"error":{"message":"overloaded","type":"server_error"}}`, llm.CodeProviderUnavailable},
		{"negative-usage", `{"choices":[{"message":{"role":"assistant","content":"a"}}],"usage":{"prompt_tokens":-5,"completion_tokens":1}}`, llm.CodeProviderError},
		{"absurd-usage", `{"choices":[{"message":{"role":"assistant","content":"a"}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"completion_tokens_details":{"reasoning_tokens":9999999999999999}}}`, llm.CodeProviderError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := decodeResponse("oai", "", 200, []byte(tt.body))
			if e == nil || e.Code != tt.code || e.Provider != "oai" || !e.Sent {
				t.Errorf("decodeResponse(%s) = %v, want %s", tt.body, e, tt.code)
			}
		})
	}
}

// TestEncodeAcceptedByFake sends every golden request to the strict fake.
func TestEncodeAcceptedByFake(t *testing.T) {
	srv := openaitest.NewServer(t)
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, srv.URL(), func(cfg *Config) { cfg.Compatible = tt.compat })
			req := tt.req
			req.Model = "echo"
			reply, err := c.Chat(context.Background(), &req)
			if err != nil {
				t.Fatalf("Chat(%s) = %v", tt.name, err)
			}
			if reply.Stream != nil {
				if _, err := collect(t, reply.Stream); err != nil {
					t.Fatalf("Chat(%s) stream = %v", tt.name, err)
				}
			}
		})
	}
}
