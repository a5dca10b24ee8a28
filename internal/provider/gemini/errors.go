package gemini

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
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

// classify turns an upstream HTTP error response (resp with its already
// read, capped body) into an *llm.Error. It is the one place where Gemini
// statuses and google.rpc codes map to airgw failure classes.
func classify(provider, key string, resp *http.Response, body []byte) *llm.Error {
	var eb wire.ErrorBody
	ok := json.Unmarshal(body, &eb) == nil && (eb.Error.Status != "" || eb.Error.Message != "")
	e := &llm.Error{Provider: provider, UpstreamStatus: resp.StatusCode, Sent: true}
	if !ok {
		eb.Error = wire.Status{Code: resp.StatusCode}
	}
	classifyStatus(e, &eb.Error, resp.StatusCode, key)
	if e.Code == llm.CodeProviderRateLimited || e.Code == llm.CodeProviderUnavailable {
		if ra := retryAfterHeader(resp.Header, time.Now()); ra > 0 && e.RetryAfter == 0 {
			e.RetryAfter = ra
		}
	}
	if !ok && e.Code == llm.CodeUpstreamInvalidRequest {
		e.Code = llm.CodeProviderError
		e.Message = fmt.Sprintf("provider %s answered HTTP %d with a body airgw cannot read", provider, resp.StatusCode)
	}
	return e
}

// classifyStatus sets e's code and message from a google.rpc.Status, of an
// error response (status is its HTTP status) or of an error object inside a
// stream (status 200: the Status's own code decides).
func classifyStatus(e *llm.Error, s *wire.Status, status int, key string) {
	if status == http.StatusOK || status == 0 {
		status = s.Code
	}
	msg := redact(s.Message, key)
	switch {
	case s.Status == "UNAUTHENTICATED" || s.Status == "PERMISSION_DENIED" || status == http.StatusUnauthorized ||
		status == http.StatusForbidden || s.Reason() == "API_KEY_INVALID":
		e.Code = llm.CodeProviderAuthFailed
		e.Message = fmt.Sprintf("the gateway's credential for provider %s was rejected; the operator must fix providers.%s.api_key", e.Provider, e.Provider)
		e.Err = fmt.Errorf("upstream status %d %s", status, s.Status) // never the message: it may echo the key
	case s.Status == "RESOURCE_EXHAUSTED" || status == http.StatusTooManyRequests:
		e.Code = llm.CodeProviderRateLimited
		e.Message = fmt.Sprintf("provider %s is rate limiting the gateway", e.Provider)
		e.RetryAfter = s.RetryDelay()
		if e.RetryAfter == 0 {
			e.RetryAfter = retryAfterFromMessage(msg)
		}
		e.Err = fmt.Errorf("upstream: %s", msg)
	case s.Status == "DEADLINE_EXCEEDED" || status == http.StatusGatewayTimeout:
		e.Code = llm.CodeProviderTimeout
		e.Message = fmt.Sprintf("provider %s timed out (HTTP %d)", e.Provider, status)
		e.Err = fmt.Errorf("upstream: %s", msg)
	case s.Status == "INTERNAL" || s.Status == "UNAVAILABLE" || status >= 500 || status == http.StatusRequestTimeout ||
		status == http.StatusConflict || s.Status == "ABORTED":
		e.Code = llm.CodeProviderUnavailable
		e.Message = fmt.Sprintf("provider %s is unavailable (HTTP %d)", e.Provider, status)
		e.Err = fmt.Errorf("upstream: %s", msg)
	case status >= 400 || s.Status == "INVALID_ARGUMENT" || s.Status == "NOT_FOUND" || s.Status == "FAILED_PRECONDITION":
		e.Code = llm.CodeUpstreamInvalidRequest
		if isContextLength(msg) {
			e.Code = llm.CodeContextLengthExceeded
		}
		if msg == "" {
			msg = "no message"
		}
		// Gemini's message describes the client's request: safe to show.
		e.Message = fmt.Sprintf("provider %s rejected the request: %s", e.Provider, msg)
	default:
		e.Code = llm.CodeProviderError
		e.Message = fmt.Sprintf("provider %s answered with unexpected HTTP status %d", e.Provider, status)
	}
}

// isContextLength recognises Gemini's token-limit messages ("The input
// token count (1200000) exceeds the maximum number of tokens allowed
// (1048576).").
func isContextLength(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "input token count") || strings.Contains(m, "exceeds the maximum number of tokens") ||
		strings.Contains(m, "context length") || strings.Contains(m, "too many tokens")
}

// keyPattern matches Google API keys (AIza followed by 35 characters).
var keyPattern = regexp.MustCompile(`AIza[0-9A-Za-z_\-]{35}`)

// redact removes anything that looks like a key from an upstream message.
func redact(msg, key string) string {
	if key != "" && len(key) >= 8 {
		msg = strings.ReplaceAll(msg, key, "[redacted]")
	}
	return keyPattern.ReplaceAllString(msg, "[redacted]")
}

// retryAfterHeader reads Retry-After in seconds or as an HTTP date; zero
// when absent.
func retryAfterHeader(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < 1e6 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

var retryInPattern = regexp.MustCompile(`(?i)retry in ([0-9]+(?:\.[0-9]+)?)(ms|s)\b`)

// retryAfterFromMessage parses "Please retry in 34.4s.", which some 429s
// carry in the message as well as in RetryInfo.
func retryAfterFromMessage(msg string) time.Duration {
	m := retryInPattern.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || v <= 0 || v > 1e6 {
		return 0
	}
	if strings.EqualFold(m[2], "ms") {
		return time.Duration(v * float64(time.Millisecond))
	}
	return time.Duration(v * float64(time.Second))
}

// classifyTransport classifies a failure to get a response with
// llm.TransportError, the one classification every adapter shares. ctx is
// the caller's context; sent reports whether the whole request was written.
func classifyTransport(ctx context.Context, provider string, err error, sent bool) *llm.Error {
	return llm.TransportError(ctx, provider, err, sent)
}
