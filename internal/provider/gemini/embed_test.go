package gemini

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	"github.com/google/go-cmp/cmp"
)

func TestEmbed(t *testing.T) {
	tests := []struct {
		name   string
		inputs []string
		dims   int
		action string // the Gemini method the fake must see
	}{
		{"single", []string{"hello world"}, 0, "embedContent"},
		{"batch", []string{"hello world", "second text", "third"}, 0, "batchEmbedContents"},
		{"dimensions", []string{"a", "b"}, 3, "batchEmbedContents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := geminitest.NewServer(t)
			c := newClient(t, fake.URL())
			out, err := c.Embed(context.Background(), &llm.EmbeddingRequest{Model: "gemini-embedding-001", Input: tt.inputs, Dimensions: tt.dims})
			if err != nil {
				t.Fatal(err)
			}
			var want [][]float32
			for _, in := range tt.inputs {
				want = append(want, geminitest.Embedding(in, tt.dims))
			}
			if diff := cmp.Diff(want, out.Vectors); diff != "" {
				t.Errorf("vectors mismatch (-want +got):\n%s", diff)
			}
			// Gemini bills embeddings without reporting tokens: the
			// estimate is marked as such.
			var est int64
			for _, in := range tt.inputs {
				est += int64(llm.EstimateTextTokens(in))
			}
			if out.UsageReported || out.Usage.InputTokens != est || out.Model != "gemini-embedding-001" {
				t.Errorf("usage %+v reported %v model %q, want the estimate %d, not reported", out.Usage, out.UsageReported, out.Model, est)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 || reqs[0].Action != tt.action || reqs[0].Model != "gemini-embedding-001" {
				t.Fatalf("fake saw %+v, want one %s call", reqs, tt.action)
			}
			if strings.Contains(reqs[0].RawQuery, geminitest.Key) || reqs[0].Header.Get("X-Goog-Api-Key") != geminitest.Key {
				t.Errorf("key in query %q or not in x-goog-api-key: the key must travel in the header only", reqs[0].RawQuery)
			}
		})
	}
}

func TestEmbedRefusals(t *testing.T) {
	fake := geminitest.NewServer(t)
	c := newClient(t, fake.URL())
	many := make([]string, MaxEmbedInputs+1)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	tests := []struct {
		name  string
		req   llm.EmbeddingRequest
		code  llm.Code
		calls int
	}{
		{"no-input", llm.EmbeddingRequest{Model: "e"}, llm.CodeInvalidRequest, 0},
		{"too-many", llm.EmbeddingRequest{Model: "e", Input: many}, llm.CodeInvalidRequest, 0},
		{"negative-dimensions", llm.EmbeddingRequest{Model: "e", Input: []string{"a"}, Dimensions: -1}, llm.CodeInvalidRequest, 0},
		{"rate-limited", llm.EmbeddingRequest{Model: "error:429", Input: []string{"a"}}, llm.CodeProviderRateLimited, 1},
		{"unknown-model", llm.EmbeddingRequest{Model: "error:404", Input: []string{"a"}}, llm.CodeUpstreamInvalidRequest, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fake.Calls()
			_, err := c.Embed(context.Background(), &tt.req)
			var e *llm.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("Embed(%s) error = %v, want %s", tt.name, err, tt.code)
			}
			if n := fake.Calls() - before; n != tt.calls {
				t.Errorf("upstream calls = %d, want %d", n, tt.calls)
			}
		})
	}
}
