package openaitest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	wire "github.com/airgw/airgw/internal/wire/openai"
)

func TestEmbeddingsValidation(t *testing.T) {
	s := NewServer(t)
	tests := []struct {
		name, body string
		status     int
		contains   string
	}{
		{"ok-string", `{"model":"e","input":"hi"}`, 200, `"object":"list"`},
		{"ok-tokens", `{"model":"e","input":[1,2,3]}`, 200, `"prompt_tokens":3`},
		{"no-model", `{"input":"hi"}`, 400, "you must provide a model parameter"},
		{"no-input", `{"model":"e"}`, 400, "'$.input' is invalid"},
		{"empty-string", `{"model":"e","input":""}`, 400, "'$.input' is invalid"},
		{"empty-array", `{"model":"e","input":[]}`, 400, "'$.input' is invalid"},
		{"zero-dimensions", `{"model":"e","input":"x","dimensions":0}`, 400, "dimensions"},
		{"bad-format", `{"model":"e","input":"x","encoding_format":"hex"}`, 400, "encoding_format"},
		{"unknown-field", `{"model":"e","input":"x","messages":[]}`, 400, "Unrecognized request argument supplied: messages"},
		{"fixture", `{"model":"fixture:embeddings-dimensions","input":"x"}`, 200, `"prompt_tokens": 5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s, "/embeddings", Key, "application/json", tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("POST /embeddings %s = %d %s, want %d containing %q", tt.body, resp.StatusCode, body, tt.status, tt.contains)
			}
		})
	}
}

func TestEmbeddingsEcho(t *testing.T) {
	s := NewServer(t)
	_, body := post(t, s, "/embeddings", Key, "application/json", `{"model":"e","input":["ab","cdefgh"],"dimensions":3,"encoding_format":"base64"}`)
	var r wire.EmbeddingResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data) != 2 || *r.Usage != (wire.EmbeddingUsage{PromptTokens: 3, TotalTokens: 3}) {
		t.Fatalf("response = %s", body)
	}
	var b64 string
	_ = json.Unmarshal(r.Data[1].Embedding, &b64)
	if want := EncodeBase64Vector(EchoVector(1, 3)); b64 != want {
		t.Errorf("data[1].embedding = %q, want %q", b64, want)
	}
}

func TestResponsesValidation(t *testing.T) {
	s := NewServer(t)
	tests := []struct {
		name, body string
		status     int
		contains   string
	}{
		{"ok-string", `{"model":"m","input":"hi"}`, 200, `"text":"echo: hi"`},
		{"ok-items", `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"yo"}]}]}`, 200, `"text":"echo: yo"`},
		{"no-model", `{"input":"hi"}`, 400, "Missing required parameter: 'model'"},
		{"no-input", `{"model":"m"}`, 400, "Missing required parameter: 'input'"},
		{"chat-body", `{"model":"m","messages":[]}`, 400, "Unrecognized request argument supplied: messages"},
		{"stream-options-no-stream", `{"model":"m","input":"x","stream_options":{}}`, 400, "stream_options"},
		{"fixture", `{"model":"fixture:responses-basic","input":"x"}`, 200, `"input_tokens": 14`},
		{"error", `{"model":"error:500","input":"x"}`, 500, "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s, "/responses", Key, "application/json", tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("POST /responses %s = %d %s, want %d containing %q", tt.body, resp.StatusCode, body, tt.status, tt.contains)
			}
		})
	}
}

func TestResponsesEchoStream(t *testing.T) {
	s := NewServer(t)
	_, body := post(t, s, "/responses", Key, "application/json", `{"model":"m","input":"a b","stream":true}`)
	var names []string
	for _, line := range strings.Split(body, "\n") {
		if n, ok := strings.CutPrefix(line, "event: "); ok {
			names = append(names, n)
		}
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if u := s.LastUsage(); u == nil || u.PromptTokens != 1 || u.CompletionTokens != 3 {
		t.Errorf("LastUsage() = %+v, want 1 prompt and 3 completion tokens", u)
	}
}
