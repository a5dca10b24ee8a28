package anthropic

import (
	"encoding/json"
)

// Content block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockDocument         = "document"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
	BlockServerToolUse    = "server_tool_use"
)

// Image and document source types.
const (
	SourceBase64 = "base64"
	SourceURL    = "url"
	SourceText   = "text"
	SourceFile   = "file"
)

// ContentBlock is one block of a message's content, of a response's
// content, or of a content_block_start event. Type says which fields apply:
//
//   - text: Text (and Citations in responses)
//   - image: Source
//   - document: Source, Title, Context, Citations (decoded only, so that a
//     request can be refused or passed through; airgw does not build them)
//   - tool_use: ID, Name, Input
//   - tool_result: ToolUseID, Content (a string or text and image blocks),
//     IsError
//   - thinking: Thinking, Signature
//   - redacted_thinking: Data
//
// CacheControl may mark any block of a request as a cache breakpoint.
// Blocks of other types decode with their Type and whatever fields they
// share with these.
type ContentBlock struct {
	Type string

	Text      string
	Citations json.RawMessage

	Source *Source
	Title  string
	// DocContext is a document's "context".
	DocContext string

	ID     string
	Name   string
	Input  json.RawMessage
	Caller json.RawMessage // tool_use: who made the call ({"type":"direct"})

	ToolUseID string
	Content   *Content
	IsError   bool

	Thinking  string
	Signature string
	Data      string

	CacheControl *CacheControl
}

// Source is the "source" of an image or document block: base64 data with
// its media type, a URL, or (documents) plain text or a file id.
type Source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
	FileID    string `json:"file_id,omitempty"`
}

// blockJSON is the union of every block field, for decoding.
type blockJSON struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text,omitempty"`
	Citations    json.RawMessage `json:"citations,omitempty"`
	Source       *Source         `json:"source,omitempty"`
	Title        string          `json:"title,omitempty"`
	Context      string          `json:"context,omitempty"`
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	Caller       json.RawMessage `json:"caller,omitempty"`
	ToolUseID    string          `json:"tool_use_id,omitempty"`
	Content      *Content        `json:"content,omitempty"`
	IsError      bool            `json:"is_error,omitempty"`
	Thinking     *string         `json:"thinking,omitempty"`
	Signature    *string         `json:"signature,omitempty"`
	Data         string          `json:"data,omitempty"`
	CacheControl *CacheControl   `json:"cache_control,omitempty"`
}

// UnmarshalJSON decodes a block of any type.
func (b *ContentBlock) UnmarshalJSON(data []byte) error {
	var j blockJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*b = ContentBlock{Type: j.Type, Citations: j.Citations, Source: j.Source, Title: j.Title, DocContext: j.Context,
		ID: j.ID, Name: j.Name, Input: j.Input, Caller: j.Caller, ToolUseID: j.ToolUseID, Content: j.Content,
		IsError: j.IsError, Data: j.Data, CacheControl: j.CacheControl}
	if j.Text != nil {
		b.Text = *j.Text
	}
	if j.Thinking != nil {
		b.Thinking = *j.Thinking
	}
	if j.Signature != nil {
		b.Signature = *j.Signature
	}
	return nil
}

// MarshalJSON encodes b with exactly the fields of its type, the required
// ones always present (a text block's "text", a tool_use block's "input",
// a thinking block's "thinking" and "signature").
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	cc := b.CacheControl
	switch b.Type {
	case BlockText:
		return json.Marshal(struct {
			Type         string          `json:"type"`
			Text         string          `json:"text"`
			Citations    json.RawMessage `json:"citations,omitempty"`
			CacheControl *CacheControl   `json:"cache_control,omitempty"`
		}{b.Type, b.Text, b.Citations, cc})
	case BlockImage:
		return json.Marshal(struct {
			Type         string        `json:"type"`
			Source       *Source       `json:"source"`
			CacheControl *CacheControl `json:"cache_control,omitempty"`
		}{b.Type, b.Source, cc})
	case BlockToolUse, BlockServerToolUse:
		input := b.Input
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		return json.Marshal(struct {
			Type         string          `json:"type"`
			ID           string          `json:"id"`
			Name         string          `json:"name"`
			Input        json.RawMessage `json:"input"`
			Caller       json.RawMessage `json:"caller,omitempty"`
			CacheControl *CacheControl   `json:"cache_control,omitempty"`
		}{b.Type, b.ID, b.Name, input, b.Caller, cc})
	case BlockToolResult:
		return json.Marshal(struct {
			Type         string        `json:"type"`
			ToolUseID    string        `json:"tool_use_id"`
			Content      *Content      `json:"content,omitempty"`
			IsError      bool          `json:"is_error,omitempty"`
			CacheControl *CacheControl `json:"cache_control,omitempty"`
		}{b.Type, b.ToolUseID, b.Content, b.IsError, cc})
	case BlockThinking:
		return json.Marshal(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature})
	case BlockRedactedThinking:
		return json.Marshal(struct {
			Type string `json:"type"`
			Data string `json:"data"`
		}{b.Type, b.Data})
	default:
		j := blockJSON{Type: b.Type, Citations: b.Citations, Source: b.Source, Title: b.Title, Context: b.DocContext,
			ID: b.ID, Name: b.Name, Input: b.Input, Caller: b.Caller, ToolUseID: b.ToolUseID, Content: b.Content,
			IsError: b.IsError, Data: b.Data, CacheControl: cc}
		if b.Text != "" {
			j.Text = &b.Text
		}
		if b.Thinking != "" {
			j.Thinking = &b.Thinking
		}
		if b.Signature != "" {
			j.Signature = &b.Signature
		}
		return json.Marshal(j)
	}
}
