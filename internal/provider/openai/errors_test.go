package openai

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
)

// wantErr describes an expected *llm.Error.
type wantErr struct {
	code       llm.Code
	status     int
	retryAfter time.Duration
	sent       bool
	contains   string
	noRetry    bool
}

func checkErr(t *testing.T, name string, err error, w wantErr) {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error = %v, want *llm.Error", name, err)
	}
	if e.Code != w.code || e.UpstreamStatus != w.status || e.RetryAfter != w.retryAfter || e.Sent != w.sent ||
		e.Provider != "oai" || e.NoClientRetry != w.noRetry || !strings.Contains(e.Message, w.contains) {
		t.Errorf("%s: error = {code %s, status %d, retry %v, sent %v, provider %q, noRetry %v, msg %q}, want {%s, %d, %v, %v, oai, %v, containing %q}",
			name, e.Code, e.UpstreamStatus, e.RetryAfter, e.Sent, e.Provider, e.NoClientRetry, e.Message, w.code, w.status, w.retryAfter, w.sent, w.noRetry, w.contains)
	}
	if strings.Contains(e.Message, openaitest.Key) || strings.Contains(e.Error(), openaitest.Key) {
		t.Errorf("%s: error leaks the key: %v", name, e)
	}
}

// TestChatErrors runs every error class through the fake server.
func TestChatErrors(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(t, srv.URL())
	auth := "the gateway's credential for provider oai was rejected; the operator must fix providers.oai.api_key"
	tests := []struct {
		model string
		want  wantErr
	}{
		{"error:401", wantErr{llm.CodeProviderAuthFailed, 401, 0, true, auth, false}},
		{"error:403", wantErr{llm.CodeProviderAuthFailed, 403, 0, true, auth, false}},
		{"error:429", wantErr{llm.CodeProviderRateLimited, 429, 2 * time.Second, true, "rate limiting", false}},
		{"error:insufficient_quota", wantErr{llm.CodeProviderRateLimited, 429, 0, true, "quota", true}},
		{"error:context_length", wantErr{llm.CodeContextLengthExceeded, 400, 0, true, "maximum context length is 128000", false}},
		{"error:content_filter", wantErr{llm.CodeContentFiltered, 400, 0, true, "safety system", false}},
		{"error:404", wantErr{llm.CodeUpstreamInvalidRequest, 404, 0, true, "The model `gpt-4.1-nano-wrong` does not exist", false}},
		{"fixture:error-400-empty-messages", wantErr{llm.CodeUpstreamInvalidRequest, 400, 0, true, "Invalid 'messages': empty array", false}},
		{"fixture:error-400-unsupported-value", wantErr{llm.CodeUpstreamInvalidRequest, 400, 0, true, "does not support 'system'", false}},
		{"fixture:error-429-rate-limit-tokens", wantErr{llm.CodeProviderRateLimited, 429, 3890 * time.Millisecond, true, "rate limiting", false}},
		{"error:408", wantErr{llm.CodeProviderUnavailable, 408, 0, true, "unavailable", false}},
		{"error:500", wantErr{llm.CodeProviderUnavailable, 500, 0, true, "unavailable (HTTP 500)", false}},
		{"error:502", wantErr{llm.CodeProviderUnavailable, 502, 0, true, "unavailable", false}},
		{"error:503", wantErr{llm.CodeProviderUnavailable, 503, time.Second, true, "unavailable", false}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.model, ":", "-"), func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				req := userReq(tt.model, "x")
				req.Stream = stream
				_, err := c.Chat(context.Background(), req)
				checkErr(t, tt.model, err, tt.want)
			}
		})
	}
	// A rejected key: the fake's 401 body echoes part of it; the error must not.
	bad := newClient(t, srv.URL(), func(cfg *Config) { cfg.APIKey = "sk-wrong-0123456789" })
	_, err := bad.Chat(context.Background(), userReq("echo", "x"))
	checkErr(t, "wrong-key", err, wantErr{llm.CodeProviderAuthFailed, 401, 0, true, auth, false})
	if strings.Contains(err.Error(), "sk-") {
		t.Errorf("wrong-key error mentions a key: %v", err)
	}
}

// TestClassify covers bodies and headers the fake does not produce.
func TestClassify(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		code   llm.Code
		retry  time.Duration
		msg    string
	}{
		{"retry-after-seconds", 429, h("Retry-After", "7"), `{}`, llm.CodeProviderRateLimited, 7 * time.Second, ""},
		{"retry-after-ms", 429, h("Retry-After-Ms", "1500", "Retry-After", "2"), `{}`, llm.CodeProviderRateLimited, 1500 * time.Millisecond, ""},
		{"reset-requests", 429, h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "6m0s", "X-Ratelimit-Reset-Tokens", "20ms"), `{}`, llm.CodeProviderRateLimited, 6 * time.Minute, ""},
		{"reset-tokens", 429, h("X-Ratelimit-Remaining-Requests", "10", "X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Requests", "6m0s", "X-Ratelimit-Reset-Tokens", "20ms"), `{}`, llm.CodeProviderRateLimited, 20 * time.Millisecond, ""},
		{"reset-unknown-remaining", 429, h("X-Ratelimit-Reset-Requests", "1s", "X-Ratelimit-Reset-Tokens", "20ms"), `{}`, llm.CodeProviderRateLimited, time.Second, ""},
		{"try-again-message", 429, nil, `{"error":{"message":"Please try again in 20ms.","type":"tokens","code":"rate_limit_exceeded"}}`, llm.CodeProviderRateLimited, 20 * time.Millisecond, ""},
		{"529-overloaded", 529, nil, `<html>`, llm.CodeProviderUnavailable, 0, ""},
		{"409", 409, nil, ``, llm.CodeProviderUnavailable, 0, ""},
		{"422", 422, nil, `{"error":{"message":"bad thing","type":"invalid_request_error"}}`, llm.CodeUpstreamInvalidRequest, 0, "rejected the request: bad thing"},
		{"string-error", 400, nil, `{"error":"model foo not found"}`, llm.CodeUpstreamInvalidRequest, 0, "model foo not found"},
		{"message-only", 400, nil, `{"message":"oops"}`, llm.CodeUpstreamInvalidRequest, 0, "oops"},
		{"numeric-code", 400, nil, `{"error":{"message":"x","code":400}}`, llm.CodeUpstreamInvalidRequest, 0, "x"},
		{"undecodable-400", 400, nil, `<html>bad</html>`, llm.CodeProviderError, 0, "cannot read"},
		{"context-by-message", 400, nil, `{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error"}}`, llm.CodeContextLengthExceeded, 0, ""},
		{"azure-content-filter", 400, nil, `{"error":{"message":"The response was filtered","type":null,"param":"prompt","code":"content_filter","status":400}}`, llm.CodeContentFiltered, 0, ""},
		{"key-stripped", 400, nil, `{"error":{"message":"bad key sk-proj-abcdefghijklmnop in field","type":"invalid_request_error"}}`, llm.CodeUpstreamInvalidRequest, 0, "bad key sk-[redacted] in field"},
		{"configured-key-stripped", 404, nil, `{"error":{"message":"no such thing: ` + openaitest.Key + `"}}`, llm.CodeUpstreamInvalidRequest, 0, "no such thing: [redacted]"},
		{"auth-body-ignored", 401, nil, `{"error":{"message":"Incorrect API key provided: sk-abc***xyz"}}`, llm.CodeProviderAuthFailed, 0, "must fix providers.oai.api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: tt.header}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			e := classify("oai", openaitest.Key, resp, []byte(tt.body))
			if e.Code != tt.code || e.RetryAfter != tt.retry || !strings.Contains(e.Message, tt.msg) || e.UpstreamStatus != tt.status || !e.Sent {
				t.Errorf("classify(%d, %s) = {%s, %v, %q}, want {%s, %v, containing %q}", tt.status, tt.body, e.Code, e.RetryAfter, e.Message, tt.code, tt.retry, tt.msg)
			}
			if strings.Contains(e.Message, "sk-abc") || strings.Contains(e.Message, "sk-proj-abc") {
				t.Errorf("classify(%s) message leaks a key: %q", tt.body, e.Message)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}
	if got := retryAfter(h, now); got != 90*time.Second {
		t.Errorf("retryAfter(HTTP date +90s) = %v, want 1m30s", got)
	}
	h = http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}
	if got := retryAfter(h, now); got != 0 {
		t.Errorf("retryAfter(past date) = %v, want 0", got)
	}
}

// TestTransportErrors checks Sent and the class of failures without an
// HTTP response.
func TestTransportErrors(t *testing.T) {
	// A port with nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := ln.Addr().String()
	ln.Close()

	// A server that reads the request, then resets the connection.
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}))
	defer reset.Close()

	// A server that never answers.
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(block)

	tests := []struct {
		name   string
		url    string
		client *http.Client
		ctx    func() (context.Context, context.CancelFunc)
		want   llm.Code
		sent   bool
	}{
		{"refused", "http://" + deadAddr, nil, nil, llm.CodeProviderUnavailable, false},
		{"dns", "http://no-such-host.invalid", nil, nil, llm.CodeProviderUnavailable, false},
		{"reset-after-send", reset.URL, nil, nil, llm.CodeProviderUnavailable, true},
		{"header-timeout", hang.URL, &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}}, nil, llm.CodeProviderTimeout, true},
		{"deadline", hang.URL, nil, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, llm.CodeProviderTimeout, true},
		{"client-cancel", hang.URL, nil, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, llm.CodeClientCancelled, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.url, func(cfg *Config) { cfg.HTTPClient = tt.client })
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			_, err := c.Chat(ctx, userReq("m", "x"))
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != tt.want || e.Sent != tt.sent || e.Provider != "oai" {
				t.Fatalf("Chat(%s) = %v (sent %v), want %s, sent %v", tt.name, err, e != nil && e.Sent, tt.want, tt.sent)
			}
			if strings.Contains(e.Error(), tt.url) {
				t.Errorf("Chat(%s) error mentions the URL: %v", tt.name, e)
			}
		})
	}
}
