package bedrock

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
)

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		kind   string
		code   llm.Code
		status int
	}{
		{"400", llm.CodeUpstreamInvalidRequest, 400},
		{"context", llm.CodeContextLengthExceeded, 400},
		{"403", llm.CodeProviderAuthFailed, 403},
		{"404", llm.CodeUpstreamInvalidRequest, 404},
		{"408", llm.CodeProviderTimeout, 408},
		{"424", llm.CodeProviderError, 424},
		{"429", llm.CodeProviderRateLimited, 429},
		{"500", llm.CodeProviderUnavailable, 500},
		{"503", llm.CodeProviderUnavailable, 503},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.kind
			if stream {
				name += "-stream"
			}
			t.Run(name, func(t *testing.T) {
				srv := bedrocktest.NewServer(t)
				c := newClient(t, srv)
				req := userReq("error:"+tt.kind, "hi")
				req.Stream = stream
				_, err := c.Chat(context.Background(), req)
				e := asError(t, err)
				if e.Code != tt.code || e.UpstreamStatus != tt.status || !e.Sent || e.Provider != "bedrock-us" || e.Message == "" {
					t.Errorf("Chat(error:%s) = %+v, want %s from %d", tt.kind, e, tt.code, tt.status)
				}
			})
		}
	}
}

func TestClassifyHTTP(t *testing.T) {
	const coral = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
	tests := []struct {
		name     string
		status   int
		errType  string
		body     string
		code     llm.Code
		inMsg    string
		notInMsg string
	}{
		{"validation", 400, "ValidationException" + coral, `{"message":"Malformed input request: bad"}`, llm.CodeUpstreamInvalidRequest, "Malformed input request: bad", ""},
		{"too-long", 400, "ValidationException" + coral, `{"message":"Input is too long for requested model."}`, llm.CodeContextLengthExceeded, "too long", ""},
		{"too-many-tokens", 400, "ValidationException", `{"message":"prompt is too long: 215000 tokens > 200000 maximum"}`, llm.CodeContextLengthExceeded, "", ""},
		{"context-limit", 400, "ValidationException", "{\"message\":\"input length and `max_tokens` exceed context limit: 199000 + 8192 > 200000\"}", llm.CodeContextLengthExceeded, "", ""},
		{"throttling", 429, "ThrottlingException" + coral, `{"message":"Too many requests, please wait before trying again."}`, llm.CodeProviderRateLimited, "throttling", ""},
		{"quota", 400, "ServiceQuotaExceededException", `{"message":"quota"}`, llm.CodeProviderRateLimited, "", ""},
		{"access-denied", 403, "AccessDeniedException" + coral, `{"message":"User: arn:aws:iam::123:user/x is not authorized"}`, llm.CodeProviderAuthFailed, "AccessDeniedException", "arn:aws"},
		{"unrecognized-client", 403, "UnrecognizedClientException", `{"message":"The security token included in the request is invalid."}`, llm.CodeProviderAuthFailed, "", "security token"},
		{"body-type", 403, "", `{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"The request signature we calculated does not match"}`, llm.CodeProviderAuthFailed, "InvalidSignatureException", "calculated"},
		{"expired-token", 403, "ExpiredTokenException", `{"message":"The security token included in the request is expired"}`, llm.CodeProviderAuthFailed, "", ""},
		{"not-found", 404, "ResourceNotFoundException", `{"message":"Model not found"}`, llm.CodeUpstreamInvalidRequest, "Model not found", ""},
		{"model-timeout", 408, "ModelTimeoutException", `{"message":"Model has timed out"}`, llm.CodeProviderTimeout, "", ""},
		{"model-error", 424, "ModelErrorException", `{"message":"The model returned an error"}`, llm.CodeProviderError, "", ""},
		{"model-not-ready", 429, "ModelNotReadyException", `{"message":"Model is not ready"}`, llm.CodeProviderUnavailable, "", ""},
		{"unavailable", 503, "ServiceUnavailableException", `{"Message":"Too many connections"}`, llm.CodeProviderUnavailable, "", ""},
		{"internal", 500, "InternalServerException", `{"message":"internal"}`, llm.CodeProviderUnavailable, "", ""},
		{"untyped-403", 403, "", `<html>forbidden</html>`, llm.CodeProviderAuthFailed, "", "html"},
		{"untyped-502", 502, "", `<html>bad gateway</html>`, llm.CodeProviderUnavailable, "", "html"},
		{"untyped-418-no-body", 418, "", ``, llm.CodeProviderError, "", ""},
		{"access-key-redacted", 400, "ValidationException", `{"message":"The Access Key Id AKIAIOSFODNN7EXAMPLE does not exist"}`, llm.CodeUpstreamInvalidRequest, "[redacted]", "AKIAIOSFODNN7EXAMPLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.errType != "" {
				h.Set("X-Amzn-Errortype", tt.errType)
			}
			e := classifyHTTP("b", tt.status, h, []byte(tt.body))
			if e.Code != tt.code || e.UpstreamStatus != tt.status || !e.Sent || e.Provider != "b" {
				t.Errorf("classifyHTTP(%d, %q, %s) = %+v, want %s", tt.status, tt.errType, tt.body, e, tt.code)
			}
			if tt.inMsg != "" && !strings.Contains(e.Message, tt.inMsg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.inMsg)
			}
			if tt.notInMsg != "" && strings.Contains(e.Message, tt.notInMsg) {
				t.Errorf("message %q contains %q", e.Message, tt.notInMsg)
			}
			if e.RetryAfter != 0 {
				t.Errorf("RetryAfter = %v, want 0", e.RetryAfter)
			}
			if e.Code.Status() == 0 || !e.Code.Known() {
				t.Errorf("code %q unknown", e.Code)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	h := http.Header{"X-Amzn-Errortype": {"ThrottlingException"}, "Retry-After": {"3"}}
	if e := classifyHTTP("b", 429, h, []byte(`{"message":"slow down"}`)); e.RetryAfter.Seconds() != 3 {
		t.Errorf("RetryAfter = %v, want 3s", e.RetryAfter)
	}
}

func TestStreamExceptions(t *testing.T) {
	tests := []struct {
		kind string
		code llm.Code
	}{
		{"throttling", llm.CodeProviderRateLimited},
		{"modelStreamError", llm.CodeProviderUnavailable},
		{"validation", llm.CodeContextLengthExceeded}, // "Input is too long for requested model."
		{"serviceUnavailable", llm.CodeProviderUnavailable},
		{"internalServer", llm.CodeProviderUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			srv := bedrocktest.NewServer(t)
			c := newClient(t, srv)
			req := userReq("exception:"+tt.kind, "one two three four")
			req.Stream = true
			reply, err := c.Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, reply.Stream)
			e := asError(t, err)
			if e.Code != tt.code || !e.Sent || e.UpstreamStatus != http.StatusOK {
				t.Errorf("stream error = %+v, want %s, sent", e, tt.code)
			}
			if got.Events != 3 || got.Text == "" {
				t.Errorf("events before the exception = %d (%q), want 3 with text", got.Events, got.Text)
			}
			if _, err2 := reply.Stream.Next(); err2 != err {
				t.Errorf("Next after the error = %v, want the same error", err2)
			}
		})
	}
}

func TestClassifyExceptionUnknown(t *testing.T) {
	e := classifyException("b", "somethingNewException", []byte(`{"message":"x"}`))
	if e.Code != llm.CodeStreamInterrupted || !e.Sent {
		t.Errorf("classifyException(unknown) = %+v, want stream_interrupted", e)
	}
	e = classifyException("b", "modelStreamErrorException", []byte(`{"message":"","originalStatusCode":500,"originalMessage":"boom"}`))
	if e.Code != llm.CodeProviderUnavailable || !strings.Contains(e.Error(), "boom") {
		t.Errorf("classifyException(modelStreamError) = %v", e)
	}
}
