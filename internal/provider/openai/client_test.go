package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	wire "github.com/airgw/airgw/internal/wire/openai"
	"github.com/google/go-cmp/cmp"
)

func newClient(t testing.TB, baseURL string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Name: "oai", BaseURL: baseURL, APIKey: openaitest.Key}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func userReq(model, text string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}}, ContentIsString: true},
	}}
}

// collected is everything a stream produced.
type collected struct {
	Role   llm.Role
	Text   string
	Calls  map[int]llm.ToolCall
	Finish llm.FinishReason
	Usage  *llm.Usage
	Events int
	Native int
}

func collect(t testing.TB, s llm.Stream) (collected, error) {
	t.Helper()
	defer s.Close()
	var c collected
	for {
		ev, err := s.Next()
		if err == io.EOF {
			return c, nil
		}
		if err != nil {
			return c, err
		}
		c.Events++
		if ev.Native != nil {
			c.Native++
			if !json.Valid(ev.Native.Body) || ev.Native.Dialect != llm.DialectOpenAI {
				t.Errorf("event Native = %+v, want an OpenAI chunk", ev.Native)
			}
		}
		if ev.Role != "" {
			c.Role = ev.Role
		}
		c.Text += ev.Text
		for _, d := range ev.ToolCalls {
			if c.Calls == nil {
				c.Calls = map[int]llm.ToolCall{}
			}
			tc := c.Calls[d.Index]
			if d.ID != "" {
				tc.ID = d.ID
			}
			if d.Name != "" {
				tc.Name = d.Name
			}
			tc.Arguments += d.Arguments
			c.Calls[d.Index] = tc
		}
		if ev.FinishReason != "" {
			c.Finish = ev.FinishReason
		}
		if ev.Usage != nil {
			c.Usage = ev.Usage
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Name: "openai"}, true},
		{"no-name", Config{}, false},
		{"bad-scheme", Config{Name: "x", BaseURL: "ftp://x"}, false},
		{"override-auth", Config{Name: "x", Headers: map[string]string{"authorization": "y"}}, false},
		{"key-newline", Config{Name: "x", APIKey: "a\nb"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) error = %v, want ok %v", tt.cfg, err, tt.ok)
			}
			if tt.name == "defaults" && c.url != DefaultBaseURL+"/chat/completions" {
				t.Errorf("New(defaults).url = %q", c.url)
			}
		})
	}
}

func TestChatEcho(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(t, srv.URL(), func(cfg *Config) {
		cfg.Organization = "org-1"
		cfg.Headers = map[string]string{"X-Extra": "1"}
	})
	reply, err := c.Chat(context.Background(), userReq("gpt-test", "hello big world"))
	if err != nil {
		t.Fatal(err)
	}
	r := reply.Response
	if r == nil || reply.Stream != nil {
		t.Fatalf("Chat(non-stream) = %+v, want a Response", reply)
	}
	want := llm.Choice{Index: 0, FinishReason: llm.FinishStop, Message: llm.Message{Role: llm.RoleAssistant,
		Content: []llm.Part{{Type: llm.PartText, Text: "echo: hello big world"}}, ContentIsString: true}}
	if diff := cmp.Diff([]llm.Choice{want}, r.Choices); diff != "" {
		t.Errorf("Chat choices mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(llm.Usage{InputTokens: 4, OutputTokens: 4}, r.Usage); diff != "" || !r.UsageReported {
		t.Errorf("Chat usage mismatch (-want +got):\n%s", diff)
	}
	if r.Native == nil || r.Native.Endpoint != "/v1/chat/completions" || !json.Valid(r.Native.Body) {
		t.Errorf("Chat Native = %+v", r.Native)
	}
	if got := reply.Header.Get("X-Request-Id"); got != "req_openaitest_1" {
		t.Errorf("Reply.Header x-request-id = %q", got)
	}
	if reply.Header.Get("X-Ratelimit-Remaining-Requests") != "9999" || reply.Header.Get("Content-Type") != "" {
		t.Errorf("Reply.Header = %v, want only request id and rate-limit headers", reply.Header)
	}
	got := srv.Requests()[0]
	if got.Header.Get("Authorization") != "Bearer "+openaitest.Key || got.Header.Get("OpenAI-Organization") != "org-1" || got.Header.Get("X-Extra") != "1" {
		t.Errorf("request headers = %v", got.Header)
	}
	if strings.Contains(string(got.Raw), openaitest.Key) || strings.Contains(got.Path, openaitest.Key) {
		t.Errorf("key leaked outside the Authorization header")
	}
}

func TestChatStreamEcho(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.WithUsageDetails(3, 7))
	c := newClient(t, srv.URL())
	req := userReq("gpt-test", "one two three four")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	if err != nil {
		t.Fatal(err)
	}
	want := collected{Role: llm.RoleAssistant, Text: "echo: one two three four", Finish: llm.FinishStop,
		Usage: &llm.Usage{InputTokens: 5, OutputTokens: 12, CacheReadTokens: 3, ReasoningTokens: 7}, Events: 8, Native: 8}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stream mismatch (-want +got):\n%s", diff)
	}
	// The gateway always asks for usage upstream.
	sent := srv.Requests()[0].Body
	if !sent.Stream || sent.StreamOptions == nil || !sent.StreamOptions.IncludeUsage {
		t.Errorf("upstream request stream=%v stream_options=%+v, want include_usage", sent.Stream, sent.StreamOptions)
	}
	if u := srv.LastUsage(); u.PromptTokens != got.Usage.InputTokens || u.CompletionTokens != got.Usage.OutputTokens {
		t.Errorf("reported usage %+v != fake's %+v", got.Usage, u)
	}
}

func TestChatTools(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, stream := range []bool{false, true} {
		req := userReq("gpt-test", "weather?")
		req.Tools = []llm.Tool{{Name: "get_weather", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`)}}
		req.ToolChoice = &llm.ToolChoice{Mode: "auto"}
		req.Stream = stream
		reply, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var calls []llm.ToolCall
		var finish llm.FinishReason
		if stream {
			got, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			calls, finish = []llm.ToolCall{got.Calls[0]}, got.Finish
		} else {
			calls, finish = reply.Response.Choices[0].Message.ToolCalls, reply.Response.Choices[0].FinishReason
		}
		want := []llm.ToolCall{{ID: calls[0].ID, Name: "get_weather", Arguments: "{}"}}
		if diff := cmp.Diff(want, calls); diff != "" || finish != llm.FinishToolCalls || !strings.HasPrefix(calls[0].ID, "call_") {
			t.Errorf("Chat(stream=%v) tool calls mismatch, finish %q (-want +got):\n%s", stream, finish, diff)
		}
	}
}

func TestChatImages(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(t, srv.URL())
	req := &llm.Request{Model: "gpt-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{
		{Type: llm.PartText, Text: "what is this?"},
		{Type: llm.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo=", ImageDetail: "low"},
		{Type: llm.PartImage, ImageURL: "https://example.com/cat.jpg"},
	}}}}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Messages []struct {
			Content json.RawMessage
		}
	}
	json.Unmarshal(srv.Requests()[0].Raw, &body)
	want := `[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}},{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]`
	if got := string(body.Messages[0].Content); got != want {
		t.Errorf("sent content = %s, want %s", got, want)
	}
}

// TestChatFixtures replays recorded responses and checks the mapping.
func TestChatFixtures(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(t, srv.URL())
	tests := []struct {
		fixture string
		stream  bool
		text    string
		calls   int
		finish  llm.FinishReason
		usage   *llm.Usage
	}{
		{"chat-basic", false, "Hello! I'm just a computer program, so I don't have feelings, but I'm here to help you. How can I assist you today?", 0, llm.FinishStop, &llm.Usage{InputTokens: 13, OutputTokens: 31}},
		{"chat-detailed-usage", false, "", 0, llm.FinishLength, &llm.Usage{InputTokens: 12, OutputTokens: 100, ReasoningTokens: 100}},
		{"chat-reasoning", false, "", 0, llm.FinishStop, nil},
		{"chat-tool-call", false, "", 1, llm.FinishToolCalls, nil},
		{"chat-parallel-tool-calls", false, "", 1, llm.FinishToolCalls, &llm.Usage{InputTokens: 162, OutputTokens: 219, ReasoningTokens: 192}},
		{"azure-chat-deployment-basic", false, "", 0, llm.FinishStop, &llm.Usage{InputTokens: 8, OutputTokens: 271, ReasoningTokens: 192}},
		{"azure-chat-tool-call-gpt5-mini", false, "", 1, llm.FinishToolCalls, nil},
		{"chat-stream-with-usage", true, "", 0, llm.FinishLength, &llm.Usage{InputTokens: 12, OutputTokens: 100, ReasoningTokens: 100}},
		{"chat-stream-no-usage", true, "", 0, llm.FinishStop, nil},
		{"chat-stream-langchaingo", true, "", 0, llm.FinishStop, nil},
		{"chat-stream-multi-tool-gpt4o", true, "", 2, llm.FinishToolCalls, &llm.Usage{InputTokens: 106, OutputTokens: 50}},
		{"chat-stream-tool-call-usage-gpt5", true, "", 1, llm.FinishToolCalls, nil},
		{"chat-stream-text-after-tool-gpt5", true, "", 0, llm.FinishStop, nil},
		{"azure-chat-stream-tool-call-o4-mini", true, "", 1, llm.FinishToolCalls, nil},
		{"azure-chat-stream-text-gpt5-mini", true, "", 0, llm.FinishStop, nil},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			req := userReq("fixture:"+tt.fixture, "x")
			req.Stream = tt.stream
			reply, err := c.Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var text string
			var calls []llm.ToolCall
			var finish llm.FinishReason
			var usage *llm.Usage
			if tt.stream {
				got, err := collect(t, reply.Stream)
				if err != nil {
					t.Fatalf("stream %s: %v", tt.fixture, err)
				}
				text, finish, usage = got.Text, got.Finish, got.Usage
				for i := range len(got.Calls) {
					calls = append(calls, got.Calls[i])
				}
			} else {
				ch := reply.Response.Choices[0]
				text, calls, finish = ch.Message.Text(), ch.Message.ToolCalls, ch.FinishReason
				if reply.Response.UsageReported {
					usage = &reply.Response.Usage
				}
			}
			if tt.text != "" && text != tt.text {
				t.Errorf("text = %q, want %q", text, tt.text)
			}
			if len(calls) != tt.calls || finish != tt.finish {
				t.Errorf("%d calls, finish %q; want %d, %q", len(calls), finish, tt.calls, tt.finish)
			}
			for _, tc := range calls {
				if tc.ID == "" || tc.Name == "" || !json.Valid([]byte(tc.Arguments)) {
					t.Errorf("tool call = %+v, want id, name and JSON arguments", tc)
				}
			}
			if tt.usage != nil {
				if diff := cmp.Diff(tt.usage, usage); diff != "" {
					t.Errorf("usage mismatch (-want +got):\n%s", diff)
				}
			}
			if tt.fixture == "chat-stream-no-usage" && usage != nil {
				t.Errorf("usage = %+v, want none", usage)
			}
		})
	}
}

func TestChatNoRedirect(t *testing.T) {
	var hits int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/v1/chat/completions", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/v1")
	_, err := c.Chat(context.Background(), userReq("m", "x"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderError || e.UpstreamStatus != 307 || hits != 0 {
		t.Errorf("Chat(redirect) = %v (hits %d), want provider_error 307 and no request to the target", err, hits)
	}
}

func TestChatLargeResponse(t *testing.T) {
	content := strings.Repeat("abcdefghij", 1<<20) // 10 MiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(wire.ChatResponse{ID: "x", Object: "chat.completion", Model: "m",
			Choices: []wire.Choice{{Message: wire.Message{Role: "assistant", Content: wire.TextContent(content)}, FinishReason: "stop"}}})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	reply, err := c.Chat(context.Background(), userReq("m", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := reply.Response.Choices[0].Message.Text(); len(got) != len(content) || reply.Response.UsageReported {
		t.Errorf("Chat(10 MiB) content length %d, usage reported %v; want %d, false", len(got), reply.Response.UsageReported, len(content))
	}
}

// TestKeepHeaders: request ids, rate-limit state and retry hints are kept,
// in any case; other headers are dropped.
func TestKeepHeaders(t *testing.T) {
	h := http.Header{"X-Request-Id": {"r"}, "Retry-After": {"1"}, "Retry-After-Ms": {"1000"}, "Openai-Processing-Ms": {"5"},
		"Apim-Request-Id": {"a"}, "X-Ratelimit-Remaining-Requests": {"9"}, "x-ratelimit-limit-tokens": {"10"},
		"Content-Type": {"application/json"}, "X-Ratelimit": {"short"}, "Set-Cookie": {"c"}}
	got := keepHeaders(h)
	for _, k := range []string{"X-Request-Id", "Retry-After", "Retry-After-Ms", "Openai-Processing-Ms", "Apim-Request-Id", "X-Ratelimit-Remaining-Requests", "x-ratelimit-limit-tokens"} {
		if _, ok := got[k]; !ok {
			t.Errorf("keepHeaders dropped %s", k)
		}
	}
	if len(got) != 7 {
		t.Errorf("keepHeaders(%v) = %v, want 7 headers", h, got)
	}
}
