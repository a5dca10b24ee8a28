package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// cohereMaxTexts is the most texts Cohere accepts in one InvokeModel call;
// longer inputs are sent in batches.
const cohereMaxTexts = 96

// Embed returns embeddings from InvokeModel. It serves the Amazon Titan
// text embedding models (amazon.titan-embed-text-v1, -v2:0; one call per
// input, as Titan embeds one text per call) and the Cohere embedding
// models (cohere.embed-*; up to 96 texts per call, input_type
// "search_document"). Other models are refused as feature_not_supported.
func (c *Client) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	if len(req.Input) == 0 {
		return nil, llm.ParamError("input", "must hold at least one text")
	}
	m := strings.ToLower(req.Model)
	switch {
	case strings.Contains(m, "amazon.titan-embed-text"):
		return c.embedTitan(ctx, req, strings.Contains(m, "titan-embed-text-v1"))
	case strings.Contains(m, "cohere.embed"):
		return c.embedCohere(ctx, req, strings.Contains(m, "embed-v4"))
	default:
		return nil, llm.Unsupported(fmt.Sprintf("embeddings with model %q (amazon.titan-embed-text-* and cohere.embed-* are)", req.Model), c.name, providerType)
	}
}

func (c *Client) embedTitan(ctx context.Context, req *llm.EmbeddingRequest, v1 bool) (*llm.EmbeddingResponse, error) {
	if v1 && req.Dimensions > 0 {
		return nil, llm.Unsupported("dimensions with amazon.titan-embed-text-v1", c.name, providerType)
	}
	out := &llm.EmbeddingResponse{Model: req.Model, Vectors: make([][]float32, 0, len(req.Input)), UsageReported: true}
	for i, text := range req.Input {
		body, err := json.Marshal(wire.TitanEmbedRequest{InputText: text, Dimensions: req.Dimensions})
		if err != nil {
			return nil, fmt.Errorf("bedrock: encode titan request: %w", err)
		}
		var r wire.TitanEmbedResponse
		h, e := c.invoke(ctx, req.Model, body, &r)
		if e != nil {
			if i > 0 {
				e.Sent = true // earlier inputs were already billed
			}
			return nil, e
		}
		if len(r.Embedding) == 0 {
			return nil, malformed(c.name, http.StatusOK, "Titan response has no embedding", nil)
		}
		out.Vectors = append(out.Vectors, r.Embedding)
		n := r.InputTextTokenCount
		if hn, ok := tokenHeader(h); ok && n == 0 {
			n = hn
		}
		if n < 0 || n > maxTokenCount {
			return nil, malformed(c.name, http.StatusOK, "Titan response has an invalid token count", nil)
		}
		out.Usage.InputTokens += n
	}
	return out, nil
}

func (c *Client) embedCohere(ctx context.Context, req *llm.EmbeddingRequest, v4 bool) (*llm.EmbeddingResponse, error) {
	if req.Dimensions > 0 && !v4 {
		return nil, llm.Unsupported("dimensions with Cohere embed v3 models", c.name, providerType)
	}
	out := &llm.EmbeddingResponse{Model: req.Model, Vectors: make([][]float32, 0, len(req.Input)), UsageReported: true}
	for start := 0; start < len(req.Input); start += cohereMaxTexts {
		batch := req.Input[start:min(start+cohereMaxTexts, len(req.Input))]
		body, err := json.Marshal(wire.CohereEmbedRequest{Texts: batch, InputType: wire.CohereSearchDocument, OutputDimension: req.Dimensions})
		if err != nil {
			return nil, fmt.Errorf("bedrock: encode cohere request: %w", err)
		}
		var r wire.CohereEmbedResponse
		h, e := c.invoke(ctx, req.Model, body, &r)
		if e != nil {
			if start > 0 {
				e.Sent = true
			}
			return nil, e
		}
		vecs, err := cohereVectors(r.Embeddings)
		if err != nil || len(vecs) != len(batch) {
			return nil, malformed(c.name, http.StatusOK, fmt.Sprintf("Cohere response has %d vectors for %d texts", len(vecs), len(batch)), err)
		}
		out.Vectors = append(out.Vectors, vecs...)
		if n, ok := tokenHeader(h); ok {
			out.Usage.InputTokens += n
		} else {
			out.UsageReported = false
		}
	}
	return out, nil
}

// cohereVectors decodes Cohere's embeddings: a list of vectors, or an
// object of lists keyed by type of which "float" is used.
func cohereVectors(raw json.RawMessage) ([][]float32, error) {
	var list [][]float32
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var byType struct {
		Float [][]float32 `json:"float"`
	}
	if err := json.Unmarshal(raw, &byType); err != nil {
		return nil, fmt.Errorf("bedrock: cohere embeddings: %w", err)
	}
	if byType.Float == nil {
		return nil, errors.New("bedrock: cohere embeddings hold no float vectors")
	}
	return byType.Float, nil
}

// tokenHeader reads X-Amzn-Bedrock-Input-Token-Count.
func tokenHeader(h http.Header) (int64, bool) {
	v := h.Get(wire.HeaderInputTokenCount)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxTokenCount {
		return 0, false
	}
	return n, true
}

// invoke posts body to InvokeModel and decodes the JSON answer into v.
func (c *Client) invoke(ctx context.Context, model string, body []byte, v any) (http.Header, *llm.Error) {
	resp, cancel, e := c.send(ctx, model, "invoke", contentJSON, body)
	if e != nil {
		return nil, e
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := readAllLimit(resp.Body, MaxResponseBytes)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, malformed(c.name, resp.StatusCode, fmt.Sprintf("response larger than %d MiB", MaxResponseBytes>>20), err)
		}
		return nil, classifyTransport(ctx, c.name, err, true)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, malformed(c.name, resp.StatusCode, "embedding response is not JSON", err)
	}
	return resp.Header, nil
}
