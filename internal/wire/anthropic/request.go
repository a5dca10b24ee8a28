// Package anthropic holds the wire types of the Anthropic Messages API
// (POST /v1/messages and /v1/messages/count_tokens): the request, the
// response, the stream events and the error body, with the exact JSON field
// names the API uses. They were checked against recorded traffic (see the
// tests, which decode every shared fixture with unknown fields refused).
//
// The package depends on the standard library only. Fields that airgw does
// not interpret are json.RawMessage so that they survive a decode/encode
// round trip unchanged.
package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the anthropic-version header value airgw sends by default.
const Version = "2023-06-01"

// MessagesRequest is the body of POST /v1/messages.
type MessagesRequest struct {
	Model    string    `json:"model"`
	Messages []Message `json:"messages"`
	// MaxTokens is required by the API; it is always encoded.
	MaxTokens int `json:"max_tokens"`
	// System is a string or an array of text blocks; omitted when unset.
	System        Content     `json:"system,omitzero"`
	Metadata      *Metadata   `json:"metadata,omitempty"`
	StopSequences []string    `json:"stop_sequences,omitempty"`
	Stream        bool        `json:"stream,omitempty"`
	Temperature   *float64    `json:"temperature,omitempty"`
	TopP          *float64    `json:"top_p,omitempty"`
	TopK          *int        `json:"top_k,omitempty"`
	Tools         []Tool      `json:"tools,omitempty"`
	ToolChoice    *ToolChoice `json:"tool_choice,omitempty"`
	Thinking      *Thinking   `json:"thinking,omitempty"`
	ServiceTier   string      `json:"service_tier,omitempty"`
	// CacheControl at the top level asks the API to place the cache
	// breakpoint itself (automatic prompt caching).
	CacheControl *CacheControl `json:"cache_control,omitempty"`

	// Fields passed through without interpretation.
	OutputConfig      json.RawMessage `json:"output_config,omitempty"`
	OutputFormat      json.RawMessage `json:"output_format,omitempty"`
	Container         json.RawMessage `json:"container,omitempty"`
	ContextManagement json.RawMessage `json:"context_management,omitempty"`
	MCPServers        json.RawMessage `json:"mcp_servers,omitempty"`
}

// CountTokensRequest is the body of POST /v1/messages/count_tokens: the
// parts of a MessagesRequest that make up the prompt.
type CountTokensRequest struct {
	Model      string          `json:"model"`
	Messages   []Message       `json:"messages"`
	System     Content         `json:"system,omitzero"`
	Tools      []Tool          `json:"tools,omitempty"`
	ToolChoice *ToolChoice     `json:"tool_choice,omitempty"`
	Thinking   *Thinking       `json:"thinking,omitempty"`
	MCPServers json.RawMessage `json:"mcp_servers,omitempty"`
	// OutputConfig holds the JSON outputs format, whose instructions count
	// as input tokens.
	OutputConfig json.RawMessage `json:"output_config,omitempty"`
}

// CountTokensResponse is the answer of POST /v1/messages/count_tokens.
type CountTokensResponse struct {
	InputTokens int64 `json:"input_tokens"`
}

// Message roles. The API has no system role: the system prompt is the
// request's top-level "system".
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one entry of "messages".
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// Metadata is the request's "metadata".
type Metadata struct {
	// UserID is an opaque identifier of the end user, for abuse detection.
	UserID string `json:"user_id,omitempty"`
}

// CacheControl marks a prompt-cache breakpoint. Type is "ephemeral"; TTL
// is "5m" (the default) or "1h".
type CacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

// Tool is one entry of "tools": a client tool with a Name, Description and
// InputSchema. Server tools (web search, code execution) have a Type and
// options not modelled here; requests that use them reach the API through
// pass-through, undecoded.
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl *CacheControl   `json:"cache_control,omitempty"`
}

// Tool choice types.
const (
	ToolChoiceAuto = "auto"
	ToolChoiceAny  = "any"
	ToolChoiceTool = "tool"
	ToolChoiceNone = "none"
)

// ToolChoice is the request's "tool_choice". Name is set for type "tool".
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// Thinking types.
const (
	ThinkingEnabled  = "enabled"
	ThinkingDisabled = "disabled"
)

// Thinking is the request's "thinking": extended thinking with a budget
// (at least 1024 tokens, and less than max_tokens).
type Thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

// ContentKind says how a "content" (or "system") value is encoded.
type ContentKind uint8

// Content encodings. The zero value is ContentNone: absent, omitted with
// omitzero.
const (
	ContentNone ContentKind = iota
	ContentString
	ContentBlocks
)

// Content is a message's "content", a tool result's "content" or the
// request's "system": a string or an array of content blocks.
type Content struct {
	Kind   ContentKind
	Text   string         // ContentString
	Blocks []ContentBlock // ContentBlocks
}

// TextContent returns string content.
func TextContent(s string) Content { return Content{Kind: ContentString, Text: s} }

// BlocksContent returns array content.
func BlocksContent(blocks ...ContentBlock) Content {
	if blocks == nil {
		blocks = []ContentBlock{}
	}
	return Content{Kind: ContentBlocks, Blocks: blocks}
}

// IsZero reports whether c is absent, so that omitzero leaves it out.
func (c Content) IsZero() bool { return c.Kind == ContentNone }

// MarshalJSON encodes c as a string or an array; absent content encodes
// as null.
func (c Content) MarshalJSON() ([]byte, error) {
	switch c.Kind {
	case ContentString:
		return json.Marshal(c.Text)
	case ContentBlocks:
		if c.Blocks == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(c.Blocks)
	default:
		return []byte("null"), nil
	}
}

var errContent = errors.New("content must be a string or an array of content blocks")

// UnmarshalJSON decodes a string or an array of blocks; null leaves c
// absent.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errContent
	case b[0] == 'n':
		if string(b) != "null" {
			return errContent
		}
		*c = Content{}
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("content: %w", err)
		}
		*c = TextContent(s)
		return nil
	case b[0] == '[':
		var blocks []ContentBlock
		if err := json.Unmarshal(b, &blocks); err != nil {
			return fmt.Errorf("content: %w", err)
		}
		*c = BlocksContent(blocks...)
		return nil
	default:
		return errContent
	}
}

// String returns the string content, or the concatenated text blocks.
func (c *Content) String() string {
	if c.Kind == ContentString {
		return c.Text
	}
	var s string
	for _, b := range c.Blocks {
		if b.Type == BlockText {
			s += b.Text
		}
	}
	return s
}
