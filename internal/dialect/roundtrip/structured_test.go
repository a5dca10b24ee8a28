package roundtrip

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	oai "github.com/airgw/airgw/internal/dialect/openai"
	"github.com/airgw/airgw/internal/llm"
	anthprov "github.com/airgw/airgw/internal/provider/anthropic"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	bedrockprov "github.com/airgw/airgw/internal/provider/bedrock"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
)

// TestStructuredOutputOpenAIClient sends an OpenAI client's request with
// response_format json_schema to Claude (anthropic, and bedrock) through
// the strict fakes, and checks what the client reads, streamed or not:
// the JSON as the message's content, finish_reason stop, no tool call.
func TestStructuredOutputOpenAIClient(t *testing.T) {
	an := anthropictest.NewServer(t)
	br := bedrocktest.NewServer(t)
	a, err := anthprov.New(anthprov.Config{Name: "claude", BaseURL: an.URL(), APIKey: anthropictest.Key})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bedrockprov.New(context.Background(), bedrockprov.Config{Name: "br", Region: bedrocktest.Region, BaseURL: br.URL(), Credentials: bedrocktest.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	providers := []struct {
		name, model string
		p           llm.Provider
	}{{"anthropic", "claude-sonnet-4-5", a}, {"bedrock", "us.anthropic.claude-sonnet-4-5-v1:0", b}}
	const schema = `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`
	for _, pv := range providers {
		for _, stream := range []bool{false, true} {
			t.Run(pv.name+map[bool]string{false: "", true: "_stream"}[stream], func(t *testing.T) {
				body := `{"model":"x","stream":` + map[bool]string{false: "false", true: "true"}[stream] +
					`,"messages":[{"role":"user","content":"Capital of France?"}],"response_format":{"type":"json_schema","json_schema":{"name":"capital","strict":true,"schema":` + schema + `}}}`
				req, err := oai.DecodeChat([]byte(body), oai.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				req.Model = pv.model
				reply, err := pv.p.Chat(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				rec := httptest.NewRecorder()
				w := oai.NewWriter(rec, "req_1")
				if !stream {
					if err := w.WriteResponse(reply.Response); err != nil {
						t.Fatal(err)
					}
				} else {
					for {
						ev, err := reply.Stream.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
						if err := w.WriteEvent(&ev); err != nil {
							t.Fatal(err)
						}
					}
					reply.Stream.Close()
					if err := w.EndStream(nil); err != nil {
						t.Fatal(err)
					}
				}
				content, finish, tools := readOpenAI(t, rec.Body.Bytes(), stream)
				var got struct{ City string }
				if err := json.Unmarshal([]byte(content), &got); err != nil || got.City != "echo: Capital of France?" {
					t.Errorf("content = %q, want the JSON of the schema", content)
				}
				if finish != "stop" || tools {
					t.Errorf("finish_reason %q, tool calls %v; want stop and none", finish, tools)
				}
			})
		}
	}
}

// openaiMessage is a chat.completion message or a chunk's delta.
type openaiMessage struct {
	Content   string `json:"content"`
	ToolCalls []any  `json:"tool_calls"`
}

// readOpenAI returns the first choice's content, finish reason and whether
// it holds tool calls, from a chat.completion or its chunks.
func readOpenAI(t *testing.T, out []byte, stream bool) (content, finish string, tools bool) {
	t.Helper()
	bodies := []string{string(out)}
	if stream {
		bodies = nil
		for _, d := range dataLines(out) {
			if d != "[DONE]" {
				bodies = append(bodies, d)
			}
		}
	}
	for _, b := range bodies {
		var c struct {
			Choices []struct {
				Message      *openaiMessage `json:"message"`
				Delta        *openaiMessage `json:"delta"`
				FinishReason *string        `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(b), &c); err != nil {
			t.Fatalf("client reads %s: %v", b, err)
		}
		for _, ch := range c.Choices {
			for _, m := range []*openaiMessage{ch.Message, ch.Delta} {
				if m != nil {
					content += m.Content
					tools = tools || len(m.ToolCalls) > 0
				}
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				finish = *ch.FinishReason
			}
		}
	}
	if strings.TrimSpace(content) == "" {
		t.Fatalf("no content in %s", out)
	}
	return content, finish, tools
}
