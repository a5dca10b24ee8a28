package openaitest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	wire "github.com/airgw/airgw/internal/wire/openai"
)

// knownEmbeddingFields are the request fields of POST /v1/embeddings.
var knownEmbeddingFields = map[string]bool{
	"model": true, "input": true, "dimensions": true, "encoding_format": true, "user": true,
}

// EchoDimensions is the length of an echo embedding when the request sets
// no dimensions.
const EchoDimensions = 4

// EchoVector returns the vector the Server answers for the input at index
// i with dims dimensions: element j is i+1 + j/8 (exact in float32).
func EchoVector(i, dims int) []float32 {
	v := make([]float32, dims)
	for j := range v {
		v[j] = float32(i+1) + float32(j)/8
	}
	return v
}

// EchoEmbeddingTokens returns the prompt tokens the Server reports for the
// text inputs: each counts its bytes divided by 4, plus 1 (a token array
// counts its length).
func EchoEmbeddingTokens(inputs ...string) int64 {
	var n int64
	for _, in := range inputs {
		n += int64(len(in)/4 + 1)
	}
	return n
}

// serveEmbeddings validates and answers POST /v1/embeddings. The model (or
// Azure deployment) selects the answer as for chat: "fixture:<name>",
// "error:<kind>", or an echo of EchoVector per input with deterministic
// usage, encoded as encoding_format asks.
func (s *Server) serveEmbeddings(w http.ResponseWriter, idx int, rec *Request, deployment string) {
	if e := unknownField(rec.Fields, knownEmbeddingFields); e != nil {
		writeError(w, e.status, e.body, nil)
		return
	}
	var req wire.EmbeddingRequest
	if err := json.Unmarshal(rec.Raw, &req); err != nil {
		writeError(w, 400, errorBody("Invalid request body: a field has the wrong type.", "invalid_request_error", "", "invalid_type"), nil)
		return
	}
	model := req.Model
	if deployment != "" {
		model = deployment
	}
	if model == "" {
		writeError(w, 400, errorBody("you must provide a model parameter", "invalid_request_error", "", ""), nil)
		return
	}
	tokens, ok := inputTokens(req.Input)
	if !ok {
		writeError(w, 400, errorBody("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "invalid_request_error", "", ""), nil)
		return
	}
	dims := EchoDimensions
	if req.Dimensions != nil {
		if *req.Dimensions < 1 {
			writeError(w, 400, errorBody(fmt.Sprintf("Invalid value for 'dimensions' = %d. Must be a positive integer.", *req.Dimensions), "invalid_request_error", "dimensions", ""), nil)
			return
		}
		dims = *req.Dimensions
	}
	switch req.EncodingFormat {
	case "", wire.EncodingFloat, wire.EncodingBase64:
	default:
		writeError(w, 400, errorBody(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'float' and 'base64'.", req.EncodingFormat), "invalid_request_error", "encoding_format", "invalid_value"), nil)
		return
	}
	kind, arg, _ := strings.Cut(model, ":")
	switch kind {
	case "fixture":
		if err := serveFixture(w, arg); err != nil {
			writeError(w, http.StatusNotFound, errorBody(err.Error(), "invalid_request_error", "model", "model_not_found"), nil)
		}
		return
	case "error":
		serveError(w, arg)
		return
	}
	resp := wire.EmbeddingResponse{Object: wire.ObjectList, Model: model,
		Usage: &wire.EmbeddingUsage{PromptTokens: tokens, TotalTokens: tokens}}
	for i := range inputCount(req.Input) {
		v := EchoVector(i, dims)
		var raw []byte
		if req.EncodingFormat == wire.EncodingBase64 {
			raw, _ = json.Marshal(EncodeBase64Vector(v))
		} else {
			raw, _ = json.Marshal(v)
		}
		resp.Data = append(resp.Data, wire.Embedding{Object: wire.ObjectEmbedding, Index: i, Embedding: raw})
	}
	b, _ := json.Marshal(&resp)
	s.update(idx, func(q *Request) { q.Usage = &wire.Usage{PromptTokens: tokens, TotalTokens: tokens} })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", fmt.Sprintf("req_openaitest_%d", idx+1))
	_, _ = w.Write(b)
}

// EncodeBase64Vector encodes v as the API's base64 embeddings:
// little-endian float32 values, standard base64.
func EncodeBase64Vector(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// inputTokens validates an embeddings input and returns its echo usage:
// a non-empty string, a non-empty array of non-empty strings, a non-empty
// token array, or a non-empty array of non-empty token arrays.
func inputTokens(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	var one string
	if json.Unmarshal(raw, &one) == nil && len(raw) > 0 && raw[0] == '"' {
		return EchoEmbeddingTokens(one), one != ""
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		for _, m := range many {
			if m == "" {
				return 0, false
			}
		}
		return EchoEmbeddingTokens(many...), true
	}
	var toks []int64
	if json.Unmarshal(raw, &toks) == nil && len(toks) > 0 {
		return int64(len(toks)), true
	}
	var arrays [][]int64
	if json.Unmarshal(raw, &arrays) == nil && len(arrays) > 0 {
		var n int64
		for _, a := range arrays {
			if len(a) == 0 {
				return 0, false
			}
			n += int64(len(a))
		}
		return n, true
	}
	return 0, false
}

// inputCount returns the number of inputs of a valid input.
func inputCount(raw json.RawMessage) int {
	var items []json.RawMessage
	raw = bytes.TrimSpace(raw)
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return 1
	}
	if len(items) > 0 && bytes.TrimSpace(items[0])[0] != '"' && bytes.TrimSpace(items[0])[0] != '[' {
		return 1 // one token array
	}
	return len(items)
}
