package app

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// onePixelPNG is a 1×1 PNG, base64.
const onePixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

// matrixCase is one cell of the matrix: a client SDK doing one thing.
type matrixCase struct {
	name string
	// run sends the requests through airgw and calls expect with each
	// response, in order.
	run func(t *testing.T, alias string, expect func(*http.Response))
}

// TestDialectProviderMatrix drives every provider type behind airgw with
// both official SDKs (OpenAI chat completions and Anthropic messages):
// plain answers, streams, tools (called, streamed, and their results sent
// back) and images. It checks each answer in the client's own response
// shape, and an audit record at the exact cost of the usage each fake
// reported.
func TestDialectProviderMatrix(t *testing.T) {
	m := startMatrix(t)
	want := map[string]matrixRecord{}
	cases := append(openaiCases(m), anthropicCases(m)...)
	for _, up := range m.ups {
		t.Run(up.typ, func(t *testing.T) {
			expect := func(resp *http.Response) {
				t.Helper()
				u, ok := up.usage()
				if resp == nil || !ok {
					t.Fatalf("no response or no usage reported (resp %v, usage %v)", resp != nil, ok)
				}
				want[resp.Header.Get("X-Request-Id")] = matrixRecord{cost: matrixPrice.Cost(u)}
			}
			before := up.calls()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, up.alias, expect) })
			}
			if n := up.calls() - before; n != len(cases)+2 {
				t.Errorf("the %s fake received %d requests, want %d", up.typ, n, len(cases)+2)
			}
		})
	}
	m.checkRecords(t, want)
	if n := len(m.ups) * (len(cases) + 2); len(want) != n { // two cases send two requests
		t.Errorf("checked %d requests, want %d", len(want), n)
	}
}

const matrixPrompt = "what is the capital of France"

var weatherSchema = map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}

func openaiCases(m *matrix) []matrixCase {
	oc := openai.NewClient(option.WithBaseURL(m.base+"/v1"), option.WithAPIKey(m.key), option.WithMaxRetries(0))
	ctx := context.Background()
	tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: weatherSchema})
	stream := func(t *testing.T, p openai.ChatCompletionNewParams, expect func(*http.Response)) openai.ChatCompletionAccumulator {
		t.Helper()
		var resp *http.Response
		st := oc.Chat.Completions.NewStreaming(ctx, p, option.WithResponseInto(&resp))
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		expect(resp)
		return acc
	}
	chat := func(t *testing.T, p openai.ChatCompletionNewParams, expect func(*http.Response)) *openai.ChatCompletion {
		t.Helper()
		var resp *http.Response
		out, err := oc.Chat.Completions.New(ctx, p, option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		expect(resp)
		return out
	}
	user := func(s string) []openai.ChatCompletionMessageParamUnion {
		return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(s)}
	}
	return []matrixCase{
		{"openai_sdk_chat", func(t *testing.T, alias string, expect func(*http.Response)) {
			out := chat(t, openai.ChatCompletionNewParams{Model: alias, Messages: user(matrixPrompt)}, expect)
			if got := out.Choices[0].Message.Content; !strings.Contains(got, matrixPrompt) || out.Choices[0].FinishReason != "stop" {
				t.Errorf("answer = %q finish %q, want the echo of %q and stop", got, out.Choices[0].FinishReason, matrixPrompt)
			}
		}},
		{"openai_sdk_stream", func(t *testing.T, alias string, expect func(*http.Response)) {
			acc := stream(t, openai.ChatCompletionNewParams{Model: alias, Messages: user(matrixPrompt),
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}, expect)
			if got := acc.Choices[0].Message.Content; !strings.Contains(got, matrixPrompt) || acc.Usage.TotalTokens == 0 {
				t.Errorf("stream = %q usage %+v, want the echo and usage", got, acc.Usage)
			}
		}},
		{"openai_sdk_tools", func(t *testing.T, alias string, expect func(*http.Response)) {
			out := chat(t, openai.ChatCompletionNewParams{Model: alias, Messages: user("weather in Paris?"),
				Tools: []openai.ChatCompletionToolUnionParam{tool}}, expect)
			if tc := out.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Name != "get_weather" || out.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("tool turn = %+v, want one get_weather call", out.Choices[0])
			}
			// The result goes back; the model answers in text.
			msgs := append(user("weather in Paris?"), out.Choices[0].Message.ToParam(),
				openai.ToolMessage(`{"sky":"sunny"}`, out.Choices[0].Message.ToolCalls[0].ID))
			next := chat(t, openai.ChatCompletionNewParams{Model: alias, Messages: msgs, Tools: []openai.ChatCompletionToolUnionParam{tool}}, expect)
			if next.Choices[0].Message.Content == "" || len(next.Choices[0].Message.ToolCalls) != 0 {
				t.Errorf("answer after the tool result = %+v, want text", next.Choices[0].Message)
			}
		}},
		{"openai_sdk_stream_tools", func(t *testing.T, alias string, expect func(*http.Response)) {
			acc := stream(t, openai.ChatCompletionNewParams{Model: alias, Messages: user("weather in Paris?"),
				Tools: []openai.ChatCompletionToolUnionParam{tool}}, expect)
			if tc := acc.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Name != "get_weather" || tc[0].ID == "" ||
				acc.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("streamed tool turn = %+v, want one get_weather call with an id", acc.Choices[0])
			}
		}},
		{"openai_sdk_image", func(t *testing.T, alias string, expect func(*http.Response)) {
			msg := openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{openai.TextContentPart("describe this"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + onePixelPNG})})
			out := chat(t, openai.ChatCompletionNewParams{Model: alias, Messages: []openai.ChatCompletionMessageParamUnion{msg}}, expect)
			if got := out.Choices[0].Message.Content; !strings.Contains(got, "describe this") {
				t.Errorf("answer = %q, want the echo of the text beside the image", got)
			}
		}},
	}
}

func anthropicCases(m *matrix) []matrixCase {
	ac := anthropic.NewClient(aoption.WithBaseURL(m.base), aoption.WithAPIKey(m.key), aoption.WithMaxRetries(0))
	ctx := context.Background()
	tool := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: weatherSchema["properties"]}}}
	user := func(blocks ...anthropic.ContentBlockParamUnion) []anthropic.MessageParam {
		return []anthropic.MessageParam{anthropic.NewUserMessage(blocks...)}
	}
	send := func(t *testing.T, p anthropic.MessageNewParams, expect func(*http.Response)) *anthropic.Message {
		t.Helper()
		var resp *http.Response
		msg, err := ac.Messages.New(ctx, p, aoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		expect(resp)
		return msg
	}
	stream := func(t *testing.T, p anthropic.MessageNewParams, expect func(*http.Response)) anthropic.Message {
		t.Helper()
		var resp *http.Response
		st := ac.Messages.NewStreaming(ctx, p, aoption.WithResponseInto(&resp))
		var msg anthropic.Message
		for st.Next() {
			if err := msg.Accumulate(st.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		expect(resp)
		return msg
	}
	toolUse := func(msg *anthropic.Message) *anthropic.ContentBlockUnion {
		for i, b := range msg.Content {
			if b.Type == "tool_use" && b.Name == "get_weather" && b.ID != "" {
				return &msg.Content[i]
			}
		}
		return nil
	}
	text := anthropic.NewTextBlock
	return []matrixCase{
		{"anthropic_sdk_messages", func(t *testing.T, alias string, expect func(*http.Response)) {
			msg := send(t, anthropic.MessageNewParams{Model: anthropic.Model(alias), MaxTokens: 256, Messages: user(text(matrixPrompt))}, expect)
			if len(msg.Content) == 0 || !strings.Contains(msg.Content[0].Text, matrixPrompt) || msg.Usage.OutputTokens == 0 || msg.StopReason != "end_turn" {
				t.Errorf("message = %+v, want the echo, usage and end_turn", msg)
			}
		}},
		{"anthropic_sdk_stream", func(t *testing.T, alias string, expect func(*http.Response)) {
			msg := stream(t, anthropic.MessageNewParams{Model: anthropic.Model(alias), MaxTokens: 256, Messages: user(text(matrixPrompt))}, expect)
			if len(msg.Content) == 0 || !strings.Contains(msg.Content[0].Text, matrixPrompt) || msg.Usage.OutputTokens == 0 || msg.StopReason == "" {
				t.Errorf("accumulated = %+v, want the echo, usage and a stop reason", msg)
			}
		}},
		{"anthropic_sdk_tools", func(t *testing.T, alias string, expect func(*http.Response)) {
			p := anthropic.MessageNewParams{Model: anthropic.Model(alias), MaxTokens: 256, Messages: user(text("weather in Paris?")),
				Tools: []anthropic.ToolUnionParam{tool}}
			msg := send(t, p, expect)
			tu := toolUse(msg)
			if tu == nil || msg.StopReason != "tool_use" {
				t.Fatalf("message = %+v, want a get_weather tool_use and stop_reason tool_use", msg)
			}
			// The result goes back; the model answers in text.
			p.Messages = append(p.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(tu.ID, "sunny", false)))
			next := send(t, p, expect)
			if toolUse(next) != nil || len(next.Content) == 0 || next.Content[0].Text == "" || next.StopReason != "end_turn" {
				t.Errorf("message after the tool result = %+v, want text and end_turn", next)
			}
		}},
		{"anthropic_sdk_stream_tools", func(t *testing.T, alias string, expect func(*http.Response)) {
			msg := stream(t, anthropic.MessageNewParams{Model: anthropic.Model(alias), MaxTokens: 256, Messages: user(text("weather in Paris?")),
				Tools: []anthropic.ToolUnionParam{tool}}, expect)
			if tu := toolUse(&msg); tu == nil || msg.StopReason != "tool_use" || !strings.HasPrefix(strings.TrimSpace(string(tu.Input)), "{") {
				t.Errorf("accumulated = %+v, want a get_weather tool_use with a JSON object input and stop_reason tool_use", msg)
			}
		}},
		{"anthropic_sdk_image", func(t *testing.T, alias string, expect func(*http.Response)) {
			msg := send(t, anthropic.MessageNewParams{Model: anthropic.Model(alias), MaxTokens: 256,
				Messages: user(text("describe this"), anthropic.NewImageBlockBase64("image/png", onePixelPNG))}, expect)
			if len(msg.Content) == 0 || !strings.Contains(msg.Content[0].Text, "describe this") {
				t.Errorf("message = %+v, want the echo of the text beside the image", msg)
			}
		}},
	}
}
