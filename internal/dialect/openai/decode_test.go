package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

// Malformed is the corpus of malformed Chat Completions bodies: each must be
// refused with the given code and param. The end-to-end tests send every
// one through the gateway and check that no provider is called.
var Malformed = []struct {
	Name  string
	Body  string
	Code  llm.Code
	Param string
}{
	{"empty", ``, llm.CodeInvalidRequest, ""},
	{"not_json", `hello`, llm.CodeInvalidRequest, ""},
	{"array_body", `[1,2]`, llm.CodeInvalidRequest, ""},
	{"truncated", `{"model":"m","messages":[`, llm.CodeInvalidRequest, ""},
	{"trailing_garbage", `{"model":"m","messages":[{"role":"user","content":"hi"}]} x`, llm.CodeInvalidRequest, ""},
	{"missing_model", `{"messages":[{"role":"user","content":"hi"}]}`, llm.CodeInvalidRequest, "model"},
	{"model_number", `{"model":4,"messages":[{"role":"user","content":"hi"}]}`, llm.CodeInvalidRequest, "model"},
	{"model_empty", `{"model":"","messages":[{"role":"user","content":"hi"}]}`, llm.CodeInvalidRequest, "model"},
	{"missing_messages", `{"model":"m"}`, llm.CodeInvalidRequest, "messages"},
	{"messages_object", `{"model":"m","messages":{"role":"user"}}`, llm.CodeInvalidRequest, "messages"},
	{"messages_empty", `{"model":"m","messages":[]}`, llm.CodeInvalidRequest, "messages"},
	{"message_string", `{"model":"m","messages":["hi"]}`, llm.CodeInvalidRequest, "messages[0]"},
	{"role_missing", `{"model":"m","messages":[{"content":"hi"}]}`, llm.CodeInvalidRequest, "messages[0].role"},
	{"role_unknown", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, llm.CodeInvalidRequest, "messages[0].role"},
	{"role_function", `{"model":"m","messages":[{"role":"function","content":"hi","name":"f"}]}`, llm.CodeInvalidRequest, "messages[0].role"},
	{"content_missing", `{"model":"m","messages":[{"role":"user"}]}`, llm.CodeInvalidRequest, "messages[0].content"},
	{"content_number", `{"model":"m","messages":[{"role":"user","content":5}]}`, llm.CodeInvalidRequest, "messages[0].content"},
	{"part_type_unknown", `{"model":"m","messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}`, llm.CodeInvalidRequest, "messages[0].content[0].type"},
	{"part_text_missing", `{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, llm.CodeInvalidRequest, "messages[0].content[0].text"},
	{"image_url_missing", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, llm.CodeInvalidRequest, "messages[0].content[0].image_url"},
	{"image_url_bad_scheme", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}`, llm.CodeInvalidRequest, "messages[0].content[0].image_url.url"},
	{"image_detail_bad", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"ultra"}}]}]}`, llm.CodeInvalidRequest, "messages[0].content[0].image_url.detail"},
	{"image_in_system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, llm.CodeInvalidRequest, "messages[0].content[0].type"},
	{"audio_part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, llm.CodeFeatureNotSupported, "messages[0].content[0].type"},
	{"tool_msg_no_id", `{"model":"m","messages":[{"role":"tool","content":"42"}]}`, llm.CodeInvalidRequest, "messages[0].tool_call_id"},
	{"tool_calls_on_user", `{"model":"m","messages":[{"role":"user","content":"hi","tool_calls":[]}]}`, llm.CodeInvalidRequest, "messages[0].tool_calls"},
	{"tool_call_no_function", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"function"}]}]}`, llm.CodeInvalidRequest, "messages[0].tool_calls[0].function"},
	{"tool_call_args_object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{}}}]}]}`, llm.CodeInvalidRequest, "messages[0].tool_calls[0].function.arguments"},
	{"assistant_no_content", `{"model":"m","messages":[{"role":"assistant"}]}`, llm.CodeInvalidRequest, "messages[0].content"},
	{"tools_object", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":{}}`, llm.CodeInvalidRequest, "tools"},
	{"tool_type_bad", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"retrieval"}]}`, llm.CodeInvalidRequest, "tools[0].type"},
	{"tool_name_missing", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{}}]}`, llm.CodeInvalidRequest, "tools[0].function.name"},
	{"tool_name_bad", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"get weather"}}]}`, llm.CodeInvalidRequest, "tools[0].function.name"},
	{"tool_name_dup", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]}`, llm.CodeInvalidRequest, "tools[1].function.name"},
	{"tool_params_array", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`, llm.CodeInvalidRequest, "tools[0].function.parameters"},
	{"tool_choice_bad_string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"always"}`, llm.CodeInvalidRequest, "tool_choice"},
	{"tool_choice_required_no_tools", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`, llm.CodeInvalidRequest, "tool_choice"},
	{"tool_choice_unknown_fn", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, llm.CodeInvalidRequest, "tool_choice.function.name"},
	{"max_tokens_zero", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, llm.CodeInvalidRequest, "max_tokens"},
	{"max_tokens_negative", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":-5}`, llm.CodeInvalidRequest, "max_tokens"},
	{"max_tokens_fraction", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":1.5}`, llm.CodeInvalidRequest, "max_tokens"},
	{"max_tokens_string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":"100"}`, llm.CodeInvalidRequest, "max_tokens"},
	{"max_completion_tokens_huge", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":1e30}`, llm.CodeInvalidRequest, "max_completion_tokens"},
	{"temperature_high", `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":3}`, llm.CodeInvalidRequest, "temperature"},
	{"temperature_string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`, llm.CodeInvalidRequest, "temperature"},
	{"top_p_negative", `{"model":"m","messages":[{"role":"user","content":"hi"}],"top_p":-0.1}`, llm.CodeInvalidRequest, "top_p"},
	{"presence_penalty_range", `{"model":"m","messages":[{"role":"user","content":"hi"}],"presence_penalty":9}`, llm.CodeInvalidRequest, "presence_penalty"},
	{"n_zero", `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":0}`, llm.CodeInvalidRequest, "n"},
	{"n_huge", `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":1000}`, llm.CodeInvalidRequest, "n"},
	{"stop_too_many", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}`, llm.CodeInvalidRequest, "stop"},
	{"stop_number", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":7}`, llm.CodeInvalidRequest, "stop"},
	{"stop_item_number", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["a",7]}`, llm.CodeInvalidRequest, "stop[1]"},
	{"stream_string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":"yes"}`, llm.CodeInvalidRequest, "stream"},
	{"stream_options_without_stream", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`, llm.CodeInvalidRequest, "stream_options"},
	{"include_usage_string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":"yes"}}`, llm.CodeInvalidRequest, "stream_options.include_usage"},
	{"response_format_bad_type", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"xml"}}`, llm.CodeInvalidRequest, "response_format.type"},
	{"json_schema_no_name", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`, llm.CodeInvalidRequest, "response_format.json_schema.name"},
	{"json_schema_missing", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema"}}`, llm.CodeInvalidRequest, "response_format.json_schema"},
	{"user_number", `{"model":"m","messages":[{"role":"user","content":"hi"}],"user":12}`, llm.CodeInvalidRequest, "user"},
	{"metadata_number_value", `{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"purpose":3}}`, llm.CodeInvalidRequest, "metadata.purpose"},
	{"metadata_array", `{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":["a"]}`, llm.CodeInvalidRequest, "metadata"},
	{"seed_fraction", `{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":1.25}`, llm.CodeInvalidRequest, "seed"},
	{"functions_deprecated", `{"model":"m","messages":[{"role":"user","content":"hi"}],"functions":[{"name":"f"}]}`, llm.CodeInvalidRequest, "functions"},
	{"parallel_tool_calls_string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"parallel_tool_calls":"true"}`, llm.CodeInvalidRequest, "parallel_tool_calls"},
}

func TestDecodeChatMalformed(t *testing.T) {
	for _, tt := range Malformed {
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
			name: "unknown_fields_pass_through",
			body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":2,"prediction":{"type":"content","content":"x"}}`,
			want: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}},
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
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeChat(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func FuzzDecodeChat(f *testing.F) {
	for _, tt := range Malformed {
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
