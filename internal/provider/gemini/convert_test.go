package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	wire "github.com/airgw/airgw/internal/wire/gemini"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func ptr2[T any](v T) *T { return &v }

const weatherSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
	"properties":{"location":{"type":"string","description":"the city"},"unit":{"type":["string","null"],"enum":["C","F"]},
	"days":{"type":"array","items":{"type":"integer","minimum":1}}},"required":["location"]}`

// encodeCases are neutral requests whose Gemini encodings are kept as
// golden files in testdata/golden/<name>.json.
var encodeCases = []struct {
	name string
	req  llm.Request
}{
	{"basic", llm.Request{Model: "gemini-2.5-flash", MaxTokens: 50, Temperature: ptr2(0.0),
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: text("You are a chatbot.")},
			{Role: llm.RoleDeveloper, Content: text("Be brief.")},
			{Role: llm.RoleUser, Content: text("Hello!"), ContentIsString: true, Name: "alice"},
		}}},
	{"tools-conversation", llm.Request{Model: "gemini-2.5-flash", Stream: true,
		ToolChoice: &llm.ToolChoice{Mode: "function", Name: "weather"}, ParallelToolCalls: ptr2(true),
		Tools: []llm.Tool{
			{Name: "weather", Description: "Get weather information for a location", Strict: ptr2(true), Parameters: json.RawMessage(weatherSchema)},
			{Name: "now", Description: "The time"},
		},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: text("Weather in Florence and the time?")},
			{Role: llm.RoleAssistant, Content: []llm.Part{
				// Claude's signature (another provider's) is not sent.
				{Type: llm.PartThinking, Text: "Two calls.", Signature: "EqQBCkYIBxgCKkBSig=="},
				{Type: llm.PartText, Text: "Checking."},
				{Type: llm.PartThinking, Signature: "gemini:" + sigFunctionCall},
			}, ToolCalls: []llm.ToolCall{
				{ID: "call_0", Name: "weather", Arguments: `{"location":"Florence"}`},
				{ID: "call_1", Name: "now", Arguments: ``},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_0", Content: text(`{"temp":"40 C"}`)},
			{Role: llm.RoleTool, ToolCallID: "call_1", Content: text("12:00")},
			{Role: llm.RoleUser, Content: text("Thanks. Again?")},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_0", Name: "now", Arguments: `{}`}}},
			{Role: llm.RoleTool, ToolCallID: "call_0", Content: text("[1,2]"), IsError: true},
		}}},
	{"image-base64", llm.Request{Model: "gemini-2.5-flash",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{
			{Type: llm.PartText, Text: "What is in this image?"},
			{Type: llm.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo=", ImageDetail: "high"},
		}}}}},
	{"json-object", llm.Request{Model: "gemini-2.5-flash", ResponseFormat: &llm.ResponseFormat{Type: "json_object"},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("json please")}}}},
	{"json-schema", llm.Request{Model: "gemini-2.5-flash",
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "answer", Strict: ptr2(true),
			Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}`)},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("give a")}}}},
	{"sampling-and-thinking", llm.Request{Model: "gemini-2.5-pro", TopP: ptr2(0.9), TopK: ptr2(40), Temperature: ptr2(1.2),
		Stop: []string{"END"}, N: 2, Seed: ptr2(int64(42)), User: "u-7", Thinking: &llm.Thinking{Enabled: true, BudgetTokens: 1024},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("think")}}}},
	{"thinking-off", llm.Request{Model: "gemini-2.5-flash", Thinking: &llm.Thinking{},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("quick")}}}},
	{"reasoning-effort", llm.Request{Model: "gemini-2.5-flash", ReasoningEffort: "medium", ToolChoice: &llm.ToolChoice{Mode: "none"},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("hmm")}}}},
}

func TestEncodeGolden(t *testing.T) {
	c := newClient(t, "https://example.com/v1beta")
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			w, err := c.toWire(&tt.req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.MarshalIndent(w, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(b)); d != "" {
				t.Errorf("encoding of %s (-golden +got):\n%s", tt.name, d)
			}
			// Strictly decodable back into the wire type.
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var back wire.Request
			if err := dec.Decode(&back); err != nil {
				t.Errorf("golden does not decode strictly: %v", err)
			}
		})
	}
}

// TestEncodeAcceptedByFake sends every golden case to the strict fake.
func TestEncodeAcceptedByFake(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			reply, err := c.Chat(context.Background(), &tt.req)
			if err != nil {
				t.Fatalf("Chat = %v", err)
			}
			if reply.Stream != nil {
				if _, err := collect(t, reply.Stream); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	user := llm.Message{Role: llm.RoleUser, Content: text("hi")}
	tests := []struct {
		name  string
		req   llm.Request
		code  llm.Code
		param string
		msg   string
	}{
		{"invalid-arguments", llm.Request{Messages: []llm.Message{user,
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":`}}}}},
			llm.CodeInvalidRequest, "messages[1].tool_calls[0].function.arguments", "message 1"},
		{"array-arguments", llm.Request{Messages: []llm.Message{user,
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `[1]`}}}}},
			llm.CodeInvalidRequest, "messages[1].tool_calls[0].function.arguments", "not a JSON object"},
		{"unknown-tool-call-id", llm.Request{Messages: []llm.Message{user, {Role: llm.RoleTool, ToolCallID: "nope", Content: text("x")}}},
			llm.CodeInvalidRequest, "messages[1].tool_call_id", `"nope"`},
		{"image-url", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "https://example.com/cat.png"}}}}},
			llm.CodeFeatureNotSupported, "", "image URLs (send base64 data: URLs)"},
		{"bad-data-url", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "data:image/png,abc"}}}}},
			llm.CodeInvalidRequest, "messages[0].content[0]", "base64"},
		{"image-in-system", llm.Request{Messages: []llm.Message{{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "data:image/png;base64,AA=="}}}, user}},
			llm.CodeFeatureNotSupported, "", "system messages"},
		{"schema-ref", llm.Request{Messages: []llm.Message{user}, Tools: []llm.Tool{{Name: "f",
			Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"type":"string"}}}`)}}},
			llm.CodeFeatureNotSupported, "", `JSON Schema keyword "$`},
		{"schema-oneof", llm.Request{Messages: []llm.Message{user}, Tools: []llm.Tool{{Name: "f",
			Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"oneOf":[{"type":"string"}]}}}`)}}},
			llm.CodeFeatureNotSupported, "", `"oneOf" (in the parameters of tool f)`},
		{"schema-not-object", llm.Request{Messages: []llm.Message{user}, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`[1]`)}}},
			llm.CodeInvalidRequest, "tools[0].function.parameters", "not a valid JSON Schema object"},
		{"required-without-tools", llm.Request{Messages: []llm.Message{user}, ToolChoice: &llm.ToolChoice{Mode: "required"}},
			llm.CodeInvalidRequest, "tool_choice", "needs tools"},
		{"bad-response-format", llm.Request{Messages: []llm.Message{user}, ResponseFormat: &llm.ResponseFormat{Type: "xml"}},
			llm.CodeInvalidRequest, "response_format.type", "xml"},
		{"bad-reasoning-effort", llm.Request{Messages: []llm.Message{user}, ReasoningEffort: "max"},
			llm.CodeInvalidRequest, "reasoning_effort", "max"},
		{"unknown-role", llm.Request{Messages: []llm.Message{{Role: "function", Content: text("x")}}},
			llm.CodeInvalidRequest, "messages[0].role", "function"},
	}
	c := newClient(t, "https://example.com/v1beta")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.toWire(&tt.req)
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("toWire = %v, want *llm.Error", err)
			}
			if e.Code != tt.code || e.Param != tt.param || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("toWire error = %s (param %q), want %s param %q containing %q", e, e.Param, tt.code, tt.param, tt.msg)
			}
		})
	}
}

// TestToolRoundTrip takes a function call from the fake and sends its
// result back: the functionResponse must name the function, which the
// fake checks against the previous turn.
func TestToolRoundTrip(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	tools := []llm.Tool{{Name: "weather", Parameters: json.RawMessage(weatherSchema)}}
	req := &llm.Request{Model: "gemini-2.5-flash", Tools: tools, Messages: []llm.Message{{Role: llm.RoleUser, Content: text("weather?")}}}
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	ch := reply.Response.Choices[0]
	if ch.FinishReason != llm.FinishToolCalls || len(ch.Message.ToolCalls) != 1 || ch.Message.ToolCalls[0].Name != "weather" {
		t.Fatalf("first turn = %+v, want a weather call", ch)
	}
	req.Messages = append(req.Messages, ch.Message,
		llm.Message{Role: llm.RoleTool, ToolCallID: ch.Message.ToolCalls[0].ID, Content: text("sunny")})
	reply, err = c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := reply.Response.Choices[0].Message.Text(); got != "echo: " {
		t.Errorf("second turn text = %q, want the echo of no user text", got)
	}
	sent := srv.Requests()[1].Body.Contents
	fr := sent[2].Parts[0].FunctionResponse
	if sent[2].Role != wire.RoleUser || fr == nil || fr.Name != "weather" || string(fr.Response) != `{"result":"sunny"}` {
		t.Errorf("tool result sent as %+v, want functionResponse weather {result: sunny}", sent[2])
	}
}

// TestThoughtSignatureRoundTrip checks that the signature Gemini puts on a
// functionCall part goes back on that part.
func TestThoughtSignatureRoundTrip(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	reply, err := c.Chat(context.Background(), userReq("fixture:generate-function-call", "weather?"))
	if err != nil {
		t.Fatal(err)
	}
	msg := reply.Response.Choices[0].Message
	req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: text("weather?")}, msg,
		{Role: llm.RoleTool, ToolCallID: msg.ToolCalls[0].ID, Content: text(`{"temp":20}`)}}}
	w, err := c.toWire(req)
	if err != nil {
		t.Fatal(err)
	}
	want := wire.Content{Role: wire.RoleModel, Parts: []wire.Part{{ThoughtSignature: sigFunctionCall,
		FunctionCall: &wire.FunctionCall{Name: "weather", Args: json.RawMessage(`{"location":"Florence,Italy"}`)}}}}
	if d := cmp.Diff(want, w.Contents[1]); d != "" {
		t.Errorf("model turn (-want +got):\n%s", d)
	}
}

func TestImageAndJSONModeAccepted(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	req := &llm.Request{Model: "m", ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object"}`)},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "describe"},
			{Type: llm.PartImage, ImageURL: "data:image/jpeg;base64,/9j/4AAQ"}}}}}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b := srv.Requests()[0].Body
	p := b.Contents[0].Parts[1].InlineData
	if p == nil || p.MIMEType != "image/jpeg" || p.Data != "/9j/4AAQ" {
		t.Errorf("image part = %+v", b.Contents[0].Parts[1])
	}
	if g := b.GenerationConfig; g.ResponseMIMEType != "application/json" || string(g.ResponseJSONSchema) != `{"type":"object"}` {
		t.Errorf("generationConfig = %+v", g)
	}
}
