package openai

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/openai"
)

// EmbeddingsEndpoint is the Native.Endpoint of an OpenAI embeddings
// request, which the Client forwards with only its model rewritten.
const EmbeddingsEndpoint = "/v1/embeddings"

var _ llm.Embedder = (*Client)(nil)

// Embed sends req to POST {base}/embeddings (on Azure, the deployment's
// /embeddings) and returns the vectors. A native OpenAI body
// (req.Native with Endpoint EmbeddingsEndpoint) is forwarded with only its
// model rewritten, so that encoding_format, dimensions and token-array
// inputs reach the provider as the client sent them; otherwise the body is
// built from req.
//
// The response keeps the provider's body as Native. Vectors holds the
// decoded float vectors, except for a base64 answer to a native request:
// the client then receives Native byte for byte, so the vectors are not
// decoded at all (DecodeBase64Vector decodes one when needed). Errors are
// *llm.Error.
func (c *Client) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	if c.preset != nil && !c.preset.Embeddings {
		return nil, llm.Unsupported("embeddings", c.name, c.typ+" (preset "+c.preset.Name+")")
	}
	if err := c.checkDeployment(req.Model); err != nil {
		return nil, err
	}
	native := req.Native != nil && req.Native.Dialect == llm.DialectOpenAI && req.Native.Endpoint == EmbeddingsEndpoint
	var body []byte
	if native {
		b, err := SetModel(req.Native.Body, req.Model)
		if err != nil {
			return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request body is not a JSON object", Err: err}
		}
		body = b
	} else {
		if len(req.Input) == 0 {
			return nil, llm.Unsupported("embeddings input other than text (token arrays)", c.name, c.typ)
		}
		w := wire.EmbeddingRequest{Model: req.Model, EncodingFormat: req.EncodingFormat, User: req.User}
		in, err := json.Marshal(req.Input)
		if err != nil {
			return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the embeddings input cannot be encoded", Err: err}
		}
		w.Input = in
		if req.Dimensions > 0 {
			d := req.Dimensions
			w.Dimensions = &d
		}
		if body, err = json.Marshal(&w); err != nil {
			return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the embeddings request cannot be encoded", Err: err}
		}
	}
	resp, cancel, err := c.post(ctx, c.endpointURL("embeddings", req.Model), body, false)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	b, e := c.readBody(ctx, resp)
	if e != nil {
		return nil, e
	}
	return decodeEmbeddings(c.name, c.key, resp.StatusCode, b, !native)
}

// decodeEmbeddings decodes a 2xx embeddings body. decodeBase64 asks for
// base64 vectors to be decoded too (float vectors always are).
func decodeEmbeddings(provider, key string, status int, body []byte, decodeBase64 bool) (*llm.EmbeddingResponse, error) {
	var w wire.EmbeddingResponse
	if err := json.Unmarshal(body, &w); err != nil || w.Data == nil {
		if e := streamedErrorBody(provider, key, status, body); e != nil {
			return nil, e
		}
		return nil, malformed(provider, status, "response is not an embeddings list", err)
	}
	r := &llm.EmbeddingResponse{Model: w.Model,
		Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: EmbeddingsEndpoint, Body: body}}
	if w.Usage != nil {
		if w.Usage.PromptTokens < 0 || w.Usage.PromptTokens > maxTokenCount {
			return nil, malformed(provider, status, "response has invalid usage", fmt.Errorf("prompt_tokens %d", w.Usage.PromptTokens))
		}
		r.Usage, r.UsageReported = llm.Usage{InputTokens: w.Usage.PromptTokens}, true
	}
	vecs := make([][]float32, len(w.Data))
	seen := make([]bool, len(w.Data))
	skipped := false
	for i, d := range w.Data {
		if d.Index < 0 || d.Index >= len(w.Data) || seen[d.Index] {
			return nil, malformed(provider, status, fmt.Sprintf("data[%d] has an invalid index %d", i, d.Index), nil)
		}
		seen[d.Index] = true
		var v []float32
		switch {
		case len(d.Embedding) > 0 && d.Embedding[0] == '"':
			if !decodeBase64 {
				skipped = true
				continue
			}
			var s string
			if err := json.Unmarshal(d.Embedding, &s); err != nil {
				return nil, malformed(provider, status, fmt.Sprintf("data[%d].embedding is not a string", i), err)
			}
			var err error
			if v, err = DecodeBase64Vector(s); err != nil {
				return nil, malformed(provider, status, fmt.Sprintf("data[%d].embedding is not base64 float32", i), err)
			}
		default:
			if err := json.Unmarshal(d.Embedding, &v); err != nil {
				return nil, malformed(provider, status, fmt.Sprintf("data[%d].embedding is not a vector", i), err)
			}
		}
		vecs[d.Index] = v
	}
	if !skipped {
		r.Vectors = vecs
	}
	return r, nil
}

// DecodeBase64Vector decodes an embedding sent with encoding_format
// "base64": little-endian IEEE 754 float32 values, standard base64.
func DecodeBase64Vector(s string) ([]float32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("openai: embedding: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("openai: embedding: %d bytes is not a whole number of float32 values", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// SetModel returns body (a JSON object) with its top-level "model" set to
// model, every other byte preserved; a missing "model" is added at the
// end. Unlike Rewrite it touches nothing else, which suits the endpoints
// whose other fields airgw never owns (embeddings, responses).
func SetModel(body []byte, model string) ([]byte, error) {
	members, end, err := topLevelMembers(body)
	if err != nil {
		return nil, err
	}
	modelJSON, err := json.Marshal(model)
	if err != nil {
		return nil, fmt.Errorf("openai: set model: %w", err)
	}
	out := make([]byte, 0, len(body)+len(modelJSON)+10)
	last, saw := 0, false
	for _, m := range members {
		if m.key != "model" {
			continue
		}
		saw = true
		out = append(out, body[last:m.valStart]...)
		out = append(out, modelJSON...)
		last = m.valEnd
	}
	out = append(out, body[last:end]...)
	if !saw {
		if len(members) > 0 {
			out = append(out, ',')
		}
		out = append(out, `"model":`...)
		out = append(out, modelJSON...)
	}
	return append(out, body[end:]...), nil
}
