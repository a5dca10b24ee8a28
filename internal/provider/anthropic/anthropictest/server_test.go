package anthropictest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/google/go-cmp/cmp"
)

// sdk returns the official Go SDK pointed at s: the fake must satisfy the
// real client as the real API does.
func sdk(s *Server) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(s.URL()), option.WithAPIKey(Key), option.WithMaxRetries(0))
}

func TestSDKEcho(t *testing.T) {
	s := NewServer(t, WithUsageDetails(7, 3))
	c := sdk(s)
	msg, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-test", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "echo: hello there" || msg.StopReason != "end_turn" {
		t.Errorf("SDK New = %+v", msg)
	}
	if u := msg.Usage; u.InputTokens != 3 || u.OutputTokens != 3 || u.CacheReadInputTokens != 7 || u.CacheCreationInputTokens != 3 {
		t.Errorf("SDK usage = %+v", u)
	}
	if got, ok := s.Usage(); !ok || got != (llm.Usage{InputTokens: 13, OutputTokens: 3, CacheReadTokens: 7, CacheWriteTokens: 3}) {
		t.Errorf("Usage() = %+v, %v", got, ok)
	}
}

// TestSDKStream accumulates the echo stream with the SDK's own helper, for
// text, a tool call and thinking.
func TestSDKStream(t *testing.T) {
	s := NewServer(t)
	c := sdk(s)
	tool := anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{Properties: map[string]any{}}, "lookup")
	tests := []struct {
		name   string
		params anthropic.MessageNewParams
		want   []string // block types
		stop   anthropic.StopReason
	}{
		{"text", anthropic.MessageNewParams{}, []string{"text"}, "end_turn"},
		{"tool", anthropic.MessageNewParams{Tools: []anthropic.ToolUnionParam{tool}}, []string{"tool_use"}, "tool_use"},
		{"thinking", anthropic.MessageNewParams{Thinking: anthropic.ThinkingConfigParamOfEnabled(1024)}, []string{"thinking", "text"}, "end_turn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params
			p.Model, p.MaxTokens = "claude-test", 2000
			p.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("one two"))}
			st := c.Messages.NewStreaming(context.Background(), p)
			var msg anthropic.Message
			for st.Next() {
				if err := msg.Accumulate(st.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, b := range msg.Content {
				types = append(types, b.Type)
				switch b.Type {
				case "text":
					if b.Text != "echo: one two" {
						t.Errorf("text = %q", b.Text)
					}
				case "tool_use":
					if b.Name != "lookup" || string(b.Input) != "{}" {
						t.Errorf("tool_use = %s %s", b.Name, b.Input)
					}
				case "thinking":
					if b.Thinking != "The user said: one two" || b.Signature == "" {
						t.Errorf("thinking = %q, signature %q", b.Thinking, b.Signature)
					}
				}
			}
			if diff := cmp.Diff(tt.want, types); diff != "" || msg.StopReason != tt.stop || msg.Usage.OutputTokens == 0 || msg.Usage.InputTokens != 2 {
				t.Errorf("stream blocks mismatch, stop %q, usage %+v (-want +got):\n%s", msg.StopReason, msg.Usage, diff)
			}
		})
	}
}

func TestSDKErrors(t *testing.T) {
	s := NewServer(t)
	c := sdk(s)
	for _, tt := range []struct {
		model  string
		status int
		typ    string
	}{{"error:529", 529, "overloaded_error"}, {"error:429", 429, "rate_limit_error"}, {"error:404", 404, "not_found_error"}} {
		_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: anthropic.Model(tt.model), MaxTokens: 5,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
		var e *anthropic.Error
		if !errors.As(err, &e) || e.StatusCode != tt.status || !strings.Contains(e.RawJSON(), tt.typ) {
			t.Errorf("SDK New(%s) = %v, want HTTP %d %s", tt.model, err, tt.status, tt.typ)
		}
	}
	n, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{Model: "claude-test",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("0123456789ab"))}})
	if err != nil || n.InputTokens != 4 {
		t.Errorf("SDK CountTokens = %+v, %v; want 4", n, err)
	}
}

// post sends body with the given headers (Key and version by default).
func post(t *testing.T, s *Server, path, body string, h map[string]string) (int, wire.ErrorBody) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	req.Header.Set("X-Api-Key", Key)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb wire.ErrorBody
	json.Unmarshal(b, &eb)
	return resp.StatusCode, eb
}

func TestValidation(t *testing.T) {
	s := NewServer(t)
	const user = `{"role":"user","content":"hi"}`
	tests := []struct {
		name   string
		path   string
		body   string
		h      map[string]string
		status int
		msg    string
	}{
		{"no-key", "", `{}`, map[string]string{"X-Api-Key": ""}, 401, "x-api-key header is required"},
		{"wrong-key", "", `{}`, map[string]string{"X-Api-Key": "sk-ant-nope"}, 401, "invalid x-api-key"},
		{"no-version", "", `{}`, map[string]string{"Anthropic-Version": ""}, 400, "anthropic-version: header is required"},
		{"bad-version", "", `{}`, map[string]string{"Anthropic-Version": "2099-01-01"}, 400, "invalid version"},
		{"bad-json", "", `{`, nil, 400, "error parsing the body"},
		{"extra-field", "", `{"model":"m","max_tokens":5,"messages":[` + user + `],"n":2}`, nil, 400, "n: Extra inputs are not permitted"},
		{"no-max-tokens", "", `{"model":"m","messages":[` + user + `]}`, nil, 400, "max_tokens: Field required"},
		{"no-messages", "", `{"model":"m","max_tokens":5,"messages":[]}`, nil, 400, "at least one message"},
		{"assistant-first", "", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":"x"}]}`, nil, 400, `first message must use the "user" role`},
		{"not-alternating", "", `{"model":"m","max_tokens":5,"messages":[` + user + `,` + user + `]}`, nil, 400, "roles must alternate"},
		{"system-role", "", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, nil, 400, "Input should be 'user' or 'assistant'"},
		{"orphan-tool-result", "", `{"model":"m","max_tokens":5,"messages":[` + user + `,{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"b","content":"r"}]}]}`, nil, 400, "unexpected `tool_use_id`"},
		{"empty-text-block", "", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, nil, 400, "text content blocks must be non-empty"},
		{"thinking-over-max", "", `{"model":"m","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` + user + `]}`, nil, 400, "`max_tokens` must be greater"},
		{"thinking-temperature", "", `{"model":"m","max_tokens":2048,"temperature":0.5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` + user + `]}`, nil, 400, "`temperature` may only be set to 1"},
		{"thinking-top-p", "", `{"model":"m","max_tokens":2048,"top_p":0.9,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` + user + `]}`, nil, 400, "`top_p` must be greater than or equal to 0.95"},
		{"thinking-top-k", "", `{"model":"m","max_tokens":2048,"top_k":5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` + user + `]}`, nil, 400, "`top_k` must be unset"},
		{"thinking-forced-tool", "", `{"model":"m","max_tokens":2048,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` + user + `]}`, nil, 400, "tool_choice forces tool use"},
		{"ok-thinking-sampling", "", `{"model":"m","max_tokens":2048,"temperature":1,"top_p":0.95,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"},"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` + user + `]}`, nil, 200, ""},
		{"ok-disabled-thinking-sampling", "", `{"model":"m","max_tokens":20,"temperature":0.2,"top_k":3,"thinking":{"type":"disabled"},"messages":[` + user + `]}`, nil, 200, ""},
		{"output-format-open-object", "", `{"model":"m","max_tokens":20,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"object","additionalProperties":false}}}}},"messages":[` + user + `]}`, nil, 400, "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false"},
		{"output-format-nested-open", "", `{"model":"m","max_tokens":20,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","additionalProperties":false,"properties":{"a":{"type":"object"}}}}},"messages":[` + user + `]}`, nil, 400, "schema.properties.a: For 'object' type"},
		{"output-format-type", "", `{"model":"m","max_tokens":20,"output_config":{"format":{"type":"json_object"}},"messages":[` + user + `]}`, nil, 400, "output_config.format.type"},
		{"ok-output-format", "", `{"model":"m","max_tokens":20,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}}},"messages":[` + user + `]}`, nil, 200, ""},
		{"count-max-tokens", "/count_tokens", `{"model":"m","max_tokens":5,"messages":[` + user + `]}`, nil, 400, "max_tokens: Extra inputs are not permitted"},
		{"wrong-path", "/batches", `{}`, nil, 404, "Not Found"},
		{"ok", "", `{"model":"m","max_tokens":5,"messages":[` + user + `]}`, nil, 200, ""},
		{"ok-tool-result", "", `{"model":"m","max_tokens":5,"messages":[` + user + `,{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r","is_error":true}]}]}`, nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, eb := post(t, s, "/v1/messages"+tt.path, tt.body, tt.h)
			if status != tt.status || !strings.Contains(eb.Error.Message, tt.msg) {
				t.Errorf("POST %s = %d %+v, want %d with %q", tt.body, status, eb, tt.status, tt.msg)
			}
			if status >= 400 && (eb.Type != "error" || !strings.HasPrefix(eb.RequestID, "req_anthropictest_")) {
				t.Errorf("error body = %+v, want type error and a request_id", eb)
			}
		})
	}
}

func TestFixtureReplay(t *testing.T) {
	s := NewServer(t)
	for _, name := range FixtureNames() {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v1/messages",
				strings.NewReader(`{"model":"fixture:`+name+`","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`))
			req.Header.Set("X-Api-Key", Key)
			req.Header.Set("Anthropic-Version", "2023-06-01")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			status, h, want, _ := LoadFixture(name)
			if resp.StatusCode != status || !bytes.Equal(got, want) || resp.Header.Get("Content-Type") != h.Get("Content-Type") {
				t.Errorf("fixture %s replayed as %d (%d bytes), want %d (%d bytes) byte for byte", name, resp.StatusCode, len(got), status, len(want))
			}
		})
	}
}
