package roundtrip

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	oai "github.com/airgw/airgw/internal/dialect/openai"
	"github.com/airgw/airgw/internal/llm"
	oaiprov "github.com/airgw/airgw/internal/provider/openai"
)

func openaiProvider(t *testing.T, up *upstream) llm.Provider {
	t.Helper()
	p, err := oaiprov.New(oaiprov.Config{Name: "oai", BaseURL: "http://upstream.invalid/v1", APIKey: "sk-roundtrip-0123456789", HTTPClient: up.client()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const chatReply = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`

// normalizeOpenAI removes from a decoded Chat Completions request what a
// translation legitimately leaves out or fills in: the native body,
// metadata (airgw's, never sent), the usage request of streams (always
// sent), n of 1, and tool settings without tools (which OpenAI refuses).
func normalizeOpenAI(r *llm.Request) {
	r.Native, r.NativeOnly, r.Metadata, r.IncludeUsage = nil, nil, nil, false
	if r.N <= 1 {
		r.N = 0
	}
	if len(r.Tools) == 0 {
		r.ToolChoice, r.ParallelToolCalls = nil, nil
	}
}

// FuzzOpenAIRequest: DecodeChat → the OpenAI adapter's translation →
// DecodeChat is a fixed point.
func FuzzOpenAIRequest(f *testing.F) {
	for _, b := range requestBodies(f, "../../wire/openai/testdata/*.request.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"model":"m","stream":true,"n":2,"seed":3,"stop":["a","b"],"temperature":0.5,"top_p":0.9,"user":"u","reasoning_effort":"low",` +
		`"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}},` +
		`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required","parallel_tool_calls":false,` +
		`"messages":[{"role":"developer","content":"d"},{"role":"user","name":"al","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		want, err := oai.DecodeChat(body, oai.Limits{})
		if err != nil {
			return
		}
		up := &upstream{contentType: "application/json", reply: []byte(chatReply)}
		chatOnce(t, openaiProvider(t, up), translated(want))
		if up.sent == nil {
			return // refused before sending: checked by the adapter's own tests
		}
		got, err := oai.DecodeChat(up.sent, oai.Limits{})
		if err != nil {
			t.Fatalf("the translation of a valid request does not decode: %v\nin:  %s\nout: %s", err, body, up.sent)
		}
		normalizeOpenAI(want)
		normalizeOpenAI(got)
		if diff := cmp.Diff(want, got, sameJSON); diff != "" {
			t.Fatalf("request changed through the translation (-want +got):\n%s\nin:  %s\nout: %s", diff, body, up.sent)
		}
	})
}

// FuzzOpenAIResponse: the adapter's decoding → the dialect's writer → the
// adapter's decoding is a fixed point.
func FuzzOpenAIResponse(f *testing.F) {
	for _, name := range []string{"chat-basic", "chat-basic-gpt5-nano", "chat-detailed-usage", "chat-reasoning", "chat-tool-call",
		"chat-parallel-tool-calls", "chat-function-call-langchaingo", "azure-chat-deployment-basic", "azure-chat-tool-call-gpt5-mini"} {
		f.Add(responseBody(f, "../../provider/openai/openaitest/testdata/"+name+".http"))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "x"}}}}}
		want := chatOnce(t, openaiProvider(t, &upstream{contentType: "application/json", reply: body}), req)
		if want == nil {
			return
		}
		want.Native = nil
		out := write(t, func(w http.ResponseWriter) interface{ WriteResponse(*llm.Response) error } {
			return oai.NewWriter(w, "req_1")
		}, want)
		got := chatOnce(t, openaiProvider(t, &upstream{contentType: "application/json", reply: out}), req)
		if got == nil {
			t.Fatalf("the dialect's rendering of a decoded response does not decode:\nin:  %s\nout: %s", body, out)
		}
		got.Native = nil
		for _, r := range []*llm.Response{want, got} {
			for i := range r.Choices {
				normalizeContent(&r.Choices[i].Message)
			}
		}
		if diff := cmp.Diff(want, got, sameJSON); diff != "" {
			t.Fatalf("response changed through the dialect (-want +got):\n%s\nin:  %s\nout: %s", diff, body, out)
		}
	})
}
