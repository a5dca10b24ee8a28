package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

// MaxEmbedInputs is the most inputs batchEmbedContents takes in one call.
const MaxEmbedInputs = 100

// Embed returns one vector per input: embedContent for a single input,
// batchEmbedContents for several. Gemini reports no token usage for
// embeddings, so Usage.InputTokens is llm.EstimateTextTokens of the inputs
// and UsageReported is false. Dimensions becomes outputDimensionality;
// base64 encoding is left to the dialect (vectors are always floats).
func (c *Client) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	if len(req.Input) == 0 {
		return nil, llm.ParamError("input", "input must hold at least one text")
	}
	if len(req.Input) > MaxEmbedInputs {
		return nil, llm.ParamError("input", "provider %s embeds at most %d inputs per request, got %d", c.name, MaxEmbedInputs, len(req.Input))
	}
	if req.Dimensions < 0 {
		return nil, llm.ParamError("dimensions", "dimensions must be positive")
	}
	one := len(req.Input) == 1
	method := "batchEmbedContents"
	if one {
		method = "embedContent"
	}
	u, err := c.methodURL(req.Model, method)
	if err != nil {
		return nil, err
	}
	model := "models/" + modelName(req.Model)
	var body any
	if one {
		body = &wire.EmbedContentRequest{Content: wire.Content{Parts: []wire.Part{{Text: req.Input[0]}}},
			OutputDimensionality: req.Dimensions}
	} else {
		b := &wire.BatchEmbedContentsRequest{Requests: make([]wire.EmbedContentRequest, len(req.Input))}
		for i, in := range req.Input {
			b.Requests[i] = wire.EmbedContentRequest{Model: model, Content: wire.Content{Parts: []wire.Part{{Text: in}}},
				OutputDimensionality: req.Dimensions}
		}
		body = b
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeInternal, Message: "airgw could not encode the upstream request", Provider: c.name, Err: err}
	}
	resp, cancel, err := c.post(ctx, u, raw, false)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := readAllLimit(resp.Body, MaxResponseBytes)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, malformed(c.name, "the embedding response is too large", err)
		}
		return nil, classifyTransport(ctx, c.name, err, true)
	}
	var vectors [][]float32
	if one {
		var w wire.EmbedContentResponse
		if err := json.Unmarshal(b, &w); err != nil {
			return nil, malformed(c.name, "the response is not an embedContent answer", err)
		}
		vectors = [][]float32{w.Embedding.Values}
	} else {
		var w wire.BatchEmbedContentsResponse
		if err := json.Unmarshal(b, &w); err != nil {
			return nil, malformed(c.name, "the response is not a batchEmbedContents answer", err)
		}
		for _, e := range w.Embeddings {
			vectors = append(vectors, e.Values)
		}
	}
	if len(vectors) != len(req.Input) {
		return nil, malformed(c.name, fmt.Sprintf("%d embeddings for %d inputs", len(vectors), len(req.Input)), nil)
	}
	for i, v := range vectors {
		if len(v) == 0 {
			return nil, malformed(c.name, fmt.Sprintf("embedding %d is empty", i), nil)
		}
	}
	var est int64
	for _, in := range req.Input {
		est += int64(llm.EstimateTextTokens(in))
	}
	return &llm.EmbeddingResponse{Model: modelName(req.Model), Vectors: vectors, Usage: llm.Usage{InputTokens: est}}, nil
}
