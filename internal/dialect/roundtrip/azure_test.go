package roundtrip

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	anth "github.com/airgw/airgw/internal/dialect/anthropic"
	oai "github.com/airgw/airgw/internal/dialect/openai"
	"github.com/airgw/airgw/internal/llm"
	oaiprov "github.com/airgw/airgw/internal/provider/openai"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
)

// dataLines returns the data of every SSE event of body, in order.
func dataLines(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// relay sends req through an azure_openai adapter answering with
// the recorded Azure stream and writes every event with w, as the gateway
// does (native encodings kept).
func relay(t *testing.T, req *llm.Request, w streamWriter) {
	t.Helper()
	_, _, fixture, err := openaitest.LoadFixture("azure-chat-stream-text-gpt5-mini")
	if err != nil {
		t.Fatal(err)
	}
	up := &upstream{contentType: "text/event-stream", reply: fixture}
	p, err := oaiprov.New(oaiprov.Config{Name: "az", BaseURL: "https://example.openai.azure.com", APIKey: "azure-key-0123456789",
		Azure: &oaiprov.AzureConfig{APIVersion: "2024-10-21"}, HTTPClient: up.client()})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := p.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Stream.Close()
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
	if err := w.EndStream(nil); err != nil {
		t.Fatal(err)
	}
}

// TestAzurePromptFilterResults checks Azure's first stream chunk (no
// choices; the prompt's prompt_filter_results): an OpenAI client whose
// request was forwarded receives it byte for byte, with every other chunk
// of the recorded stream; an Anthropic client, whose answer is a
// translation, does not, and its message_start names the real message.
func TestAzurePromptFilterResults(t *testing.T) {
	_, _, fixture, err := openaitest.LoadFixture("azure-chat-stream-text-gpt5-mini")
	if err != nil {
		t.Fatal(err)
	}
	recorded := dataLines(fixture)
	if !strings.Contains(recorded[0], `"prompt_filter_results"`) || !strings.HasPrefix(recorded[0], `{"choices":[]`) {
		t.Fatalf("fixture's first chunk = %s, want Azure's prompt_filter_results chunk", recorded[0])
	}

	t.Run("openai_pass_through", func(t *testing.T) {
		req, err := oai.DecodeChat([]byte(`{"model":"gpt-5-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hi in Portuguese"}]}`), oai.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		relay(t, req, oai.NewWriter(rec, "req_1"))
		got := dataLines(rec.Body.Bytes())
		if len(got) != len(recorded) {
			t.Fatalf("client got %d chunks, want the %d recorded:\n%s", len(got), len(recorded), rec.Body.Bytes())
		}
		for i := range got {
			if got[i] != recorded[i] {
				t.Errorf("chunk %d = %s, want the recorded %s", i, got[i], recorded[i])
			}
		}
	})

	t.Run("anthropic_translated", func(t *testing.T) {
		req, err := anth.DecodeMessages([]byte(`{"model":"claude","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Say hi in Portuguese"}]}`), anth.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		relay(t, translated(req), anth.NewWriter(rec, "req_1"))
		out := rec.Body.Bytes()
		if bytes.Contains(out, []byte("prompt_filter_results")) {
			t.Errorf("translated stream carries prompt_filter_results:\n%s", out)
		}
		start := dataLines(out)[0]
		if !strings.Contains(start, `"type":"message_start"`) || !strings.Contains(start, `"id":"chatcmpl-DuLYkWnz0OixBh4yGRX57RgoH5wVP"`) ||
			!strings.Contains(start, `"model":"gpt-5-mini-2025-08-07"`) {
			t.Errorf("message_start = %s, want the id and model of the first chunk with a choice", start)
		}
		if !bytes.Contains(out, []byte(`"text":"Oi"`)) {
			t.Errorf("translated stream lost the text:\n%s", out)
		}
	})
}
