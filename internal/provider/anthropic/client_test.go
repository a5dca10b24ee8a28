package anthropic

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
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
	"github.com/google/go-cmp/cmp"
)

func newClient(t testing.TB, baseURL string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Name: "claude", BaseURL: baseURL, APIKey: anthropictest.Key}
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
	Role      llm.Role
	Text      string
	Thinking  string
	Signature string
	Calls     map[int]llm.ToolCall
	Finish    llm.FinishReason
	StopSeq   string
	Usage     *llm.Usage
	Usages    int // events that carried usage
	Events    int
	Native    int
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
			if !json.Valid(ev.Native.Body) || ev.Native.Dialect != llm.DialectAnthropic {
				t.Errorf("event Native = %+v, want an Anthropic event", ev.Native)
			}
		}
		if ev.Role != "" {
			c.Role = ev.Role
		}
		c.Text += ev.Text
		c.Thinking += ev.Thinking
		c.Signature += ev.ThinkingSignature
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
			c.StopSeq = ev.StopSequence
		}
		if ev.Usage != nil {
			c.Usage = ev.Usage
			c.Usages++
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Name: "anthropic"}, true},
		{"no-name", Config{}, false},
		{"bad-scheme", Config{Name: "x", BaseURL: "ftp://x"}, false},
		{"override-key", Config{Name: "x", Headers: map[string]string{"x-api-key": "y"}}, false},
		{"override-version", Config{Name: "x", Headers: map[string]string{"anthropic-version": "y"}}, false},
		{"key-newline", Config{Name: "x", APIKey: "a\nb"}, false},
		{"beta-newline", Config{Name: "x", Beta: []string{"a\nb"}}, false},
		{"negative-max-tokens", Config{Name: "x", DefaultMaxTokens: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) error = %v, want ok %v", tt.cfg, err, tt.ok)
			}
			if tt.name == "defaults" && (c.url != "https://api.anthropic.com/v1/messages" || c.maxTokens != DefaultMaxTokens ||
				c.header.Get("Anthropic-Version") != "2023-06-01") {
				t.Errorf("New(defaults) = url %q, max tokens %d, header %v", c.url, c.maxTokens, c.header)
			}
		})
	}
}

func TestChatEcho(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL(), func(cfg *Config) {
		cfg.Beta = []string{"a-2025-01-01", "b-2025-02-02"}
		cfg.Headers = map[string]string{"X-Extra": "1"}
	})
	reply, err := c.Chat(context.Background(), userReq("claude-test", "hello big world"))
	if err != nil {
		t.Fatal(err)
	}
	r := reply.Response
	if r == nil || reply.Stream != nil {
		t.Fatalf("Chat(non-stream) = %+v, want a Response", reply)
	}
	want := []llm.Choice{{FinishReason: llm.FinishStop, Message: llm.Message{Role: llm.RoleAssistant,
		Content: []llm.Part{{Type: llm.PartText, Text: "echo: hello big world"}}}}}
	if diff := cmp.Diff(want, r.Choices); diff != "" {
		t.Errorf("Chat choices mismatch (-want +got):\n%s", diff)
	}
	fake, ok := srv.Usage()
	if diff := cmp.Diff(llm.Usage{InputTokens: 4, OutputTokens: 4}, r.Usage); diff != "" || !r.UsageReported || !ok || fake != r.Usage {
		t.Errorf("Chat usage mismatch (fake %+v) (-want +got):\n%s", fake, diff)
	}
	if r.ID != "msg_anthropictest_1" || r.Model != "claude-test" || r.Created == 0 {
		t.Errorf("Chat response id %q model %q created %d", r.ID, r.Model, r.Created)
	}
	if r.Native == nil || r.Native.Endpoint != "/v1/messages" || r.Native.Dialect != llm.DialectAnthropic || !json.Valid(r.Native.Body) {
		t.Errorf("Chat Native = %+v", r.Native)
	}
	if got := reply.Header.Get("Request-Id"); got != "req_anthropictest_1" {
		t.Errorf("Reply.Header request-id = %q", got)
	}
	if reply.Header.Get("Anthropic-Ratelimit-Requests-Remaining") != "49" || reply.Header.Get("Content-Type") != "" {
		t.Errorf("Reply.Header = %v, want only request id and rate-limit headers", reply.Header)
	}
	got := srv.Requests()[0]
	h := got.Header
	if h.Get("X-Api-Key") != anthropictest.Key || h.Get("Anthropic-Version") != "2023-06-01" ||
		h.Get("Anthropic-Beta") != "a-2025-01-01,b-2025-02-02" || h.Get("X-Extra") != "1" || h.Get("Authorization") != "" {
		t.Errorf("request headers = %v", h)
	}
	if strings.Contains(string(got.Raw), anthropictest.Key) || strings.Contains(got.Path, "key") {
		t.Errorf("key leaked outside the x-api-key header")
	}
	if got.Body.MaxTokens != DefaultMaxTokens {
		t.Errorf("sent max_tokens = %d, want the default %d", got.Body.MaxTokens, DefaultMaxTokens)
	}
}

func TestChatDefaultMaxTokens(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL(), func(cfg *Config) { cfg.DefaultMaxTokens = 123 })
	req := userReq("m", "x")
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.MaxTokens = 7
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if a, b := srv.Requests()[0].Body.MaxTokens, srv.Requests()[1].Body.MaxTokens; a != 123 || b != 7 {
		t.Errorf("sent max_tokens = %d, %d; want 123 (configured default), 7 (client's)", a, b)
	}
}

func TestChatStreamEcho(t *testing.T) {
	srv := anthropictest.NewServer(t, anthropictest.WithUsageDetails(100, 20))
	c := newClient(t, srv.URL())
	req := userReq("claude-test", "one two three four")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	if err != nil {
		t.Fatal(err)
	}
	// role, 5 words, finish with usage: content_block_start, ping, stops
	// and message_stop say nothing in neutral terms.
	want := collected{Role: llm.RoleAssistant, Text: "echo: one two three four", Finish: llm.FinishStop, Usages: 1,
		Usage: &llm.Usage{InputTokens: 5 + 100 + 20, OutputTokens: 5, CacheReadTokens: 100, CacheWriteTokens: 20}, Events: 7}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stream mismatch (-want +got):\n%s", diff)
	}
	if u, ok := srv.Usage(); !ok || u != *got.Usage {
		t.Errorf("reported usage %+v != fake's %+v", got.Usage, u)
	}
	if sent := srv.Requests()[0]; !sent.Body.Stream || sent.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("upstream request stream=%v accept=%q", sent.Body.Stream, sent.Header.Get("Accept"))
	}
}

func TestChatTools(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, stream := range []bool{false, true} {
		req := userReq("claude-test", "weather?")
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
		if diff := cmp.Diff(want, calls); diff != "" || finish != llm.FinishToolCalls || !strings.HasPrefix(calls[0].ID, "toolu_") {
			t.Errorf("Chat(stream=%v) tool calls mismatch, finish %q (-want +got):\n%s", stream, finish, diff)
		}
		// Second turn: the tool result goes back; the fake checks that it
		// answers the tool_use of the previous message.
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleAssistant, ToolCalls: calls},
			llm.Message{Role: llm.RoleTool, ToolCallID: calls[0].ID, Content: []llm.Part{{Type: llm.PartText, Text: "sunny"}}, ContentIsString: true})
		req.Stream = false
		reply, err = c.Chat(context.Background(), req)
		if err != nil {
			t.Fatalf("Chat(tool result turn) = %v", err)
		}
		if got := reply.Response.Choices[0].Message.Text(); got != "echo: " {
			t.Errorf("Chat(tool result turn) text = %q, want %q", got, "echo: ")
		}
	}
}

func TestChatThinking(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, stream := range []bool{false, true} {
		req := userReq("claude-test", "why")
		req.Thinking = &llm.Thinking{Enabled: true, BudgetTokens: 2048}
		req.Stream = stream
		reply, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var thinking, sig, text string
		if stream {
			got, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			thinking, sig, text = got.Thinking, got.Signature, got.Text
		} else {
			parts := reply.Response.Choices[0].Message.Content
			if len(parts) != 2 || parts[0].Type != llm.PartThinking {
				t.Fatalf("Chat(thinking) parts = %+v", parts)
			}
			thinking, sig, text = parts[0].Text, parts[0].Signature, parts[1].Text
		}
		if thinking != "The user said: why" || sig == "" || text != "echo: why" {
			t.Errorf("Chat(thinking, stream=%v) = thinking %q signature %q text %q", stream, thinking, sig, text)
		}
		// The signed thinking block goes back in the next turn unchanged.
		req.Stream = false
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartThinking, Text: thinking, Signature: sig}, {Type: llm.PartText, Text: text}}},
			llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "more"}}})
		if _, err := c.Chat(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		sent := srv.Requests()[srv.Calls()-1].Body
		if b := sent.Messages[1].Content.Blocks[0]; b.Type != wire.BlockThinking || b.Thinking != thinking || b.Signature != sig {
			t.Errorf("thinking block sent back = %+v", b)
		}
	}
}

func TestChatImages(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	req := &llm.Request{Model: "claude-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{
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
	want := `[{"type":"text","text":"what is this?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]`
	if got := string(body.Messages[0].Content); got != want {
		t.Errorf("sent content = %s, want %s", got, want)
	}
	for _, bad := range []string{"ftp://x/y.png", "data:image/png,notbase64", "data:;base64,AAAA"} {
		req.Messages[0].Content[1].ImageURL = bad
		_, err := c.Chat(context.Background(), req)
		var e *llm.Error
		if !errors.As(err, &e) || e.Code != llm.CodeInvalidRequest || e.Param != "messages[0]" {
			t.Errorf("Chat(image %q) = %v, want invalid_request on messages[0]", bad, err)
		}
	}
}

func TestCountTokens(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	req := userReq("claude-test", "0123456789abcdef")
	req.MaxTokens, req.Stream = 50, true
	n, err := c.CountTokens(context.Background(), req)
	if err != nil || n != 5 {
		t.Errorf("CountTokens = %d, %v; want 5", n, err)
	}
	sent := srv.Requests()[0]
	if sent.Path != "/v1/messages/count_tokens" || sent.Fields["max_tokens"] != nil || sent.Fields["stream"] != nil {
		t.Errorf("count request %s %s", sent.Path, sent.Raw)
	}
	// Pass-through: the client's body reduced to the prompt.
	req.Native = &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: Endpoint,
		Body: json.RawMessage(`{"model":"alias","max_tokens":9,"system":"0123","messages":[{"role":"user","content":"0123456789abcdef"}],"stream":true}`)}
	if n, err = c.CountTokens(context.Background(), req); err != nil || n != 6 {
		t.Errorf("CountTokens(native) = %d, %v; want 6", n, err)
	}
	if got := string(srv.Requests()[1].Raw); got != `{"model":"claude-test","system":"0123","messages":[{"role":"user","content":"0123456789abcdef"}]}` {
		t.Errorf("count body = %s", got)
	}
	// A client's own count_tokens body: passed through, model rewritten.
	req.Native = &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: CountEndpoint,
		Body: json.RawMessage(`{"model": "alias", "messages": [{"role":"user","content":"0123456789abcdef"}], "system": "01234567"}`)}
	if n, err = c.CountTokens(context.Background(), req); err != nil || n != 7 {
		t.Errorf("CountTokens(native count_tokens) = %d, %v; want 7", n, err)
	}
	if got := string(srv.Requests()[2].Raw); got != `{"model": "claude-test", "messages": [{"role":"user","content":"0123456789abcdef"}], "system": "01234567"}` {
		t.Errorf("count body = %s", got)
	}
	_, err = c.CountTokens(context.Background(), userReq("error:529", "x"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderUnavailable {
		t.Errorf("CountTokens(529) = %v, want provider_unavailable", err)
	}
}

func TestChatNoRedirect(t *testing.T) {
	var hits int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/v1/messages", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	_, err := newClient(t, srv.URL).Chat(context.Background(), userReq("m", "x"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderError || e.UpstreamStatus != 307 || hits != 0 {
		t.Errorf("Chat(redirect) = %v (hits %d), want provider_error 307 and no request to the target", err, hits)
	}
}

func TestChatLargeResponse(t *testing.T) {
	content := strings.Repeat("abcdefghij", 512<<10) // 5 MiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stop := "end_turn"
		json.NewEncoder(w).Encode(wire.MessagesResponse{ID: "msg_x", Type: "message", Role: "assistant", Model: "m",
			Content: []wire.ContentBlock{{Type: wire.BlockText, Text: content}}, StopReason: &stop,
			Usage: wire.Usage{InputTokens: 1, OutputTokens: 1 << 20}})
	}))
	defer srv.Close()
	reply, err := newClient(t, srv.URL).Chat(context.Background(), userReq("m", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := reply.Response.Choices[0].Message.Text(); len(got) != len(content) || reply.Response.Usage.OutputTokens != 1<<20 {
		t.Errorf("Chat(5 MiB) content length %d, usage %+v; want %d", len(got), reply.Response.Usage, len(content))
	}
}
