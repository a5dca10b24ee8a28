package anthropic

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

func TestChatErrors(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	tests := []struct {
		model      string
		code       llm.Code
		status     int
		retryAfter time.Duration
		msg        string // in the client message
	}{
		{"error:400", llm.CodeUpstreamInvalidRequest, 400, 0, "does not support effort level 'xhigh'"},
		{"error:context", llm.CodeContextLengthExceeded, 400, 0, "prompt is too long"},
		{"error:401", llm.CodeProviderAuthFailed, 401, 0, "providers.claude.api_key"},
		{"error:403", llm.CodeProviderAuthFailed, 403, 0, "providers.claude.api_key"},
		{"error:404", llm.CodeUpstreamInvalidRequest, 404, 0, "model not found (model: claude-sonet-4-5)"},
		{"error:413", llm.CodePayloadTooLarge, 413, 0, "too large"},
		{"error:429", llm.CodeProviderRateLimited, 429, 2 * time.Second, "rate limiting"},
		// No retry-after: the fallback to anthropic-ratelimit-requests-reset
		// (exhausted) against the response's Date, 19:59:59 to 20:00:00.
		{"fixture:error-429-rate-limit", llm.CodeProviderRateLimited, 429, time.Second, "rate limiting"},
		{"error:500", llm.CodeProviderUnavailable, 500, 0, "unavailable"},
		{"error:529", llm.CodeProviderUnavailable, 529, 0, "overloaded"},
		{"fixture:error-529-overloaded-with-request-id", llm.CodeProviderUnavailable, 529, 0, "overloaded"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.model, ":", "-"), func(t *testing.T) {
			reply, err := c.Chat(context.Background(), userReq(tt.model, "x"))
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("Chat(%s) = %v, %v; want an *llm.Error", tt.model, reply, err)
			}
			if e.Code != tt.code || e.UpstreamStatus != tt.status || !e.Sent || e.Provider != "claude" || e.RetryAfter != tt.retryAfter {
				t.Errorf("Chat(%s) = %+v, want %s, status %d, retry after %v, sent", tt.model, e, tt.code, tt.status, tt.retryAfter)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Chat(%s) message = %q, want it to contain %q", tt.model, e.Message, tt.msg)
			}
			if !strings.Contains(e.Error(), "upstream request-id req_") {
				t.Errorf("Chat(%s) error = %v, want the upstream request id in its cause", tt.model, e)
			}
			if strings.Contains(e.Error(), anthropictest.Key) {
				t.Errorf("Chat(%s) error leaks the key: %v", tt.model, e)
			}
		})
	}
}

func TestFakeValidation(t *testing.T) {
	srv := anthropictest.NewServer(t)
	tests := []struct {
		name string
		mod  func(*Config)
		req  *llm.Request
		code llm.Code
	}{
		{"wrong-key", func(c *Config) { c.APIKey = "sk-ant-wrong-key-123456" }, userReq("m", "x"), llm.CodeProviderAuthFailed},
		{"no-key", func(c *Config) { c.APIKey = "" }, userReq("m", "x"), llm.CodeProviderAuthFailed},
		{"bad-version", func(c *Config) { c.Version = "2020-01-01" }, userReq("m", "x"), llm.CodeUpstreamInvalidRequest},
		{"assistant-first", nil, &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}}, llm.CodeUpstreamInvalidRequest},
		{"stray-tool-result", nil, &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, ToolCallID: "toolu_x", Content: []llm.Part{{Type: llm.PartText, Text: "r"}}}}}, llm.CodeUpstreamInvalidRequest},
		{"thinking-budget-too-small", nil, func() *llm.Request {
			r := userReq("m", "x")
			r.Thinking = &llm.Thinking{Enabled: true, BudgetTokens: 10}
			return r
		}(), llm.CodeUpstreamInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mods := []func(*Config){}
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			_, err := newClient(t, srv.URL(), mods...).Chat(context.Background(), tt.req)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Errorf("Chat(%s) = %v, want %s", tt.name, err, tt.code)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    map[string]string
		want time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"http-date", map[string]string{"Retry-After": "Thu, 01 Jan 2026 12:00:30 GMT"}, 30 * time.Second},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"reset-exhausted", map[string]string{
			"Anthropic-Ratelimit-Requests-Remaining": "5", "Anthropic-Ratelimit-Requests-Reset": "2026-01-01T12:00:50Z",
			"Anthropic-Ratelimit-Tokens-Remaining": "0", "Anthropic-Ratelimit-Tokens-Reset": "2026-01-01T12:00:10Z",
		}, 10 * time.Second},
		{"reset-none-exhausted", map[string]string{
			"Anthropic-Ratelimit-Input-Tokens-Remaining": "5", "Anthropic-Ratelimit-Input-Tokens-Reset": "2026-01-01T12:00:04Z",
			"Anthropic-Ratelimit-Output-Tokens-Remaining": "5", "Anthropic-Ratelimit-Output-Tokens-Reset": "2026-01-01T12:00:03Z",
		}, 4 * time.Second},
		{"reset-past", map[string]string{"Anthropic-Ratelimit-Requests-Remaining": "0", "Anthropic-Ratelimit-Requests-Reset": "2025-01-01T12:00:00Z"}, 0},
		{"reset-against-date", map[string]string{"Date": "Thu, 01 Jan 2026 11:59:00 GMT",
			"Anthropic-Ratelimit-Requests-Remaining": "0", "Anthropic-Ratelimit-Requests-Reset": "2026-01-01T12:00:00Z"}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.h {
				h.Set(k, v)
			}
			if got := retryAfter(h, now); got != tt.want {
				t.Errorf("retryAfter(%v) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

func TestClassifyDetail(t *testing.T) {
	tests := []struct {
		typ, msg string
		code     llm.Code
	}{
		{"overloaded_error", "Overloaded", llm.CodeProviderUnavailable},
		{"api_error", "Internal server error", llm.CodeProviderUnavailable},
		{"timeout_error", "timeout", llm.CodeProviderUnavailable},
		{"rate_limit_error", "slow down", llm.CodeProviderRateLimited},
		{"authentication_error", "invalid x-api-key", llm.CodeProviderAuthFailed},
		{"permission_error", "no", llm.CodeProviderAuthFailed},
		{"billing_error", "credit balance is too low", llm.CodeProviderRateLimited},
		{"request_too_large", "too big", llm.CodePayloadTooLarge},
		{"not_found_error", "model: x", llm.CodeUpstreamInvalidRequest},
		{"invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum", llm.CodeContextLengthExceeded},
		{"invalid_request_error", "input length and `max_tokens` exceed context limit: 197000 + 8192 > 200000", llm.CodeContextLengthExceeded},
		{"invalid_request_error", "messages.1: bad", llm.CodeUpstreamInvalidRequest},
		{"something_new", "?", llm.CodeUpstreamInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			e := &llm.Error{Provider: "claude"}
			classifyDetail(e, errorDetail(tt.typ, tt.msg), "")
			if e.Code != tt.code || e.Message == "" {
				t.Errorf("classifyDetail(%s, %q) = %s %q, want %s", tt.typ, tt.msg, e.Code, e.Message, tt.code)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	key := "sk-ant-api03-secretsecretsecret"
	got := redact("invalid key "+key+" and sk-ant-other-abcdefgh", key)
	if strings.Contains(got, "secret") || strings.Contains(got, "abcdefgh") {
		t.Errorf("redact = %q, want no key", got)
	}
}

func TestTransportErrors(t *testing.T) {
	// A port with nothing listening: refused before anything was sent.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = newClient(t, "http://"+addr).Chat(context.Background(), userReq("m", "x"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderUnavailable || e.Sent {
		t.Errorf("Chat(refused) = %+v, want provider_unavailable, not sent", err)
	}
	// Cancelled before the answer: client_cancelled.
	srv := anthropictest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = newClient(t, srv.URL()).Chat(ctx, userReq("slow:10s", "x"))
	if !errors.As(err, &e) || e.Code != llm.CodeClientCancelled || !e.Sent {
		t.Errorf("Chat(cancelled) = %+v, want client_cancelled, sent", err)
	}
	// Deadline: provider_timeout.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = newClient(t, srv.URL()).Chat(ctx, userReq("slow:10s", "x"))
	if !errors.As(err, &e) || e.Code != llm.CodeProviderTimeout || !e.Sent || time.Since(start) > 2*time.Second {
		t.Errorf("Chat(deadline) = %+v after %v, want provider_timeout, sent", err, time.Since(start))
	}
}

func errorDetail(typ, msg string) wire.ErrorDetail { return wire.ErrorDetail{Type: typ, Message: msg} }
