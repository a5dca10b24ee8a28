package bedrock

import "encoding/json"

// Stop reasons.
const (
	StopEndTurn             = "end_turn"
	StopToolUse             = "tool_use"
	StopMaxTokens           = "max_tokens"
	StopSequence            = "stop_sequence"
	StopGuardrailIntervened = "guardrail_intervened"
	StopContentFiltered     = "content_filtered"
	// StopModelContextWindowExceeded is sent by newer models when the
	// conversation outgrew the context window during generation.
	StopModelContextWindowExceeded = "model_context_window_exceeded"
)

// ConverseResponse is the body of a successful Converse call.
type ConverseResponse struct {
	Output                        ConverseOutput  `json:"output"`
	StopReason                    string          `json:"stopReason"`
	Usage                         *TokenUsage     `json:"usage,omitempty"`
	Metrics                       *Metrics        `json:"metrics,omitempty"`
	AdditionalModelResponseFields json.RawMessage `json:"additionalModelResponseFields,omitempty"`
	Trace                         json.RawMessage `json:"trace,omitempty"`
	PerformanceConfig             json.RawMessage `json:"performanceConfig,omitempty"`
}

// ConverseOutput is the generated output.
type ConverseOutput struct {
	Message *Message `json:"message,omitempty"`
}

// TokenUsage counts tokens. InputTokens excludes the tokens read from and
// written to the prompt cache, which are counted separately: TotalTokens is
// InputTokens + CacheReadInputTokens + CacheWriteInputTokens + OutputTokens
// (fixture converse-cache-read: 2 + 1322 + 0 + 5 = 1329).
type TokenUsage struct {
	InputTokens           int64 `json:"inputTokens"`
	OutputTokens          int64 `json:"outputTokens"`
	TotalTokens           int64 `json:"totalTokens"`
	CacheReadInputTokens  int64 `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens int64 `json:"cacheWriteInputTokens,omitempty"`
	// CacheReadInputTokenCount and CacheWriteInputTokenCount are older
	// duplicates of the two fields above that some responses still carry.
	CacheReadInputTokenCount  int64           `json:"cacheReadInputTokenCount,omitempty"`
	CacheWriteInputTokenCount int64           `json:"cacheWriteInputTokenCount,omitempty"`
	ServerToolUsage           json.RawMessage `json:"serverToolUsage,omitempty"`
	CacheDetails              json.RawMessage `json:"cacheDetails,omitempty"`
}

// Metrics reports the call's latency.
type Metrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

// Message types of the event stream (header ":message-type").
const (
	MessageTypeEvent     = "event"
	MessageTypeException = "exception"
	MessageTypeError     = "error"
)

// Event stream header names.
const (
	HeaderMessageType   = ":message-type"
	HeaderEventType     = ":event-type"
	HeaderExceptionType = ":exception-type"
	HeaderContentType   = ":content-type"
	HeaderErrorCode     = ":error-code"
	HeaderErrorMessage  = ":error-message"
)

// Event types of ConverseStream (header ":event-type").
const (
	EventMessageStart      = "messageStart"
	EventContentBlockStart = "contentBlockStart"
	EventContentBlockDelta = "contentBlockDelta"
	EventContentBlockStop  = "contentBlockStop"
	EventMessageStop       = "messageStop"
	EventMetadata          = "metadata"
)

// Exception types of ConverseStream (header ":exception-type").
const (
	ExceptionThrottling         = "throttlingException"
	ExceptionModelStreamError   = "modelStreamErrorException"
	ExceptionValidation         = "validationException"
	ExceptionServiceUnavailable = "serviceUnavailableException"
	ExceptionInternalServer     = "internalServerException"
)

// Every event payload carries a padding member "p" of random length, which
// hides the length of the content from observers of the encrypted
// connection. The event types model it as Padding so that payloads decode
// strictly; its value means nothing.

// MessageStartEvent opens the assistant message.
type MessageStartEvent struct {
	Role    string `json:"role"`
	Padding string `json:"p,omitempty"`
}

// ContentBlockStartEvent opens a content block that is not plain text.
type ContentBlockStartEvent struct {
	ContentBlockIndex int        `json:"contentBlockIndex"`
	Start             BlockStart `json:"start"`
	Padding           string     `json:"p,omitempty"`
}

// BlockStart says what a block holds; one member is set.
type BlockStart struct {
	ToolUse    *ToolUseStart    `json:"toolUse,omitempty"`
	ToolResult *ToolResultStart `json:"toolResult,omitempty"`
}

// ToolUseStart opens a tool call; its input follows in deltas.
type ToolUseStart struct {
	ToolUseID string `json:"toolUseId"`
	Name      string `json:"name"`
	// Type is "server_tool_use" for a system tool Bedrock runs itself,
	// "tool_use" (or empty) for a caller's tool.
	Type string `json:"type,omitempty"`
}

// ToolResultStart opens the result of a system tool Bedrock ran itself.
type ToolResultStart struct {
	ToolUseID string `json:"toolUseId"`
	Status    string `json:"status,omitempty"`
	Type      string `json:"type,omitempty"`
}

// ServerToolUse is the ToolUseStart.Type of a system tool.
const ServerToolUse = "server_tool_use"

// ContentBlockDeltaEvent carries a fragment of a content block.
type ContentBlockDeltaEvent struct {
	ContentBlockIndex int        `json:"contentBlockIndex"`
	Delta             BlockDelta `json:"delta"`
	Padding           string     `json:"p,omitempty"`
}

// BlockDelta is one fragment; one member is set.
type BlockDelta struct {
	Text             *string             `json:"text,omitempty"`
	ToolUse          *ToolUseDelta       `json:"toolUse,omitempty"`
	ReasoningContent *ReasoningDelta     `json:"reasoningContent,omitempty"`
	ToolResult       []ToolResultContent `json:"toolResult,omitempty"`
}

// ToolUseDelta is a fragment of a tool call's input, as JSON text.
type ToolUseDelta struct {
	Input string `json:"input"`
}

// ReasoningDelta is a fragment of reasoning: text, then the signature once
// at the end of the block, or an encrypted block.
type ReasoningDelta struct {
	Text            *string `json:"text,omitempty"`
	Signature       *string `json:"signature,omitempty"`
	RedactedContent []byte  `json:"redactedContent,omitempty"`
}

// ContentBlockStopEvent closes a content block.
type ContentBlockStopEvent struct {
	ContentBlockIndex int    `json:"contentBlockIndex"`
	Padding           string `json:"p,omitempty"`
}

// MessageStopEvent closes the message with the reason generation stopped.
type MessageStopEvent struct {
	StopReason                    string          `json:"stopReason"`
	AdditionalModelResponseFields json.RawMessage `json:"additionalModelResponseFields,omitempty"`
	Padding                       string          `json:"p,omitempty"`
}

// MetadataEvent is the last event: usage and metrics.
type MetadataEvent struct {
	Usage             *TokenUsage     `json:"usage,omitempty"`
	Metrics           *Metrics        `json:"metrics,omitempty"`
	Trace             json.RawMessage `json:"trace,omitempty"`
	PerformanceConfig json.RawMessage `json:"performanceConfig,omitempty"`
	Padding           string          `json:"p,omitempty"`
}

// ExceptionEvent is the payload of an exception message in the stream.
type ExceptionEvent struct {
	Message string `json:"message"`
	// OriginalStatusCode and OriginalMessage are set on a
	// modelStreamErrorException: the model's own failure.
	OriginalStatusCode int    `json:"originalStatusCode,omitempty"`
	OriginalMessage    string `json:"originalMessage,omitempty"`
}
