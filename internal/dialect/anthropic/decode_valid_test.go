package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

type decodeCase struct {
	name    string
	body    string // or
	fixture string // the body of ../shared/fixtures/anthropic/<fixture>.request.json, compacted
	want    *llm.Request
}

func text(s string) llm.Part { return llm.Part{Type: llm.PartText, Text: s} }

func userString(s string) llm.Message {
	return llm.Message{Role: llm.RoleUser, ContentIsString: true, Content: []llm.Part{text(s)}}
}

func decodeCases() []decodeCase {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	no := false
	return []decodeCase{
		{
			name: "minimal",
			body: `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}]}`,
			want: &llm.Request{Model: "claude-sonnet-4-5", MaxTokens: 1024, IncludeUsage: true, Messages: []llm.Message{userString("Hello")}},
		},
		{
			name: "sampling_and_metadata",
			body: `{"model":"m","max_tokens":5,"stream":true,"temperature":0.5,"top_p":0.9,"top_k":40,"stop_sequences":["END","###"],
				"metadata":{"user_id":"u-1","purpose":"search"},"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"hi"}]}`,
			want: &llm.Request{Model: "m", MaxTokens: 5, Stream: true, IncludeUsage: true, Temperature: f(0.5), TopP: f(0.9), TopK: i(40),
				Stop: []string{"END", "###"}, User: "u-1", Metadata: map[string]string{"purpose": "search"}, Thinking: &llm.Thinking{},
				Messages: []llm.Message{userString("hi")}},
		},
		{
			name: "system_blocks_and_images",
			body: `{"model":"m","max_tokens":5,
				"system":[{"type":"text","text":"be brief"},{"type":"text","text":"long doc","cache_control":{"type":"ephemeral","ttl":"1h"}}],
				"messages":[{"role":"user","content":[
					{"type":"text","text":"what are these?"},
					{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
					{"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"},"cache_control":{"type":"ephemeral"}}]}]}`,
			want: &llm.Request{Model: "m", MaxTokens: 5, IncludeUsage: true, Messages: []llm.Message{
				{Role: llm.RoleSystem, Content: []llm.Part{text("be brief"), {Type: llm.PartText, Text: "long doc", CacheControl: "ephemeral"}}},
				{Role: llm.RoleUser, Content: []llm.Part{
					text("what are these?"),
					{Type: llm.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
					{Type: llm.PartImage, ImageURL: "https://example.com/a.jpg", CacheControl: "ephemeral"},
				}},
			}},
		},
		{
			name: "tools_round_trip",
			body: `{"model":"m","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":2048},
				"tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
					{"type":"custom","name":"get_time","input_schema":{"type":"object"},"strict":true,"cache_control":{"type":"ephemeral"}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true},
				"messages":[
					{"role":"user","content":"weather and time in Paris?"},
					{"role":"assistant","content":[
						{"type":"thinking","thinking":"two tools","signature":"sig=="},
						{"type":"redacted_thinking","data":"opaque"},
						{"type":"text","text":"Checking."},
						{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{ "city" : "Paris" }},
						{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}]},
					{"role":"user","content":[
						{"type":"text","text":"before"},
						{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny","cache_control":{"type":"ephemeral"}},
						{"type":"tool_result","tool_use_id":"toolu_2","is_error":true,"content":[{"type":"text","text":"clock"},{"type":"text","text":"broken"}]},
						{"type":"text","text":"thanks"}]},
					{"role":"assistant","content":""}]}`,
			want: &llm.Request{Model: "m", MaxTokens: 4096, IncludeUsage: true,
				Thinking:          &llm.Thinking{Enabled: true, BudgetTokens: 2048},
				ToolChoice:        &llm.ToolChoice{Mode: "required"},
				ParallelToolCalls: &no,
				Tools: []llm.Tool{
					{Name: "get_weather", Description: "d", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
					{Name: "get_time", Parameters: json.RawMessage(`{"type":"object"}`), Strict: ptr(true)},
				},
				Messages: []llm.Message{
					userString("weather and time in Paris?"),
					{Role: llm.RoleAssistant,
						Content: []llm.Part{
							{Type: llm.PartThinking, Text: "two tools", Signature: "sig=="},
							{Type: llm.PartRedactedThinking, Data: "opaque"},
							text("Checking."),
						},
						ToolCalls: []llm.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "toolu_2", Name: "get_time", Arguments: `{}`}}},
					{Role: llm.RoleUser, Content: []llm.Part{text("before")}},
					{Role: llm.RoleTool, ToolCallID: "toolu_1", ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "sunny", CacheControl: "ephemeral"}}},
					{Role: llm.RoleTool, ToolCallID: "toolu_2", IsError: true, Content: []llm.Part{text("clock"), text("broken")}},
					{Role: llm.RoleUser, Content: []llm.Part{text("thanks")}},
					{Role: llm.RoleAssistant, ContentIsString: true, Content: []llm.Part{text("")}},
				}},
		},
		{
			name: "tool_choice_tool_and_empty_result",
			body: `{"model":"m","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":false},
				"messages":[{"role":"user","content":"go"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{"a":[1,2]}}]},
					{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"}]}]}`,
			want: &llm.Request{Model: "m", MaxTokens: 5, IncludeUsage: true,
				Tools:      []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}},
				ToolChoice: &llm.ToolChoice{Mode: "function", Name: "f"},
				Messages: []llm.Message{
					userString("go"),
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t1", Name: "f", Arguments: `{"a":[1,2]}`}}},
					{Role: llm.RoleTool, ToolCallID: "t1"},
				}},
		},
		{
			name: "adaptive_thinking_and_none_choice",
			body: `{"model":"m","max_tokens":5,"thinking":{"type":"adaptive"},"tool_choice":{"type":"none"},"system":"","messages":[{"role":"user","content":"hi"}]}`,
			want: &llm.Request{Model: "m", MaxTokens: 5, IncludeUsage: true, Thinking: &llm.Thinking{Enabled: true},
				ToolChoice: &llm.ToolChoice{Mode: "none"}, Messages: []llm.Message{userString("hi")}},
		},
		{
			name: "unknown_fields_pass_through",
			body: `{"model":"m","max_tokens":5,"service_tier":"auto","container":"c","messages":[{"role":"user","content":[{"type":"text","text":"hi","citations":[]}]}]}`,
			want: &llm.Request{Model: "m", MaxTokens: 5, IncludeUsage: true, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{text("hi")}}}},
		},
		{
			name:    "fixture_tool_use",
			fixture: "messages-tool-use",
			want: &llm.Request{Model: "claude-sonnet-4-20250514", MaxTokens: 4000, IncludeUsage: true,
				ToolChoice: &llm.ToolChoice{Mode: "auto"},
				Tools: []llm.Tool{{Name: "weather", Description: "Get weather information for a location",
					Parameters: json.RawMessage(`{"properties":{"location":{"description":"the city","type":"string"}},"required":["location"],"type":"object"}`)}},
				Messages: []llm.Message{
					{Role: llm.RoleSystem, Content: []llm.Part{text("You are a helpful assistant")}},
					{Role: llm.RoleUser, Content: []llm.Part{text("What's the weather in Florence,Italy?")}},
				}},
		},
		{
			name:    "fixture_stream_thinking",
			fixture: "messages-stream-thinking",
			want: &llm.Request{Model: "claude-haiku-4-5-20251001", MaxTokens: 8192, Stream: true, IncludeUsage: true, Temperature: f(1),
				Thinking: &llm.Thinking{Enabled: true, BudgetTokens: 1024},
				Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{text("Two names for a pet pelican, be brief")}}}},
		},
		{
			name:    "fixture_basic",
			fixture: "messages-basic",
			want: &llm.Request{Model: "claude-3-opus-20240229", MaxTokens: 100, IncludeUsage: true, Temperature: f(0),
				Messages: []llm.Message{userString("Hello, how are you?")}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodeMessages(t *testing.T) {
	bodies := fixtureBodies(t)
	for _, tt := range decodeCases() {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if tt.fixture != "" {
				var buf bytes.Buffer
				if err := json.Compact(&buf, bodies[tt.fixture]); err != nil {
					t.Fatalf("fixture %s: %v", tt.fixture, err)
				}
				body = buf.Bytes()
			}
			got, err := DecodeMessages(body, Limits{})
			if err != nil {
				t.Fatalf("DecodeMessages(%s) error = %v", tt.name, err)
			}
			wantNative := &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: EndpointMessages, Body: json.RawMessage(strings.TrimSpace(string(body)))}
			if diff := cmp.Diff(wantNative, got.Native); diff != "" {
				t.Errorf("DecodeMessages(%s).Native mismatch (-want +got):\n%s", tt.name, diff)
			}
			got.Native = nil
			if got.NativeOnly == nil || !cmp.Equal(got.NativeOnly(), UnknownFields(body)) {
				t.Errorf("DecodeMessages(%s).NativeOnly does not list UnknownFields", tt.name)
			}
			got.NativeOnly = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeMessages(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}
