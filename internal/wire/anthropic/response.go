package anthropic

import "encoding/json"

// Stop reasons.
const (
	StopEndTurn      = "end_turn"
	StopMaxTokens    = "max_tokens"
	StopSequence     = "stop_sequence"
	StopToolUse      = "tool_use"
	StopPauseTurn    = "pause_turn"
	StopRefusal      = "refusal"
	StopContextLimit = "model_context_window_exceeded"
)

// MessagesResponse is the body of a non-streaming answer, and the
// "message" of a message_start event (with empty content then).
type MessagesResponse struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"` // "message"
	Role    string         `json:"role"` // "assistant"
	Model   string         `json:"model"`
	Content []ContentBlock `json:"content"`
	// StopReason is null in message_start; one of the Stop constants
	// otherwise.
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	StopDetails  json.RawMessage `json:"stop_details,omitempty"`
	Usage        Usage           `json:"usage"`
	Container    json.RawMessage `json:"container,omitempty"`
	// ContextManagement reports edits the API made to the context (beta).
	ContextManagement json.RawMessage `json:"context_management,omitempty"`
}

// Usage is the token usage of a message. InputTokens counts only the
// prompt tokens after the last cache breakpoint: the tokens read from the
// cache and written to it are counted separately, and the prompt's total
// is the sum of the three.
//
// In a stream, message_start carries the input counts and message_delta
// the running output total (recent API versions repeat the input counts
// there); each value replaces the previous one, they are never summed.
type Usage struct {
	InputTokens              int64          `json:"input_tokens"`
	CacheCreationInputTokens int64          `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64          `json:"cache_read_input_tokens"`
	CacheCreation            *CacheCreation `json:"cache_creation,omitempty"`
	OutputTokens             int64          `json:"output_tokens"`
	ServiceTier              string         `json:"service_tier,omitempty"`
	InferenceGeo             string         `json:"inference_geo,omitempty"`
	// ServerToolUse counts server tool calls (web searches).
	ServerToolUse json.RawMessage `json:"server_tool_use,omitempty"`
}

// CacheCreation splits cache_creation_input_tokens by cache lifetime.
type CacheCreation struct {
	Ephemeral5mInputTokens int64 `json:"ephemeral_5m_input_tokens"`
	Ephemeral1hInputTokens int64 `json:"ephemeral_1h_input_tokens"`
}

// Stream event types (the SSE "event:" name, repeated as "type" in data).
const (
	EventMessageStart      = "message_start"
	EventContentBlockStart = "content_block_start"
	EventPing              = "ping"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventError             = "error"
)

// Delta types of content_block_delta events.
const (
	DeltaText      = "text_delta"
	DeltaInputJSON = "input_json_delta"
	DeltaThinking  = "thinking_delta"
	DeltaSignature = "signature_delta"
	DeltaCitations = "citations_delta"
)

// StreamEvent is the data of one stream event. Type says which fields
// apply:
//
//   - message_start: Message
//   - content_block_start: Index, ContentBlock
//   - content_block_delta: Index, Delta (Type, and Text, PartialJSON,
//     Thinking or Signature)
//   - content_block_stop: Index
//   - message_delta: Delta (StopReason, StopSequence), Usage
//   - message_stop, ping: nothing
//   - error: Error
type StreamEvent struct {
	Type         string            `json:"type"`
	Message      *MessagesResponse `json:"message,omitempty"`
	Index        *int              `json:"index,omitempty"`
	ContentBlock *ContentBlock     `json:"content_block,omitempty"`
	Delta        *Delta            `json:"delta,omitempty"`
	Usage        *DeltaUsage       `json:"usage,omitempty"`
	Error        *ErrorDetail      `json:"error,omitempty"`
	// ContextManagement reports context edits on message_delta (beta).
	ContextManagement json.RawMessage `json:"context_management,omitempty"`
}

// Delta is the "delta" of a content_block_delta event (Type set) or of a
// message_delta event (Type empty; StopReason set).
type Delta struct {
	Type        string          `json:"type,omitempty"`
	Text        string          `json:"text,omitempty"`
	PartialJSON *string         `json:"partial_json,omitempty"`
	Thinking    *string         `json:"thinking,omitempty"`
	Signature   string          `json:"signature,omitempty"`
	Citation    json.RawMessage `json:"citation,omitempty"`

	StopReason   *string         `json:"stop_reason,omitempty"`
	StopSequence *string         `json:"stop_sequence,omitempty"`
	StopDetails  json.RawMessage `json:"stop_details,omitempty"`
}

// DeltaUsage is the "usage" of a message_delta event: the running output
// total and, from recent API versions, the input counts again. A nil field
// was not sent and leaves the value from message_start in force.
type DeltaUsage struct {
	InputTokens              *int64          `json:"input_tokens,omitempty"`
	CacheCreationInputTokens *int64          `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64          `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             int64           `json:"output_tokens"`
	ServerToolUse            json.RawMessage `json:"server_tool_use,omitempty"`
}

// Error types.
const (
	ErrInvalidRequest  = "invalid_request_error"
	ErrAuthentication  = "authentication_error"
	ErrBilling         = "billing_error"
	ErrPermission      = "permission_error"
	ErrNotFound        = "not_found_error"
	ErrRequestTooLarge = "request_too_large"
	ErrRateLimit       = "rate_limit_error"
	ErrAPI             = "api_error"
	ErrTimeout         = "timeout_error"
	ErrOverloaded      = "overloaded_error"
)

// ErrorBody is the body of an error response:
// {"type":"error","error":{"type":...,"message":...},"request_id":...}.
// It is also the data of a stream's error event (without request_id).
type ErrorBody struct {
	Type      string      `json:"type"`
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorDetail is the "error" of an ErrorBody.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}
