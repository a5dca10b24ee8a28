package openai

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/google/go-cmp/cmp"
)

// embeddingsDimensionsRequest is the request of fixture
// embeddings-dimensions, with the model that makes the fake replay it.
const embeddingsDimensionsRequest = `{"dimensions":256,"encoding_format":"base64","input":"Generate embeddings with specific dimensions","model":"text-embedding-3-small"}`

func nativeEmbedding(body string) *llm.Native {
	return &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: EmbeddingsEndpoint, Body: json.RawMessage(body)}
}

func TestEmbedPassThroughBase64(t *testing.T) {
	fake := openaitest.NewServer(t)
	c := newClient(t, fake.URL())
	req := &llm.EmbeddingRequest{Model: "fixture:embeddings-dimensions", Input: []string{"Generate embeddings with specific dimensions"},
		Dimensions: 256, EncodingFormat: "base64", Native: nativeEmbedding(embeddingsDimensionsRequest)}
	resp, err := c.Embed(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	_, _, fixture, _ := openaitest.LoadFixture("embeddings-dimensions")
	if string(resp.Native.Body) != string(fixture) {
		t.Errorf("Native.Body differs from the provider's body")
	}
	if resp.Vectors != nil {
		t.Errorf("Vectors = %d vectors, want none decoded for a native base64 answer", len(resp.Vectors))
	}
	if want := (llm.Usage{InputTokens: 5}); resp.Usage != want || !resp.UsageReported {
		t.Errorf("usage = %+v (reported %v), want %+v", resp.Usage, resp.UsageReported, want)
	}
	sent := fake.Requests()[0]
	want, _ := SetModel([]byte(embeddingsDimensionsRequest), req.Model)
	if string(sent.Raw) != string(want) || sent.Path != "/v1/embeddings" {
		t.Errorf("sent %s %s, want %s with only the model rewritten", sent.Path, sent.Raw, want)
	}
	// The recorded vector decodes to 256 float32 values.
	var w struct {
		Data []struct{ Embedding string } `json:"data"`
	}
	_ = json.Unmarshal(fixture, &w)
	v, err := DecodeBase64Vector(w.Data[0].Embedding)
	if err != nil || len(v) != 256 {
		t.Errorf("DecodeBase64Vector(fixture) = %d values, %v; want 256", len(v), err)
	}
}

func TestEmbedNeutral(t *testing.T) {
	tests := []struct {
		name   string
		req    llm.EmbeddingRequest
		want   [][]float32
		tokens int64
	}{
		{"float-default-dims", llm.EmbeddingRequest{Model: "e", Input: []string{"hello world", "x"}},
			[][]float32{openaitest.EchoVector(0, 4), openaitest.EchoVector(1, 4)}, openaitest.EchoEmbeddingTokens("hello world", "x")},
		{"dimensions", llm.EmbeddingRequest{Model: "e", Input: []string{"abc"}, Dimensions: 7},
			[][]float32{openaitest.EchoVector(0, 7)}, openaitest.EchoEmbeddingTokens("abc")},
		{"base64-decoded", llm.EmbeddingRequest{Model: "e", Input: []string{"abc", "def"}, EncodingFormat: "base64", Dimensions: 3},
			[][]float32{openaitest.EchoVector(0, 3), openaitest.EchoVector(1, 3)}, openaitest.EchoEmbeddingTokens("abc", "def")},
		{"native-float", llm.EmbeddingRequest{Model: "e", Native: nativeEmbedding(`{"model":"alias","input":["a","b"],"dimensions":2}`)},
			[][]float32{openaitest.EchoVector(0, 2), openaitest.EchoVector(1, 2)}, openaitest.EchoEmbeddingTokens("a", "b")},
		{"native-token-arrays", llm.EmbeddingRequest{Model: "e", Native: nativeEmbedding(`{"model":"alias","input":[[1,2,3],[4]]}`)},
			[][]float32{openaitest.EchoVector(0, 4), openaitest.EchoVector(1, 4)}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := openaitest.NewServer(t)
			resp, err := newClient(t, fake.URL()).Embed(context.Background(), &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, resp.Vectors); diff != "" {
				t.Errorf("vectors (-want +got):\n%s", diff)
			}
			if resp.Usage.InputTokens != tt.tokens || !resp.UsageReported {
				t.Errorf("usage = %+v, want %d input tokens", resp.Usage, tt.tokens)
			}
			if f := fake.Requests()[0].Fields; string(f["model"]) != `"e"` {
				t.Errorf("sent model %s, want \"e\"", f["model"])
			}
		})
	}
}

func TestEmbedErrors(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*Config)
		req    llm.EmbeddingRequest
		code   llm.Code
		called bool
	}{
		{"auth", nil, llm.EmbeddingRequest{Model: "error:401", Input: []string{"x"}}, llm.CodeProviderAuthFailed, true},
		{"rate-limited", nil, llm.EmbeddingRequest{Model: "error:429", Input: []string{"x"}}, llm.CodeProviderRateLimited, true},
		{"token-arrays-neutral", nil, llm.EmbeddingRequest{Model: "e"}, llm.CodeFeatureNotSupported, false},
		{"preset-without-embeddings", func(c *Config) { c.Preset = "groq" }, llm.EmbeddingRequest{Model: "e", Input: []string{"x"}}, llm.CodeFeatureNotSupported, false},
		{"bad-dimensions-upstream", nil, llm.EmbeddingRequest{Model: "e", Native: nativeEmbedding(`{"model":"e","input":"x","dimensions":0}`)}, llm.CodeUpstreamInvalidRequest, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := openaitest.NewServer(t)
			var mods []func(*Config)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			_, err := newClient(t, fake.URL(), mods...).Embed(context.Background(), &tt.req)
			if e := llm.AsError(err); e.Code != tt.code {
				t.Errorf("Embed = %v, want code %s", err, tt.code)
			}
			if got := fake.Calls() > 0; got != tt.called {
				t.Errorf("provider called %v, want %v", got, tt.called)
			}
		})
	}
}

func TestEmbedAzure(t *testing.T) {
	fake := openaitest.NewServer(t, openaitest.WithAzure("2024-10-21"))
	resp, err := newAzure(t, fake, "2024-10-21").Embed(context.Background(), &llm.EmbeddingRequest{Model: "embed-prod", Input: []string{"hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := fake.Requests()[0]; r.Path != "/openai/deployments/embed-prod/embeddings" || len(resp.Vectors) != 1 {
		t.Errorf("path %q, %d vectors", r.Path, len(resp.Vectors))
	}
}

func TestDecodeEmbeddingsMalformed(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not-json", `nope`},
		{"no-data", `{"object":"list"}`},
		{"index-out-of-range", `{"data":[{"index":3,"embedding":[1]}]}`},
		{"duplicate-index", `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`},
		{"bad-base64", `{"data":[{"index":0,"embedding":"!!"}]}`},
		{"odd-base64", `{"data":[{"index":0,"embedding":"AAA="}]}`},
		{"bad-vector", `{"data":[{"index":0,"embedding":{}}]}`},
		{"negative-usage", `{"data":[],"usage":{"prompt_tokens":-1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeEmbeddings("p", "", 200, []byte(tt.body), true)
			if e := llm.AsError(err); e.Code != llm.CodeProviderError {
				t.Errorf("decodeEmbeddings(%s) = %v, want provider_error", tt.body, err)
			}
		})
	}
}

func TestSetModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"model":"a","input":"x"}`, `{"model":"m","input":"x"}`},
		{`{ "input" : "x" , "model" : "a" }`, `{ "input" : "x" , "model" : "m" }`},
		{`{"input":"x"}`, `{"input":"x","model":"m"}`},
		{`{}`, `{"model":"m"}`},
		{`{"metadata":{"a":"b"},"model":null}`, `{"metadata":{"a":"b"},"model":"m"}`},
	}
	for _, tt := range tests {
		got, err := SetModel([]byte(tt.in), "m")
		if err != nil || string(got) != tt.want {
			t.Errorf("SetModel(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := SetModel([]byte(`[]`), "m"); err == nil {
		t.Errorf("SetModel([]) = nil error, want one")
	}
}
