// Package gemini holds the wire types of the Google Generative Language API
// (Gemini): generateContent and streamGenerateContent requests and
// responses, embedContent and batchEmbedContents, and the error body. It
// imports only the standard library.
//
// Field names follow the API's JSON (lowerCamelCase). The API also accepts
// the proto field names (snake_case), which these types do not decode.
package gemini

import "encoding/json"

// Content roles.
const (
	RoleUser  = "user"
	RoleModel = "model"
)

// Function calling modes of FunctionCallingConfig.Mode.
const (
	ModeAuto = "AUTO"
	ModeAny  = "ANY"
	ModeNone = "NONE"
)

// Request is the body of generateContent and streamGenerateContent.
type Request struct {
	// Model is "models/<name>"; optional, since the URL names the model.
	Model             string            `json:"model,omitempty"`
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *GenerationConfig `json:"generationConfig,omitempty"`
	// SafetySettings is kept undecoded: categories and thresholds arrive
	// as names or, from legacy SDKs, as enum numbers.
	SafetySettings json.RawMessage `json:"safetySettings,omitempty"`
	// CachedContent names a cached context ("cachedContents/<id>").
	CachedContent string `json:"cachedContent,omitempty"`
}

// Content is one turn: a role and its parts. Role is "user" or "model";
// empty in a systemInstruction.
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one piece of content. Exactly one of Text, InlineData, FileData,
// FunctionCall, FunctionResponse, ExecutableCode or CodeExecutionResult is
// set; Thought marks a Text part as the model's reasoning, and
// ThoughtSignature may accompany any part the model produced.
type Part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *Blob             `json:"inlineData,omitempty"`
	FileData         *FileData         `json:"fileData,omitempty"`
	FunctionCall     *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *FunctionResponse `json:"functionResponse,omitempty"`
	// ExecutableCode and CodeExecutionResult come from the built-in code
	// execution tool; airgw does not model them.
	ExecutableCode      json.RawMessage `json:"executableCode,omitempty"`
	CodeExecutionResult json.RawMessage `json:"codeExecutionResult,omitempty"`
}

// Blob is inline media: base64 Data of type MIMEType.
type Blob struct {
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FileData references media uploaded with the File API (or a gs:// URI on
// Vertex AI).
type FileData struct {
	MIMEType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// FunctionCall is a call the model makes. Args is a JSON object. ID is set
// by some models and must then be echoed in the FunctionResponse.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse is the result of a FunctionCall, sent in a user turn.
// Response must be a JSON object.
type FunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// Tool offers functions to the model. Built-in tools (googleSearch,
// codeExecution, urlContext) are kept undecoded.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`
	GoogleSearch         json.RawMessage       `json:"googleSearch,omitempty"`
	CodeExecution        json.RawMessage       `json:"codeExecution,omitempty"`
	URLContext           json.RawMessage       `json:"urlContext,omitempty"`
}

// FunctionDeclaration describes one function. Parameters is an OpenAPI 3.0
// Schema object in Gemini's subset (types in upper case: OBJECT, STRING...);
// ParametersJSONSchema is the same as full JSON Schema. At most one is set.
type FunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

// ToolConfig constrains tool use.
type ToolConfig struct {
	FunctionCallingConfig *FunctionCallingConfig `json:"functionCallingConfig,omitempty"`
}

// FunctionCallingConfig selects the calling mode (ModeAuto, ModeAny,
// ModeNone) and, with ModeAny, the functions the model may call.
type FunctionCallingConfig struct {
	Mode                 string   `json:"mode,omitempty"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// GenerationConfig holds sampling and output options. Pointers are nil when
// unset, so that a zero value (temperature 0) is sent.
type GenerationConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int            `json:"topK,omitempty"`
	MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	CandidateCount     int             `json:"candidateCount,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	ResponseMIMEType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ResponseModalities []string        `json:"responseModalities,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	ThinkingConfig     *ThinkingConfig `json:"thinkingConfig,omitempty"`
}

// ThinkingConfig configures reasoning. ThinkingBudget is in tokens: 0
// disables thinking where the model allows it, -1 lets the model decide;
// nil leaves the model's default. IncludeThoughts asks for thought summaries
// as parts with Thought set; nil means false.
type ThinkingConfig struct {
	ThinkingBudget  *int  `json:"thinkingBudget,omitempty"`
	IncludeThoughts *bool `json:"includeThoughts,omitempty"`
}

// EmbedContentRequest is the body of embedContent, and one entry of
// BatchEmbedContentsRequest (where Model is required).
type EmbedContentRequest struct {
	Model   string  `json:"model,omitempty"`
	Content Content `json:"content"`
	// TaskType is e.g. RETRIEVAL_QUERY, SEMANTIC_SIMILARITY; empty when unset.
	TaskType string `json:"taskType,omitempty"`
	Title    string `json:"title,omitempty"`
	// OutputDimensionality truncates the vector; 0 keeps the model's size.
	OutputDimensionality int `json:"outputDimensionality,omitempty"`
}

// BatchEmbedContentsRequest is the body of batchEmbedContents.
type BatchEmbedContentsRequest struct {
	Requests []EmbedContentRequest `json:"requests"`
}
