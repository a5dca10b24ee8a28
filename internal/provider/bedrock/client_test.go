package bedrock

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
)

func newClient(t testing.TB, srv *bedrocktest.Server, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Name: "bedrock-us", Region: bedrocktest.Region, Credentials: bedrocktest.Credentials()}
	if srv != nil {
		cfg.BaseURL = srv.URL()
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(context.Background(), cfg)
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
	Usage     *llm.Usage
	Events    int
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
		}
		if ev.Usage != nil {
			c.Usage = ev.Usage
		}
	}
}

func asError(t testing.TB, err error) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *llm.Error", err, err)
	}
	return e
}

func TestNew(t *testing.T) {
	creds := bedrocktest.Credentials()
	tests := []struct {
		name    string
		cfg     Config
		wantURL string
	}{
		{"defaults", Config{Name: "b", Region: "eu-west-1", Credentials: creds}, "https://bedrock-runtime.eu-west-1.amazonaws.com"},
		{"base-url", Config{Name: "b", Region: "us-east-1", BaseURL: "http://127.0.0.1:9/", Credentials: creds}, "http://127.0.0.1:9"},
		{"no-name", Config{Region: "us-east-1", Credentials: creds}, ""},
		{"no-region", Config{Name: "b", Credentials: creds}, ""},
		{"bad-region", Config{Name: "b", Region: "us-east-1/../x", Credentials: creds}, ""},
		{"bad-scheme", Config{Name: "b", Region: "us-east-1", BaseURL: "ftp://x", Credentials: creds}, ""},
		{"query", Config{Name: "b", Region: "us-east-1", BaseURL: "https://x/?a=b", Credentials: creds}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(context.Background(), tt.cfg)
			if (err == nil) != (tt.wantURL != "") {
				t.Fatalf("New(%+v) error = %v, want ok %v", tt.cfg, err, tt.wantURL != "")
			}
			if c != nil && c.base != tt.wantURL {
				t.Errorf("New(%+v).base = %q, want %q", tt.cfg, c.base, tt.wantURL)
			}
		})
	}
}

func TestEscapeModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"us.amazon.nova-micro-v1:0", "us.amazon.nova-micro-v1%3A0"},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
			"arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-sonnet-4-5-20250929-v1%3A0"},
		{"a b?c#d", "a%20b%3Fc%23d"},
	}
	for _, tt := range tests {
		if got := escapeModel(tt.in); got != tt.want {
			t.Errorf("escapeModel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChatEcho(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	req := userReq("us.amazon.nova-micro-v1:0", "hello there")
	req.Messages = append([]llm.Message{{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: "be brief"}}}}, req.Messages...)
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	r := reply.Response
	if got := r.Choices[0].Message.Text(); got != "echo: hello there" {
		t.Errorf("text = %q, want %q", got, "echo: hello there")
	}
	if r.Choices[0].FinishReason != llm.FinishStop || r.ID != "bedrocktest-0" || r.Model != req.Model || r.Created == 0 {
		t.Errorf("response = %+v", r)
	}
	want, _ := srv.Usage()
	if d := cmp.Diff(want, r.Usage); d != "" || !r.UsageReported {
		t.Errorf("usage (-fake +got):\n%s", d)
	}
	rq := srv.Requests()[0]
	if rq.Path != "/model/us.amazon.nova-micro-v1%3A0/converse" || rq.ModelID != req.Model {
		t.Errorf("path = %q, model = %q", rq.Path, rq.ModelID)
	}
	if rq.Header.Get("X-Amz-Content-Sha256") == "" || !strings.HasPrefix(rq.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+bedrocktest.AccessKey+"/") {
		t.Errorf("headers = %v", rq.Header)
	}
	if got := reply.Header.Get("X-Amzn-Requestid"); got != "bedrocktest-0" {
		t.Errorf("reply header X-Amzn-Requestid = %q", got)
	}
}

func TestChatStreamEcho(t *testing.T) {
	srv := bedrocktest.NewServer(t, bedrocktest.WithCacheUsage(100, 20))
	c := newClient(t, srv)
	req := userReq("anthropic.claude-3-haiku-20240307-v1:0", "one two three")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	if err != nil {
		t.Fatal(err)
	}
	fake, _ := srv.Usage()
	if got.Text != "echo: one two three" || got.Role != llm.RoleAssistant || got.Finish != llm.FinishStop {
		t.Errorf("stream = %+v", got)
	}
	if got.Usage == nil || *got.Usage != fake || got.Usage.CacheReadTokens != 100 || got.Usage.CacheWriteTokens != 20 {
		t.Errorf("usage = %+v, want %+v with cache 100/20", got.Usage, fake)
	}
	if got.Usage.InputTokens != 3+100+20 {
		t.Errorf("InputTokens = %d, want inputTokens + cache read + cache write = %d", got.Usage.InputTokens, 123)
	}
}

func TestChatToolRoundTrip(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	tools := []llm.Tool{{Name: "get_weather", Description: "weather", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}
	for _, stream := range []bool{false, true} {
		req := userReq("us.amazon.nova-pro-v1:0", "weather?")
		req.Tools, req.Stream = tools, stream
		reply, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var call llm.ToolCall
		var finish llm.FinishReason
		if stream {
			got, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			call, finish = got.Calls[0], got.Finish
		} else {
			call, finish = reply.Response.Choices[0].Message.ToolCalls[0], reply.Response.Choices[0].FinishReason
		}
		want := llm.ToolCall{ID: "tooluse_bedrocktest0", Name: "get_weather", Arguments: "{}"}
		if call != want || finish != llm.FinishToolCalls {
			t.Errorf("stream=%v: call = %+v, finish %q, want %+v, tool_calls", stream, call, finish, want)
		}
		// Second turn: the tool result goes back and the fake checks it
		// answers the toolUse of the previous turn.
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call}},
			llm.Message{Role: llm.RoleTool, ToolCallID: call.ID, Content: []llm.Part{{Type: llm.PartText, Text: `{"temp":21}`}}},
			llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "thanks"}}})
		reply, err = c.Chat(context.Background(), req)
		if err != nil {
			t.Fatalf("stream=%v: second turn: %v", stream, err)
		}
		if stream {
			got, err := collect(t, reply.Stream)
			if err != nil || got.Text != "echo: thanks" {
				t.Errorf("second turn = %+v, %v", got, err)
			}
		} else if txt := reply.Response.Choices[0].Message.Text(); txt != "echo: thanks" {
			t.Errorf("second turn text = %q", txt)
		}
	}
}

func TestChatSlowCancel(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Chat(ctx, userReq("slow:5s", "hi"))
	e := asError(t, err)
	if e.Code != llm.CodeProviderTimeout || !e.Sent {
		t.Errorf("error = %+v, want provider_timeout, sent", e)
	}
	ctx, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel2() }()
	_, err = c.Chat(ctx, userReq("slow:5s", "hi"))
	if e := asError(t, err); e.Code != llm.CodeClientCancelled {
		t.Errorf("error = %+v, want client_cancelled", e)
	}
}

func TestChatNoRedirect(t *testing.T) {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest", http.StatusTemporaryRedirect)
	})
	srv := newHTTPServer(t, redirect)
	c, err := New(context.Background(), Config{Name: "b", Region: "us-east-1", BaseURL: srv, Credentials: bedrocktest.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(context.Background(), userReq("m", "hi"))
	if e := asError(t, err); e.UpstreamStatus != http.StatusTemporaryRedirect {
		t.Errorf("error = %+v, want the 307 classified, not followed", e)
	}
}

func TestTransportErrors(t *testing.T) {
	c, err := New(context.Background(), Config{Name: "b", Region: "us-east-1", BaseURL: "http://127.0.0.1:1", Credentials: bedrocktest.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(context.Background(), userReq("m", "hi"))
	e := asError(t, err)
	if e.Code != llm.CodeProviderUnavailable || e.Sent {
		t.Errorf("error = %+v, want provider_unavailable, not sent", e)
	}
	if strings.Contains(e.Error(), bedrocktest.SecretKey) {
		t.Errorf("error %q contains the secret key", e.Error())
	}
}
