package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/openai"
)

// upstreamError is the lenient shape of an error body: OpenAI's
// {"error":{...}}, and the {"error":"text"} or {"message":"text"} some
// compatible servers send.
type upstreamError struct {
	Message string
	Type    string
	Param   string
	Code    string
}

// parseErrorBody decodes an error body; ok is false when body holds no
// recognisable error.
func parseErrorBody(body []byte) (upstreamError, bool) {
	var top struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return upstreamError{}, false
	}
	if len(top.Error) > 0 && top.Error[0] == '{' {
		var d wire.ErrorDetail
		if err := json.Unmarshal(top.Error, &d); err != nil {
			return upstreamError{}, false
		}
		return upstreamError{d.Message, d.Type, string(d.Param), string(d.Code)}, d.Message != "" || d.Code != "" || d.Type != ""
	}
	if len(top.Error) > 0 && top.Error[0] == '"' {
		var s string
		if json.Unmarshal(top.Error, &s) == nil && s != "" {
			return upstreamError{Message: s}, true
		}
	}
	if top.Message != "" {
		return upstreamError{Message: top.Message}, true
	}
	return upstreamError{}, false
}

// classify turns an upstream HTTP error response (resp with its already
// read, capped body) into an *llm.Error. It is the one place where OpenAI
// statuses and error codes map to airgw failure classes.
func classify(provider, key string, resp *http.Response, body []byte) *llm.Error {
	status := resp.StatusCode
	ue, ok := parseErrorBody(body)
	e := &llm.Error{Provider: provider, UpstreamStatus: status, Sent: true}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code = llm.CodeProviderAuthFailed
		e.Message = authMessage(provider)
		e.Err = fmt.Errorf("upstream status %d, code %q", status, ue.Code) // never the body: it may echo the key
		return e
	case status == http.StatusTooManyRequests:
		e.Code = llm.CodeProviderRateLimited
		if ue.Code == "insufficient_quota" || ue.Type == "insufficient_quota" {
			// A billing problem: waiting does not help, another target may.
			e.Message = fmt.Sprintf("provider %s refused the request: the gateway's account has exhausted its quota; the operator must check the provider's plan and billing", provider)
			e.NoClientRetry = true
			return e
		}
		e.Message = fmt.Sprintf("provider %s is rate limiting the gateway", provider)
		e.RetryAfter = retryAfter(resp.Header, time.Now())
		if e.RetryAfter == 0 {
			e.RetryAfter = retryAfterFromMessage(ue.Message)
		}
		return e
	case status == http.StatusRequestTimeout || status == http.StatusConflict || status >= 500:
		e.Code = llm.CodeProviderUnavailable
		e.Message = fmt.Sprintf("provider %s is unavailable (HTTP %d)", provider, status)
		e.RetryAfter = retryAfter(resp.Header, time.Now())
		if ok {
			e.Err = fmt.Errorf("upstream: %s", redact(ue.Message, key))
		}
		return e
	case status >= 400:
		if !ok {
			e.Code = llm.CodeProviderError
			e.Message = fmt.Sprintf("provider %s answered HTTP %d with a body airgw cannot read", provider, status)
			return e
		}
		classifyDetail(e, ue, key)
		return e
	default:
		e.Code = llm.CodeProviderError
		e.Message = fmt.Sprintf("provider %s answered with unexpected HTTP status %d", provider, status)
		return e
	}
}

// classifyDetail sets e's code and message from an OpenAI error object of a
// 4xx response or of an error event inside a stream.
func classifyDetail(e *llm.Error, ue upstreamError, key string) {
	msg := redact(ue.Message, key)
	e.Param = ue.Param
	switch {
	case ue.Code == "context_length_exceeded" || ue.Code == "string_above_max_length" && strings.HasPrefix(ue.Param, "messages"),
		strings.Contains(msg, "maximum context length"):
		e.Code = llm.CodeContextLengthExceeded
	case ue.Code == "content_filter" || ue.Code == "content_policy_violation" || ue.Type == "content_filter" ||
		ue.Code == "ResponsibleAIPolicyViolation":
		e.Code = llm.CodeContentFiltered
	case ue.Code == "rate_limit_exceeded" || ue.Type == "rate_limit_error" || ue.Type == "tokens" || ue.Type == "requests":
		e.Code = llm.CodeProviderRateLimited
		e.RetryAfter = retryAfterFromMessage(ue.Message)
		e.Message = fmt.Sprintf("provider %s is rate limiting the gateway", e.Provider)
		return
	case ue.Type == "server_error" || ue.Type == "api_error" || ue.Code == "server_error":
		e.Code = llm.CodeProviderUnavailable
		e.Message = fmt.Sprintf("provider %s failed: %s", e.Provider, msg)
		return
	case ue.Type == "authentication_error" || ue.Code == "invalid_api_key":
		e.Code = llm.CodeProviderAuthFailed
		e.Message = authMessage(e.Provider)
		e.Param = ""
		return
	default:
		e.Code = llm.CodeUpstreamInvalidRequest
	}
	if msg == "" {
		msg = "no message"
	}
	// OpenAI's own message describes the client's request: safe to show.
	e.Message = fmt.Sprintf("provider %s rejected the request: %s", e.Provider, msg)
}

func authMessage(provider string) string {
	return fmt.Sprintf("the gateway's credential for provider %s was rejected; the operator must fix providers.%s.api_key", provider, provider)
}

// streamedErrorBody classifies an error object sent with a 2xx status, or
// returns nil when body is not one.
func streamedErrorBody(provider, key string, status int, body []byte) *llm.Error {
	ue, ok := parseErrorBody(body)
	if !ok {
		return nil
	}
	e := &llm.Error{Provider: provider, UpstreamStatus: status, Sent: true}
	classifyDetail(e, ue, key)
	return e
}

// keyPattern matches strings that look like API keys (OpenAI sk-...,
// project keys sk-proj-..., and the masked forms OpenAI echoes).
var keyPattern = regexp.MustCompile(`\bsk-[A-Za-z0-9_\-*.]{6,}`)

// redact removes anything that looks like a key from an upstream message.
func redact(msg, key string) string {
	if key != "" && len(key) >= 8 {
		msg = strings.ReplaceAll(msg, key, "[redacted]")
	}
	return keyPattern.ReplaceAllString(msg, "sk-[redacted]")
}

// retryAfter returns how long the provider asks us to wait: Retry-After in
// seconds or as an HTTP date, retry-after-ms, or else OpenAI's
// x-ratelimit-reset-requests / -tokens (Go-style durations such as "6m0s"
// or "20ms") for the exhausted limit. Zero when there is no hint.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 && s < 1e6 {
				return time.Duration(s * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
		}
	}
	var best time.Duration
	exhausted := false
	for _, kind := range []string{"requests", "tokens"} {
		d, err := time.ParseDuration(strings.TrimSpace(h.Get("X-Ratelimit-Reset-" + kind)))
		if err != nil || d <= 0 {
			continue
		}
		if strings.TrimSpace(h.Get("X-Ratelimit-Remaining-"+kind)) == "0" {
			if !exhausted || d > best {
				best = d
			}
			exhausted = true
		} else if !exhausted && d > best {
			best = d
		}
	}
	return best
}

var (
	tryAgainPattern = regexp.MustCompile(`(?i)try again in ([0-9]+(?:\.[0-9]+)?)(ms|s)\b`)
	// azureRetryPattern matches Azure's "Please retry after 6 seconds."
	azureRetryPattern = regexp.MustCompile(`(?i)retry after ([0-9]+(?:\.[0-9]+)?) ?(ms|milliseconds?|s|seconds?)\b`)
)

// retryAfterFromMessage parses OpenAI's "Please try again in 3.89s" or
// "in 20ms", and Azure's "Please retry after 6 seconds", the only hint
// some 429s carry.
func retryAfterFromMessage(msg string) time.Duration {
	m := tryAgainPattern.FindStringSubmatch(msg)
	if m == nil {
		m = azureRetryPattern.FindStringSubmatch(msg)
	}
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || v <= 0 || v > 1e6 {
		return 0
	}
	if u := strings.ToLower(m[2]); u == "ms" || strings.HasPrefix(u, "milli") {
		return time.Duration(v * float64(time.Millisecond))
	}
	return time.Duration(v * float64(time.Second))
}

// transportError classifies a failure to get a response. ctx is the
// caller's context; sent reports whether the whole request was written.
func (c *Client) transportError(ctx context.Context, err error, sent bool) *llm.Error {
	return classifyTransport(ctx, c.name, err, sent)
}

// classifyTransport classifies with llm.TransportError, the one
// classification every adapter shares.
func classifyTransport(ctx context.Context, provider string, err error, sent bool) *llm.Error {
	return llm.TransportError(ctx, provider, err, sent)
}
