package anthropic

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
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

// parseErrorBody decodes {"type":"error","error":{"type","message"}};
// ok is false when body holds no recognisable error.
func parseErrorBody(body []byte) (wire.ErrorDetail, bool) {
	var eb wire.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		return wire.ErrorDetail{}, false
	}
	return eb.Error, eb.Error.Type != "" || eb.Error.Message != ""
}

// classify turns an upstream HTTP error response (resp with its already
// read, capped body) into an *llm.Error. It is the one place where
// Anthropic statuses and error types map to airgw failure classes:
//
//	400 invalid_request_error  upstream_invalid_request (prompt too long: context_length_exceeded)
//	401 authentication_error   provider_auth_failed
//	403 permission_error       provider_auth_failed
//	404 not_found_error        upstream_invalid_request (usually an unknown model)
//	413 request_too_large      payload_too_large
//	429 rate_limit_error       provider_rate_limited, with Retry-After
//	500 api_error              provider_unavailable
//	529 overloaded_error       provider_unavailable
func classify(provider, key string, resp *http.Response, body []byte) *llm.Error {
	e := classifyStatus(provider, key, resp, body)
	// The upstream request id goes to the log with the cause, for support
	// requests to the provider.
	id := resp.Header.Get("Request-Id")
	if id == "" {
		var eb wire.ErrorBody
		if json.Unmarshal(body, &eb) == nil {
			id = eb.RequestID
		}
	}
	if id != "" {
		if e.Err != nil {
			e.Err = fmt.Errorf("upstream request-id %s: %w", id, e.Err)
		} else {
			e.Err = fmt.Errorf("upstream request-id %s", id)
		}
	}
	return e
}

func classifyStatus(provider, key string, resp *http.Response, body []byte) *llm.Error {
	status := resp.StatusCode
	d, ok := parseErrorBody(body)
	e := &llm.Error{Provider: provider, UpstreamStatus: status, Sent: true}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code = llm.CodeProviderAuthFailed
		e.Message = authMessage(provider)
		e.Err = fmt.Errorf("upstream status %d, type %q", status, d.Type) // never the body: it may echo the key
	case status == http.StatusRequestEntityTooLarge:
		e.Code = llm.CodePayloadTooLarge
		e.Message = fmt.Sprintf("provider %s refused the request as too large; send fewer or smaller messages, images or documents", provider)
	case status == http.StatusTooManyRequests:
		e.Code = llm.CodeProviderRateLimited
		e.Message = fmt.Sprintf("provider %s is rate limiting the gateway", provider)
		e.RetryAfter = retryAfter(resp.Header, time.Now())
		if ok {
			e.Err = fmt.Errorf("upstream: %s", redact(d.Message, key))
		}
	case status == http.StatusRequestTimeout || status == http.StatusConflict || status >= 500:
		e.Code = llm.CodeProviderUnavailable
		e.Message = fmt.Sprintf("provider %s is unavailable (HTTP %d)", provider, status)
		if d.Type == wire.ErrOverloaded {
			e.Message = fmt.Sprintf("provider %s is overloaded (HTTP %d)", provider, status)
		}
		e.RetryAfter = retryAfter(resp.Header, time.Now())
		if ok {
			e.Err = fmt.Errorf("upstream %s: %s", d.Type, redact(d.Message, key))
		}
	case status >= 400:
		if !ok {
			e.Code = llm.CodeProviderError
			e.Message = fmt.Sprintf("provider %s answered HTTP %d with a body airgw cannot read", provider, status)
			return e
		}
		classifyDetail(e, d, key)
	default:
		e.Code = llm.CodeProviderError
		e.Message = fmt.Sprintf("provider %s answered with unexpected HTTP status %d", provider, status)
	}
	return e
}

// classifyDetail sets e's code and message from an error object: of a 4xx
// response not classified by its status, of an error event inside a
// stream, or of an error body sent with a 2xx status.
func classifyDetail(e *llm.Error, d wire.ErrorDetail, key string) {
	msg := redact(d.Message, key)
	switch d.Type {
	case wire.ErrOverloaded, wire.ErrAPI, wire.ErrTimeout:
		e.Code = llm.CodeProviderUnavailable
		e.Message = fmt.Sprintf("provider %s is unavailable: %s", e.Provider, msg)
		return
	case wire.ErrRateLimit:
		e.Code = llm.CodeProviderRateLimited
		e.Message = fmt.Sprintf("provider %s is rate limiting the gateway", e.Provider)
		return
	case wire.ErrAuthentication, wire.ErrPermission:
		e.Code = llm.CodeProviderAuthFailed
		e.Message = authMessage(e.Provider)
		return
	case wire.ErrBilling:
		// The gateway's account cannot pay: waiting does not help, another
		// target may.
		e.Code = llm.CodeProviderRateLimited
		e.NoClientRetry = true
		e.Message = fmt.Sprintf("provider %s refused the request for a billing reason; the operator must check the provider account's credit", e.Provider)
		return
	case wire.ErrRequestTooLarge:
		e.Code = llm.CodePayloadTooLarge
	case wire.ErrNotFound:
		e.Code = llm.CodeUpstreamInvalidRequest
		if strings.HasPrefix(msg, "model:") {
			msg = "model not found (" + msg + ")"
		}
	default:
		e.Code = llm.CodeUpstreamInvalidRequest
		if contextTooLong(msg) {
			e.Code = llm.CodeContextLengthExceeded
		}
	}
	if msg == "" {
		msg = "no message"
	}
	// Anthropic's own message describes the client's request: safe to show.
	e.Message = fmt.Sprintf("provider %s rejected the request: %s", e.Provider, msg)
}

// contextTooLong recognises the API's messages for a prompt over the
// model's context window ("prompt is too long: 208310 tokens > 200000
// maximum", "input length and `max_tokens` exceed context limit").
func contextTooLong(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "prompt is too long") || strings.Contains(m, "exceed context limit") ||
		strings.Contains(m, "context window")
}

func authMessage(provider string) string {
	return fmt.Sprintf("the gateway's credential for provider %s was rejected; the operator must fix providers.%s.api_key", provider, provider)
}

// errorInBody classifies an error object sent with a 2xx status, or
// returns nil when body is not one.
func errorInBody(provider, key string, status int, body []byte) *llm.Error {
	d, ok := parseErrorBody(body)
	if !ok {
		return nil
	}
	e := &llm.Error{Provider: provider, UpstreamStatus: status, Sent: true}
	classifyDetail(e, d, key)
	return e
}

// keyPattern matches strings that look like Anthropic API keys.
var keyPattern = regexp.MustCompile(`\bsk-ant-[A-Za-z0-9_\-*.]{6,}`)

// redact removes anything that looks like a key from an upstream message.
func redact(msg, key string) string {
	if key != "" && len(key) >= 8 {
		msg = strings.ReplaceAll(msg, key, "[redacted]")
	}
	return keyPattern.ReplaceAllString(msg, "sk-ant-[redacted]")
}

// rateLimitKinds are the limits Anthropic reports in
// anthropic-ratelimit-<kind>-{limit,remaining,reset} headers.
var rateLimitKinds = []string{"requests", "tokens", "input-tokens", "output-tokens"}

// retryAfter returns how long the provider asks us to wait: retry-after in
// seconds or as an HTTP date; else the latest anthropic-ratelimit-*-reset
// time (RFC 3339) among the exhausted limits (remaining 0), or among all
// of them when none says it is exhausted, measured from the response's
// Date (the provider's clock) or now. Zero when there is no hint.
func retryAfter(h http.Header, now time.Time) time.Duration {
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
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		now = t
	}
	var best time.Duration
	exhausted := false
	for _, kind := range rateLimitKinds {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(h.Get("Anthropic-Ratelimit-"+kind+"-Reset")))
		if err != nil {
			continue
		}
		d := t.Sub(now)
		if d <= 0 || d > 24*time.Hour {
			continue
		}
		if strings.TrimSpace(h.Get("Anthropic-Ratelimit-"+kind+"-Remaining")) == "0" {
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

// classifyTransport classifies a failure to get a response with
// llm.TransportError, the one classification every adapter shares. ctx is
// the caller's context; sent reports whether the whole request was written.
func classifyTransport(ctx context.Context, provider string, err error, sent bool) *llm.Error {
	return llm.TransportError(ctx, provider, err, sent)
}
