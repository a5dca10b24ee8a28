package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func ptr[T any](v T) *T { return &v }

func parts(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

const pngURL = "data:image/png;base64,iVBORw0KGgo="

// encodeCases are neutral requests whose Converse bodies are kept as golden
// files in testdata/golden/<name>.json. Each is also sent to the strict
// fake, which must accept it.
var encodeCases = []struct {
	name string
	req  llm.Request
}{
	{"basic", llm.Request{Model: "us.amazon.nova-micro-v1:0", MaxTokens: 50, Temperature: ptr(0.0),
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: parts("You are a chatbot."), ContentIsString: true},
			{Role: llm.RoleUser, Content: parts("Hello!"), ContentIsString: true},
		}}},
	{"sampling", llm.Request{Model: "anthropic.claude-3-5-haiku-20241022-v1:0", TopP: ptr(0.9), Temperature: ptr(0.5),
		TopK: ptr(40), Stop: []string{"END", "STOP"}, User: "user-7", Metadata: map[string]string{"purpose": "not sent"},
		ResponseFormat: &llm.ResponseFormat{Type: "text"},
		Messages:       []llm.Message{{Role: llm.RoleUser, Content: parts("count"), ContentIsString: true}}}},
	{"nova-top-k", llm.Request{Model: "us.amazon.nova-pro-v1:0", TopK: ptr(20),
		Messages: []llm.Message{{Role: llm.RoleUser, Content: parts("hi")}}}},
	{"tools-conversation", llm.Request{Model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", Stream: true,
		ParallelToolCalls: ptr(true), ToolChoice: &llm.ToolChoice{Mode: "function", Name: "weather"},
		Tools: []llm.Tool{
			{Name: "weather", Description: "Get weather information for a location", Strict: ptr(true),
				Parameters: json.RawMessage(`{"properties":{"location":{"description":"the city","type":"string"}},"required":["location"],"type":"object"}`)},
			{Name: "time"},
		},
		Messages: []llm.Message{
			{Role: llm.RoleDeveloper, Content: parts("You are a helpful assistant")},
			{Role: llm.RoleUser, Content: parts("What's the weather and time in Florence and Rome?")},
			{Role: llm.RoleAssistant, Content: parts("Let me check."), ToolCalls: []llm.ToolCall{
				{ID: "tooluse_1", Name: "weather", Arguments: `{"location": "Florence"}`},
				{ID: "tooluse_2", Name: "time", Arguments: ``},
			}},
			{Role: llm.RoleTool, ToolCallID: "tooluse_1", Content: parts(`{"temp_c": 31, "sky": "clear"}`)},
			{Role: llm.RoleTool, ToolCallID: "tooluse_2", Content: parts("timezone unknown"), IsError: true},
			{Role: llm.RoleUser, Content: parts("And Rome?")},
		}}},
	{"tool-choice-required", llm.Request{Model: "us.amazon.nova-micro-v1:0", ToolChoice: &llm.ToolChoice{Mode: "required"},
		Tools:    []llm.Tool{{Name: "final_result", Parameters: json.RawMessage(`{"type":"object"}`)}},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: parts("go")}}}},
	{"tool-choice-auto", llm.Request{Model: "us.amazon.nova-micro-v1:0", ToolChoice: &llm.ToolChoice{Mode: "auto"},
		Tools:    []llm.Tool{{Name: "f", Parameters: json.RawMessage(`null`)}},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: parts("go")}}}},
	{"tool-choice-none", llm.Request{Model: "us.amazon.nova-micro-v1:0", ToolChoice: &llm.ToolChoice{Mode: "none"},
		Tools:    []llm.Tool{{Name: "f"}},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: parts("no tools please")}}}},
	{"thinking-history", llm.Request{Model: "us.anthropic.claude-sonnet-4-20250514-v1:0", MaxTokens: 4096,
		Thinking: &llm.Thinking{Enabled: true, BudgetTokens: 2048},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: parts("Hello")},
			{Role: llm.RoleAssistant, Content: []llm.Part{
				{Type: llm.PartThinking, Text: "The user greets me.", Signature: "Eu0CCkgIBxAB"},
				{Type: llm.PartRedactedThinking, Data: "b3BhcXVl"},
				{Type: llm.PartText, Text: "Hi!"},
			}},
			{Role: llm.RoleUser, Content: parts("How are you?")},
		}}},
	{"thinking-default-budget", llm.Request{Model: "anthropic.claude-3-7-sonnet-20250219-v1:0",
		Thinking: &llm.Thinking{Enabled: true},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: parts("think")}}}},
	{"images-and-cache", llm.Request{Model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: "Long instructions.", CacheControl: "ephemeral"}}},
			{Role: llm.RoleUser, Content: []llm.Part{
				{Type: llm.PartText, Text: "Long document.", CacheControl: "ephemeral"},
				{Type: llm.PartImage, ImageURL: pngURL},
				{Type: llm.PartImage, ImageURL: "data:image/jpeg;base64,/9j/4AAQ"},
				{Type: llm.PartText, Text: "  "},
				{Type: llm.PartText, Text: "What is in these?"},
			}},
		}}},
}

func TestEncodeGolden(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			b, err := marshalRequest("b", &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var w wire.ConverseRequest
			if err := dec.Decode(&w); err != nil {
				t.Fatalf("encoded body does not decode strictly: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if d := cmp.Diff(string(want), pretty.String()); d != "" {
				t.Errorf("encoding of %s (-golden +got):\n%s", tt.name, d)
			}
			// The strict fake accepts it.
			req := tt.req
			if _, err := c.Chat(context.Background(), &req); err != nil {
				t.Errorf("fake refused the encoding: %v", err)
			}
		})
	}
}

// claude is a Claude model id on Bedrock (an inference profile).
const claude = "us.anthropic.claude-sonnet-4-20250514-v1:0"

// TestEncodeReasoningEffort checks that reasoning_effort becomes Claude's
// thinking in additionalModelRequestFields, with maxTokens above the
// budget when the client set none, and that the strict fake accepts it.
func TestEncodeReasoningEffort(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	tests := []struct {
		effort    string
		max       int
		stream    bool
		wantExtra string
		wantMax   string
	}{
		{"none", 0, false, `{"thinking":{"type":"disabled"}}`, ``},
		{"minimal", 0, false, `{"thinking":{"type":"disabled"}}`, ``},
		{"low", 0, true, `{"thinking":{"budget_tokens":1024,"type":"enabled"}}`, `5120`},
		{"medium", 0, false, `{"thinking":{"budget_tokens":8192,"type":"enabled"}}`, `12288`},
		{"high", 0, false, `{"thinking":{"budget_tokens":24576,"type":"enabled"}}`, `28672`},
		{"high", 30000, true, `{"thinking":{"budget_tokens":24576,"type":"enabled"}}`, `30000`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d", tt.effort, tt.max), func(t *testing.T) {
			req := llm.Request{Model: claude, ReasoningEffort: tt.effort, MaxTokens: tt.max, Stream: tt.stream,
				Temperature: ptr(1.0), Messages: []llm.Message{{Role: llm.RoleUser, Content: parts("hi")}}}
			w, err := toWire("bedrock-us", &req)
			if err != nil {
				t.Fatal(err)
			}
			gotMax := ""
			if w.InferenceConfig != nil && w.InferenceConfig.MaxTokens != nil {
				gotMax = fmt.Sprint(*w.InferenceConfig.MaxTokens)
			}
			if string(w.AdditionalModelRequestFields) != tt.wantExtra || gotMax != tt.wantMax {
				t.Errorf("toWire(%s, max %d) = fields %s, maxTokens %q; want %s, %q", tt.effort, tt.max, w.AdditionalModelRequestFields, gotMax, tt.wantExtra, tt.wantMax)
			}
			reply, err := c.Chat(context.Background(), &req)
			if err != nil {
				t.Fatalf("the strict fake refused reasoning_effort %s: %v", tt.effort, err)
			}
			if reply.Stream != nil {
				reply.Stream.Close()
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	user := []llm.Message{{Role: llm.RoleUser, Content: parts("hi")}}
	tests := []struct {
		name  string
		req   llm.Request
		code  llm.Code
		param string
		msg   string
	}{
		{"n", llm.Request{Model: "m", N: 2, Messages: user}, llm.CodeFeatureNotSupported, "", "n > 1"},
		{"seed", llm.Request{Model: "m", Seed: ptr(int64(1)), Messages: user}, llm.CodeFeatureNotSupported, "", "seed"},
		{"reasoning-effort-nova", llm.Request{Model: "us.amazon.nova-pro-v1:0", ReasoningEffort: "high", Messages: user}, llm.CodeFeatureNotSupported, "",
			`reasoning_effort for model "us.amazon.nova-pro-v1:0" (only Anthropic models on Bedrock take thinking)`},
		{"reasoning-effort-llama", llm.Request{Model: "meta.llama3-70b-instruct-v1:0", ReasoningEffort: "none", Messages: user}, llm.CodeFeatureNotSupported, "", "reasoning_effort for model"},
		{"reasoning-effort-over-max", llm.Request{Model: claude, ReasoningEffort: "low", MaxTokens: 1000, Messages: user}, llm.CodeInvalidRequest, "max_completion_tokens", "raise max_completion_tokens above 1024"},
		{"reasoning-effort-temperature", llm.Request{Model: claude, ReasoningEffort: "low", Temperature: ptr(0.3), Messages: user}, llm.CodeFeatureNotSupported, "", "`temperature` other than 1 together with `reasoning_effort` low"},
		{"reasoning-effort-unknown", llm.Request{Model: claude, ReasoningEffort: "extreme", Messages: user}, llm.CodeInvalidRequest, "reasoning_effort", "extreme"},
		{"json-schema-without-schema", llm.Request{Model: "m", ResponseFormat: &llm.ResponseFormat{Type: "json_schema"}, Messages: user}, llm.CodeInvalidRequest, "response_format.json_schema.schema", "needs a schema"},
		{"json-object", llm.Request{Model: "m", ResponseFormat: &llm.ResponseFormat{Type: "json_object"}, Messages: user}, llm.CodeFeatureNotSupported, "", "response_format json_object (Bedrock's structured output needs a schema"},
		{"no-parallel", llm.Request{Model: "m", ParallelToolCalls: ptr(false), Tools: []llm.Tool{{Name: "f"}}, Messages: user}, llm.CodeFeatureNotSupported, "", "parallel_tool_calls"},
		{"image-url", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "https://example.com/cat.png"}}}}},
			llm.CodeFeatureNotSupported, "", "image URLs (send base64 data: URLs)"},
		{"image-type", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "data:image/bmp;base64,Qk0="}}}}},
			llm.CodeFeatureNotSupported, "", "image/bmp"},
		{"image-bad-base64", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "data:image/png;base64,!!"}}}}},
			llm.CodeInvalidRequest, "messages[0].content[0]", "base64"},
		{"thinking-nova", llm.Request{Model: "us.amazon.nova-pro-v1:0", Thinking: &llm.Thinking{Enabled: true}, Messages: user}, llm.CodeFeatureNotSupported, "", "thinking"},
		{"none-with-history", llm.Request{Model: "m", ToolChoice: &llm.ToolChoice{Mode: "none"}, Tools: []llm.Tool{{Name: "f"}},
			Messages: []llm.Message{
				{Role: llm.RoleUser, Content: parts("hi")},
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t", Name: "f", Arguments: "{}"}}},
				{Role: llm.RoleTool, ToolCallID: "t", Content: parts("ok")},
			}}, llm.CodeFeatureNotSupported, "", `tool_choice "none"`},
		{"bad-arguments", llm.Request{Model: "m", Messages: []llm.Message{
			{Role: llm.RoleUser, Content: parts("hi")},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t", Name: "f", Arguments: "{not json"}}},
		}}, llm.CodeInvalidRequest, "messages[1].tool_calls[0].function.arguments", "not valid JSON"},
		{"array-arguments", llm.Request{Model: "m", Messages: []llm.Message{
			{Role: llm.RoleUser, Content: parts("hi")},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t", Name: "f", Arguments: "[1]"}}},
		}}, llm.CodeInvalidRequest, "messages[1].tool_calls[0].function.arguments", "JSON object"},
		{"empty-message", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: parts(" ")}}}, llm.CodeInvalidRequest, "messages[0].content", "empty"},
		{"tool-without-id", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, Content: parts("x")}}}, llm.CodeInvalidRequest, "messages[0].tool_call_id", "required"},
		{"system-image", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartImage, ImageURL: pngURL}}}}}, llm.CodeInvalidRequest, "messages[0].content[0]", "only hold text"},
		{"user-thinking", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartThinking, Text: "x"}}}}}, llm.CodeInvalidRequest, "messages[0].content[0]", "assistant"},
		{"bad-role", llm.Request{Model: "m", Messages: []llm.Message{{Role: "function", Content: parts("x")}}}, llm.CodeInvalidRequest, "messages[0].role", "not supported"},
		{"bad-schema", llm.Request{Model: "m", Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{`)}}, Messages: user}, llm.CodeInvalidRequest, "tools[0].function.parameters", "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := marshalRequest("bedrock-us", &tt.req)
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("marshalRequest = %v, want *llm.Error", err)
			}
			if e.Code != tt.code || e.Param != tt.param || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("marshalRequest error = %+v, want %s param %q containing %q", e, tt.code, tt.param, tt.msg)
			}
			if tt.code == llm.CodeFeatureNotSupported && (!strings.Contains(e.Message, "`bedrock-us` (type bedrock)") || !e.NoClientRetry) {
				t.Errorf("Unsupported message %q does not name the provider", e.Message)
			}
		})
	}
}

func TestFinishReason(t *testing.T) {
	tests := map[string]llm.FinishReason{
		"end_turn": llm.FinishStop, "stop_sequence": llm.FinishStop, "tool_use": llm.FinishToolCalls,
		"max_tokens": llm.FinishLength, "model_context_window_exceeded": llm.FinishLength,
		"guardrail_intervened": llm.FinishContentFilter, "content_filtered": llm.FinishContentFilter,
		"something_new": llm.FinishStop,
	}
	for in, want := range tests {
		if got := finishReason(in); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUsageFromWire(t *testing.T) {
	tests := []struct {
		name string
		in   wire.TokenUsage
		want llm.Usage
		bad  bool
	}{
		{"plain", wire.TokenUsage{InputTokens: 7, OutputTokens: 30, TotalTokens: 37}, llm.Usage{InputTokens: 7, OutputTokens: 30}, false},
		{"cache-read-exclusive", wire.TokenUsage{InputTokens: 2, OutputTokens: 5, TotalTokens: 1329, CacheReadInputTokens: 1322},
			llm.Usage{InputTokens: 1324, OutputTokens: 5, CacheReadTokens: 1322}, false},
		{"cache-write-exclusive", wire.TokenUsage{InputTokens: 10, OutputTokens: 5, TotalTokens: 1015, CacheWriteInputTokens: 1000},
			llm.Usage{InputTokens: 1010, OutputTokens: 5, CacheWriteTokens: 1000}, false},
		{"old-count-fields", wire.TokenUsage{InputTokens: 2, OutputTokens: 5, TotalTokens: 1329, CacheReadInputTokenCount: 1322},
			llm.Usage{InputTokens: 1324, OutputTokens: 5, CacheReadTokens: 1322}, false},
		{"no-total", wire.TokenUsage{InputTokens: 2, OutputTokens: 5, CacheReadInputTokens: 10},
			llm.Usage{InputTokens: 12, OutputTokens: 5, CacheReadTokens: 10}, false},
		{"inclusive-report", wire.TokenUsage{InputTokens: 1324, OutputTokens: 5, TotalTokens: 1329, CacheReadInputTokens: 1322},
			llm.Usage{InputTokens: 1324, OutputTokens: 5, CacheReadTokens: 1322}, false},
		{"negative", wire.TokenUsage{InputTokens: -1}, llm.Usage{}, true},
		{"absurd", wire.TokenUsage{OutputTokens: 1 << 50}, llm.Usage{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := usageFromWire(&tt.in)
			if (err != nil) != tt.bad {
				t.Fatalf("usageFromWire(%+v) error = %v, want error %v", tt.in, err, tt.bad)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("usageFromWire(%+v) (-want +got):\n%s", tt.in, d)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	body := `{"output":{"message":{"role":"assistant","content":[
		{"reasoningContent":{"redactedContent":"b3BhcXVl"}},
		{"toolUse":{"toolUseId":"s1","name":"nova_code_interpreter","input":{"snippet":"1+1"},"type":"server_tool_use"}},
		{"text":"done"},
		{"toolUse":{"toolUseId":"t1","name":"f","input":null}}]}},
		"stopReason":"stop_sequence","additionalModelResponseFields":{"stop_sequence":"END"}}`
	r, e := decodeResponse("b", 200, []byte(body), replyMeta{id: "rid", model: "m", created: 9})
	if e != nil {
		t.Fatal(e)
	}
	want := &llm.Response{ID: "rid", Model: "m", Created: 9, StopSequence: "END", Choices: []llm.Choice{{
		FinishReason: llm.FinishStop,
		Message: llm.Message{Role: llm.RoleAssistant,
			Content:   []llm.Part{{Type: llm.PartRedactedThinking, Data: "b3BhcXVl"}, {Type: llm.PartText, Text: "done"}},
			ToolCalls: []llm.ToolCall{{ID: "t1", Name: "f", Arguments: "{}"}}},
	}}}
	if d := cmp.Diff(want, r); d != "" {
		t.Errorf("decodeResponse (-want +got):\n%s", d)
	}
	for _, bad := range []string{`not json`, `{"stopReason":"end_turn"}`, `{"output":{"message":{"content":[]}},"usage":{"inputTokens":-5}}`} {
		if _, e := decodeResponse("b", 200, []byte(bad), replyMeta{}); e == nil || e.Code != llm.CodeProviderError {
			t.Errorf("decodeResponse(%s) = %v, want provider_error", bad, e)
		}
	}
}
