package openaitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	wire "github.com/airgw/airgw/internal/wire/openai"
)

func post(t *testing.T, s *Server, path, key, ct, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestValidation(t *testing.T) {
	s := NewServer(t)
	const ok = `{"model":"echo","messages":[{"role":"user","content":"hi"}]}`
	_, _, emptyFixture, _ := LoadFixture("error-400-empty-messages")
	tests := []struct {
		name, path, key, ct, body string
		status                    int
		contains                  string
	}{
		{"ok", "/chat/completions", Key, "application/json", ok, 200, `"echo: hi"`},
		{"bad-path", "/completions", Key, "application/json", ok, 404, "Invalid URL (POST /v1/completions)"},
		{"no-key", "/chat/completions", "", "application/json", ok, 401, "You didn't provide an API key"},
		{"wrong-key", "/chat/completions", "sk-wrong-key-12345678", "application/json", ok, 401, `"invalid_api_key"`},
		{"content-type", "/chat/completions", Key, "text/plain", ok, 400, "Unsupported content type"},
		{"bad-json", "/chat/completions", Key, "application/json", `{"model":`, 400, "could not parse the JSON body"},
		{"unknown-field", "/chat/completions", Key, "application/json", `{"model":"echo","messages":[{"role":"user","content":"x"}],"foo":1}`, 400, "Unrecognized request argument supplied: foo"},
		{"no-model", "/chat/completions", Key, "application/json", `{"messages":[{"role":"user","content":"x"}]}`, 400, "you must provide a model parameter"},
		{"empty-messages", "/chat/completions", Key, "application/json", `{"model":"echo","messages":[]}`, 400, string(emptyFixture)},
		{"bad-role", "/chat/completions", Key, "application/json", `{"model":"echo","messages":[{"role":"robot","content":"x"}]}`, 400, "Invalid value: 'robot'"},
		{"stream-options-no-stream", "/chat/completions", Key, "application/json", `{"model":"echo","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, 400, "'stream_options' parameter is only allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s, tt.path, tt.key, tt.ct, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("POST %s = %d %s, want %d containing %q", tt.path, resp.StatusCode, body, tt.status, tt.contains)
			}
		})
	}
	if got, want := s.Calls(), len(tests); got != want {
		t.Errorf("Calls() = %d, want %d", got, want)
	}
}

func TestEcho(t *testing.T) {
	s := NewServer(t, WithUsageDetails(2, 5))
	_, body := post(t, s, "/chat/completions", Key, "application/json", `{"model":"echo","messages":[{"role":"user","content":"hello big world"}]}`)
	var r wire.ChatResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if got := r.Choices[0].Message.Content.Text; got != "echo: hello big world" {
		t.Errorf("echo content = %q", got)
	}
	// 15 bytes / 4 + 1 = 4 prompt tokens; 4 words + 5 reasoning.
	want := wire.Usage{PromptTokens: 4, CompletionTokens: 9, TotalTokens: 13,
		PromptTokensDetails: &wire.PromptTokensDetails{CachedTokens: 2}, CompletionTokensDetails: &wire.CompletionTokensDetails{ReasoningTokens: 5}}
	if u := s.LastUsage(); u == nil || *u.PromptTokensDetails != *want.PromptTokensDetails || u.CompletionTokens != 9 || u.PromptTokens != 4 {
		t.Errorf("LastUsage() = %+v, want %+v", u, want)
	}
	resp, sbody := post(t, s, "/chat/completions", Key, "application/json", `{"model":"echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b"}]}`)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("stream Content-Type = %q", ct)
	}
	if n := strings.Count(sbody, "data: "); n != 7 || !strings.HasSuffix(sbody, "data: [DONE]\n\n") {
		t.Errorf("stream = %d events:\n%s\nwant role, 3 words, finish, usage, [DONE]", n, sbody)
	}
}

func TestFixtureReplay(t *testing.T) {
	s := NewServer(t)
	for _, name := range []string{"chat-basic", "chat-stream-with-usage", "azure-chat-stream-tool-call-o4-mini"} {
		t.Run(name, func(t *testing.T) {
			resp, body := post(t, s, "/chat/completions", Key, "application/json", `{"model":"fixture:`+name+`","messages":[{"role":"user","content":"x"}]}`)
			status, h, want, err := LoadFixture(name)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != status || !bytes.Equal([]byte(body), want) || resp.Header.Get("Content-Type") != h.Get("Content-Type") {
				t.Errorf("fixture %s replay = %d %q, want %d %q", name, resp.StatusCode, body, status, want)
			}
		})
	}
	if len(FixtureNames()) < 20 {
		t.Errorf("FixtureNames() = %v, want the recorded fixtures", FixtureNames())
	}
}
