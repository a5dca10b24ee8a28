// Package llm holds the provider-neutral types at the hub of airgw: the chat
// request, the response, stream events, token usage, the failure classes and
// the one-method Provider contract that every provider adapter implements.
//
// Inbound dialects (the OpenAI and Anthropic client APIs) decode into these
// types and encode from them; provider adapters translate them to and from
// their vendor's wire format. The package imports nothing from airgw, in the
// spirit of database/sql/driver.
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Dialect names a client-facing API.
type Dialect string

// Dialects airgw speaks to clients.
const (
	DialectOpenAI    Dialect = "openai"
	DialectAnthropic Dialect = "anthropic"
)

// Role is the author of a message.
type Role string

// Message roles. RoleDeveloper is OpenAI's newer name for a system message.
const (
	RoleSystem    Role = "system"
	RoleDeveloper Role = "developer"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// PartType is the kind of a content part.
type PartType string

// Content part kinds.
const (
	PartText  PartType = "text"
	PartImage PartType = "image"
	// PartThinking is a model's visible reasoning (Anthropic "thinking",
	// Bedrock "reasoningContent", Gemini "thought" parts). Text holds it and
	// Signature the provider's signature, which must be sent back unchanged
	// in later turns.
	PartThinking PartType = "thinking"
	// PartRedactedThinking is reasoning the provider encrypted; Data holds
	// it opaque, to be sent back unchanged.
	PartRedactedThinking PartType = "redacted_thinking"
)

// Part is one piece of a message's content.
type Part struct {
	Type PartType
	Text string // PartText, PartThinking
	// ImageURL is an http(s) URL or a data: URL (base64) for PartImage.
	ImageURL string
	// ImageDetail is OpenAI's "detail" hint (auto, low, high); empty when unset.
	ImageDetail string
	// Signature authenticates a PartThinking block (Anthropic, Bedrock).
	Signature string
	// Data is the opaque payload of a PartRedactedThinking block.
	Data string
	// CacheControl marks a prompt-cache breakpoint after this part
	// (Anthropic "cache_control": {"type": "ephemeral"}); empty when unset.
	CacheControl string
}

// ToolCall is a function call made by the assistant.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // JSON text, as produced by the model
}

// Message is one turn of a conversation.
type Message struct {
	Role    Role
	Content []Part
	// ContentIsString records that the client sent content as a plain string
	// rather than an array of parts, so that it can be echoed the same way.
	ContentIsString bool
	Name            string
	ToolCalls       []ToolCall // RoleAssistant
	ToolCallID      string     // RoleTool
	// IsError marks a RoleTool result that reports a failed call
	// (Anthropic "is_error").
	IsError bool
}

// Text returns the concatenated text parts of m.
func (m *Message) Text() string {
	if len(m.Content) == 1 && m.Content[0].Type == PartText {
		return m.Content[0].Text
	}
	var n int
	for _, p := range m.Content {
		n += len(p.Text)
	}
	b := make([]byte, 0, n)
	for _, p := range m.Content {
		if p.Type == PartText {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage // JSON Schema; nil when absent
	Strict      *bool
}

// ToolChoice constrains tool use. Mode is "auto", "none", "required" or
// "function" (then Name names the function).
type ToolChoice struct {
	Mode string
	Name string
}

// ResponseFormat asks for structured output. Type is "text", "json_object"
// or "json_schema" (then Name, Schema and Strict apply).
type ResponseFormat struct {
	Type   string
	Name   string
	Schema json.RawMessage
	Strict *bool
}

// Request is a provider-neutral chat request.
//
// Model is the name the client asked for until routing, which replaces it
// with the target's upstream model name on the copy sent to a provider.
type Request struct {
	Model             string
	Messages          []Message
	Tools             []Tool
	ToolChoice        *ToolChoice
	ParallelToolCalls *bool
	MaxTokens         int // 0 when the client set no limit
	Temperature       *float64
	TopP              *float64
	TopK              *int // Anthropic, Gemini, Bedrock (via additional fields)
	Stop              []string
	N                 int // 0 or 1: one choice
	Seed              *int64
	ResponseFormat    *ResponseFormat
	// Thinking asks for visible reasoning; nil leaves the provider's default.
	Thinking *Thinking
	// ReasoningEffort is OpenAI's reasoning_effort (minimal, low, medium,
	// high); empty when unset.
	ReasoningEffort string
	Stream          bool
	// IncludeUsage records that a streaming client asked for a final usage
	// chunk. Providers always request usage upstream regardless, so that
	// every request is priced; the dialect strips it when not asked for.
	IncludeUsage bool
	User         string
	Metadata     map[string]string

	// Native is the client's body in its own dialect. A provider that speaks
	// that dialect may send it upstream with only the fields airgw owns
	// rewritten (model, stream options), so that fields airgw does not
	// model pass through untouched. Nil when the request was built in code.
	Native *Native
	// NativeOnly, when set, returns the names, in the client's words
	// ("presence_penalty", or a description such as "the Responses API"),
	// of what Native.Body asks for that the fields above do not carry. A provider that forwards Native.Body serves it;
	// one that translates the request must refuse it (see Untranslatable),
	// never drop it. It is a function so that only a translation pays for
	// the look.
	NativeOnly func() []string
}

// EmptyJSON reports whether raw is JSON's empty value of its type (null,
// false, a zero number, "", [] or {}). A client field holding it asks for
// nothing, so dialects leave it out of NativeOnly: clients such as
// LangChain send presence_penalty: 0 and logprobs: false by default.
func EmptyJSON(raw json.RawMessage) bool {
	var b bytes.Buffer
	v := bytes.TrimSpace(raw)
	if json.Compact(&b, raw) == nil {
		v = b.Bytes()
	}
	switch string(v) {
	case "", "null", "false", `""`, "[]", "{}":
		return true
	}
	if c := v[0]; c == '-' || c >= '0' && c <= '9' {
		f, err := strconv.ParseFloat(string(v), 64)
		return err == nil && f == 0
	}
	return false
}

// Untranslatable returns the feature_not_supported error that a provider
// which translates r (rather than forwarding r.Native) must answer when r
// asks for something the translation would lose; nil when nothing is lost.
func (r *Request) Untranslatable(provider, providerType string) *Error {
	if r.NativeOnly == nil {
		return nil
	}
	lost := r.NativeOnly()
	if len(lost) == 0 {
		return nil
	}
	// Field names go in backticks; descriptions ("the Responses API") as
	// they are.
	quoted := make([]string, len(lost))
	for i, s := range lost {
		quoted[i] = s
		if !strings.Contains(s, " ") {
			quoted[i] = "`" + s + "`"
		}
	}
	what := quoted[0]
	if n := len(quoted); n > 1 {
		what = fmt.Sprintf("%s (and %d more: %s)", what, n-1, strings.Join(quoted[1:], ", "))
	}
	return Unsupported(what, provider, providerType)
}

// Thinking configures extended reasoning. BudgetTokens is the most tokens
// the model may spend thinking (Anthropic budget_tokens, Gemini
// thinkingBudget); 0 with Enabled leaves the budget to the provider.
type Thinking struct {
	Enabled      bool
	BudgetTokens int
}

// Native is a request body as the client sent it.
type Native struct {
	Dialect  Dialect
	Endpoint string // e.g. "/v1/chat/completions"
	Body     json.RawMessage
}

// FinishReason says why generation stopped, in OpenAI's vocabulary.
type FinishReason string

// Finish reasons.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
)

// Usage counts the tokens of one request as the provider billed them.
//
// InputTokens is every prompt token, including those read from or written to
// a prompt cache; CacheReadTokens and CacheWriteTokens are the parts of it
// billed at cache rates. ReasoningTokens is the part of OutputTokens spent on
// hidden reasoning.
type Usage struct {
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
	CacheReadTokens  int64 `json:"cache_read_tokens,omitempty"`
	CacheWriteTokens int64 `json:"cache_write_tokens,omitempty"`
	ReasoningTokens  int64 `json:"reasoning_tokens,omitempty"`
}

// IsZero reports whether u counts no tokens at all.
func (u Usage) IsZero() bool { return u == Usage{} }

// Choice is one generated alternative.
type Choice struct {
	Index        int
	Message      Message
	FinishReason FinishReason
}

// Response is a complete, non-streaming chat response.
type Response struct {
	ID                string
	Model             string // the upstream model that answered
	Created           int64  // Unix seconds
	SystemFingerprint string
	Choices           []Choice
	// StopSequence is the stop sequence that ended generation, when one did
	// (FinishReason is then FinishStop).
	StopSequence string
	Usage        Usage
	// UsageReported is false when the provider sent no usage.
	UsageReported bool

	// Native is the provider's body when it speaks Native.Dialect, so that a
	// client of the same dialect can receive it with minimal rewriting.
	Native *Native
}

// ToolCallDelta is a fragment of a streamed tool call. Index identifies the
// call within the choice; ID and Name arrive in the first fragment.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// Event is one streamed chunk of a response.
type Event struct {
	ID      string // response id, repeated on every event
	Model   string
	Created int64
	Index   int // choice index

	Role      Role   // set on the first delta of a choice
	Text      string // content delta
	ToolCalls []ToolCallDelta
	// Thinking is a reasoning delta; ThinkingSignature arrives once, after
	// the reasoning text of a block (Anthropic signature_delta).
	Thinking          string
	ThinkingSignature string
	// RedactedThinking is an opaque encrypted reasoning block.
	RedactedThinking string

	FinishReason FinishReason // set on a choice's last event
	StopSequence string       // the stop sequence that ended generation, if any

	// Usage is set on the event that reports usage (usually the last). For
	// providers whose usage is cumulative, each report replaces the previous.
	Usage *Usage

	// Native is the provider's own encoding of this event, when the provider
	// speaks Native.Dialect; nil otherwise.
	Native *Native
}

// HasContent reports whether e says anything in neutral terms (anything
// but its ids and its provider's own encoding).
func (e *Event) HasContent() bool {
	return e.Role != "" || e.Text != "" || len(e.ToolCalls) > 0 || e.Thinking != "" ||
		e.ThinkingSignature != "" || e.RedactedThinking != "" || e.FinishReason != "" || e.Usage != nil
}

// Stream is a streamed response. Next returns io.EOF after the last event of
// a stream that ended cleanly, and an *Error for one that broke. Close
// releases the upstream connection and may be called at any time, from the
// goroutine calling Next.
type Stream interface {
	Next() (Event, error)
	Close() error
}

// Reply is what a provider returns: exactly one of Response (when the request
// did not stream) or Stream is set.
type Reply struct {
	Response *Response
	Stream   Stream
	// Header holds upstream response headers worth keeping (request ids,
	// rate-limit state). Never forwarded to clients wholesale.
	Header http.Header
}

// EmbeddingRequest asks for vector embeddings of Input.
type EmbeddingRequest struct {
	Model      string
	Input      []string
	Dimensions int // 0: the model's default
	// EncodingFormat is "float" (default) or "base64" (OpenAI). Providers
	// that cannot produce base64 return floats and the dialect encodes them.
	EncodingFormat string
	User           string
	Native         *Native
}

// EmbeddingResponse holds one vector per input, in input order.
type EmbeddingResponse struct {
	Model   string
	Vectors [][]float32
	Usage   Usage // InputTokens only
	// UsageReported is false when the provider sent no usage.
	UsageReported bool
	Native        *Native
}

// Embedder is the optional capability of providers that serve embeddings,
// found by type assertion on a Provider.
type Embedder interface {
	Embed(ctx context.Context, req *EmbeddingRequest) (*EmbeddingResponse, error)
}

// TokenCounter is the optional capability of providers that count a
// request's input tokens exactly (Anthropic's count_tokens). Without it,
// airgw estimates with EstimateInputTokens.
type TokenCounter interface {
	CountTokens(ctx context.Context, req *Request) (int64, error)
}

// Provider is a configured upstream: an LLM vendor's API, reached with the
// gateway's credentials. Implementations are safe for concurrent use.
//
// Chat sends req (whose Model is already the upstream model name) and returns
// the reply, or an *Error classified by the adapter (see Code).
type Provider interface {
	Chat(ctx context.Context, req *Request) (*Reply, error)
}
