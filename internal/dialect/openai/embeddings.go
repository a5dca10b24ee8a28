package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/airgw/airgw/internal/llm"
)

// EmbeddingsEndpoint is the path of the OpenAI embeddings API, recorded as
// the Native.Endpoint of decoded embeddings requests.
const EmbeddingsEndpoint = "/v1/embeddings"

// maxEmbeddingInputs is the API's limit on inputs per request.
const maxEmbeddingInputs = 2048

// embeddingsRequest holds the fields airgw inspects, undecoded, so that
// each can be checked with an error naming it.
type embeddingsRequest struct {
	Model          json.RawMessage `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     json.RawMessage `json:"dimensions"`
	EncodingFormat json.RawMessage `json:"encoding_format"`
	User           json.RawMessage `json:"user"`
}

// DecodeEmbeddings decodes and validates an embeddings request body.
// "input" may be a string, an array of strings, an array of token ids or
// an array of token-id arrays; "model" is required, "dimensions" is at
// least 1, "encoding_format" is "float" or "base64". Every failure is an
// *llm.Error of class invalid_request whose Param names the field.
//
// Token-array inputs are accepted for pass-through only: Input is then
// nil and Native holds the body, so that an OpenAI-family provider
// forwards it as sent and any other refuses it with llm.Unsupported.
func DecodeEmbeddings(body []byte) (*llm.EmbeddingRequest, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, llm.ParamError("", "the request body is empty; send a JSON object with at least `model` and `input`")
	}
	if body[0] != '{' {
		return nil, llm.ParamError("", "the request body must be a JSON object, got %s", jsonKind(body))
	}
	var er embeddingsRequest
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, syntaxError(body, err)
	}
	req := &llm.EmbeddingRequest{Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: EmbeddingsEndpoint, Body: body}}
	d := decoder{lim: Limits{}.withDefaults()}
	req.Model = d.requiredString(er.Model, "model")
	if d.err == nil && req.Model == "" {
		d.fail(llm.ParamError("model", "`model` must not be empty; GET /v1/models lists the models this key may use"))
	}
	req.Input = d.embeddingInput(er.Input)
	req.Dimensions = d.positiveInt(er.Dimensions, "dimensions")
	req.EncodingFormat = d.optString(er.EncodingFormat, "encoding_format")
	if d.err == nil {
		switch req.EncodingFormat {
		case "", "float", "base64":
		default:
			d.fail(llm.ParamError("encoding_format", "`encoding_format` must be \"float\" or \"base64\", got %q", req.EncodingFormat))
		}
	}
	req.User = d.optString(er.User, "user")
	if d.err != nil {
		return nil, d.err
	}
	return req, nil
}

// embeddingInput decodes "input". Token arrays are validated and give nil.
func (d *decoder) embeddingInput(raw json.RawMessage) []string {
	if d.err != nil {
		return nil
	}
	if isNull(raw) {
		d.fail(llm.ParamError("input", "`input` is required: a string or an array of strings"))
		return nil
	}
	if raw[0] == '"' {
		s := d.optString(raw, "input")
		if d.err == nil && s == "" {
			d.fail(llm.ParamError("input", "`input` must not be empty"))
		}
		return []string{s}
	}
	items := d.array(raw, "input")
	if d.err != nil {
		return nil
	}
	switch {
	case len(items) == 0:
		d.fail(llm.ParamError("input", "`input` must contain at least one item"))
		return nil
	case len(items) > maxEmbeddingInputs:
		d.fail(llm.ParamError("input", "`input` has %d items; the limit is %d", len(items), maxEmbeddingInputs))
		return nil
	}
	switch items[0][0] {
	case '"':
		out := make([]string, len(items))
		for i, it := range items {
			p := idx("input", i)
			if isNull(it) {
				d.typeErr(p, "a string", it)
				return nil
			}
			out[i] = d.optString(it, p)
			if d.err == nil && out[i] == "" {
				d.fail(llm.ParamError(p, "`%s` must not be empty", p))
			}
			if d.err != nil {
				return nil
			}
		}
		return out
	case '[':
		for i, it := range items {
			p := idx("input", i)
			toks := d.array(it, p)
			if d.err == nil && len(toks) == 0 {
				d.fail(llm.ParamError(p, "`%s` must contain at least one token", p))
			}
			d.tokens(toks, p)
			if d.err != nil {
				return nil
			}
		}
	default:
		d.tokens(items, "input")
	}
	return nil
}

// tokens checks that every item is a token id (an integer ≥ 0).
func (d *decoder) tokens(items []json.RawMessage, param string) {
	for i, it := range items {
		p := idx(param, i)
		if isNull(it) {
			d.typeErr(p, "a token id (an integer)", it)
			return
		}
		d.integer(it, p, 0, math.MaxInt32)
		if d.err != nil {
			return
		}
	}
}

// WriteEmbeddings writes resp as an OpenAI embeddings response. A response
// that an OpenAI-family provider produced (resp.Native from
// /v1/embeddings) is sent as the provider encoded it, so a base64 answer
// to a base64 request passes through byte for byte. Otherwise the list is
// encoded from resp.Vectors, each vector as an array of numbers or, when
// encodingFormat is "base64" (the client's encoding_format), as base64 of
// its little-endian float32 values.
func WriteEmbeddings(w http.ResponseWriter, resp *llm.EmbeddingResponse, encodingFormat string) error {
	var body []byte
	if n := resp.Native; n != nil && n.Dialect == llm.DialectOpenAI && n.Endpoint == EmbeddingsEndpoint {
		body = n.Body
	} else {
		var err error
		if body, err = encodeEmbeddings(resp, encodingFormat == "base64"); err != nil {
			return err
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

type embeddingList struct {
	Object string           `json:"object"`
	Data   []embeddingEntry `json:"data"`
	Model  string           `json:"model"`
	Usage  embeddingUsage   `json:"usage"`
}

type embeddingEntry struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32 or a base64 string
}

type embeddingUsage struct {
	PromptTokens int64 `json:"prompt_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}

func encodeEmbeddings(resp *llm.EmbeddingResponse, b64 bool) ([]byte, error) {
	l := embeddingList{Object: "list", Model: resp.Model, Data: make([]embeddingEntry, len(resp.Vectors)),
		Usage: embeddingUsage{PromptTokens: resp.Usage.InputTokens, TotalTokens: resp.Usage.InputTokens}}
	for i, v := range resp.Vectors {
		e := embeddingEntry{Object: "embedding", Index: i, Embedding: v}
		if v == nil {
			e.Embedding = []float32{}
		}
		if b64 {
			e.Embedding = base64Vector(v)
		}
		l.Data[i] = e
	}
	return json.Marshal(&l)
}

// base64Vector encodes v as little-endian float32 values in standard
// base64, the API's encoding_format "base64".
func base64Vector(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}
