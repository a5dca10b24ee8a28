package llm

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code is a failure class: a stable, machine-readable error code that decides
// the HTTP status, whether airgw retries, and what the client is told
// (DESIGN.md §3). Codes never change once published.
type Code string

// Failure classes.
const (
	CodeInvalidRequest         Code = "invalid_request"
	CodePayloadTooLarge        Code = "payload_too_large"
	CodeAuthenticationFailed   Code = "authentication_failed"
	CodeModelNotAllowed        Code = "model_not_allowed"
	CodePolicyViolation        Code = "policy_violation"
	CodeBudgetExceeded         Code = "budget_exceeded"
	CodeRateLimited            Code = "rate_limited"
	CodeModelUnpriced          Code = "model_unpriced"
	CodeModelNotFound          Code = "model_not_found"
	CodeProviderRateLimited    Code = "provider_rate_limited"
	CodeProviderUnavailable    Code = "provider_unavailable"
	CodeProviderTimeout        Code = "provider_timeout"
	CodeProviderAuthFailed     Code = "provider_auth_failed"
	CodeProviderError          Code = "provider_error"
	CodeContextLengthExceeded  Code = "context_length_exceeded"
	CodeContentFiltered        Code = "content_filtered"
	CodeStreamInterrupted      Code = "stream_interrupted"
	CodeClientCancelled        Code = "client_cancelled"
	CodeNotFound               Code = "not_found"
	CodeMethodNotAllowed       Code = "method_not_allowed"
	CodeUnsupportedMediaType   Code = "unsupported_media_type"
	CodeInternal               Code = "internal_error"
	CodeServiceUnavailable     Code = "service_unavailable"
	CodeRequestHeaderTooLarge  Code = "request_header_too_large"
	CodeFeatureNotSupported    Code = "feature_not_supported"
	CodeUpstreamInvalidRequest Code = "upstream_invalid_request"
	CodeIdempotencyConflict    Code = "idempotency_conflict"
	CodeIdempotencyMismatch    Code = "idempotency_mismatch"
)

// StatusClientClosedRequest is the non-standard status (nginx's 499) recorded
// when the client went away. It is logged and audited, never sent.
const StatusClientClosedRequest = 499

type classInfo struct {
	status    int
	retryable bool   // airgw may retry or fall back
	errType   string // OpenAI error "type"
}

var classes = map[Code]classInfo{
	CodeInvalidRequest:         {http.StatusBadRequest, false, "invalid_request_error"},
	CodePayloadTooLarge:        {http.StatusRequestEntityTooLarge, false, "invalid_request_error"},
	CodeAuthenticationFailed:   {http.StatusUnauthorized, false, "authentication_error"},
	CodeModelNotAllowed:        {http.StatusForbidden, false, "permission_error"},
	CodePolicyViolation:        {http.StatusForbidden, false, "permission_error"},
	CodeBudgetExceeded:         {http.StatusPaymentRequired, false, "insufficient_quota"},
	CodeRateLimited:            {http.StatusTooManyRequests, false, "rate_limit_error"},
	CodeModelUnpriced:          {http.StatusForbidden, false, "permission_error"},
	CodeModelNotFound:          {http.StatusNotFound, false, "invalid_request_error"},
	CodeProviderRateLimited:    {http.StatusTooManyRequests, true, "rate_limit_error"},
	CodeProviderUnavailable:    {http.StatusServiceUnavailable, true, "api_error"},
	CodeProviderTimeout:        {http.StatusGatewayTimeout, false, "api_error"},
	CodeProviderAuthFailed:     {http.StatusBadGateway, true, "api_error"},
	CodeProviderError:          {http.StatusBadGateway, false, "api_error"},
	CodeContextLengthExceeded:  {http.StatusBadRequest, false, "invalid_request_error"},
	CodeContentFiltered:        {http.StatusBadRequest, false, "invalid_request_error"},
	CodeStreamInterrupted:      {http.StatusBadGateway, false, "api_error"},
	CodeClientCancelled:        {StatusClientClosedRequest, false, "api_error"},
	CodeNotFound:               {http.StatusNotFound, false, "invalid_request_error"},
	CodeMethodNotAllowed:       {http.StatusMethodNotAllowed, false, "invalid_request_error"},
	CodeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, false, "invalid_request_error"},
	CodeInternal:               {http.StatusInternalServerError, false, "api_error"},
	CodeServiceUnavailable:     {http.StatusServiceUnavailable, false, "api_error"},
	CodeRequestHeaderTooLarge:  {http.StatusRequestHeaderFieldsTooLarge, false, "invalid_request_error"},
	CodeFeatureNotSupported:    {http.StatusBadRequest, false, "invalid_request_error"},
	CodeUpstreamInvalidRequest: {http.StatusBadRequest, false, "invalid_request_error"},
	CodeIdempotencyConflict:    {http.StatusConflict, false, "invalid_request_error"},
	CodeIdempotencyMismatch:    {http.StatusUnprocessableEntity, false, "invalid_request_error"},
}

// Status is the HTTP status for c; 500 for an unknown code.
func (c Code) Status() int {
	if ci, ok := classes[c]; ok {
		return ci.status
	}
	return http.StatusInternalServerError
}

// Retryable reports whether airgw may retry a failure of class c or fall back
// to another target. Whether a particular attempt may be resent also depends
// on whether it reached the provider (see Error.Sent).
func (c Code) Retryable() bool { return classes[c].retryable }

// OpenAIType is the OpenAI error "type" used for c.
func (c Code) OpenAIType() string {
	if ci, ok := classes[c]; ok {
		return ci.errType
	}
	return "api_error"
}

// Known reports whether c is one of the published codes.
func (c Code) Known() bool { _, ok := classes[c]; return ok }

// Error is a classified failure. Message is written for the client and must
// say what happened and how to fix it; it never contains a secret, an
// upstream URL or an unfiltered upstream body. Err, if set, carries the
// internal cause for the log only.
type Error struct {
	Code    Code
	Message string
	Param   string // the offending request field, for invalid_request

	// RetryAfter, when positive, is sent as Retry-After.
	RetryAfter time.Duration
	// NoClientRetry asks official SDKs not to retry (x-should-retry: false).
	NoClientRetry bool

	// Provider and UpstreamStatus describe an upstream failure.
	Provider       string
	UpstreamStatus int
	// Sent reports that the request body may have reached the provider, so
	// resending could execute it twice.
	Sent bool

	// Policy names the rule that refused the request, if any.
	Policy string

	Err error
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status for e.
func (e *Error) Status() int { return e.Code.Status() }

// ClientRetryUseless reports whether a client retry of the same request
// cannot succeed, so that the answer carries x-should-retry: false (which
// the official SDKs honour): set explicitly with NoClientRetry, or implied
// by a 4xx status other than 408, 409 and 429, which say "wait and retry".
func (e *Error) ClientRetryUseless() bool {
	if e.NoClientRetry {
		return true
	}
	switch s := e.Status(); s {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	default:
		return s >= 400 && s < 500
	}
}

// Errorf returns an *Error of class code with a formatted client message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ParamError returns an invalid_request error naming the field param.
func ParamError(param, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, classifying anything unclassified as
// internal_error (the cause kept for the log).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "airgw hit an internal error; the gateway log has the detail under this request id", Err: err}
}

// Unsupported returns the error for a request feature that the chosen
// provider cannot serve: a clear 400 naming the feature and the provider,
// never a silent drop.
func Unsupported(feature, provider, providerType string) *Error {
	return &Error{Code: CodeFeatureNotSupported, NoClientRetry: true, Provider: provider,
		Message: fmt.Sprintf("%s is not supported by provider `%s` (type %s); remove it from the request or route this model to a provider that supports it", feature, provider, providerType)}
}
