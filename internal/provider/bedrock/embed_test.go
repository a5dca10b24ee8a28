package bedrock

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

func TestEmbedTitan(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	req := &llm.EmbeddingRequest{Model: "amazon.titan-embed-text-v2:0", Input: []string{"hello world", "one two three"}, Dimensions: 256}
	r, err := c.Embed(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{bedrocktest.EmbedVector("hello world", 256), bedrocktest.EmbedVector("one two three", 256)}
	if d := cmp.Diff(want, r.Vectors); d != "" {
		t.Errorf("vectors (-want +got):\n%s", d)
	}
	if r.Usage != (llm.Usage{InputTokens: 5}) || !r.UsageReported || r.Model != req.Model {
		t.Errorf("response = %+v, want 5 input tokens", r)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/model/amazon.titan-embed-text-v2%3A0/invoke" {
		t.Fatalf("requests = %d, path %q", len(reqs), reqs[0].Path)
	}
	var body wire.TitanEmbedRequest
	if err := json.Unmarshal(reqs[0].Raw, &body); err != nil || body != (wire.TitanEmbedRequest{InputText: "hello world", Dimensions: 256}) {
		t.Errorf("body = %s", reqs[0].Raw)
	}
}

func TestEmbedCohereBatches(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	in := make([]string, 100)
	for i := range in {
		in[i] = fmt.Sprintf("text number %d", i)
	}
	r, err := c.Embed(context.Background(), &llm.EmbeddingRequest{Model: "cohere.embed-english-v3", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Vectors) != 100 || srv.Calls() != 2 || r.Usage.InputTokens != 300 || !r.UsageReported {
		t.Errorf("got %d vectors in %d calls, usage %+v", len(r.Vectors), srv.Calls(), r.Usage)
	}
	if d := cmp.Diff(bedrocktest.EmbedVector(in[99], 1024), r.Vectors[99]); d != "" {
		t.Errorf("vector 99 (-want +got):\n%s", d)
	}
	if !strings.Contains(string(srv.Requests()[0].Raw), `"input_type":"search_document"`) {
		t.Errorf("body = %s", srv.Requests()[0].Raw)
	}
}

func TestEmbedCohereByType(t *testing.T) {
	url := newHTTPServer(t, jsonHandler(`{"id":"x","response_type":"embeddings_by_type","embeddings":{"float":[[0.5,-0.5]]}}`))
	c := newClient(t, nil, func(cfg *Config) { cfg.BaseURL = url })
	r, err := c.Embed(context.Background(), &llm.EmbeddingRequest{Model: "cohere.embed-v4:0", Input: []string{"a"}, Dimensions: 256})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([][]float32{{0.5, -0.5}}, r.Vectors); d != "" || r.UsageReported {
		t.Errorf("vectors (-want +got):\n%s, UsageReported %v (no token header)", d, r.UsageReported)
	}
}

func TestEmbedErrors(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	tests := []struct {
		name string
		req  llm.EmbeddingRequest
		code llm.Code
	}{
		{"no-input", llm.EmbeddingRequest{Model: "amazon.titan-embed-text-v2:0"}, llm.CodeInvalidRequest},
		{"unknown-model", llm.EmbeddingRequest{Model: "amazon.nova-micro-v1:0", Input: []string{"a"}}, llm.CodeFeatureNotSupported},
		{"titan-v1-dimensions", llm.EmbeddingRequest{Model: "amazon.titan-embed-text-v1", Input: []string{"a"}, Dimensions: 256}, llm.CodeFeatureNotSupported},
		{"cohere-v3-dimensions", llm.EmbeddingRequest{Model: "cohere.embed-multilingual-v3", Input: []string{"a"}, Dimensions: 256}, llm.CodeFeatureNotSupported},
		{"titan-bad-dimensions", llm.EmbeddingRequest{Model: "amazon.titan-embed-text-v2:0", Input: []string{"a"}, Dimensions: 300}, llm.CodeUpstreamInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Embed(context.Background(), &tt.req)
			if e := asError(t, err); e.Code != tt.code {
				t.Errorf("Embed(%+v) = %+v, want %s", tt.req, e, tt.code)
			}
		})
	}
	// An HTTP error from InvokeModel is classified like Converse's.
	url := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Errortype", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"message":"Too many requests, please wait before trying again."}`))
	}))
	c2 := newClient(t, nil, func(cfg *Config) { cfg.BaseURL = url })
	_, err := c2.Embed(context.Background(), &llm.EmbeddingRequest{Model: "amazon.titan-embed-text-v2:0", Input: []string{"a"}})
	if e := asError(t, err); e.Code != llm.CodeProviderRateLimited {
		t.Errorf("Embed on a 429 = %+v, want provider_rate_limited", e)
	}
}
