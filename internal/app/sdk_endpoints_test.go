package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/airgw/airgw/internal/llm"
)

// TestSDKEndpoints drives the endpoints beyond chat with the official SDKs,
// against every provider type behind airgw: embeddings and the Responses
// API (streamed and not) with the OpenAI SDK, token counting with the
// Anthropic SDK. A provider type that cannot serve an endpoint must answer
// a 400 feature_not_supported naming it, and never be called.
func TestSDKEndpoints(t *testing.T) {
	m := startMatrix(t)
	oc := openai.NewClient(option.WithBaseURL(m.base+"/v1"), option.WithAPIKey(m.key), option.WithMaxRetries(0))
	ac := anthropic.NewClient(aoption.WithBaseURL(m.base), aoption.WithAPIKey(m.key), aoption.WithMaxRetries(0))
	ctx := context.Background()
	want := map[string]matrixRecord{}
	var embedded, answered int
	for _, up := range m.ups {
		t.Run(up.typ, func(t *testing.T) {
			t.Run("embeddings", func(t *testing.T) {
				if up.embed == "" {
					t.Skipf("no embeddings model for %s", up.typ)
				}
				var resp *http.Response
				out, err := oc.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: up.embed,
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello world", "a second input"}}},
					option.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Data) != 2 || out.Data[1].Index != 1 || len(out.Data[0].Embedding) == 0 || len(out.Data[1].Embedding) != len(out.Data[0].Embedding) {
					t.Fatalf("embeddings = %d vectors, want 2 of the same non-zero size, in input order", len(out.Data))
				}
				if out.Usage.PromptTokens <= 0 {
					t.Errorf("usage = %+v, want prompt tokens", out.Usage)
				}
				// Gemini reports no usage for embeddings: airgw estimates
				// and says so; the others bill what the provider reported.
				estimated := up.typ == "gemini"
				if u, ok := up.usage(); !estimated && (!ok || u.InputTokens != out.Usage.PromptTokens) {
					t.Errorf("usage = %d prompt tokens, want what the fake reported: %+v (%v)", out.Usage.PromptTokens, u, ok)
				}
				want[resp.Header.Get("X-Request-Id")] = matrixRecord{cost: matrixPrice.Cost(llm.Usage{InputTokens: out.Usage.PromptTokens}), estimated: estimated}
				embedded++
			})
			t.Run("responses", func(t *testing.T) {
				params := responses.ResponseNewParams{Model: up.alias, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(matrixPrompt)}}
				if up.responses == "" {
					before := up.calls()
					_, err := oc.Responses.New(ctx, params)
					var apiErr *openai.Error
					if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "feature_not_supported" || !strings.Contains(apiErr.Message, "Responses API") {
						t.Errorf("Responses.New(%s) error = %v, want 400 feature_not_supported naming the Responses API", up.alias, err)
					}
					if up.calls() != before {
						t.Errorf("the %s fake was called for a request it cannot serve", up.typ)
					}
					return
				}
				var resp *http.Response
				out, err := oc.Responses.New(ctx, params, option.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out.OutputText(), matrixPrompt) || out.Usage.OutputTokens == 0 {
					t.Errorf("response text %q usage %+v, want the echo and usage", out.OutputText(), out.Usage)
				}
				u, _ := up.usage()
				want[resp.Header.Get("X-Request-Id")] = matrixRecord{cost: matrixPrice.Cost(u)}

				st := oc.Responses.NewStreaming(ctx, params, option.WithResponseInto(&resp))
				var deltas strings.Builder
				var done *responses.Response
				for st.Next() {
					ev := st.Current()
					switch ev.Type {
					case "response.output_text.delta":
						deltas.WriteString(ev.Delta)
					case "response.completed":
						r := ev.Response
						done = &r
					}
				}
				if err := st.Err(); err != nil {
					t.Fatal(err)
				}
				if done == nil || !strings.Contains(deltas.String(), matrixPrompt) || done.Usage.OutputTokens == 0 {
					t.Errorf("stream deltas %q, completed %v; want the echo and a response.completed with usage", deltas.String(), done != nil)
				}
				u, _ = up.usage()
				want[resp.Header.Get("X-Request-Id")] = matrixRecord{cost: matrixPrice.Cost(u)}
				answered++
			})
			t.Run("count_tokens", func(t *testing.T) {
				before := up.calls()
				n, err := ac.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: anthropic.Model(up.alias),
					Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(matrixPrompt))}})
				if err != nil {
					t.Fatal(err)
				}
				if n.InputTokens <= 0 {
					t.Errorf("count = %d, want a positive count", n.InputTokens)
				}
				// Only Anthropic counts exactly upstream; the others are
				// estimated inside airgw without a call.
				calls := up.calls() - before
				if wantCalls := map[bool]int{true: 1, false: 0}[up.typ == "anthropic"]; calls != wantCalls {
					t.Errorf("count_tokens made %d upstream calls, want %d", calls, wantCalls)
				}
			})
		})
	}
	m.checkRecords(t, want)
	if embedded < 5 || answered < 3 {
		t.Errorf("embeddings served by %d provider types and Responses by %d, want 5 and 3", embedded, answered)
	}
}

// TestSDKNativeOnly sends, with each official SDK, what only the client's
// own provider type can serve: it passes through to that provider, and
// every other provider type answers 400 feature_not_supported naming it,
// without being called.
func TestSDKNativeOnly(t *testing.T) {
	m := startMatrix(t)
	oc := openai.NewClient(option.WithBaseURL(m.base+"/v1"), option.WithAPIKey(m.key), option.WithMaxRetries(0))
	ac := anthropic.NewClient(aoption.WithBaseURL(m.base), aoption.WithAPIKey(m.key), aoption.WithMaxRetries(0))
	ctx := context.Background()
	native := map[string]string{"anthropic": "anthropic", "openai": "openai", "azure_openai": "openai", "openai_compatible": "openai"}
	for _, up := range m.ups {
		t.Run(up.typ, func(t *testing.T) {
			before := up.calls()
			// A document block: Anthropic's own.
			_, aerr := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(up.alias), MaxTokens: 64,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
					anthropic.NewDocumentBlock(anthropic.PlainTextSourceParam{Data: "The capital of France is Paris."}),
					anthropic.NewTextBlock("what is the capital of France"))}})
			// presence_penalty: OpenAI's own.
			_, oerr := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: up.alias, PresencePenalty: openai.Float(0.5),
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(matrixPrompt)}})
			for _, c := range []struct {
				dialect, feature string
				err              error
			}{{"anthropic", "`document` content blocks", aerr}, {"openai", "`presence_penalty`", oerr}} {
				if native[up.typ] == c.dialect {
					if c.err != nil {
						t.Errorf("%s client to its own provider type: %v, want the request passed through", c.dialect, c.err)
					}
					continue
				}
				msg := ""
				var ae *anthropic.Error
				var oe *openai.Error
				switch {
				case errors.As(c.err, &ae) && ae.StatusCode == 400:
					msg = ae.RawJSON()
				case errors.As(c.err, &oe) && oe.StatusCode == 400 && oe.Code == "feature_not_supported":
					msg = oe.Message
				}
				if !strings.Contains(msg, c.feature) || !strings.Contains(msg, "feature_not_supported") && c.dialect == "anthropic" {
					t.Errorf("%s client error = %v, want 400 feature_not_supported naming %s", c.dialect, c.err, c.feature)
				}
			}
			wantCalls := 0
			if _, ok := native[up.typ]; ok {
				wantCalls = 1
			}
			if n := up.calls() - before; n != wantCalls {
				t.Errorf("the %s fake received %d requests, want %d", up.typ, n, wantCalls)
			}
		})
	}
}
