package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
)

// TestStructuredOutput checks that response_format json_schema reaches
// Claude as JSON outputs (output_config.format with the schema), and that
// the answer is the JSON as ordinary assistant text, streamed or not, with
// finish reason stop and the usage the fake billed.
func TestStructuredOutput(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, stream := range []bool{false, true} {
		req := userReq("claude-test", "Capital of France?")
		req.Stream = stream
		req.ResponseFormat = &llm.ResponseFormat{Type: "json_schema", Name: "capital", Schema: json.RawMessage(capitalSchema)}
		reply, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatalf("stream %v: %v", stream, err)
		}
		var text string
		var finish llm.FinishReason
		var usage llm.Usage
		var calls int
		if stream {
			col, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			text, finish, usage, calls = col.Text, col.Finish, *col.Usage, len(col.Calls)
		} else {
			ch := reply.Response.Choices[0]
			text, finish, usage, calls = ch.Message.Text(), ch.FinishReason, reply.Response.Usage, len(ch.Message.ToolCalls)
		}
		var got struct {
			City       string `json:"city"`
			Population *int   `json:"population"`
		}
		if err := json.Unmarshal([]byte(text), &got); err != nil || got.City != "echo: Capital of France?" || got.Population == nil {
			t.Errorf("stream %v: answer text = %q, want the JSON of the schema", stream, text)
		}
		if finish != llm.FinishStop || calls != 0 {
			t.Errorf("stream %v: finish %q with %d tool calls, want stop and none", stream, finish, calls)
		}
		if billed, _ := srv.Usage(); usage != billed {
			t.Errorf("stream %v: usage %+v, want what the fake billed %+v", stream, usage, billed)
		}
		sent := srv.Requests()[srv.Calls()-1].Fields["output_config"]
		if want := `{"format":{"type":"json_schema","schema":` + capitalSchema + `}}`; string(sent) != want {
			t.Errorf("stream %v: output_config = %s, want %s", stream, sent, want)
		}
	}
}

// TestStructuredOutputRefused checks what is not sent: JSON mode without a
// schema (feature_not_supported, before any call), a schema that is not an
// object (invalid_request), and a schema Claude cannot enforce, refused by
// the API with its message.
func TestStructuredOutputRefused(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	tests := []struct {
		name  string
		rf    llm.ResponseFormat
		code  llm.Code
		msg   string
		calls int
	}{
		{"json-object", llm.ResponseFormat{Type: "json_object"}, llm.CodeFeatureNotSupported, "response_format json_object (Claude's JSON outputs need a schema", 0},
		{"schema-not-object", llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`[1]`)}, llm.CodeInvalidRequest, "needs a schema that is a JSON object", 0},
		{"no-schema", llm.ResponseFormat{Type: "json_schema"}, llm.CodeInvalidRequest, "needs a schema", 0},
		{"open-object", llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)},
			llm.CodeUpstreamInvalidRequest, "'additionalProperties' must be explicitly set to false", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Calls()
			req := userReq("claude-test", "x")
			req.ResponseFormat = &tt.rf
			_, err := c.Chat(context.Background(), req)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Chat = %v, want %s containing %q", err, tt.code, tt.msg)
			}
			if n := srv.Calls() - before; n != tt.calls {
				t.Errorf("the provider was called %d times, want %d", n, tt.calls)
			}
		})
	}
}
