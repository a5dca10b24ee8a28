package openai

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

// malformedCase is one entry of testdata/malformed.json, the corpus of
// malformed Chat Completions bodies. Each must be refused with its code and
// param; the end-to-end tests send every one through the gateway too and
// check that no provider is called.
type malformedCase struct {
	Name  string   `json:"name"`
	Body  string   `json:"body"`
	Code  llm.Code `json:"code"`
	Param string   `json:"param"`
}

func loadMalformed(t testing.TB) []malformedCase {
	b, err := os.ReadFile("testdata/malformed.json")
	if err != nil {
		t.Fatal(err)
	}
	var cs []malformedCase
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatalf("testdata/malformed.json: %v", err)
	}
	return cs
}

func TestDecodeChatMalformed(t *testing.T) {
	cases := loadMalformed(t)
	if len(cases) < 50 {
		t.Fatalf("malformed corpus has %d cases, want at least 50", len(cases))
	}
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			req, err := DecodeChat([]byte(tt.Body), Limits{})
			if err == nil {
				t.Fatalf("DecodeChat(%s) = %+v, want error", tt.Body, req)
			}
			e := llm.AsError(err)
			if e.Code != tt.Code || e.Param != tt.Param {
				t.Errorf("DecodeChat(%s) = code %s param %q (%s), want code %s param %q", tt.Body, e.Code, e.Param, e.Message, tt.Code, tt.Param)
			}
			if e.Message == "" || strings.Contains(e.Message, "%!") {
				t.Errorf("DecodeChat(%s) message = %q, want a readable message", tt.Body, e.Message)
			}
			if e.Param != "" && !strings.Contains(e.Message, lastSegment(e.Param)) {
				t.Errorf("DecodeChat(%s) message = %q, want it to name %q", tt.Body, e.Message, e.Param)
			}
		})
	}
}

// lastSegment is the field name a message must mention for param.
func lastSegment(param string) string {
	if i := strings.LastIndexAny(param, ".["); i >= 0 && param[i] == '.' {
		return param[i+1:]
	}
	if i := strings.Index(param, "["); i > 0 {
		return param[:i]
	}
	return param
}

func TestDecodeChatLimits(t *testing.T) {
	msgs := strings.Repeat(`{"role":"user","content":"x"},`, 11)
	body := `{"model":"m","messages":[` + strings.TrimSuffix(msgs, ",") + `]}`
	_, err := DecodeChat([]byte(body), Limits{MaxMessages: 10})
	if e := llm.AsError(err); e == nil || e.Code != llm.CodePayloadTooLarge || e.Param != "messages" {
		t.Errorf("DecodeChat(11 messages, limit 10) = %v, want payload_too_large on messages", err)
	}
}

func TestDecodeChat(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	yes := true
	tests := []struct {
		name string
		body string
		want *llm.Request
		// nativeOnly is what a translation would lose.
		nativeOnly []string
	}{
		{
			name: "minimal",
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}`,
			want: &llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "Hello"}}}}},
		},
		{
			name: "everything",
			body: `{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":50,"temperature":0.5,"top_p":1,
				"stop":"END","n":1,"user":"u-1","metadata":{"purpose":"search"},"parallel_tool_calls":true,
				"response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"},"strict":true}},
				"tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object"}}}],
				"tool_choice":{"type":"function","function":{"name":"get_weather"}},
				"messages":[{"role":"system","content":"be brief"},
					{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]},
					{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
					{"role":"tool","tool_call_id":"call_1","content":"sunny"}]}`,
			want: &llm.Request{
				Model: "m", Stream: true, IncludeUsage: true, MaxTokens: 50, Temperature: f(0.5), TopP: f(1),
				Stop: []string{"END"}, N: 1, User: "u-1", Metadata: map[string]string{"purpose": "search"}, ParallelToolCalls: &yes,
				ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"type":"object"}`), Strict: &yes},
				Tools:          []llm.Tool{{Name: "get_weather", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`)}},
				ToolChoice:     &llm.ToolChoice{Mode: "function", Name: "get_weather"},
				Messages: []llm.Message{
					{Role: llm.RoleSystem, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "be brief"}}},
					{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "what is this?"}, {Type: llm.PartImage, ImageURL: "data:image/png;base64,AAAA", ImageDetail: "low"}}},
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
					{Role: llm.RoleTool, ToolCallID: "call_1", ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "sunny"}}},
				},
			},
		},
		{
			name:       "unknown_fields_pass_through",
			body:       `{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":2,"prediction":{"type":"content","content":"x"}}`,
			want:       &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}},
			nativeOnly: []string{"logprobs", "prediction", "top_logprobs"},
		},
		{
			name: "empty_values_ask_for_nothing",
			body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"presence_penalty":0,"frequency_penalty":0.0,"logprobs":false,
				"logit_bias":{},"modalities":["text"],"store":true,"service_tier":"flex","prompt_cache_key":"k","reasoning_effort":"low",
				"web_search_options":{},"vendor_top_k":5}`,
			want: &llm.Request{Model: "m", ReasoningEffort: "low",
				Messages: []llm.Message{{Role: llm.RoleUser, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}},
			nativeOnly: []string{"vendor_top_k", "web_search_options"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeChat([]byte(tt.body), Limits{})
			if err != nil {
				t.Fatalf("DecodeChat(%s) error = %v", tt.name, err)
			}
			if got.Native == nil || got.Native.Dialect != llm.DialectOpenAI || string(got.Native.Body) != strings.TrimSpace(tt.body) {
				t.Errorf("DecodeChat(%s).Native = %+v, want the body kept verbatim", tt.name, got.Native)
			}
			got.Native = nil
			if got.NativeOnly == nil {
				t.Fatalf("DecodeChat(%s).NativeOnly = nil, want the function that lists what a translation loses", tt.name)
			}
			if diff := cmp.Diff(tt.nativeOnly, got.NativeOnly()); diff != "" {
				t.Errorf("DecodeChat(%s).NativeOnly() mismatch (-want +got):\n%s", tt.name, diff)
			}
			got.NativeOnly = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeChat(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func FuzzDecodeChat(f *testing.F) {
	for _, tt := range loadMalformed(f) {
		f.Add([]byte(tt.Body))
	}
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"auto"}`))
	f.Add([]byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeChat(body, Limits{MaxMessages: 100, MaxParts: 100, MaxTools: 100})
		if err != nil {
			e := llm.AsError(err)
			if e.Code == llm.CodeInternal {
				t.Fatalf("DecodeChat(%q) = internal error %v", body, err)
			}
			if s := e.Code.Status(); s != 400 && s != 413 {
				t.Fatalf("DecodeChat(%q) status = %d, want 400 or 413", body, s)
			}
			return
		}
		if req.Model == "" || len(req.Messages) == 0 {
			t.Fatalf("DecodeChat(%q) accepted a request without model or messages", body)
		}
	})
}

// TestNativeOnlyParts checks that audio and file parts decode for
// pass-through to OpenAI-family providers and are named in NativeOnly, so
// that any other provider refuses them.
func TestNativeOnlyParts(t *testing.T) {
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"listen"},{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}},` +
		`{"type":"file","file":{"file_id":"file-1"}}]}],"logprobs":true}`
	req, err := DecodeChat([]byte(body), Limits{})
	if err != nil {
		t.Fatalf("DecodeChat = %v, want it decoded for pass-through", err)
	}
	if len(req.Messages) != 1 || len(req.Messages[0].Content) != 1 || req.Messages[0].Text() != "listen" {
		t.Errorf("messages = %+v, want the text part only", req.Messages)
	}
	want := []string{"`input_audio` content parts", "`file` content parts", "logprobs"}
	if diff := cmp.Diff(want, req.NativeOnly()); diff != "" {
		t.Errorf("NativeOnly() mismatch (-want +got):\n%s", diff)
	}
	if _, err := DecodeChat([]byte(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"input_audio","input_audio":{}}]}]}`), Limits{}); err == nil {
		t.Error("DecodeChat(audio in an assistant message) = nil error, want invalid_request")
	}
}
