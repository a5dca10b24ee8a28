package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// capitalSchema is a schema Claude's structured output accepts.
const capitalSchema = `{"type":"object","properties":{"city":{"type":"string"},"population":{"type":"integer"}},"required":["city","population"],"additionalProperties":false}`

// TestStructuredOutput checks that response_format json_schema reaches
// Bedrock as outputConfig.textFormat (the schema as JSON text, with its
// name), and that the answer is the JSON as ordinary assistant text,
// streamed or not, with finish reason stop and the usage the fake billed.
func TestStructuredOutput(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	for _, stream := range []bool{false, true} {
		req := &llm.Request{Model: claude, Stream: stream, Messages: []llm.Message{{Role: llm.RoleUser, Content: parts("Capital of France?")}},
			ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "capital", Schema: json.RawMessage(capitalSchema)}}
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
		body := srv.Requests()[srv.Calls()-1].Body
		want := &wire.OutputConfig{TextFormat: &wire.OutputFormat{Type: "json_schema",
			Structure: wire.OutputFormatStructure{JSONSchema: &wire.JSONSchemaDefinition{Schema: capitalSchema, Name: "capital"}}}}
		if b, w := mustJSON(body.OutputConfig), mustJSON(want); b != w {
			t.Errorf("stream %v: outputConfig = %s, want %s", stream, b, w)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestStructuredOutputRefusedUpstream checks that a schema Claude cannot
// enforce comes back as Bedrock's 400 with its message.
func TestStructuredOutputRefusedUpstream(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	req := &llm.Request{Model: claude, Messages: []llm.Message{{Role: llm.RoleUser, Content: parts("x")}},
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object"}`)}}
	_, err := c.Chat(context.Background(), req)
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeUpstreamInvalidRequest || !strings.Contains(e.Message, "additionalProperties") {
		t.Errorf("Chat = %v, want upstream_invalid_request with Bedrock's message", err)
	}
}
