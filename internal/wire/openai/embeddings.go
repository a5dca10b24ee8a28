package openai

import "encoding/json"

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
