package bedrock

import "encoding/json"

// InvokeModel (POST /model/{modelId}/invoke) takes the model's own body.
// These are the bodies of the embedding models airgw serves.

// InvokeTokenHeaders are the response headers in which InvokeModel reports
// the tokens a call consumed, whatever the model's body says.
const (
	HeaderInputTokenCount  = "X-Amzn-Bedrock-Input-Token-Count"
	HeaderOutputTokenCount = "X-Amzn-Bedrock-Output-Token-Count"
)

// TitanEmbedRequest is the body for amazon.titan-embed-text-v2:0 (and
// v1, which ignores Dimensions and Normalize). One text per call.
type TitanEmbedRequest struct {
	InputText string `json:"inputText"`
	// Dimensions is 256, 512 or 1024 (v2; default 1024).
	Dimensions int   `json:"dimensions,omitempty"`
	Normalize  *bool `json:"normalize,omitempty"`
}

// TitanEmbedResponse is Titan's answer.
type TitanEmbedResponse struct {
	Embedding           []float32 `json:"embedding"`
	InputTextTokenCount int64     `json:"inputTextTokenCount"`
	// EmbeddingsByType is set when embeddingTypes was requested.
	EmbeddingsByType map[string][]float32 `json:"embeddingsByType,omitempty"`
}

// Cohere input types.
const (
	CohereSearchDocument = "search_document"
	CohereSearchQuery    = "search_query"
)

// CohereEmbedRequest is the body for cohere.embed-english-v3,
// cohere.embed-multilingual-v3 and cohere.embed-v4.
type CohereEmbedRequest struct {
	Texts     []string `json:"texts"`
	InputType string   `json:"input_type"`
	Truncate  string   `json:"truncate,omitempty"`
	// OutputDimension is embed-v4 only (256, 512, 1024, 1536).
	OutputDimension int `json:"output_dimension,omitempty"`
}

// CohereEmbedResponse is Cohere's answer. Embeddings is a list of vectors
// ("response_type": "embeddings_floats"), or an object of lists keyed by
// type ({"float": [[...]]}) when embedding types were requested or for
// embed-v4; decode it with CohereVectors.
type CohereEmbedResponse struct {
	ID           string          `json:"id"`
	ResponseType string          `json:"response_type"`
	Texts        []string        `json:"texts,omitempty"`
	Embeddings   json.RawMessage `json:"embeddings"`
}
