package anthropic

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got with testdata/golden/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// responseCases are neutral responses as non-Anthropic providers return
// them.
func responseCases() []struct {
	name string
	resp *llm.Response
} {
	return []struct {
		name string
		resp *llm.Response
	}{
		{"text_with_cache", &llm.Response{ID: "chatcmpl-1", Model: "gpt-4o", Created: 1700000000,
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{text("Hello <world> & you")}}, FinishReason: llm.FinishStop}},
			Usage:   llm.Usage{InputTokens: 100, OutputTokens: 7, CacheReadTokens: 30, CacheWriteTokens: 20}, UsageReported: true}},
		{"tool_calls", &llm.Response{ID: "chatcmpl-2", Model: "gpt-4o",
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{text("Checking.")},
				ToolCalls: []llm.ToolCall{
					{ID: "call_a", Name: "get_weather", Arguments: "{\n  \"city\": \"Paris\"\n}"},
					{ID: "call_b", Name: "get_time", Arguments: `{"tz": "Europe/Par`},
				}}, FinishReason: llm.FinishToolCalls}},
			Usage: llm.Usage{InputTokens: 50, OutputTokens: 20}, UsageReported: true}},
		{"thinking_max_tokens", &llm.Response{ID: "msg_01", Model: "claude-sonnet-4-5",
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{
				{Type: llm.PartThinking, Text: "Let me think.", Signature: "EqQBCkYIBxgCKkA="},
				{Type: llm.PartRedactedThinking, Data: "EmwKAhgBEgy3va3pzix"},
				text("The answer"),
			}}, FinishReason: llm.FinishLength}},
			Usage: llm.Usage{InputTokens: 10, OutputTokens: 100, ReasoningTokens: 40}, UsageReported: true}},
		{"stop_sequence", &llm.Response{ID: "gen-1", Model: "gemini-2.5-flash",
			Choices:      []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{text("1, 2, 3")}}, FinishReason: llm.FinishStop}},
			StopSequence: "4", Usage: llm.Usage{InputTokens: 3, OutputTokens: 5}, UsageReported: true}},
		{"refusal_without_id_or_usage", &llm.Response{Model: "m",
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant}, FinishReason: llm.FinishContentFilter}}}},
	}
}

func TestWriteResponse(t *testing.T) {
	for _, tt := range responseCases() {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := NewWriter(rec, "req_1")
			if err := w.WriteResponse(tt.resp); err != nil {
				t.Fatalf("WriteResponse(%s) error = %v", tt.name, err)
			}
			if !w.Written() || rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("WriteResponse(%s) = status %d, content type %q, written %v; want 200 application/json", tt.name, rec.Code, rec.Header().Get("Content-Type"), w.Written())
			}
			golden(t, "response_"+tt.name+".json", rec.Body.Bytes())
		})
	}
}

func TestWriteResponseNative(t *testing.T) {
	native := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1},"container":null}`)
	rec := httptest.NewRecorder()
	resp := &llm.Response{ID: "other", Native: &llm.Native{Dialect: llm.DialectAnthropic, Body: native}}
	if err := NewWriter(rec, "r").WriteResponse(resp); err != nil {
		t.Fatal(err)
	}
	if got := rec.Body.String(); got != string(native) {
		t.Errorf("WriteResponse(native) = %s, want the native body verbatim", got)
	}
	// A native body of another dialect is not Anthropic's: encode instead.
	rec = httptest.NewRecorder()
	resp.Native.Dialect = llm.DialectOpenAI
	_ = NewWriter(rec, "r").WriteResponse(resp)
	if strings.Contains(rec.Body.String(), "container") {
		t.Errorf("WriteResponse(openai native) = %s, want an encoded message", rec.Body.String())
	}
}

// allCodes lists every published llm.Code with the Anthropic error type
// it must map to.
var allCodes = map[llm.Code]string{
	llm.CodeInvalidRequest:         "invalid_request_error",
	llm.CodePayloadTooLarge:        "request_too_large",
	llm.CodeAuthenticationFailed:   "authentication_error",
	llm.CodeModelNotAllowed:        "permission_error",
	llm.CodePolicyViolation:        "permission_error",
	llm.CodeBudgetExceeded:         "billing_error",
	llm.CodeRateLimited:            "rate_limit_error",
	llm.CodeModelUnpriced:          "permission_error",
	llm.CodeModelNotFound:          "not_found_error",
	llm.CodeProviderRateLimited:    "rate_limit_error",
	llm.CodeProviderUnavailable:    "api_error",
	llm.CodeProviderTimeout:        "timeout_error",
	llm.CodeProviderAuthFailed:     "api_error",
	llm.CodeProviderError:          "api_error",
	llm.CodeContextLengthExceeded:  "invalid_request_error",
	llm.CodeContentFiltered:        "invalid_request_error",
	llm.CodeStreamInterrupted:      "api_error",
	llm.CodeClientCancelled:        "api_error",
	llm.CodeNotFound:               "not_found_error",
	llm.CodeMethodNotAllowed:       "invalid_request_error",
	llm.CodeUnsupportedMediaType:   "invalid_request_error",
	llm.CodeInternal:               "api_error",
	llm.CodeServiceUnavailable:     "api_error",
	llm.CodeRequestHeaderTooLarge:  "invalid_request_error",
	llm.CodeFeatureNotSupported:    "invalid_request_error",
	llm.CodeUpstreamInvalidRequest: "invalid_request_error",
	"idempotency_conflict":         "invalid_request_error",
	"idempotency_mismatch":         "invalid_request_error",
}

func TestWriteErrorEveryCode(t *testing.T) {
	for code, wantType := range allCodes {
		t.Run(string(code), func(t *testing.T) {
			e := &llm.Error{Code: code, Message: "what happened and the fix", Param: "messages[0]"}
			rec := httptest.NewRecorder()
			WriteError(rec, e, "req_9")
			wantStatus := code.Status()
			if wantStatus == llm.StatusClientClosedRequest {
				wantStatus = http.StatusBadRequest
			}
			if rec.Code != wantStatus {
				t.Errorf("WriteError(%s) status = %d, want %d", code, rec.Code, wantStatus)
			}
			want := `{"type":"error","error":{"type":"` + wantType + `","message":"what happened and the fix","code":"` + string(code) + `","param":"messages[0]"},"request_id":"req_9"}`
			if got := rec.Body.String(); got != want {
				t.Errorf("WriteError(%s) body = %s, want %s", code, got, want)
			}
			if h := rec.Header(); h.Get("Retry-After") != "" {
				t.Errorf("WriteError(%s) headers = %v, want no Retry-After", code, h)
			}
			// A client retry cannot help a 4xx other than 408, 409 and 429.
			s := code.Status()
			wantNoRetry := s >= 400 && s < 500 && s != 408 && s != 409 && s != 429
			if got := rec.Header().Get("X-Should-Retry") == "false"; got != wantNoRetry {
				t.Errorf("WriteError(%s) X-Should-Retry: false = %v, want %v", code, got, wantNoRetry)
			}
		})
	}
}

// TestErrorTypeCoversEveryCode reads the published codes from the llm
// package's source, so that a new code gets an Anthropic type on purpose.
func TestErrorTypeCoversEveryCode(t *testing.T) {
	src, err := os.ReadFile("../../llm/errors.go")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`(?m)^\s+Code\w+\s+Code = "(\w+)"`).FindAllSubmatch(src, -1)
	if len(codes) < 20 {
		t.Fatalf("found %d codes in llm/errors.go, want at least 20", len(codes))
	}
	for _, m := range codes {
		if _, ok := allCodes[llm.Code(m[1])]; !ok {
			t.Errorf("code %s has no expected Anthropic error type in allCodes", m[1])
		}
	}
}

func TestWriteErrorHeaders(t *testing.T) {
	tests := []struct {
		name       string
		e          *llm.Error
		wantType   string
		retryAfter string
		noRetry    string
	}{
		{"rate_limited", &llm.Error{Code: llm.CodeRateLimited, Message: "m", RetryAfter: 1500 * time.Millisecond}, "rate_limit_error", "2", ""},
		{"budget", &llm.Error{Code: llm.CodeBudgetExceeded, Message: "m", NoClientRetry: true, Policy: "teams.ci.budget"}, "billing_error", "", "false"},
		{"overloaded", &llm.Error{Code: llm.CodeProviderUnavailable, Message: "m", UpstreamStatus: 529}, "overloaded_error", "", ""},
		{"unavailable_502", &llm.Error{Code: llm.CodeProviderUnavailable, Message: "m", UpstreamStatus: 502}, "api_error", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := NewWriter(rec, "req_2")
			w.WriteError(tt.e)
			var body struct {
				Type  string `json:"type"`
				Error struct {
					Type, Message, Code, Policy string
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("WriteError(%s) body %s: %v", tt.name, rec.Body, err)
			}
			if body.Type != "error" || body.Error.Type != tt.wantType || body.Error.Code != string(tt.e.Code) || body.RequestID != "req_2" || body.Error.Policy != tt.e.Policy {
				t.Errorf("WriteError(%s) body = %s, want type %s, code %s, request id", tt.name, rec.Body, tt.wantType, tt.e.Code)
			}
			if rec.Code != tt.e.Status() || rec.Header().Get("Retry-After") != tt.retryAfter || rec.Header().Get("X-Should-Retry") != tt.noRetry {
				t.Errorf("WriteError(%s) = %d Retry-After %q x-should-retry %q, want %d %q %q", tt.name, rec.Code,
					rec.Header().Get("Retry-After"), rec.Header().Get("X-Should-Retry"), tt.e.Status(), tt.retryAfter, tt.noRetry)
			}
			if !w.Written() {
				t.Errorf("Written() = false after WriteError")
			}
		})
	}
}

func TestWriteModels(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteModels(rec, []string{"claude-sonnet", "gpt-4o"}, 1700000000)
	want := `{"data":[{"type":"model","id":"claude-sonnet","display_name":"claude-sonnet","created_at":"2023-11-14T22:13:20Z"},` +
		`{"type":"model","id":"gpt-4o","display_name":"gpt-4o","created_at":"2023-11-14T22:13:20Z"}],"has_more":false,"first_id":"claude-sonnet","last_id":"gpt-4o"}`
	if got := rec.Body.String(); got != want {
		t.Errorf("WriteModels() = %s, want %s", got, want)
	}
	rec = httptest.NewRecorder()
	WriteModels(rec, nil, 0)
	if got, want := rec.Body.String(), `{"data":[],"has_more":false,"first_id":null,"last_id":null}`; got != want {
		t.Errorf("WriteModels(nil) = %s, want %s", got, want)
	}
}

func TestWriteCountTokens(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteCountTokens(rec, 42)
	if got := rec.Body.String(); got != `{"input_tokens":42}` || rec.Code != 200 {
		t.Errorf("WriteCountTokens(42) = %d %s, want 200 {\"input_tokens\":42}", rec.Code, got)
	}
}
