package gemini

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
)

func TestClassify(t *testing.T) {
	const key = "AIzaSyAbcdefghijklmnopqrstuvwxyz012345678"
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		code       llm.Code
		retryAfter time.Duration
		msg        string
	}{
		{"invalid-argument", 400, nil, `{"error":{"code":400,"message":"Invalid value at 'contents[0].role'","status":"INVALID_ARGUMENT"}}`,
			llm.CodeUpstreamInvalidRequest, 0, "Invalid value at 'contents[0].role'"},
		{"token-limit", 400, nil, `{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`,
			llm.CodeContextLengthExceeded, 0, "exceeds the maximum number of tokens"},
		{"key-invalid-400", 400, nil, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`,
			llm.CodeProviderAuthFailed, 0, "providers.gem.api_key"},
		{"unauthenticated", 401, nil, `{"error":{"code":401,"message":"key ` + key + ` is bad","status":"UNAUTHENTICATED"}}`,
			llm.CodeProviderAuthFailed, 0, "was rejected"},
		{"permission-denied", 403, nil, `{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`,
			llm.CodeProviderAuthFailed, 0, "was rejected"},
		{"not-found", 404, nil, `{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}`,
			llm.CodeUpstreamInvalidRequest, 0, "models/x is not found"},
		{"retry-info", 429, nil, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34.4s"}]}}`,
			llm.CodeProviderRateLimited, 34400 * time.Millisecond, "rate limiting"},
		{"retry-after-header", 429, http.Header{"Retry-After": {"7"}}, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`,
			llm.CodeProviderRateLimited, 7 * time.Second, "rate limiting"},
		{"retry-info-wins", 429, http.Header{"Retry-After": {"7"}}, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}}`,
			llm.CodeProviderRateLimited, 2 * time.Second, "rate limiting"},
		{"retry-in-message", 429, nil, `{"error":{"code":429,"message":"Quota exceeded. Please retry in 12.5s.","status":"RESOURCE_EXHAUSTED"}}`,
			llm.CodeProviderRateLimited, 12500 * time.Millisecond, "rate limiting"},
		{"internal", 500, nil, `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`,
			llm.CodeProviderUnavailable, 0, "unavailable (HTTP 500)"},
		{"unavailable", 503, http.Header{"Retry-After": {"3"}}, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`,
			llm.CodeProviderUnavailable, 3 * time.Second, "unavailable (HTTP 503)"},
		{"deadline", 504, nil, `{"error":{"code":504,"message":"Deadline expired","status":"DEADLINE_EXCEEDED"}}`,
			llm.CodeProviderTimeout, 0, "timed out"},
		{"html-502", 502, nil, `<html>bad gateway</html>`, llm.CodeProviderUnavailable, 0, "unavailable (HTTP 502)"},
		{"html-400", 400, nil, `<html>bad</html>`, llm.CodeProviderError, 0, "cannot read"},
		{"redirect", 307, nil, ``, llm.CodeProviderError, 0, "unexpected HTTP status 307"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := classify("gem", key, &http.Response{StatusCode: tt.status, Header: h}, []byte(tt.body))
			if e.Code != tt.code || e.RetryAfter != tt.retryAfter || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("classify(%d, %s) = %s (retry after %v), want %s, %v, message containing %q", tt.status, tt.body, e, e.RetryAfter, tt.code, tt.retryAfter, tt.msg)
			}
			if !e.Sent || e.Provider != "gem" || e.UpstreamStatus != tt.status {
				t.Errorf("classify = %+v, want sent, provider gem, status %d", e, tt.status)
			}
			if strings.Contains(e.Error(), key) {
				t.Errorf("classify error %q echoes the key", e.Error())
			}
		})
	}
}

// TestFakeErrors drives every error:<status> model of the fake.
func TestFakeErrors(t *testing.T) {
	tests := []struct {
		model      string
		code       llm.Code
		retryAfter time.Duration
	}{
		{"error:400", llm.CodeContextLengthExceeded, 0},
		{"error:403", llm.CodeProviderAuthFailed, 0},
		{"error:404", llm.CodeUpstreamInvalidRequest, 0},
		{"error:429", llm.CodeProviderRateLimited, 2 * time.Second},
		{"error:500", llm.CodeProviderUnavailable, 0},
		{"error:503", llm.CodeProviderUnavailable, 0},
		{"error:504", llm.CodeProviderTimeout, 0},
	}
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.model, ":", "-"), func(t *testing.T) {
			_, err := c.Chat(context.Background(), userReq(tt.model, "hi"))
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.RetryAfter != tt.retryAfter {
				t.Errorf("Chat(%s) = %v, want %s retry after %v", tt.model, err, tt.code, tt.retryAfter)
			}
		})
	}
}

func TestWrongKey(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL(), func(cfg *Config) { cfg.APIKey = "AIzaSyWrongWrongWrongWrongWrongWrong1234" })
	_, err := c.Chat(context.Background(), userReq("m", "hi"))
	var e *llm.Error
	if !errors.As(err, &e) || e.Code != llm.CodeProviderAuthFailed || strings.Contains(e.Error(), "AIzaSyWrong") {
		t.Errorf("Chat with a wrong key = %v, want provider_auth_failed without the key", err)
	}
	c = newClient(t, srv.URL(), func(cfg *Config) { cfg.APIKey = "" })
	_, err = c.Chat(context.Background(), userReq("m", "hi"))
	if !errors.As(err, &e) || e.Code != llm.CodeProviderAuthFailed || e.UpstreamStatus != 403 {
		t.Errorf("Chat without a key = %v, want provider_auth_failed (403)", err)
	}
}

func TestRedact(t *testing.T) {
	got := redact("bad key AIzaSyAbcdefghijklmnopqrstuvwxyz012345678 and mykey-123456", "mykey-123456")
	if strings.Contains(got, "AIza") || strings.Contains(got, "mykey") {
		t.Errorf("redact = %q, want both keys removed", got)
	}
}
