package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// marshal encodes v as Anthropic does, leaving <, > and & literal.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// message is an Anthropic Message object, as a non-streaming response body
// and inside message_start.
type message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []any   `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        usage   `json:"usage"`
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type redactedThinkingBlock struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

type toolUseBlock struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// usage is Anthropic's usage object. InputTokens excludes the cached
// tokens, which Anthropic reports beside it.
type usage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

// usageFrom converts neutral usage, whose InputTokens includes cache reads
// and writes, to Anthropic's, whose input_tokens does not.
func usageFrom(u llm.Usage) usage {
	return usage{
		InputTokens:              max(u.InputTokens-u.CacheReadTokens-u.CacheWriteTokens, 0),
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CacheReadTokens,
		OutputTokens:             u.OutputTokens,
	}
}

// stopReason maps a neutral finish reason to Anthropic's stop_reason. An
// empty or unknown reason reads as end_turn: the message did end.
func stopReason(fr llm.FinishReason, stopSequence string) string {
	switch fr {
	case llm.FinishLength:
		return "max_tokens"
	case llm.FinishToolCalls:
		return "tool_use"
	case llm.FinishContentFilter:
		return "refusal"
	}
	if stopSequence != "" {
		return "stop_sequence"
	}
	return "end_turn"
}

// toolInput turns tool-call arguments (JSON text) into a tool_use input
// object. Arguments that are empty, malformed or not an object become {}:
// Anthropic clients require an object, and the SDKs do the same with input
// they cannot parse.
func toolInput(args string) json.RawMessage {
	b := bytes.TrimSpace([]byte(args))
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return json.RawMessage(`{}`)
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, b)
	return buf.Bytes()
}

// messageID returns id, or one derived from the request id when the
// upstream gave none. Ids that do not start with "msg_" are kept as they
// are: clients treat them as opaque, and keeping them lets a support request
// quote the upstream's id.
func messageID(id, requestID string) string {
	if id != "" {
		return id
	}
	return "msg_" + requestID
}

// messageFrom encodes the first choice of a neutral response as an Anthropic
// message. Content parts come first, in order, then the tool calls: the
// neutral message does not record how they interleaved.
func messageFrom(r *llm.Response, requestID string) message {
	m := message{ID: messageID(r.ID, requestID), Type: "message", Role: "assistant", Model: r.Model, Content: []any{}}
	var fr llm.FinishReason
	if len(r.Choices) > 0 {
		ch := r.Choices[0]
		fr = ch.FinishReason
		for _, p := range ch.Message.Content {
			switch p.Type {
			case llm.PartText:
				if p.Text != "" {
					m.Content = append(m.Content, textBlock{Type: "text", Text: p.Text})
				}
			case llm.PartThinking:
				m.Content = append(m.Content, thinkingBlock{Type: "thinking", Thinking: p.Text, Signature: p.Signature})
			case llm.PartRedactedThinking:
				m.Content = append(m.Content, redactedThinkingBlock{Type: "redacted_thinking", Data: p.Data})
			}
		}
		for _, tc := range ch.Message.ToolCalls {
			m.Content = append(m.Content, toolUseBlock{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: toolInput(tc.Arguments)})
		}
	}
	sr := stopReason(fr, r.StopSequence)
	m.StopReason = &sr
	if sr == "stop_sequence" {
		s := r.StopSequence
		m.StopSequence = &s
	}
	m.Usage = usageFrom(r.Usage)
	return m
}

// EncodeResponse returns the Anthropic JSON body for resp: the provider's
// own body when it spoke Anthropic, otherwise the neutral response encoded
// as a Message (see Writer.WriteResponse for what that loses).
func EncodeResponse(resp *llm.Response, requestID string) ([]byte, error) {
	if resp.Native != nil && resp.Native.Dialect == llm.DialectAnthropic {
		return resp.Native.Body, nil
	}
	return marshal(messageFrom(resp, requestID))
}

// errorEnvelope is Anthropic's error body, with airgw's stable code (and the
// field or policy at fault) inside error for machines to read.
type errorEnvelope struct {
	Type      string      `json:"type"`
	Error     errorObject `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

type errorObject struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Code    string `json:"code"`
	Param   string `json:"param,omitempty"`
	Policy  string `json:"policy,omitempty"`
}

// ErrorType is the Anthropic error "type" for e: invalid_request_error,
// authentication_error, billing_error, permission_error, not_found_error,
// request_too_large, rate_limit_error, timeout_error, overloaded_error or
// api_error. provider_unavailable is overloaded_error only when the upstream
// answered 529 (Anthropic's "overloaded"); an unlisted class with a 4xx
// status is invalid_request_error.
func ErrorType(e *llm.Error) string {
	switch e.Code {
	case llm.CodeInvalidRequest, llm.CodeFeatureNotSupported, llm.CodeContextLengthExceeded,
		llm.CodeContentFiltered, llm.CodeUpstreamInvalidRequest, llm.CodeMethodNotAllowed,
		llm.CodeUnsupportedMediaType, llm.CodeRequestHeaderTooLarge:
		return "invalid_request_error"
	case llm.CodeAuthenticationFailed:
		return "authentication_error"
	case llm.CodeModelNotAllowed, llm.CodePolicyViolation, llm.CodeModelUnpriced:
		return "permission_error"
	case llm.CodeNotFound, llm.CodeModelNotFound:
		return "not_found_error"
	case llm.CodePayloadTooLarge:
		return "request_too_large"
	case llm.CodeRateLimited, llm.CodeProviderRateLimited:
		return "rate_limit_error"
	case llm.CodeBudgetExceeded:
		return "billing_error"
	case llm.CodeProviderTimeout:
		return "timeout_error"
	case llm.CodeProviderUnavailable:
		if e.UpstreamStatus == 529 {
			return "overloaded_error"
		}
		return "api_error"
	}
	// Any other client-side class (idempotency conflicts, codes added
	// later) is a request the client must change; 499 is never sent.
	if s := e.Code.Status(); s >= 400 && s < llm.StatusClientClosedRequest {
		return "invalid_request_error"
	}
	return "api_error"
}

func errorBody(e *llm.Error, requestID string) errorEnvelope {
	return errorEnvelope{Type: "error", RequestID: requestID, Error: errorObject{
		Type: ErrorType(e), Message: e.Message, Code: string(e.Code), Param: e.Param, Policy: e.Policy,
	}}
}

// WriteError writes e to w in Anthropic's error shape
// ({"type":"error","error":{"type","message","code"},"request_id"}) with the
// status of e's class, Retry-After when e.RetryAfter is set, and
// x-should-retry: false when a client retry cannot help
// (llm.Error.ClientRetryUseless). The status of a client
// that went away (499) is written as 400; nobody reads it.
func WriteError(w http.ResponseWriter, e *llm.Error, requestID string) {
	body, _ := marshal(errorBody(e, requestID))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
	if e.ClientRetryUseless() {
		h.Set("X-Should-Retry", "false")
	}
	status := e.Status()
	if status == llm.StatusClientClosedRequest {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Model is one entry of GET /v1/models in Anthropic's shape.
type Model struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// modelList is Anthropic's paginated list; airgw returns every model on one
// page.
type modelList struct {
	Data    []Model `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
}

// WriteModels writes the model list in Anthropic's shape, the one the
// Anthropic SDKs' Models.List reads. Each model's display name is its id
// and created_at is created (Unix seconds) in RFC 3339, UTC.
func WriteModels(w http.ResponseWriter, ids []string, created int64) {
	at := time.Unix(created, 0).UTC().Format(time.RFC3339)
	list := modelList{Data: make([]Model, 0, len(ids))}
	for _, id := range ids {
		list.Data = append(list.Data, Model{Type: "model", ID: id, DisplayName: id, CreatedAt: at})
	}
	if len(ids) > 0 {
		list.FirstID, list.LastID = &ids[0], &ids[len(ids)-1]
	}
	writeJSON(w, list)
}

// WriteCountTokens writes the body of a count_tokens response:
// {"input_tokens": N}.
func WriteCountTokens(w http.ResponseWriter, inputTokens int64) {
	writeJSON(w, struct {
		InputTokens int64 `json:"input_tokens"`
	}{inputTokens})
}

func writeJSON(w http.ResponseWriter, v any) {
	body, _ := marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
