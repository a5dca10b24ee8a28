package openai

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/google/go-cmp/cmp"
)

func newAzure(t testing.TB, fake *openaitest.Server, version string) *Client {
	t.Helper()
	return newClient(t, fake.URL(), func(c *Config) {
		c.Name = "azure-eu"
		c.Azure = &AzureConfig{APIVersion: version}
	})
}

func TestNewAzureAndPresets(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantURL string // chat URL for model "m"; "" when New must fail
	}{
		{"azure-deployments", Config{Name: "a", BaseURL: "https://x.openai.azure.com/", Azure: &AzureConfig{APIVersion: "2024-10-21"}},
			"https://x.openai.azure.com/openai/deployments/m/chat/completions?api-version=2024-10-21"},
		{"azure-v1", Config{Name: "a", BaseURL: "https://x.openai.azure.com/openai/v1", Azure: &AzureConfig{APIVersion: "v1"}},
			"https://x.openai.azure.com/openai/v1/chat/completions"},
		{"azure-no-base", Config{Name: "a", Azure: &AzureConfig{APIVersion: "v1"}}, ""},
		{"azure-no-version", Config{Name: "a", BaseURL: "https://x.openai.azure.com", Azure: &AzureConfig{}}, ""},
		{"azure-bad-version", Config{Name: "a", BaseURL: "https://x.openai.azure.com", Azure: &AzureConfig{APIVersion: "1&x=2"}}, ""},
		{"azure-with-preset", Config{Name: "a", BaseURL: "https://x", Preset: "groq", Azure: &AzureConfig{APIVersion: "v1"}}, ""},
		{"azure-api-key-header", Config{Name: "a", BaseURL: "https://x", Headers: map[string]string{"api-key": "k"}, Azure: &AzureConfig{APIVersion: "v1"}}, ""},
		{"preset-default-base", Config{Name: "o", Preset: "ollama"}, "http://127.0.0.1:11434/v1/chat/completions"},
		{"preset-base-override", Config{Name: "g", Preset: "groq", BaseURL: "https://proxy.example/v1"}, "https://proxy.example/v1/chat/completions"},
		{"preset-vllm-needs-base", Config{Name: "v", Preset: "vllm"}, ""},
		{"preset-unknown", Config{Name: "v", Preset: "nope"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantURL == "" {
				if err == nil {
					t.Fatalf("New(%+v) = nil error, want one", tt.cfg)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v) = %v", tt.cfg, err)
			}
			if got := c.endpointURL("chat/completions", "m"); got != tt.wantURL {
				t.Errorf("chat URL = %q, want %q", got, tt.wantURL)
			}
		})
	}
}

func TestAzureDeployments(t *testing.T) {
	fake := openaitest.NewServer(t, openaitest.WithAzure("2024-10-21"))
	c := newAzure(t, fake, "2024-10-21")
	reply, err := c.Chat(context.Background(), userReq("gpt-4o-prod", "hello azure"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reply.Response.Choices[0].Message.Text(), "echo: hello azure"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	r := fake.Requests()[0]
	if r.Path != "/openai/deployments/gpt-4o-prod/chat/completions" {
		t.Errorf("path = %q", r.Path)
	}
	if r.Header.Get("Api-Key") != openaitest.Key || r.Header.Get("Authorization") != "" {
		t.Errorf("headers api-key %q authorization %q, want the key in api-key only", r.Header.Get("Api-Key"), r.Header.Get("Authorization"))
	}

	// Fixture replay: the deployment selects it.
	reply, err = c.Chat(context.Background(), userReq("fixture:azure-chat-deployment-basic", "Hello!"))
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: 8, OutputTokens: 271, ReasoningTokens: 192}
	if diff := cmp.Diff(want, reply.Response.Usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
	if reply.Header.Get("Apim-Request-Id") == "" {
		t.Errorf("reply header lacks apim-request-id: %v", reply.Header)
	}
}

func TestAzureV1Stream(t *testing.T) {
	fake := openaitest.NewServer(t, openaitest.WithAzure("v1"))
	c := newAzure(t, fake, "v1")
	req := userReq("fixture:azure-chat-stream-tool-call-o4-mini", "weather")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if got.Finish != llm.FinishToolCalls || got.Calls[0].Name != "weather" || got.Usage == nil || got.Usage.InputTokens == 0 {
		t.Errorf("stream = %+v, want a weather tool call with usage", got)
	}
	r := fake.Requests()[0]
	if r.Path != "/openai/v1/chat/completions" || r.Header.Get("Api-Key") != openaitest.Key {
		t.Errorf("request path %q api-key %q", r.Path, r.Header.Get("Api-Key"))
	}
	if string(r.Fields["model"]) != `"fixture:azure-chat-stream-tool-call-o4-mini"` {
		t.Errorf("v1 body model = %s, want the model in the body", r.Fields["model"])
	}
}

func TestAzureErrors(t *testing.T) {
	tests := []struct {
		name       string
		version    string // the client's; the fake serves 2024-10-21
		model      string
		code       llm.Code
		retryAfter time.Duration
	}{
		{"content-filter", "2024-10-21", "error:azure_content_filter", llm.CodeContentFiltered, 0},
		{"rate-limit-retry-after-ms", "2024-10-21", "error:azure_429", llm.CodeProviderRateLimited, 1500 * time.Millisecond},
		{"wrong-api-version", "2023-01-01", "gpt-4o", llm.CodeUpstreamInvalidRequest, 0},
	}
	fake := openaitest.NewServer(t, openaitest.WithAzure("2024-10-21"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newAzure(t, fake, tt.version).Chat(context.Background(), userReq(tt.model, "x"))
			e := llm.AsError(err)
			if e.Code != tt.code || e.RetryAfter != tt.retryAfter {
				t.Errorf("Chat(%s) = %s retry %v (%s), want %s retry %v", tt.model, e.Code, e.RetryAfter, e.Message, tt.code, tt.retryAfter)
			}
		})
	}
}

func TestAzureEmptyDeployment(t *testing.T) {
	fake := openaitest.NewServer(t, openaitest.WithAzure("2024-10-21"))
	c := newAzure(t, fake, "2024-10-21")
	_, err := c.Chat(context.Background(), userReq("", "x"))
	_, err2 := c.Embed(context.Background(), &llm.EmbeddingRequest{Input: []string{"x"}})
	for _, err := range []error{err, err2} {
		if e := llm.AsError(err); e.Code != llm.CodeInvalidRequest || e.Param != "model" {
			t.Errorf("empty deployment = %v, want invalid_request naming model", err)
		}
	}
	if fake.Calls() != 0 {
		t.Errorf("the fake was called %d times, want 0", fake.Calls())
	}
}

func TestAzureFakeRejects(t *testing.T) {
	fake := openaitest.NewServer(t, openaitest.WithAzure("2024-10-21"))
	const body = `{"messages":[{"role":"user","content":"x"}]}`
	tests := []struct {
		name, path string
		header     map[string]string
		status     int
	}{
		{"ok", "/openai/deployments/d/chat/completions?api-version=2024-10-21", map[string]string{"api-key": openaitest.Key}, 200},
		{"bearer", "/openai/deployments/d/chat/completions?api-version=2024-10-21", map[string]string{"Authorization": "Bearer " + openaitest.Key}, 401},
		{"bearer-and-key", "/openai/deployments/d/chat/completions?api-version=2024-10-21", map[string]string{"api-key": openaitest.Key, "Authorization": "Bearer " + openaitest.Key}, 401},
		{"no-api-version", "/openai/deployments/d/chat/completions", map[string]string{"api-key": openaitest.Key}, 404},
		{"openai-path", "/v1/chat/completions?api-version=2024-10-21", map[string]string{"api-key": openaitest.Key}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, fake.URL()+tt.path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := fake.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("POST %s = %d %s, want %d", tt.path, resp.StatusCode, b, tt.status)
			}
		})
	}
}

func TestAzureContentFilterFinish(t *testing.T) {
	// A completion the filter stopped is a 200 with finish_reason
	// content_filter: the client receives it as such, not as an error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices":[{"content_filter_results":{"hate":{"filtered":true,"severity":"high"}},"finish_reason":"content_filter","index":0,"message":{"content":null,"role":"assistant"}}],"created":1,"id":"chatcmpl-x","model":"gpt-4o","object":"chat.completion","usage":{"completion_tokens":3,"prompt_tokens":9,"total_tokens":12}}`)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, func(c *Config) { c.Azure = &AzureConfig{APIVersion: "2024-10-21"} })
	reply, err := c.Chat(context.Background(), userReq("d", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := reply.Response.Choices[0].FinishReason; got != llm.FinishContentFilter {
		t.Errorf("finish = %q, want content_filter", got)
	}
}

func TestRetryAfterFromAzureMessage(t *testing.T) {
	tests := []struct {
		msg  string
		want time.Duration
	}{
		{"Requests ... have exceeded token rate limit. Please retry after 6 seconds.", 6 * time.Second},
		{"Please retry after 1 second.", time.Second},
		{"Rate limit is exceeded.", 0},
		{"Please try again in 20ms.", 20 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := retryAfterFromMessage(tt.msg); got != tt.want {
			t.Errorf("retryAfterFromMessage(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

func TestAzureResponsesDeploymentsSurface(t *testing.T) {
	// The dated surface has no deployment path for the Responses API: the
	// model travels in the body to /openai/responses?api-version=….
	fake := openaitest.NewServer(t, openaitest.WithAzure("2025-04-01-preview"))
	c := newAzure(t, fake, "2025-04-01-preview")
	reply, err := c.Chat(context.Background(), responsesReq("gpt-5-mini", false, `{"model":"alias","input":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := reply.Response.Choices[0].Message.Text(); got != "echo: hi" {
		t.Errorf("text = %q", got)
	}
	r := fake.Requests()[0]
	if r.Path != "/openai/responses" || string(r.Fields["model"]) != `"gpt-5-mini"` {
		t.Errorf("sent %s model %s, want /openai/responses with the deployment in the body", r.Path, r.Fields["model"])
	}
}
