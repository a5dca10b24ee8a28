package gemini

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func newClient(t testing.TB, baseURL string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Name: "gem", BaseURL: baseURL, APIKey: geminitest.Key}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Unix(1700000000, 0) }
	return c
}

func text(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

func userReq(model, s string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: text(s), ContentIsString: true}}}
}

// collected is everything a stream produced.
type collected struct {
	Role     llm.Role
	Text     string
	Thinking string
	Sigs     []string
	Calls    map[int]llm.ToolCall
	Finish   llm.FinishReason
	Usage    *llm.Usage
	Usages   int
	Events   int
	ID       string
	Model    string
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
			t.Errorf("event Native = %+v, want nil (Gemini is no client dialect)", ev.Native)
		}
		if ev.Role != "" {
			if c.Role != "" {
				t.Errorf("role sent twice")
			}
			c.Role = ev.Role
		}
		c.ID, c.Model = ev.ID, ev.Model
		c.Text += ev.Text
		c.Thinking += ev.Thinking
		if ev.ThinkingSignature != "" {
			c.Sigs = append(c.Sigs, ev.ThinkingSignature)
		}
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
		{"defaults", Config{Name: "gemini"}, true},
		{"no-name", Config{}, false},
		{"bad-scheme", Config{Name: "x", BaseURL: "ftp://x"}, false},
		{"query-in-base", Config{Name: "x", BaseURL: "https://x/v1beta?key=abc"}, false},
		{"override-key-header", Config{Name: "x", Headers: map[string]string{"x-goog-api-key": "y"}}, false},
		{"key-newline", Config{Name: "x", APIKey: "a\nb"}, false},
		{"extra-header", Config{Name: "x", Headers: map[string]string{"x-goog-user-project": "p"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) error = %v, want ok %v", tt.cfg, err, tt.ok)
			}
			if tt.name == "defaults" && c.base != DefaultBaseURL {
				t.Errorf("New(defaults).base = %q, want %q", c.base, DefaultBaseURL)
			}
		})
	}
}

func TestChatEcho(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	reply, err := c.Chat(context.Background(), userReq("gemini-2.5-flash", "hello there"))
	if err != nil {
		t.Fatal(err)
	}
	r := reply.Response
	want := &llm.Response{ID: "geminitest-1", Model: "gemini-2.5-flash", Created: 1700000000,
		Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: text("echo: hello there")}, FinishReason: llm.FinishStop}},
		Usage:   llm.Usage{InputTokens: 3, OutputTokens: 3}, UsageReported: true}
	if d := cmp.Diff(want, r); d != "" {
		t.Errorf("Chat response (-want +got):\n%s", d)
	}
	if u, ok := srv.Usage(); !ok || u != r.Usage {
		t.Errorf("fake usage = %+v, %v, want %+v", u, ok, r.Usage)
	}
	req := srv.Requests()[0]
	if req.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || req.RawQuery != "" {
		t.Errorf("request URL = %s?%s", req.Path, req.RawQuery)
	}
	if got := req.Header.Get("X-Goog-Api-Key"); got != geminitest.Key {
		t.Errorf("x-goog-api-key = %q, want the key", got)
	}
}

func TestChatEchoStream(t *testing.T) {
	srv := geminitest.NewServer(t, geminitest.WithUsageDetails(2, 7))
	c := newClient(t, srv.URL())
	req := userReq("gemini-2.5-flash", "one two three")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	if err != nil {
		t.Fatal(err)
	}
	want := collected{Role: llm.RoleAssistant, Text: "echo: one two three", Finish: llm.FinishStop,
		Usage: &llm.Usage{InputTokens: 4, OutputTokens: 4 + 7, CacheReadTokens: 2, ReasoningTokens: 7}, Usages: 4, Events: 4,
		ID: "geminitest-1", Model: "gemini-2.5-flash"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stream (-want +got):\n%s", d)
	}
	if u, _ := srv.Usage(); u != *got.Usage {
		t.Errorf("fake usage = %+v, adapter usage = %+v", u, *got.Usage)
	}
	if q := srv.Requests()[0]; q.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || q.RawQuery != "alt=sse" {
		t.Errorf("stream URL = %s?%s", q.Path, q.RawQuery)
	}
}

// TestKeyNeverInURL checks every endpoint: the key travels in the header
// only (the fake also fails the test on a key= query).
func TestKeyNeverInURL(t *testing.T) {
	const key = "AIzaSySecretSecretSecretSecretSecret1234"
	var urls []string
	srv := geminitest.NewServer(t, geminitest.WithKey(key))
	c := newClient(t, srv.URL(), func(cfg *Config) { cfg.APIKey = key })
	ctx := context.Background()
	if _, err := c.Chat(ctx, userReq("m", "hi")); err != nil {
		t.Fatal(err)
	}
	sreq := userReq("m", "hi")
	sreq.Stream = true
	if r, err := c.Chat(ctx, sreq); err != nil {
		t.Fatal(err)
	} else if _, err := collect(t, r.Stream); err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]string{{"a"}, {"a", "b"}} {
		if _, err := c.Embed(ctx, &llm.EmbeddingRequest{Model: "text-embedding-004", Input: in}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range srv.Requests() {
		urls = append(urls, r.Path+"?"+r.RawQuery)
		if strings.Contains(r.Path+r.RawQuery, key) || strings.Contains(r.RawQuery, "key=") {
			t.Errorf("request URL %s?%s carries the key", r.Path, r.RawQuery)
		}
		if r.Header.Get("X-Goog-Api-Key") != key || r.Header.Get("Authorization") != "" {
			t.Errorf("request %s headers = %v, want the key in x-goog-api-key only", r.Path, r.Header)
		}
	}
	if len(urls) != 4 {
		t.Errorf("requests = %v, want 4", urls)
	}
}

func TestNoRedirect(t *testing.T) {
	followed := false
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer ts.Close()
	c := newClient(t, ts.URL)
	_, err := c.Chat(context.Background(), userReq("m", "hi"))
	var e *llm.Error
	if !errors.As(err, &e) || followed {
		t.Fatalf("Chat = %v (followed %v), want an error and no redirect", err, followed)
	}
	if e.UpstreamStatus != http.StatusTemporaryRedirect {
		t.Errorf("UpstreamStatus = %d, want 307", e.UpstreamStatus)
	}
}

func TestTransportErrors(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // connection refused from now on
	c := newClient(t, url)
	_, err := c.Chat(context.Background(), userReq("m", "hi"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderUnavailable || e.Sent {
		t.Fatalf("Chat to a closed port = %+v, want provider_unavailable, not sent", err)
	}
	if strings.Contains(e.Message, geminitest.Key) || strings.Contains(e.Error(), geminitest.Key) {
		t.Errorf("error mentions the key: %v", e)
	}
}

func TestSlowDeadline(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Chat(ctx, userReq("slow:10s", "hi"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderTimeout || !e.Sent {
		t.Fatalf("Chat(slow) = %+v, want provider_timeout after sending", err)
	}
}

func TestLargeResponse(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	big := strings.Repeat(strings.Repeat("x", 99_999)+" ", 10) // 1 MB echoed back in 11 chunks
	for _, stream := range []bool{false, true} {
		req := userReq("m", big)
		req.Stream = stream
		reply, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if stream {
			col, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			got = col.Text
		} else {
			got = reply.Response.Choices[0].Message.Text()
		}
		if got != "echo: "+big {
			t.Errorf("stream=%v: echoed %d bytes, want %d", stream, len(got), len(big)+6)
		}
	}
}

func TestResponseTooLarge(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat(" ", 1<<20))
		for range MaxResponseBytes>>20 + 1 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer ts.Close()
	_, err := newClient(t, ts.URL+"/v1beta").Chat(context.Background(), userReq("m", "hi"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderError || !strings.Contains(e.Message, "larger than") {
		t.Fatalf("Chat = %v, want provider_error for a too-large body", err)
	}
}

var ignoreCreated = cmpopts.IgnoreFields(llm.Response{}, "Created")
