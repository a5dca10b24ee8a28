package gateway

import (
	"context"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/route"
)

// Kind is what a call asks of a provider. Every kind goes through the same
// steps (authentication, decoding, allow-lists, routing, attempts with
// failover, settlement, audit); only the call to the provider differs.
type Kind int

// Call kinds.
const (
	KindChat        Kind = iota // chat completions, Messages, Responses
	KindEmbeddings              // vector embeddings
	KindCountTokens             // Anthropic's count_tokens: free, never billed
)

// EmbeddingOutput is the optional capability of an Output that can write
// embeddings (the OpenAI dialect).
type EmbeddingOutput interface {
	WriteEmbeddings(resp *llm.EmbeddingResponse) error
}

// TokenCountOutput is the optional capability of an Output that can answer
// a token count (the Anthropic dialect).
type TokenCountOutput interface {
	WriteCountTokens(inputTokens int64) error
}

// try makes one attempt of the call's kind against t.
func (g *Gateway) try(ctx context.Context, s *state, t *route.Target) error {
	switch s.Kind {
	case KindEmbeddings:
		return g.embed(ctx, s, t)
	case KindCountTokens:
		return g.countTokens(ctx, s, t)
	}
	return g.attempt(ctx, s, t)
}

func (g *Gateway) embed(ctx context.Context, s *state, t *route.Target) error {
	e, ok := t.Client.(llm.Embedder)
	if !ok {
		return llm.Unsupported("embeddings", t.Provider, t.ProviderType)
	}
	out, ok := s.Out.(EmbeddingOutput)
	if !ok {
		return llm.Errorf(llm.CodeNotFound, "this API has no embeddings endpoint")
	}
	up := *s.embedding
	up.Model = t.Model
	s.attemptStart = g.now()
	if s.traceID != "" {
		ctx = g.traceAttempt(ctx, s)
	}
	resp, err := e.Embed(ctx, &up)
	if err != nil {
		return g.upstreamError(ctx, ctx, s, err)
	}
	g.latency.Observe(t.Key(), g.now().Sub(s.attemptStart))
	g.commit(s, t, nil)
	s.ttft = g.now().Sub(s.start)
	s.usage, s.reported = resp.Usage, resp.UsageReported
	if !s.reported {
		var n int64
		for _, in := range s.embedding.Input {
			n += int64(llm.EstimateTextTokens(in))
		}
		s.usage = llm.Usage{InputTokens: n}
	}
	s.setCost(s.Out.Header(), t.Price.Cost(s.usage))
	if err := out.WriteEmbeddings(resp); err != nil {
		return clientGone(err)
	}
	return nil
}

// countTokens answers from the provider when it can count exactly, else
// from airgw's estimate. Counting is free: the record's usage stays zero.
func (g *Gateway) countTokens(ctx context.Context, s *state, t *route.Target) error {
	out, ok := s.Out.(TokenCountOutput)
	if !ok {
		return llm.Errorf(llm.CodeNotFound, "this API has no token-counting endpoint")
	}
	s.attemptStart = g.now()
	n := llm.EstimateInputTokens(s.req)
	if tc, ok := t.Client.(llm.TokenCounter); ok {
		up := *s.req
		up.Model = t.Model
		if s.traceID != "" {
			ctx = g.traceAttempt(ctx, s)
		}
		c, err := tc.CountTokens(ctx, &up)
		if err != nil {
			return g.upstreamError(ctx, ctx, s, err)
		}
		n = c
	}
	g.commit(s, t, nil)
	if err := out.WriteCountTokens(n); err != nil {
		return clientGone(err)
	}
	return nil
}
