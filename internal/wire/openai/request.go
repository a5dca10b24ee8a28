// Package openai holds the wire types of the OpenAI Chat Completions API:
// the request, the response, the stream chunk and the error body, with the
// exact JSON field names the API uses. Azure OpenAI and most
// "OpenAI-compatible" servers use the same shapes, with a few extra fields
// (prompt_filter_results, content_filter_results) kept here as raw JSON.
//
// The package depends on the standard library only. Fields that airgw does
// not interpret are json.RawMessage so that they survive a decode/encode
// round trip unchanged.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ChatRequest is the body of POST /v1/chat/completions.
type ChatRequest struct {
	Model    string    `json:"model"`
	Messages []Message `json:"messages"`

	Tools             []Tool      `json:"tools,omitempty"`
	ToolChoice        *ToolChoice `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool       `json:"parallel_tool_calls,omitempty"`

	// MaxTokens is the legacy limit, still the only one most
	// OpenAI-compatible servers understand; OpenAI itself wants
	// MaxCompletionTokens (required for reasoning models).
	MaxTokens           *int `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int `json:"max_completion_tokens,omitempty"`

	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"top_p,omitempty"`
	Stop             Stop            `json:"stop,omitempty"`
	N                *int            `json:"n,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	LogitBias        map[string]int  `json:"logit_bias,omitempty"`
	Logprobs         *bool           `json:"logprobs,omitempty"`
	TopLogprobs      *int            `json:"top_logprobs,omitempty"`
	ResponseFormat   *ResponseFormat `json:"response_format,omitempty"`
	ReasoningEffort  string          `json:"reasoning_effort,omitempty"`

	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`

	User             string            `json:"user,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	Store            *bool             `json:"store,omitempty"`
	ServiceTier      string            `json:"service_tier,omitempty"`
	PromptCacheKey   string            `json:"prompt_cache_key,omitempty"`
	SafetyIdentifier string            `json:"safety_identifier,omitempty"`
	Verbosity        string            `json:"verbosity,omitempty"`

	// Fields passed through without interpretation.
	Modalities       json.RawMessage `json:"modalities,omitempty"`
	Audio            json.RawMessage `json:"audio,omitempty"`
	Prediction       json.RawMessage `json:"prediction,omitempty"`
	WebSearchOptions json.RawMessage `json:"web_search_options,omitempty"`
	Functions        json.RawMessage `json:"functions,omitempty"`     // deprecated
	FunctionCall     json.RawMessage `json:"function_call,omitempty"` // deprecated
}

// StreamOptions is the request's "stream_options"; valid only with stream.
type StreamOptions struct {
	IncludeUsage       bool  `json:"include_usage"`
	IncludeObfuscation *bool `json:"include_obfuscation,omitempty"`
}

// Message roles.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
	RoleFunction  = "function" // deprecated
)

// Message is one entry of "messages", and the "message" of a response
// choice.
type Message struct {
	Role        string          `json:"role"`
	Content     Content         `json:"content,omitzero"`
	Name        string          `json:"name,omitempty"`
	ToolCalls   []ToolCall      `json:"tool_calls,omitempty"`
	ToolCallID  string          `json:"tool_call_id,omitempty"`
	Refusal     *string         `json:"refusal,omitempty"`
	Annotations json.RawMessage `json:"annotations,omitempty"`
	Audio       json.RawMessage `json:"audio,omitempty"`
}

// ContentKind says how a message's "content" is encoded.
type ContentKind uint8

// Content encodings. The zero value is ContentNull, so an unset Content is
// omitted from a request (with omitzero) and decoded from null or absence.
const (
	ContentNull ContentKind = iota
	ContentString
	ContentParts
)

// Content is a message's "content": null, a string, or an array of parts.
type Content struct {
	Kind  ContentKind
	Text  string        // ContentString
	Parts []ContentPart // ContentParts
}

// TextContent returns string content.
func TextContent(s string) Content { return Content{Kind: ContentString, Text: s} }

// PartsContent returns array content.
func PartsContent(parts ...ContentPart) Content {
	if parts == nil {
		parts = []ContentPart{}
	}
	return Content{Kind: ContentParts, Parts: parts}
}

// IsZero reports whether c is null, so that omitzero leaves it out.
func (c Content) IsZero() bool { return c.Kind == ContentNull }

// MarshalJSON encodes c as null, a string or an array.
func (c Content) MarshalJSON() ([]byte, error) {
	switch c.Kind {
	case ContentString:
		return json.Marshal(c.Text)
	case ContentParts:
		if c.Parts == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(c.Parts)
	default:
		return []byte("null"), nil
	}
}

// UnmarshalJSON decodes null, a string or an array of parts.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("openai: empty content")
	case string(b) == "null":
		*c = Content{}
		return nil
	case b[0] == '"':
		*c = Content{Kind: ContentString}
		if len(b) >= 2 && b[len(b)-1] == '"' && plain(b[1:len(b)-1]) {
			// The usual case, without a second decoder over the string: the
			// enclosing decoder has checked the syntax, and a string with
			// no escape, no control byte and valid UTF-8 decodes to itself.
			c.Text = string(b[1 : len(b)-1])
			return nil
		}
		return json.Unmarshal(b, &c.Text)
	case b[0] == '[':
		*c = Content{Kind: ContentParts, Parts: []ContentPart{}}
		return json.Unmarshal(b, &c.Parts)
	default:
		return fmt.Errorf("openai: content must be a string, an array or null, not %.20s", b)
	}
}

// plain reports whether the body of a JSON string decodes to itself: no
// backslash, quote or control byte, and valid UTF-8 (json.Unmarshal
// replaces invalid bytes with U+FFFD).
func plain(t []byte) bool {
	ascii := true
	for _, c := range t {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	return ascii || utf8.Valid(t)
}

// Content part types.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartFile       = "file"
	PartRefusal    = "refusal"
)

// ContentPart is one element of array content.
type ContentPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ImageURL   *ImageURL       `json:"image_url,omitempty"`
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
	File       json.RawMessage `json:"file,omitempty"`
	Refusal    string          `json:"refusal,omitempty"`
}

// ImageURL is an image reference: an http(s) URL or a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"` // auto, low, high
}

// Tool is an entry of "tools".
type Tool struct {
	Type     string      `json:"type"` // "function"
	Function FunctionDef `json:"function"`
}

// FunctionDef describes a callable function.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is a complete tool call in an assistant message.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names a function and its JSON-encoded arguments.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ToolChoice is "tool_choice": a mode string ("none", "auto", "required")
// or an object naming one function, encoded as
// {"type":"function","function":{"name":...}}.
type ToolChoice struct {
	Mode     string // set for the string form
	Function string // set for the object form
}

type toolChoiceObject struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// MarshalJSON encodes the string form when Function is empty.
func (tc ToolChoice) MarshalJSON() ([]byte, error) {
	if tc.Function == "" {
		return json.Marshal(tc.Mode)
	}
	var o toolChoiceObject
	o.Type = "function"
	o.Function.Name = tc.Function
	return json.Marshal(o)
}

// UnmarshalJSON decodes either form.
func (tc *ToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*tc = ToolChoice{}
		return json.Unmarshal(b, &tc.Mode)
	}
	var o toolChoiceObject
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("openai: tool_choice: %w", err)
	}
	if o.Type != "function" || o.Function.Name == "" {
		return fmt.Errorf("openai: tool_choice: unsupported object type %q", o.Type)
	}
	*tc = ToolChoice{Function: o.Function.Name}
	return nil
}

// Stop is "stop": up to four sequences, sent as an array and accepted as a
// string or an array.
type Stop []string

// UnmarshalJSON accepts a string, an array of strings or null.
func (s *Stop) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("openai: stop: %w", err)
	}
	*s = many
	return nil
}

// Response format types.
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat is "response_format".
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the "json_schema" of a json_schema response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}
