package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"

	wireoai "github.com/airgw/airgw/internal/wire/openai"
)

type openaiWireUsage = wireoai.Usage

// matrixPrice is every matrix model's price: $2.50 in, $10 out per Mtok.
var matrixPrice = pricing.Price{Input: 2_500_000, Output: 10_000_000}

// upstream is one provider type behind airgw in the matrix.
type upstream struct {
	alias string // the model alias clients ask for
	usage func() (llm.Usage, bool)
	calls func() int
}

// matrix is a gateway with one alias per provider type, each served by
// that provider's strict fake.
type matrix struct {
	base string // http://127.0.0.1:port
	key  string
	app  *App
	ups  []upstream
	stop func()
}

func startMatrix(t *testing.T) *matrix {
	t.Helper()
	oa := openaitest.NewServer(t)
	an := anthropictest.NewServer(t)
	ge := geminitest.NewServer(t)
	br := bedrocktest.NewServer(t)
	// Bedrock credentials come from the standard AWS environment; keep the
	// developer's own files out of it.
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", bedrocktest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", bedrocktest.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_PROFILE", "")

	price := `{input_per_mtok: 2.5, output_per_mtok: 10}`
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
storage: {sqlite: %q}
log: {level: error}
audit: {flush_interval: 5ms}
routing: {retries: 0}
providers:
  oa: {type: openai, base_url: %q, api_key: %q, allow_private_network: true}
  an: {type: anthropic, base_url: %q, api_key: %q, allow_private_network: true}
  ge: {type: gemini, base_url: %q, api_key: %q, allow_private_network: true}
  br: {type: bedrock, region: %s, base_url: %q, allow_private_network: true}
models:
  via-openai: {targets: [{provider: oa, model: echo}], price: %s}
  via-anthropic: {targets: [{provider: an, model: claude-echo}], price: %s}
  via-gemini: {targets: [{provider: ge, model: gemini-echo}], price: %s}
  via-bedrock: {targets: [{provider: br, model: anthropic.claude-echo-v1}], price: %s}
`, filepath.ToSlash(filepath.Join(dir, "airgw.db")),
		oa.URL(), openaitest.Key, an.URL(), anthropictest.Key, ge.URL(), geminitest.Key,
		bedrocktest.Region, br.URL(), price, price, price, price)
	cfg, err := config.Parse("matrix.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := a.Keys().Create(context.Background(), keys.CreateOptions{Name: "matrix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(ad net.Addr) { addrc <- ad }) }()
	var base string
	select {
	case ad := <-addrc:
		base = "http://" + ad.String()
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	m := &matrix{base: base, key: key, app: a, ups: []upstream{
		{"via-openai", usageOf(oa.LastUsage), oa.Calls},
		{"via-anthropic", an.Usage, an.Calls},
		{"via-gemini", ge.Usage, ge.Calls},
		{"via-bedrock", br.Usage, br.Calls},
	}}
	stopped := false
	m.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	t.Cleanup(func() { m.stop(); a.Close() })
	return m
}

// usageOf adapts the OpenAI fake's wire usage to neutral terms.
func usageOf(last func() *openaiWireUsage) func() (llm.Usage, bool) {
	return func() (llm.Usage, bool) {
		u := last()
		if u == nil {
			return llm.Usage{}, false
		}
		return llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}, true
	}
}

// TestDialectProviderMatrix drives every provider type behind airgw with
// both official SDKs (OpenAI chat completions and Anthropic messages),
// non-streaming, streaming and with tools, and checks the answer, the
// client's own response shape, and an audit record at the exact cost of the
// usage each fake reported.
func TestDialectProviderMatrix(t *testing.T) {
	m := startMatrix(t)
	oc := openai.NewClient(option.WithBaseURL(m.base+"/v1"), option.WithAPIKey(m.key), option.WithMaxRetries(0))
	ac := anthropic.NewClient(aoption.WithBaseURL(m.base), aoption.WithAPIKey(m.key), aoption.WithMaxRetries(0))
	want := map[string]int64{} // request id → exact cost
	ctx := context.Background()
	const prompt = "what is the capital of France"

	for _, up := range m.ups {
		t.Run(up.alias, func(t *testing.T) {
			expect := func(resp *http.Response) {
				t.Helper()
				u, ok := up.usage()
				if resp == nil || !ok {
					t.Fatalf("no response or no usage reported (resp %v, usage %v)", resp != nil, ok)
				}
				want[resp.Header.Get("X-Request-Id")] = matrixPrice.Cost(u)
			}
			tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
			})
			atool := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather",
				InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}}

			t.Run("openai_sdk_chat", func(t *testing.T) {
				var resp *http.Response
				out, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: up.alias,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}, option.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				if got := out.Choices[0].Message.Content; !strings.Contains(got, prompt) {
					t.Errorf("content = %q, want the echo of %q", got, prompt)
				}
				expect(resp)
			})
			t.Run("openai_sdk_stream", func(t *testing.T) {
				var resp *http.Response
				st := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: up.alias,
					Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}, option.WithResponseInto(&resp))
				var acc openai.ChatCompletionAccumulator
				for st.Next() {
					acc.AddChunk(st.Current())
				}
				if err := st.Err(); err != nil {
					t.Fatal(err)
				}
				if got := acc.Choices[0].Message.Content; !strings.Contains(got, prompt) || acc.Usage.TotalTokens == 0 {
					t.Errorf("stream = %q usage %+v, want the echo and usage", got, acc.Usage)
				}
				expect(resp)
			})
			t.Run("openai_sdk_tools", func(t *testing.T) {
				var resp *http.Response
				out, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: up.alias,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
					Tools:    []openai.ChatCompletionToolUnionParam{tool}}, option.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				if tc := out.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Name != "get_weather" || out.Choices[0].FinishReason != "tool_calls" {
					t.Errorf("tool turn = %+v, want one get_weather call", out.Choices[0])
				}
				expect(resp)
			})
			t.Run("anthropic_sdk_messages", func(t *testing.T) {
				var resp *http.Response
				msg, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(up.alias), MaxTokens: 256,
					Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}}, aoption.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				if len(msg.Content) == 0 || !strings.Contains(msg.Content[0].Text, prompt) || msg.Usage.OutputTokens == 0 {
					t.Errorf("message = %+v, want the echo and usage", msg)
				}
				expect(resp)
			})
			t.Run("anthropic_sdk_stream", func(t *testing.T) {
				var resp *http.Response
				st := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: anthropic.Model(up.alias), MaxTokens: 256,
					Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}}, aoption.WithResponseInto(&resp))
				var msg anthropic.Message
				for st.Next() {
					if err := msg.Accumulate(st.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.Err(); err != nil {
					t.Fatal(err)
				}
				if len(msg.Content) == 0 || !strings.Contains(msg.Content[0].Text, prompt) || msg.Usage.OutputTokens == 0 || msg.StopReason == "" {
					t.Errorf("accumulated = %+v, want the echo, usage and a stop reason", msg)
				}
				expect(resp)
			})
			t.Run("anthropic_sdk_tools", func(t *testing.T) {
				var resp *http.Response
				msg, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(up.alias), MaxTokens: 256,
					Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather in Paris?"))},
					Tools:    []anthropic.ToolUnionParam{atool}}, aoption.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				var called bool
				for _, b := range msg.Content {
					called = called || b.Type == "tool_use" && b.Name == "get_weather"
				}
				if !called || msg.StopReason != "tool_use" {
					t.Errorf("message = %+v, want a get_weather tool_use and stop_reason tool_use", msg)
				}
				expect(resp)
			})
		})
	}

	m.stop()
	got := map[string]audit.Record{}
	if err := m.app.Records().QueryRecords(ctx, audit.Filter{}, func(r audit.Record) error { got[r.RequestID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	for id, cost := range want {
		r, ok := got[id]
		switch {
		case !ok:
			t.Errorf("no audit record for %s", id)
		case r.CostNanoUSD != cost || r.Status != 200 || r.UsageEstimated:
			t.Errorf("record %s (%s via %s) = cost %d status %d estimated %v, want cost %d, 200, reported", id, r.Dialect, r.RequestedModel, r.CostNanoUSD, r.Status, r.UsageEstimated, cost)
		}
	}
	if len(want) != 4*6 {
		t.Errorf("checked %d requests, want 24", len(want))
	}
}
