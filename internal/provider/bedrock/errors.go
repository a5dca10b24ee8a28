package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// errorType returns the AWS error type of an error response: the
// X-Amzn-Errortype header without its namespace suffix
// ("ValidationException:http://internal.amazon.com/coral/..." →
// "ValidationException"), else the body's "__type" or "code" without its
// namespace prefix ("com.amazon.coral.service#UnrecognizedClientException").
func errorType(h http.Header, body wire.ErrorBody) string {
	t := h.Get("X-Amzn-Errortype")
	if t == "" {
		t = body.Type
	}
	if t == "" {
		t = body.Code
	}
	if i := strings.IndexByte(t, ':'); i >= 0 {
		t = t[:i]
	}
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	return strings.TrimSpace(t)
}

// classifyHTTP turns an error response (status, headers, capped body) into
// an *llm.Error.
func classifyHTTP(provider string, status int, h http.Header, body []byte) *llm.Error {
	var eb wire.ErrorBody
	_ = json.Unmarshal(body, &eb) // encoding/json matches "Message" too
	e := classify(provider, errorType(h, eb), status, eb.Message)
	if e.Code == llm.CodeProviderRateLimited || e.Code == llm.CodeProviderUnavailable {
		// Bedrock sends no Retry-After; honour one should a proxy add it.
		e.RetryAfter = retryAfter(h.Get("Retry-After"))
	}
	return e
}

// classifyException turns an exception frame of a stream into an
// *llm.Error. The stream's HTTP status was 200 and the request was sent.
func classifyException(provider, exceptionType string, payload []byte) *llm.Error {
	var ev wire.ExceptionEvent
	_ = json.Unmarshal(payload, &ev)
	msg := ev.Message
	if msg == "" {
		msg = ev.OriginalMessage
	}
	// Exception types are lowerCamel in streams ("throttlingException"),
	// UpperCamel in HTTP errors ("ThrottlingException").
	t := exceptionType
	if t != "" {
		t = strings.ToUpper(t[:1]) + t[1:]
	}
	e := classify(provider, t, http.StatusOK, msg)
	if e.Code == llm.CodeProviderError && t != "ModelErrorException" {
		// An unknown failure after events were relayed: the stream broke.
		e.Code = llm.CodeStreamInterrupted
		e.Message = fmt.Sprintf("provider %s ended the stream with an error", provider)
	}
	if exceptionType != "" {
		e.Err = errors.Join(e.Err, fmt.Errorf("stream exception %s", exceptionType))
	}
	return e
}

// classify is the one place where Bedrock error types and statuses map to
// airgw failure classes. errType may be empty (the recorder of fixture
// error-400-invalid-model dropped it); status then decides.
func classify(provider, errType string, status int, message string) *llm.Error {
	msg := redact(message)
	e := &llm.Error{Provider: provider, UpstreamStatus: status, Sent: true}
	if msg != "" {
		e.Err = fmt.Errorf("upstream %s (HTTP %d): %s", errTypeOr(errType), status, msg)
	} else {
		e.Err = fmt.Errorf("upstream %s (HTTP %d)", errTypeOr(errType), status)
	}
	code := codeForType(errType)
	if code == "" {
		code = codeForStatus(status, msg)
	}
	e.Code = code
	switch code {
	case llm.CodeProviderRateLimited:
		e.Message = fmt.Sprintf("provider %s is throttling the gateway", provider)
	case llm.CodeProviderAuthFailed:
		// Never the upstream message: it can name the access key id or the
		// canonical request.
		e.Message = fmt.Sprintf("the gateway's AWS credentials for provider %s were rejected (%s); the operator must check the credentials and the IAM permissions for bedrock:InvokeModel on this model",
			provider, errTypeOr(errType))
	case llm.CodeProviderTimeout:
		e.Message = fmt.Sprintf("provider %s timed out while the model was generating", provider)
	case llm.CodeProviderUnavailable:
		e.Message = fmt.Sprintf("provider %s is unavailable (%s)", provider, errTypeOr(errType))
	case llm.CodeProviderError:
		e.Message = fmt.Sprintf("provider %s failed: the model returned an error", provider)
	default:
		if msg == "" {
			msg = "no message"
		}
		// Bedrock's validation messages describe the client's request.
		e.Message = fmt.Sprintf("provider %s rejected the request: %s", provider, msg)
		if code == llm.CodeUpstreamInvalidRequest && isContextLength(msg) {
			e.Code = llm.CodeContextLengthExceeded
		}
	}
	return e
}

func errTypeOr(t string) string {
	if t == "" {
		return "no error type"
	}
	return t
}

// codeForType maps an AWS error type; "" when the type is unknown.
func codeForType(t string) llm.Code {
	switch t {
	case "ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException":
		return llm.CodeProviderRateLimited
	case "ValidationException", "ResourceNotFoundException", "SerializationException", "ConflictException":
		return llm.CodeUpstreamInvalidRequest
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
		"IncompleteSignatureException", "MissingAuthenticationTokenException", "ExpiredTokenException",
		"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "MissingAuthenticationToken":
		return llm.CodeProviderAuthFailed
	case "ModelTimeoutException":
		return llm.CodeProviderTimeout
	case "ServiceUnavailableException", "InternalServerException", "InternalFailure", "ServiceUnavailable",
		"ModelNotReadyException", "ModelStreamErrorException":
		return llm.CodeProviderUnavailable
	case "ModelErrorException":
		return llm.CodeProviderError
	}
	return ""
}

// codeForStatus classifies an error without a known type.
func codeForStatus(status int, msg string) llm.Code {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return llm.CodeProviderAuthFailed
	case status == http.StatusTooManyRequests:
		return llm.CodeProviderRateLimited
	case status == http.StatusRequestTimeout:
		return llm.CodeProviderTimeout
	case status == http.StatusFailedDependency:
		return llm.CodeProviderError
	case status >= 500:
		return llm.CodeProviderUnavailable
	case status >= 400 && msg != "":
		return llm.CodeUpstreamInvalidRequest
	default:
		return llm.CodeProviderError
	}
}

// contextPhrases are the ways Bedrock and its models say the input is too
// long ("Input is too long for requested model.", "prompt is too long:
// 215000 tokens > 200000 maximum", "too many tokens", "input length and
// `max_tokens` exceed context limit").
var contextPhrases = []string{"too long", "too many tokens", "input length", "context limit",
	"context window", "maximum context length", "exceeds the maximum number of tokens"}

func isContextLength(msg string) bool {
	m := strings.ToLower(msg)
	for _, p := range contextPhrases {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// accessKeyPattern matches AWS access key ids, which some AWS messages
// echo ("The Access Key Id AKIA... does not exist").
var accessKeyPattern = regexp.MustCompile(`\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|APKA)[A-Z0-9]{12,}\b`)

// redact removes anything that looks like an access key id.
func redact(msg string) string {
	return accessKeyPattern.ReplaceAllString(msg, "[redacted]")
}

func retryAfter(v string) time.Duration {
	s, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || s <= 0 || s > 1e6 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// credentialsError classifies a failure to obtain AWS credentials: nothing
// was sent.
func credentialsError(ctx context.Context, provider string, err error) *llm.Error {
	if ctx.Err() != nil {
		return classifyTransport(ctx, provider, err, false)
	}
	return &llm.Error{Code: llm.CodeProviderAuthFailed, Provider: provider, Err: err,
		Message: fmt.Sprintf("airgw could not obtain AWS credentials for provider %s; the operator must provide them (environment variables, shared credentials file, SSO or an instance role)", provider)}
}

// classifyTransport classifies a failure to get a response with
// llm.TransportError, the one classification every adapter shares. ctx is
// the caller's context; sent reports whether the whole request was written.
func classifyTransport(ctx context.Context, provider string, err error, sent bool) *llm.Error {
	return llm.TransportError(ctx, provider, err, sent)
}
