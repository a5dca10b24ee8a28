package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Object types.
const (
	ObjectChatCompletion      = "chat.completion"
	ObjectChatCompletionChunk = "chat.completion.chunk"
)

// Finish reasons.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
	FinishFunctionCall  = "function_call" // deprecated
)

// ChatResponse is the body of a non-streaming chat completion.
type ChatResponse struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
	ServiceTier       string   `json:"service_tier,omitempty"`

	// PromptFilterResults is Azure's content-filter verdict on the prompt.
	PromptFilterResults json.RawMessage `json:"prompt_filter_results,omitempty"`
}

// Choice is one alternative of a ChatResponse.
type Choice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`

	// ContentFilterResults is Azure's verdict on this choice.
	ContentFilterResults json.RawMessage `json:"content_filter_results,omitempty"`
}

// Usage is "usage". PromptTokens includes CachedTokens; CompletionTokens
// includes ReasoningTokens.
type Usage struct {
	PromptTokens            int64                    `json:"prompt_tokens"`
	CompletionTokens        int64                    `json:"completion_tokens"`
	TotalTokens             int64                    `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails breaks PromptTokens down.
type PromptTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
	AudioTokens  int64 `json:"audio_tokens,omitempty"`
}

// CompletionTokensDetails breaks CompletionTokens down.
type CompletionTokensDetails struct {
	ReasoningTokens          int64 `json:"reasoning_tokens"`
	AudioTokens              int64 `json:"audio_tokens,omitempty"`
	AcceptedPredictionTokens int64 `json:"accepted_prediction_tokens,omitempty"`
	RejectedPredictionTokens int64 `json:"rejected_prediction_tokens,omitempty"`
}

// ChatChunk is one "data:" event of a streamed chat completion. The usage
// chunk requested by stream_options.include_usage has empty Choices; Azure
// also sends a first chunk with empty Choices, id and model that carries
// only PromptFilterResults. An error mid-stream arrives as a chunk whose
// Error is set. Encoders must set Choices to an empty, non-nil slice for
// the usage chunk: the API sends "choices": [], never null.
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
	Obfuscation       string        `json:"obfuscation,omitempty"`

	PromptFilterResults json.RawMessage `json:"prompt_filter_results,omitempty"`

	Error *ErrorDetail `json:"error,omitempty"`
}

// ChunkChoice is one choice's part of a ChatChunk.
type ChunkChoice struct {
	Index int   `json:"index"`
	Delta Delta `json:"delta"`
	// FinishReason is empty (null on the wire) until the choice's last
	// chunk.
	FinishReason         NullString      `json:"finish_reason"`
	Logprobs             json.RawMessage `json:"logprobs,omitempty"`
	ContentFilterResults json.RawMessage `json:"content_filter_results,omitempty"`
}

// Delta is the increment a chunk adds to a choice's message.
type Delta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	Refusal   *string         `json:"refusal,omitempty"`
	ToolCalls []ToolCallDelta `json:"tool_calls,omitempty"`
}

// ToolCallDelta is a fragment of a streamed tool call. Index identifies the
// call within the choice; ID, Type and Function.Name come in its first
// fragment, Function.Arguments is split across fragments.
type ToolCallDelta struct {
	Index    int           `json:"index"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function FunctionDelta `json:"function"`
}

// FunctionDelta is the function part of a ToolCallDelta.
type FunctionDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ErrorBody is the body of an error response: {"error":{...}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an API error. Param and Code are null when empty.
type ErrorDetail struct {
	Message string     `json:"message"`
	Type    string     `json:"type"`
	Param   NullString `json:"param"`
	Code    NullString `json:"code"`
}

// NullString is a string encoded as null when empty. It decodes null, a
// string, or a number (some OpenAI-compatible servers send numeric codes)
// as its text.
type NullString string

// MarshalJSON encodes "" as null.
func (s NullString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

// UnmarshalJSON decodes null, a string or a number.
func (s *NullString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*s = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = NullString(v)
		return nil
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return err
		}
		*s = NullString(n)
		return nil
	}
}
