package openai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readFixture returns the recorded response in testdata/name.http.
func readFixture(t *testing.T, name string) (*http.Response, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// sseData returns the data of each event of an SSE body (single-line data
// only, which is what OpenAI sends).
func sseData(body []byte) [][]byte {
	var out [][]byte
	for _, line := range bytes.Split(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\n")) {
		if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			out = append(out, d)
		}
	}
	return out
}

// subset reports the first path at which got has a value that want lacks
// or that differs; "" when got is a subset of want.
func subset(path string, got, want any) string {
	switch g := got.(type) {
	case map[string]any:
		w, ok := want.(map[string]any)
		if !ok {
			return path
		}
		for k, v := range g {
			if p := subset(path+"."+k, v, w[k]); p != "" {
				return p
			}
		}
		return ""
	case []any:
		w, ok := want.([]any)
		if !ok || len(w) != len(g) {
			return path
		}
		for i := range g {
			if p := subset(path+"[]", g[i], w[i]); p != "" {
				return p
			}
		}
		return ""
	default:
		if !cmp.Equal(got, want) {
			return path
		}
		return ""
	}
}

// roundTrip decodes raw into v, re-encodes it and checks that every field
// written is in raw with the same value.
func roundTrip(t *testing.T, name string, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("Unmarshal(%s) = %v", name, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%s) = %v", name, err)
	}
	var a, b any
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	// Nulls in the original are dropped by omitempty; that is faithful.
	if p := subset("", b, a); p != "" {
		t.Errorf("Marshal(Unmarshal(%s)) differs at %s:\n%s", name, p, out)
	}
}

func TestResponseFixtures(t *testing.T) {
	tests := []struct {
		name   string
		usage  Usage
		finish string
		tools  int
	}{
		{"openai-chat-basic", Usage{13, 31, 44, &PromptTokensDetails{}, &CompletionTokensDetails{}}, "stop", 0},
		{"openai-chat-detailed-usage", Usage{12, 100, 112, &PromptTokensDetails{}, &CompletionTokensDetails{ReasoningTokens: 100}}, "length", 0},
		{"openai-chat-tool-call", Usage{}, "tool_calls", 1},
		{"openai-chat-parallel-tool-calls", Usage{162, 219, 381, &PromptTokensDetails{}, &CompletionTokensDetails{ReasoningTokens: 192}}, "tool_calls", 1},
		{"azure-chat-deployment-basic", Usage{8, 271, 279, &PromptTokensDetails{}, &CompletionTokensDetails{ReasoningTokens: 192}}, "stop", 0},
		{"azure-chat-tool-call-gpt5-mini", Usage{}, "tool_calls", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := readFixture(t, tt.name)
			var r ChatResponse
			roundTrip(t, tt.name, body, &r)
			if r.Object != ObjectChatCompletion || len(r.Choices) != 1 || r.Usage == nil {
				t.Fatalf("Unmarshal(%s) = %+v, want one choice with usage", tt.name, r)
			}
			if tt.usage.PromptTokens != 0 {
				if diff := cmp.Diff(tt.usage, *r.Usage); diff != "" {
					t.Errorf("Unmarshal(%s).Usage mismatch (-want +got):\n%s", tt.name, diff)
				}
			}
			c := r.Choices[0]
			if c.FinishReason != tt.finish || len(c.Message.ToolCalls) != tt.tools {
				t.Errorf("Unmarshal(%s) finish %q, %d tool calls; want %q, %d", tt.name, c.FinishReason, len(c.Message.ToolCalls), tt.finish, tt.tools)
			}
			for _, tc := range c.Message.ToolCalls {
				if tc.ID == "" || tc.Type != "function" || !json.Valid([]byte(tc.Function.Arguments)) {
					t.Errorf("Unmarshal(%s) tool call = %+v", tt.name, tc)
				}
			}
			if strings.HasPrefix(tt.name, "azure-chat-deployment") && len(r.PromptFilterResults) == 0 {
				t.Errorf("Unmarshal(%s) lost prompt_filter_results", tt.name)
			}
		})
	}
}

func TestChunkFixtures(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		args       map[int]string
		usage      *Usage
		emptyFirst bool
	}{
		{name: "openai-chat-stream-with-usage", usage: &Usage{12, 100, 112, &PromptTokensDetails{}, &CompletionTokensDetails{ReasoningTokens: 100}}},
		{name: "openai-chat-stream-multi-tool-gpt4o", args: map[int]string{0: `{"a": 2, "b": 3}`, 1: `{"a": 2, "b": 3}`},
			usage: &Usage{106, 50, 156, &PromptTokensDetails{}, &CompletionTokensDetails{}}},
		{name: "azure-chat-stream-tool-call-o4-mini", args: map[int]string{0: `{"location":"Florence, Italy"}`}, emptyFirst: true},
		{name: "openai-chat-stream-no-usage"},
		{name: "openai-chat-stream-langchaingo"},
		{name: "openai-chat-stream-tool-call-usage-gpt5"},
		{name: "openai-chat-stream-text-after-tool-gpt5"},
		{name: "azure-chat-stream-text-gpt5-mini"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := readFixture(t, tt.name)
			data := sseData(body)
			if string(data[len(data)-1]) != "[DONE]" {
				t.Fatalf("%s does not end with [DONE]", tt.name)
			}
			var text strings.Builder
			args := map[int]string{}
			var usage *Usage
			for i, d := range data[:len(data)-1] {
				var c ChatChunk
				roundTrip(t, tt.name, d, &c)
				if i == 0 && tt.emptyFirst && (len(c.Choices) != 0 || len(c.PromptFilterResults) == 0) {
					t.Errorf("%s first chunk = %+v, want no choices and prompt_filter_results", tt.name, c)
				}
				for _, ch := range c.Choices {
					if ch.Delta.Content != nil {
						text.WriteString(*ch.Delta.Content)
					}
					for _, tc := range ch.Delta.ToolCalls {
						args[tc.Index] += tc.Function.Arguments
					}
				}
				if c.Usage != nil {
					if len(c.Choices) != 0 {
						t.Errorf("%s usage chunk has %d choices, want 0", tt.name, len(c.Choices))
					}
					usage = c.Usage
				}
			}
			if tt.args != nil {
				if diff := cmp.Diff(tt.args, args); diff != "" {
					t.Errorf("%s tool arguments mismatch (-want +got):\n%s", tt.name, diff)
				}
			}
			if tt.usage != nil {
				if diff := cmp.Diff(tt.usage, usage); diff != "" {
					t.Errorf("%s usage mismatch (-want +got):\n%s", tt.name, diff)
				}
			}
		})
	}
}

func TestErrorFixtures(t *testing.T) {
	tests := []struct {
		name string
		want ErrorDetail
	}{
		{"openai-error-400-empty-messages", ErrorDetail{"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "invalid_request_error", "messages", "empty_array"}},
		{"openai-error-404-model-not-found", ErrorDetail{"The model `gpt-4.1-nano-wrong` does not exist or you do not have access to it.", "invalid_request_error", "", "model_not_found"}},
		{"openai-error-429-insufficient-quota", ErrorDetail{Type: "insufficient_quota", Code: "insufficient_quota"}},
		{"openai-error-429-rate-limit-tokens", ErrorDetail{Type: "tokens", Code: "rate_limit_exceeded"}},
		{"openai-error-400-unsupported-value", ErrorDetail{Type: "invalid_request_error", Code: "unsupported_value", Param: "messages[0].role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := readFixture(t, tt.name)
			var e ErrorBody
			roundTrip(t, tt.name, body, &e)
			got := e.Error
			if tt.want.Message == "" {
				got.Message = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

// TestRequestFixtures decodes every recorded request strictly (no unknown
// field) and checks that re-encoding gives the same JSON.
func TestRequestFixtures(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.request.json")
	if len(paths) < 10 {
		t.Fatalf("found %d request fixtures, want at least 10", len(paths))
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".request.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var rec struct{ Body json.RawMessage }
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(rec.Body))
			dec.DisallowUnknownFields()
			var req ChatRequest
			if err := dec.Decode(&req); err != nil {
				t.Fatalf("Decode(%s) = %v", name, err)
			}
			out, err := json.Marshal(&req)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			json.Unmarshal(rec.Body, &a)
			json.Unmarshal(out, &b)
			if diff := cmp.Diff(a, b); diff != "" {
				t.Errorf("Marshal(Decode(%s)) mismatch (-want +got):\n%s", name, diff)
			}
		})
	}
}

func TestContent(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Content
	}{
		{"null", `null`, Content{}},
		{"string", `"hi"`, TextContent("hi")},
		{"empty-string", `""`, TextContent("")},
		{"empty-array", `[]`, PartsContent()},
		{"parts", `[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]`,
			PartsContent(ContentPart{Type: PartText, Text: "look"}, ContentPart{Type: PartImageURL, ImageURL: &ImageURL{URL: "data:image/png;base64,AAAA", Detail: "low"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Content
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatalf("Unmarshal(%s) = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.in, diff)
			}
			out, _ := json.Marshal(got)
			if string(out) != tt.in {
				t.Errorf("Marshal(%+v) = %s, want %s", got, out, tt.in)
			}
		})
	}
	for _, bad := range []string{`1`, `{}`, `true`} {
		var c Content
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("Unmarshal(%s) = nil error, want error", bad)
		}
	}
	// Null content is omitted from a message.
	out, _ := json.Marshal(Message{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "c", Type: "function", Function: FunctionCall{Name: "f", Arguments: "{}"}}}})
	if want := `{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}`; string(out) != want {
		t.Errorf("Marshal(assistant tool message) = %s, want %s", out, want)
	}
}

func TestToolChoiceStopNullString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		v    any
		want any
		out  string
	}{
		{"tool-choice-mode", `"required"`, new(ToolChoice), &ToolChoice{Mode: "required"}, `"required"`},
		{"tool-choice-function", `{"type":"function","function":{"name":"get"}}`, new(ToolChoice), &ToolChoice{Function: "get"}, `{"type":"function","function":{"name":"get"}}`},
		{"stop-string", `"END"`, new(Stop), &Stop{"END"}, `["END"]`},
		{"stop-array", `["a","b"]`, new(Stop), &Stop{"a", "b"}, `["a","b"]`},
		{"null-string-null", `null`, new(NullString), new(NullString), `null`},
		{"null-string-number", `429`, new(NullString), ptr(NullString("429")), `"429"`},
		{"null-string-string", `"x"`, new(NullString), ptr(NullString("x")), `"x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tt.in), tt.v); err != nil {
				t.Fatalf("Unmarshal(%s) = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, tt.v); diff != "" {
				t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.in, diff)
			}
			out, err := json.Marshal(tt.v)
			if err != nil || string(out) != tt.out {
				t.Errorf("Marshal(%v) = %s, %v, want %s", tt.v, out, err, tt.out)
			}
		})
	}
	var tc ToolChoice
	if err := json.Unmarshal([]byte(`{"type":"custom"}`), &tc); err == nil {
		t.Errorf("Unmarshal(custom tool_choice) = nil error, want error")
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzContentString: a string content decodes exactly as json.Unmarshal
// decodes it into a string, through the fast path or not.
func FuzzContentString(f *testing.F) {
	for _, s := range []string{`"hi"`, `"a\"b"`, `"\u00e9t\u00e9"`, "\"\xff\"", `"é"`, "\"a\x01\"", `""`, `"`, `"a"b"`, "\"é\\n\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if tb := bytes.TrimSpace(b); len(tb) == 0 || tb[0] != '"' {
			return
		}
		var want string
		wantErr := json.Unmarshal(b, &want)
		var c Content
		err := json.Unmarshal(b, &c)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("Unmarshal(%q): error %v, want %v", b, err, wantErr)
		}
		if err == nil && (c.Kind != ContentString || c.Text != want) {
			t.Fatalf("Unmarshal(%q) = %+v, want text %q", b, c, want)
		}
		// Called directly, without the enclosing decoder's check: as
		// json.Unmarshal of the trimmed value.
		var direct string
		directErr := json.Unmarshal(bytes.TrimSpace(b), &direct)
		var d Content
		if err := d.UnmarshalJSON(b); (err != nil) != (directErr != nil) || err == nil && d.Text != direct {
			t.Fatalf("UnmarshalJSON(%q) = %q, %v; want %q, %v", b, d.Text, err, direct, directErr)
		}
	})
}
