package openai

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

func TestDecodeEmbeddings(t *testing.T) {
	tests := []struct {
		name string
		body string
		want llm.EmbeddingRequest // Native is checked separately
	}{
		{"string", `{"model":"e","input":"hi"}`, llm.EmbeddingRequest{Model: "e", Input: []string{"hi"}}},
		{"strings", `{"model":"e","input":["a","b"],"user":"u1"}`, llm.EmbeddingRequest{Model: "e", Input: []string{"a", "b"}, User: "u1"}},
		{"dims-base64", `{"model":"e","input":"x","dimensions":256,"encoding_format":"base64"}`,
			llm.EmbeddingRequest{Model: "e", Input: []string{"x"}, Dimensions: 256, EncodingFormat: "base64"}},
		{"float", `{"model":"e","input":"x","encoding_format":"float"}`, llm.EmbeddingRequest{Model: "e", Input: []string{"x"}, EncodingFormat: "float"}},
		{"tokens", `{"model":"e","input":[1,2,3]}`, llm.EmbeddingRequest{Model: "e"}},
		{"token-arrays", `{"model":"e","input":[[1,2],[3]]}`, llm.EmbeddingRequest{Model: "e"}},
		{"unknown-field-passes", `{"model":"e","input":"x","vendor_opt":{"a":1}}`, llm.EmbeddingRequest{Model: "e", Input: []string{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEmbeddings([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeEmbeddings(%s) = %v", tt.body, err)
			}
			if got.Native == nil || string(got.Native.Body) != tt.body || got.Native.Endpoint != EmbeddingsEndpoint {
				t.Errorf("DecodeEmbeddings(%s).Native = %+v, want the body", tt.body, got.Native)
			}
			got.Native = nil
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("DecodeEmbeddings(%s) (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestDecodeEmbeddingsMalformed(t *testing.T) {
	tests := []struct{ name, body, param string }{
		{"empty", ``, ""},
		{"array-body", `[]`, ""},
		{"syntax", `{"model":`, ""},
		{"no-model", `{"input":"x"}`, "model"},
		{"empty-model", `{"model":"","input":"x"}`, "model"},
		{"model-number", `{"model":1,"input":"x"}`, "model"},
		{"no-input", `{"model":"e"}`, "input"},
		{"empty-input", `{"model":"e","input":""}`, "input"},
		{"empty-array", `{"model":"e","input":[]}`, "input"},
		{"input-object", `{"model":"e","input":{}}`, "input"},
		{"input-item-empty", `{"model":"e","input":["a",""]}`, "input[1]"},
		{"input-item-number", `{"model":"e","input":["a",1]}`, "input[1]"},
		{"input-item-null", `{"model":"e","input":["a",null]}`, "input[1]"},
		{"token-negative", `{"model":"e","input":[1,-2]}`, "input[1]"},
		{"token-fraction", `{"model":"e","input":[1.5]}`, "input[0]"},
		{"token-string", `{"model":"e","input":[1,"a"]}`, "input[1]"},
		{"token-array-empty", `{"model":"e","input":[[1],[]]}`, "input[1]"},
		{"token-array-bad", `{"model":"e","input":[[1],["a"]]}`, "input[1][0]"},
		{"dimensions-zero", `{"model":"e","input":"x","dimensions":0}`, "dimensions"},
		{"dimensions-string", `{"model":"e","input":"x","dimensions":"8"}`, "dimensions"},
		{"format", `{"model":"e","input":"x","encoding_format":"hex"}`, "encoding_format"},
		{"user-number", `{"model":"e","input":"x","user":7}`, "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeEmbeddings([]byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeEmbeddings(%s) = %+v, want error", tt.body, req)
			}
			e := llm.AsError(err)
			if e.Code != llm.CodeInvalidRequest || e.Param != tt.param {
				t.Errorf("DecodeEmbeddings(%s) = code %s param %q (%s), want invalid_request param %q", tt.body, e.Code, e.Param, e.Message, tt.param)
			}
			if e.Param != "" && !strings.Contains(e.Message, lastSegment(e.Param)) {
				t.Errorf("DecodeEmbeddings(%s) message = %q, want it to name %q", tt.body, e.Message, e.Param)
			}
		})
	}
}

func TestDecodeEmbeddingsTooMany(t *testing.T) {
	body := `{"model":"e","input":[` + strings.Repeat(`"a",`, maxEmbeddingInputs) + `"a"]}`
	if _, err := DecodeEmbeddings([]byte(body)); llm.AsError(err).Param != "input" {
		t.Errorf("DecodeEmbeddings(%d inputs) = %v, want an error naming input", maxEmbeddingInputs+1, err)
	}
}

func TestWriteEmbeddings(t *testing.T) {
	native := `{"data":[{"embedding":"AACAPw==","index":0,"object":"embedding"}],"model":"m","object":"list","usage":{"prompt_tokens":5,"total_tokens":5}}`
	neutral := &llm.EmbeddingResponse{Model: "m", Vectors: [][]float32{{1, 0.5}, {-2}}, Usage: llm.Usage{InputTokens: 7}, UsageReported: true}
	tests := []struct {
		name   string
		resp   *llm.EmbeddingResponse
		format string
		want   string
	}{
		{"native-pass-through", &llm.EmbeddingResponse{Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: EmbeddingsEndpoint, Body: json.RawMessage(native)}}, "base64", native},
		{"float", neutral, "",
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1,0.5]},{"object":"embedding","index":1,"embedding":[-2]}],"model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}`},
		{"base64", neutral, "base64",
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAD8="},{"object":"embedding","index":1,"embedding":"AAAAwA=="}],"model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}`},
		{"other-dialect-native-encoded", &llm.EmbeddingResponse{Model: "m", Vectors: [][]float32{{1}},
			Native: &llm.Native{Dialect: llm.DialectAnthropic, Body: json.RawMessage(`{}`)}}, "",
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1]}],"model":"m","usage":{"prompt_tokens":0,"total_tokens":0}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := WriteEmbeddings(rec, tt.resp, tt.format); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tt.want || rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("WriteEmbeddings = %d %s\nwant 200 %s", rec.Code, got, tt.want)
			}
		})
	}
	if err := WriteEmbeddings(httptest.NewRecorder(), &llm.EmbeddingResponse{Vectors: [][]float32{{float32(math.NaN())}}}, ""); err == nil {
		t.Errorf("WriteEmbeddings(NaN) = nil error, want one")
	}
}

func FuzzDecodeEmbeddings(f *testing.F) {
	for _, s := range []string{`{"model":"e","input":"hi"}`, `{"model":"e","input":["a","b"],"dimensions":3,"encoding_format":"base64"}`,
		`{"model":"e","input":[[1,2],[3]]}`, `{"model":"e","input":[1,-1]}`, `{"input":[""]}`, `[]`, `{"model":"e","input":[null]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeEmbeddings(body)
		if err != nil {
			e := llm.AsError(err)
			if e.Code != llm.CodeInvalidRequest || e.Message == "" {
				t.Fatalf("DecodeEmbeddings(%q) = %v, want a named invalid_request", body, err)
			}
			return
		}
		if req.Model == "" || req.Native == nil || req.Dimensions < 0 {
			t.Fatalf("DecodeEmbeddings(%q) = %+v, want a model, Native and dimensions ≥ 0", body, req)
		}
		for i, in := range req.Input {
			if in == "" {
				t.Fatalf("DecodeEmbeddings(%q).Input[%d] is empty", body, i)
			}
		}
	})
}
