package anthropic

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
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func ptr[T any](v T) *T { return &v }

func text(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

// encodeCases are neutral requests whose Anthropic encodings are kept as
// golden files in testdata/golden/<name>.json. Each is also sent to the
// strict fake, which must accept it.
var encodeCases = []struct {
	name string
	req  llm.Request
}{
	{"basic", llm.Request{Model: "claude-test", MaxTokens: 50, Temperature: ptr(0.0),
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("Hello"), ContentIsString: true}}}},
	{"system-hoisted", llm.Request{Model: "claude-test",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: text("You are terse."), ContentIsString: true},
			{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "Hel"}, {Type: llm.PartText, Text: "lo"}}},
			{Role: llm.RoleDeveloper, Content: []llm.Part{{Type: llm.PartText, Text: "Long shared context.", CacheControl: "ephemeral"}}},
			{Role: llm.RoleUser, Content: text("again"), ContentIsString: true, Name: "alice"},
		}}},
	{"system-string", llm.Request{Model: "claude-test", Stream: true, IncludeUsage: true,
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: text("Be brief."), ContentIsString: true},
			{Role: llm.RoleUser, Content: text("hi"), ContentIsString: true},
		}}},
	{"images", llm.Request{Model: "claude-test",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{
			{Type: llm.PartText, Text: "What is in these images?"},
			{Type: llm.PartImage, ImageURL: "https://example.com/cat.png", ImageDetail: "high"},
			{Type: llm.PartImage, ImageURL: "data:image/jpeg;base64,/9j/4AAQSkZJRg==", CacheControl: "ephemeral"},
		}}}}},
	{"tools-conversation", llm.Request{Model: "claude-test", Stream: true,
		ParallelToolCalls: ptr(false), ToolChoice: &llm.ToolChoice{Mode: "function", Name: "weather"},
		Tools: []llm.Tool{
			{Name: "weather", Description: "Get weather information for a location", Strict: ptr(true),
				Parameters: json.RawMessage(`{"properties":{"location":{"description":"the city","type":"string"}},"required":["location"],"type":"object"}`)},
			{Name: "now"},
		},
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: text("You are a helpful assistant"), ContentIsString: true},
			{Role: llm.RoleUser, Content: text("Weather in Florence and Rome, and the time?"), ContentIsString: true},
			{Role: llm.RoleAssistant, Content: text("Checking."), ContentIsString: true, ToolCalls: []llm.ToolCall{
				{ID: "toolu_1", Name: "weather", Arguments: `{"location":"Florence, Italy"}`},
				{ID: "toolu_2", Name: "weather", Arguments: ` {"location": "Rome"} `},
				{ID: "toolu_3", Name: "now", Arguments: ``},
			}},
			{Role: llm.RoleTool, ToolCallID: "toolu_1", Content: text("40 C"), ContentIsString: true},
			{Role: llm.RoleTool, ToolCallID: "toolu_2", Content: text("station offline"), ContentIsString: true, IsError: true},
			{Role: llm.RoleTool, ToolCallID: "toolu_3", Content: []llm.Part{{Type: llm.PartText, Text: "12:00"}, {Type: llm.PartText, Text: " UTC"}}},
			{Role: llm.RoleUser, Content: text("Thanks, and tomorrow?"), ContentIsString: true},
		}}},
	{"thinking-round-trip", llm.Request{Model: "claude-test", Thinking: &llm.Thinking{Enabled: true, BudgetTokens: 8000},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: text("2+2?"), ContentIsString: true},
			{Role: llm.RoleAssistant, Content: []llm.Part{
				{Type: llm.PartThinking, Text: "Simple arithmetic.", Signature: "EqQBCkYIBxgCKkBSig=="},
				{Type: llm.PartRedactedThinking, Data: "EmwKAhgBEgy3va3pzix/LafPsn4a"},
				{Type: llm.PartText, Text: "4"},
			}},
			{Role: llm.RoleUser, Content: text("times 3?"), ContentIsString: true},
		}}},
	{"sampling-and-choice", llm.Request{Model: "claude-test", MaxTokens: 300, TopP: ptr(0.9), TopK: ptr(40), Temperature: ptr(0.7),
		Stop: []string{"END", "STOP"}, User: "user-7", Metadata: map[string]string{"purpose": "ignored"},
		ResponseFormat: &llm.ResponseFormat{Type: "text"}, N: 1, IncludeUsage: true,
		ToolChoice: &llm.ToolChoice{Mode: "required"}, ParallelToolCalls: ptr(false),
		Tools:    []llm.Tool{{Name: "lookup", Description: "Look up", Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("find a"), ContentIsString: true}}}},
	{"json-schema", llm.Request{Model: "claude-test", Stream: true, ReasoningEffort: "low",
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "capital", Strict: ptr(true), Schema: json.RawMessage(capitalSchema)},
		Messages:       []llm.Message{{Role: llm.RoleUser, Content: text("Capital of France?"), ContentIsString: true}}}},
	{"tool-choice-none-without-tools", llm.Request{Model: "claude-test", ToolChoice: &llm.ToolChoice{Mode: "none"}, ParallelToolCalls: ptr(true),
		Thinking: &llm.Thinking{Enabled: false},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text("hi"), ContentIsString: true}, {Role: llm.RoleAssistant, Content: text(""), ContentIsString: true}}}},
}

// capitalSchema is a schema Claude's JSON outputs accept.
const capitalSchema = `{"type":"object","properties":{"city":{"type":"string"},"population":{"type":"integer"}},"required":["city","population"],"additionalProperties":false}`

func TestEncodeGolden(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			b, err := marshalRequest(&tt.req, "claude", DefaultMaxTokens)
			if err != nil {
				t.Fatal(err)
			}
			// Strictly decodable back into the wire type.
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var w wire.MessagesRequest
			if err := dec.Decode(&w); err != nil {
				t.Fatalf("marshalRequest(%s) is not a valid MessagesRequest: %v", tt.name, err)
			}
			var got bytes.Buffer
			json.Indent(&got, b, "", "  ")
			got.WriteByte('\n')
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("marshalRequest(%s) differs from %s:\n%s", tt.name, path, got.Bytes())
			}
			// The strict fake accepts it.
			req := tt.req
			if _, err := c.Chat(context.Background(), &req); err != nil {
				t.Errorf("fake refused %s: %v", tt.name, err)
			}
		})
	}
}

func TestEncodeUnsupported(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	tests := []struct {
		feature string
		mod     func(*llm.Request)
	}{
		{"n > 1", func(r *llm.Request) { r.N = 2 }},
		{"response_format json_object", func(r *llm.Request) { r.ResponseFormat = &llm.ResponseFormat{Type: "json_object"} }},
		{"seed", func(r *llm.Request) { r.Seed = ptr(int64(1)) }},
	}
	for _, tt := range tests {
		t.Run(strings.NewReplacer(" ", "-", ">", "gt").Replace(tt.feature), func(t *testing.T) {
			req := userReq("claude-test", "x")
			tt.mod(req)
			_, err := c.Chat(context.Background(), req)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != llm.CodeFeatureNotSupported || e.Status() != 400 ||
				!strings.HasPrefix(e.Message, tt.feature) || !strings.Contains(e.Message, "`claude` (type anthropic)") {
				t.Errorf("Chat(%s) = %v, want feature_not_supported naming it", tt.feature, err)
			}
			if _, err := c.CountTokens(context.Background(), req); !errors.As(err, &e) || e.Code != llm.CodeFeatureNotSupported {
				t.Errorf("CountTokens(%s) = %v, want feature_not_supported", tt.feature, err)
			}
		})
	}
	if srv.Calls() != 0 {
		t.Errorf("unsupported requests reached the provider %d times", srv.Calls())
	}
}

func TestEncodeInvalid(t *testing.T) {
	user := llm.Message{Role: llm.RoleUser, Content: text("hi"), ContentIsString: true}
	tests := []struct {
		name  string
		msgs  []llm.Message
		param string
		msg   string
	}{
		{"bad-arguments", []llm.Message{user, {Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t", Name: "f", Arguments: `{"a":`}}}},
			"messages[1]", "tool_calls[0] (f): function.arguments must be a JSON object"},
		{"array-arguments", []llm.Message{user, {Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t", Name: "f", Arguments: `[1]`}}}},
			"messages[1]", "must be a JSON object"},
		{"tool-without-id", []llm.Message{user, {Role: llm.RoleTool, Content: text("r")}}, "messages[1]", "tool_call_id"},
		{"image-in-system", []llm.Message{{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "https://x/y.png"}}}},
			"messages[0]", "only text"},
		{"thinking-in-user", []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartThinking, Text: "x"}}}},
			"messages[0]", "not allowed"},
		{"unknown-role", []llm.Message{{Role: "function", Content: text("x")}}, "messages[0].role", "cannot be sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := marshalRequest(&llm.Request{Model: "m", Messages: tt.msgs}, "claude", 100)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != llm.CodeInvalidRequest || e.Param != tt.param || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("marshalRequest(%s) = %v (param %q), want invalid_request on %s containing %q", tt.name, err, e.Param, tt.param, tt.msg)
			}
		})
	}
}

func TestEncodeMaxTokensWithThinking(t *testing.T) {
	tests := []struct {
		max, budget, want int
	}{
		{0, 0, 4096},       // thinking with no budget: the minimum, 1024
		{0, 2000, 4096},    // default above the budget
		{0, 5000, 9096},    // default raised above the budget
		{6000, 5000, 6000}, // the client's value is kept
	}
	for _, tt := range tests {
		w, err := toWire(&llm.Request{Model: "m", MaxTokens: tt.max, Thinking: &llm.Thinking{Enabled: true, BudgetTokens: tt.budget},
			Messages: []llm.Message{{Role: llm.RoleUser, Content: text("x")}}}, "claude", 4096)
		if err != nil {
			t.Fatal(err)
		}
		if w.MaxTokens != tt.want || w.Thinking.BudgetTokens < 1024 {
			t.Errorf("toWire(max %d, budget %d) = max_tokens %d, budget %d; want max_tokens %d", tt.max, tt.budget, w.MaxTokens, w.Thinking.BudgetTokens, tt.want)
		}
	}
}

// TestEncodeReasoningEffort checks that an OpenAI reasoning_effort becomes
// extended thinking with the shared budgets, that max_tokens is raised
// only when the client set none, and that what Claude refuses while
// thinking is refused before any call. Requests that encode are sent to
// the strict fake, which must accept them.
func TestEncodeReasoningEffort(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	tools := []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}}
	tests := []struct {
		name     string
		mod      func(*llm.Request)
		thinking string // the thinking object sent; "" for none
		max      int
		code     llm.Code
		param    string
		msg      string
	}{
		{"none", func(r *llm.Request) { r.ReasoningEffort = "none" }, `{"type":"disabled"}`, 4096, "", "", ""},
		{"minimal", func(r *llm.Request) { r.ReasoningEffort = "minimal"; r.Temperature = ptr(0.2) }, `{"type":"disabled"}`, 4096, "", "", ""},
		{"low", func(r *llm.Request) { r.ReasoningEffort = "low" }, `{"type":"enabled","budget_tokens":1024}`, 4096, "", "", ""},
		{"medium", func(r *llm.Request) { r.ReasoningEffort = "medium" }, `{"type":"enabled","budget_tokens":8192}`, 8192 + 4096, "", "", ""},
		{"high", func(r *llm.Request) { r.ReasoningEffort = "high"; r.Stream = true }, `{"type":"enabled","budget_tokens":24576}`, 24576 + 4096, "", "", ""},
		{"high-client-max", func(r *llm.Request) { r.ReasoningEffort = "high"; r.MaxTokens = 30000 }, `{"type":"enabled","budget_tokens":24576}`, 30000, "", "", ""},
		{"allowed-sampling", func(r *llm.Request) {
			r.ReasoningEffort = "low"
			r.Temperature, r.TopP = ptr(1.0), ptr(0.95)
			r.Tools, r.ToolChoice = tools, &llm.ToolChoice{Mode: "auto"}
		}, `{"type":"enabled","budget_tokens":1024}`, 4096, "", "", ""},
		{"explicit-thinking-wins", func(r *llm.Request) {
			r.ReasoningEffort = "high"
			r.Thinking = &llm.Thinking{Enabled: true, BudgetTokens: 2000}
		}, `{"type":"enabled","budget_tokens":2000}`, 4096, "", "", ""},
		{"max-below-budget", func(r *llm.Request) { r.ReasoningEffort = "medium"; r.MaxTokens = 8192 },
			"", 0, llm.CodeInvalidRequest, "max_completion_tokens", "raise max_completion_tokens above 8192"},
		{"temperature", func(r *llm.Request) { r.ReasoningEffort = "low"; r.Temperature = ptr(0.7) },
			"", 0, llm.CodeFeatureNotSupported, "", "`temperature` other than 1 together with `reasoning_effort` low"},
		{"top-p", func(r *llm.Request) { r.ReasoningEffort = "low"; r.TopP = ptr(0.5) },
			"", 0, llm.CodeFeatureNotSupported, "", "`top_p` below 0.95"},
		{"forced-tool", func(r *llm.Request) {
			r.ReasoningEffort = "high"
			r.Tools, r.ToolChoice = tools, &llm.ToolChoice{Mode: "required"}
		}, "", 0, llm.CodeFeatureNotSupported, "", "forces a tool call"},
		{"unknown", func(r *llm.Request) { r.ReasoningEffort = "max" }, "", 0, llm.CodeInvalidRequest, "reasoning_effort", `"max" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := userReq("claude-test", "x")
			tt.mod(req)
			calls := srv.Calls()
			w, err := toWire(req, "claude", DefaultMaxTokens)
			if tt.code != "" {
				var e *llm.Error
				if !errors.As(err, &e) || e.Code != tt.code || e.Param != tt.param || !strings.Contains(e.Message, tt.msg) {
					t.Fatalf("toWire(%s) = %v, want %s (param %q) containing %q", tt.name, err, tt.code, tt.param, tt.msg)
				}
				if _, err := c.Chat(context.Background(), req); !errors.As(err, &e) || e.Code != tt.code {
					t.Errorf("Chat(%s) = %v, want %s", tt.name, err, tt.code)
				}
				if srv.Calls() != calls {
					t.Errorf("Chat(%s) reached the provider", tt.name)
				}
				return
			}
			if err != nil {
				t.Fatalf("toWire(%s) = %v", tt.name, err)
			}
			got, _ := json.Marshal(w.Thinking)
			if string(got) != tt.thinking || w.MaxTokens != tt.max {
				t.Errorf("toWire(%s) = thinking %s, max_tokens %d; want %s, %d", tt.name, got, w.MaxTokens, tt.thinking, tt.max)
			}
			reply, err := c.Chat(context.Background(), req)
			if err != nil {
				t.Fatalf("the strict fake refused %s: %v", tt.name, err)
			}
			if reply.Stream != nil {
				reply.Stream.Close()
			}
		})
	}
}

func TestEncodeSystem(t *testing.T) {
	sys := func(p llm.Part, plain bool) llm.Message {
		return llm.Message{Role: llm.RoleSystem, Content: []llm.Part{p}, ContentIsString: plain}
	}
	user := llm.Message{Role: llm.RoleUser, Content: text("hi"), ContentIsString: true}
	tests := []struct {
		name string
		msgs []llm.Message
		want string
	}{
		{"none", []llm.Message{user}, ``},
		{"one-plain", []llm.Message{sys(llm.Part{Type: llm.PartText, Text: "a"}, true), user}, `"a"`},
		{"one-parts", []llm.Message{sys(llm.Part{Type: llm.PartText, Text: "a"}, false), user}, `[{"type":"text","text":"a"}]`},
		{"one-cached", []llm.Message{sys(llm.Part{Type: llm.PartText, Text: "a", CacheControl: "ephemeral"}, true), user},
			`[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]`},
		{"empty-plain-and-cached", []llm.Message{sys(llm.Part{Type: llm.PartText}, true), user,
			sys(llm.Part{Type: llm.PartText, Text: "b", CacheControl: "ephemeral"}, false)},
			`[{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]`},
		{"two-plain", []llm.Message{sys(llm.Part{Type: llm.PartText, Text: "a"}, true), sys(llm.Part{Type: llm.PartText, Text: "b"}, true), user},
			`[{"type":"text","text":"a"},{"type":"text","text":"b"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := toWire(&llm.Request{Model: "m", Messages: tt.msgs}, "claude", 10)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if !w.System.IsZero() {
				b, _ := json.Marshal(w.System)
				got = string(b)
			}
			if got != tt.want {
				t.Errorf("system = %s, want %s", got, tt.want)
			}
		})
	}
}
