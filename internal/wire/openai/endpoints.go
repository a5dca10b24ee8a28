package openai

import "encoding/json"

// Wire types of the embeddings (POST /v1/embeddings) and Responses
// (POST /v1/responses) endpoints.
//
// Responses API types: airgw forwards Responses
// requests to OpenAI-family providers untouched but for the model, so only
// the parts it reads are modelled here: identity, status, the text and
// function calls of the output (for token estimates and neutral
// responses), usage (for billing) and errors.

// Response statuses.
const (
	ResponseCompleted  = "completed"
	ResponseIncomplete = "incomplete"
	ResponseFailed     = "failed"
	ResponseInProgress = "in_progress"
)

// Stream event types of the Responses API that airgw interprets.
const (
	EventResponseCreated       = "response.created"
	EventResponseInProgress    = "response.in_progress"
	EventResponseCompleted     = "response.completed"
	EventResponseIncomplete    = "response.incomplete"
	EventResponseFailed        = "response.failed"
	EventOutputItemAdded       = "response.output_item.added"
	EventOutputTextDelta       = "response.output_text.delta"
	EventFunctionCallArgsDelta = "response.function_call_arguments.delta"
	EventError                 = "error"
)

// Output item types.
const (
	ItemMessage      = "message"
	ItemFunctionCall = "function_call"
	ItemReasoning    = "reasoning"
	PartOutputText   = "output_text"
)

// Response is a Responses API response object: the body of a
// non-streaming response, and the "response" of the lifecycle events.
type Response struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	CreatedAt         int64              `json:"created_at"`
	Status            string             `json:"status"`
	Model             string             `json:"model"`
	Output            []OutputItem       `json:"output"`
	Usage             *ResponseUsage     `json:"usage,omitempty"`
	Error             *ResponseError     `json:"error,omitempty"`
	IncompleteDetails *IncompleteDetails `json:"incomplete_details,omitempty"`
}

// OutputItem is one entry of a response's "output": a message, a function
// call, reasoning, or a built-in tool call airgw does not interpret.
type OutputItem struct {
	Type    string       `json:"type"`
	ID      string       `json:"id,omitempty"`
	Role    string       `json:"role,omitempty"`
	Content []OutputPart `json:"content,omitempty"`
	// Function call items.
	CallID    string `json:"call_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
}

// OutputPart is a content part of a message output item.
type OutputPart struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// ResponseUsage is a response's "usage". InputTokens includes the cached
// tokens and OutputTokens the reasoning tokens.
type ResponseUsage struct {
	InputTokens         int64               `json:"input_tokens"`
	InputTokensDetails  *InputTokensDetails `json:"input_tokens_details,omitempty"`
	OutputTokens        int64               `json:"output_tokens"`
	OutputTokensDetails *OutputTokensDetail `json:"output_tokens_details,omitempty"`
	TotalTokens         int64               `json:"total_tokens"`
}

// InputTokensDetails breaks InputTokens down.
type InputTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

// OutputTokensDetail breaks OutputTokens down.
type OutputTokensDetail struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// ResponseError is the "error" of a failed response.
type ResponseError struct {
	Code    NullString `json:"code"`
	Message string     `json:"message"`
}

// IncompleteDetails says why a response is incomplete
// ("max_output_tokens" or "content_filter").
type IncompleteDetails struct {
	Reason string `json:"reason"`
}

// StreamEvent is the data of one Responses stream event. Which fields are
// set depends on Type.
type StreamEvent struct {
	Type           string    `json:"type"`
	SequenceNumber *int64    `json:"sequence_number,omitempty"`
	Response       *Response `json:"response,omitempty"`
	// Delta is the text of response.output_text.delta and
	// response.function_call_arguments.delta.
	Delta       string      `json:"delta,omitempty"`
	OutputIndex int         `json:"output_index"`
	Item        *OutputItem `json:"item,omitempty"`
	// The fields of an "error" event.
	Code    NullString      `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Param   NullString      `json:"param,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

// Embedding encoding formats.
const (
	EncodingFloat  = "float"
	EncodingBase64 = "base64"
)

// ObjectEmbedding and ObjectList are the "object" values of an embeddings
// response and of its entries.
const (
	ObjectEmbedding = "embedding"
	ObjectList      = "list"
)

// EmbeddingRequest is the body of POST /v1/embeddings. Input is kept raw:
// the API accepts a string, an array of strings, an array of token ids or
// an array of token-id arrays.
type EmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions,omitempty"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	User           string          `json:"user,omitempty"`
}

// EmbeddingResponse is the body of a successful embeddings response.
type EmbeddingResponse struct {
	Object string          `json:"object"`
	Data   []Embedding     `json:"data"`
	Model  string          `json:"model"`
	Usage  *EmbeddingUsage `json:"usage,omitempty"`
}

// Embedding is one vector of an EmbeddingResponse. Embedding is an array
// of numbers, or a base64 string of little-endian float32 values when the
// request asked for encoding_format "base64".
type Embedding struct {
	Object    string          `json:"object"`
	Index     int             `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

// EmbeddingUsage is the "usage" of an embeddings response.
type EmbeddingUsage struct {
	PromptTokens int64 `json:"prompt_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}
