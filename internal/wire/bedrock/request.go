// Package bedrock holds the wire types of the Amazon Bedrock Runtime API that
// airgw speaks: Converse and ConverseStream (request, response, the events
// of the event stream and its exceptions) and the InvokeModel bodies of the
// embedding models. It depends on the standard library only.
//
// Every union of the API (a content block, a tool result item, a tool
// choice) is a struct whose members are pointers, exactly one of which is
// set, so that encoding/json produces and accepts the API's shape without
// custom marshalers. Binary members ("bytes" of an image, "redactedContent")
// are []byte, which encoding/json reads and writes as base64, as the API
// does.
package bedrock

import "encoding/json"

// Roles of a Message.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Image formats.
const (
	ImagePNG  = "png"
	ImageJPEG = "jpeg"
	ImageGIF  = "gif"
	ImageWebP = "webp"
)

// Tool result statuses.
const (
	ToolResultSuccess = "success"
	ToolResultError   = "error"
)

// CachePointDefault is the only cache point type.
const CachePointDefault = "default"

// ConverseRequest is the body of POST /model/{modelId}/converse and
// /converse-stream. The model id travels in the path, not the body.
type ConverseRequest struct {
	Messages                          []Message         `json:"messages"`
	System                            []SystemBlock     `json:"system,omitempty"`
	InferenceConfig                   *InferenceConfig  `json:"inferenceConfig,omitempty"`
	ToolConfig                        *ToolConfig       `json:"toolConfig,omitempty"`
	GuardrailConfig                   json.RawMessage   `json:"guardrailConfig,omitempty"`
	AdditionalModelRequestFields      json.RawMessage   `json:"additionalModelRequestFields,omitempty"`
	AdditionalModelResponseFieldPaths []string          `json:"additionalModelResponseFieldPaths,omitempty"`
	PromptVariables                   json.RawMessage   `json:"promptVariables,omitempty"`
	RequestMetadata                   map[string]string `json:"requestMetadata,omitempty"`
	PerformanceConfig                 json.RawMessage   `json:"performanceConfig,omitempty"`
	OutputConfig                      *OutputConfig     `json:"outputConfig,omitempty"`
}

// OutputConfig asks for structured output: the model's text constrained
// to a JSON schema.
type OutputConfig struct {
	TextFormat *OutputFormat `json:"textFormat,omitempty"`
}

// OutputFormat is a structured output format; Type is OutputFormatJSONSchema.
type OutputFormat struct {
	Type      string                `json:"type"`
	Structure OutputFormatStructure `json:"structure"`
}

// OutputFormatJSONSchema is the only output format type.
const OutputFormatJSONSchema = "json_schema"

// OutputFormatStructure is a union; JSONSchema is its only member.
type OutputFormatStructure struct {
	JSONSchema *JSONSchemaDefinition `json:"jsonSchema,omitempty"`
}

// JSONSchemaDefinition holds the schema as JSON text (a string, not an
// object), with an optional name and description.
type JSONSchemaDefinition struct {
	Schema      string `json:"schema"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

// RequestFields are the top-level members a Converse request may carry.
var RequestFields = []string{
	"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
	"additionalModelRequestFields", "additionalModelResponseFieldPaths",
	"promptVariables", "requestMetadata", "performanceConfig", "outputConfig",
}

// Message is one turn of the conversation.
type Message struct {
	Role    string         `json:"role"`
	Content []ContentBlock `json:"content"`
}

// ContentBlock is one item of a message's content; exactly one member is
// set.
type ContentBlock struct {
	Text             *string           `json:"text,omitempty"`
	Image            *ImageBlock       `json:"image,omitempty"`
	Document         *DocumentBlock    `json:"document,omitempty"`
	ToolUse          *ToolUseBlock     `json:"toolUse,omitempty"`
	ToolResult       *ToolResultBlock  `json:"toolResult,omitempty"`
	ReasoningContent *ReasoningContent `json:"reasoningContent,omitempty"`
	CachePoint       *CachePoint       `json:"cachePoint,omitempty"`
}

// Members returns how many members of b are set; a valid block has one.
func (b *ContentBlock) Members() int {
	n := 0
	for _, set := range []bool{b.Text != nil, b.Image != nil, b.Document != nil, b.ToolUse != nil,
		b.ToolResult != nil, b.ReasoningContent != nil, b.CachePoint != nil} {
		if set {
			n++
		}
	}
	return n
}

// TextBlock returns a content block holding s.
func TextBlock(s string) ContentBlock { return ContentBlock{Text: &s} }

// ImageBlock is an image sent inline.
type ImageBlock struct {
	Format string      `json:"format"`
	Source ImageSource `json:"source"`
}

// ImageSource holds an image's bytes (base64 on the wire).
type ImageSource struct {
	Bytes []byte `json:"bytes,omitempty"`
}

// DocumentBlock is a document sent inline (pdf, txt, md, ...). airgw does
// not produce it; it is modelled so that recorded requests decode strictly.
type DocumentBlock struct {
	Name   string      `json:"name"`
	Format string      `json:"format"`
	Source ImageSource `json:"source"`
}

// ToolUseBlock is a tool call made by the assistant. Input is a JSON
// object.
type ToolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	// Type is "server_tool_use" for a tool Bedrock ran itself (a system
	// tool such as nova_code_interpreter); empty or "tool_use" otherwise.
	Type string `json:"type,omitempty"`
}

// ToolResultBlock is the result of a tool call, sent in a user message.
type ToolResultBlock struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []ToolResultContent `json:"content"`
	Status    string              `json:"status,omitempty"`
	Type      string              `json:"type,omitempty"`
}

// ToolResultContent is one item of a tool result; exactly one member is set.
type ToolResultContent struct {
	Text     *string         `json:"text,omitempty"`
	JSON     json.RawMessage `json:"json,omitempty"`
	Image    *ImageBlock     `json:"image,omitempty"`
	Document *DocumentBlock  `json:"document,omitempty"`
}

// ReasoningContent is a model's reasoning: visible text with its signature,
// or an encrypted block.
type ReasoningContent struct {
	ReasoningText   *ReasoningText `json:"reasoningText,omitempty"`
	RedactedContent []byte         `json:"redactedContent,omitempty"`
}

// ReasoningText is visible reasoning. Signature must be sent back
// unchanged in later turns.
type ReasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// CachePoint marks a prompt-cache breakpoint after the preceding block.
type CachePoint struct {
	Type string `json:"type"`
}

// SystemBlock is one item of the system prompt; exactly one member is set.
type SystemBlock struct {
	Text         *string         `json:"text,omitempty"`
	CachePoint   *CachePoint     `json:"cachePoint,omitempty"`
	GuardContent json.RawMessage `json:"guardContent,omitempty"`
}

// InferenceConfig holds the sampling parameters common to every model.
type InferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// ToolConfig declares the tools the model may call.
type ToolConfig struct {
	Tools      []Tool      `json:"tools"`
	ToolChoice *ToolChoice `json:"toolChoice,omitempty"`
}

// Tool is one item of ToolConfig.Tools; exactly one member is set.
type Tool struct {
	ToolSpec   *ToolSpec   `json:"toolSpec,omitempty"`
	SystemTool *SystemTool `json:"systemTool,omitempty"`
	CachePoint *CachePoint `json:"cachePoint,omitempty"`
}

// ToolSpec is a function the caller implements.
type ToolSpec struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	InputSchema InputSchema `json:"inputSchema"`
}

// InputSchema wraps a tool's JSON Schema.
type InputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// SystemTool is a tool Bedrock runs itself (e.g. nova_code_interpreter).
type SystemTool struct {
	Name string `json:"name"`
}

// ToolChoice constrains tool use; exactly one member is set. Converse has
// no "none": a request that must not call tools sends no tools.
type ToolChoice struct {
	Auto *struct{}       `json:"auto,omitempty"`
	Any  *struct{}       `json:"any,omitempty"`
	Tool *ToolChoiceName `json:"tool,omitempty"`
}

// ToolChoiceName names the one tool the model must call.
type ToolChoiceName struct {
	Name string `json:"name"`
}

// ErrorBody is the body of an HTTP error response. The error's type is in
// the X-Amzn-Errortype header ("ValidationException:http://..."); some
// responses repeat it in the body as "__type" or "code".
type ErrorBody struct {
	Message string `json:"message"`
	Type    string `json:"__type,omitempty"`
	Code    string `json:"code,omitempty"`
}
