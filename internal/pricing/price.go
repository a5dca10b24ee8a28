// Package pricing prices LLM requests in exact integer money.
//
// Prices are integer pico-USD (10⁻¹² dollars) per token; the cost of a
// request is integer nano-USD (10⁻⁹ dollars), rounded up. No float64 is
// involved anywhere, so the recorded cost of a request is exactly its
// provider-reported usage times its prices, as DESIGN.md §4 requires.
//
// A built-in catalog, derived from the LiteLLM model price list and embedded
// in the binary (catalog.tsv, regenerated with go generate), covers the chat,
// completion, responses and embedding models of the common providers.
// Default returns it; WithOverrides layers the prices of a configuration on
// top; Catalog.LookupTarget finds the price of a provider's upstream model.
// FormatUSD and ParseUSD convert nano-USD to and from dollar text.
//
// Everything in the package is safe for concurrent use: a Catalog is never
// modified after it is built.
package pricing

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/airgw/airgw/internal/llm"
)

//go:generate go run ../../tools/pricegen -in ../../../shared/data/model_prices_and_context_window.json -date 2026-07-24 -out catalog.tsv

// Fields is a set of the optional prices of a Price that are set. Input and
// Output are always set; the others fall back as Price.Cost describes when
// absent. A set field with value zero is a real price: free.
type Fields uint8

// The optional prices of a Price.
const (
	HasCacheRead Fields = 1 << iota
	HasCacheWrite
	HasReasoning
	HasTierInput
	HasTierOutput
	HasTierCacheRead
	HasTierCacheWrite
)

// Price is the price of one model, in integer pico-USD per token.
//
// The zero Price is a valid price: every token free. Optional prices count
// only when their bit is in Set; an absent price is different from a zero
// one (several providers list a cache price of exactly zero).
type Price struct {
	// Input is the price of a prompt token that is not read from or written
	// to a prompt cache.
	Input int64
	// Output is the price of a generated token.
	Output int64
	// CacheRead is the price of a prompt token read from a prompt cache
	// (OpenAI "cached_tokens", Anthropic "cache_read_input_tokens").
	CacheRead int64
	// CacheWrite is the price of a prompt token written to a prompt cache
	// (Anthropic "cache_creation_input_tokens", 5-minute cache).
	CacheWrite int64
	// Reasoning is the price of an output token spent on hidden reasoning,
	// for the few models that bill it apart from other output.
	Reasoning int64

	// TierAbove is the long-context threshold in input tokens; 0 means the
	// model has no long-context tier. A request whose InputTokens exceed it
	// is billed entirely at the tier prices (Anthropic and Gemini bill the
	// whole request, not just the tokens beyond the threshold).
	TierAbove int64
	// TierInput, TierOutput, TierCacheRead and TierCacheWrite are the
	// long-context prices; an absent one falls back to the base price of
	// the same kind, as LiteLLM does.
	TierInput, TierOutput, TierCacheRead, TierCacheWrite int64

	// Set records which optional prices are present.
	Set Fields

	// MaxInputTokens and MaxOutputTokens are the model's context limits as
	// listed; 0 when unknown.
	MaxInputTokens, MaxOutputTokens int64
	// Provider is LiteLLM's provider name for a catalog entry (openai,
	// anthropic, bedrock_converse, ...); empty for a configured price.
	Provider string
	// Mode is what the model does: chat, completion, responses or embedding.
	Mode string
	// Source is "catalog" for a built-in price and "config" for a price set
	// in the configuration.
	Source string
}

// Sources of a Price.
const (
	SourceCatalog = "catalog"
	SourceConfig  = "config"
)

// ErrNegativePrice is returned by Price.Validate for a price below zero.
var ErrNegativePrice = errors.New("pricing: negative price")

// Validate reports a price or limit below zero, which Cost would treat as
// zero. Configuration loaders should call it on every configured price.
func (p Price) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"input", p.Input}, {"output", p.Output}, {"cache_read", p.CacheRead},
		{"cache_write", p.CacheWrite}, {"reasoning", p.Reasoning},
		{"tier_above", p.TierAbove}, {"tier_input", p.TierInput},
		{"tier_output", p.TierOutput}, {"tier_cache_read", p.TierCacheRead},
		{"tier_cache_write", p.TierCacheWrite},
		{"max_input_tokens", p.MaxInputTokens}, {"max_output_tokens", p.MaxOutputTokens},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s = %d", ErrNegativePrice, f.name, f.v)
		}
	}
	return nil
}

// Cost returns the cost of usage u at price p in integer nano-USD, rounded
// up: the exact cost in pico-USD is summed first and divided by 1,000 once,
// so 1 token at 1 pico-USD costs 1 nano-USD.
//
// The rules, applied in this order:
//
//   - Long-context tier: when TierAbove > 0 and u.InputTokens > TierAbove,
//     every token of the request is billed at the tier prices; a tier price
//     that is not set falls back to the base price of the same kind.
//   - Uncached input: InputTokens − CacheReadTokens − CacheWriteTokens
//     (never below zero) at the input price.
//   - Cache reads: CacheReadTokens at the cache-read price, or at the input
//     price when the model has none.
//   - Cache writes: CacheWriteTokens at the cache-write price, or at the
//     input price when the model has none.
//   - Output: when a reasoning price is set, ReasoningTokens (at most
//     OutputTokens) at the reasoning price and the rest of OutputTokens at
//     the output price; otherwise all OutputTokens at the output price.
//
// Negative token counts and negative prices count as zero (see Validate).
// Arithmetic is 128-bit, so no input overflows silently; a cost beyond
// math.MaxInt64 nano-USD (about 9.2 billion dollars) saturates to
// math.MaxInt64, which any budget refuses. Cost does not allocate.
func (p Price) Cost(u llm.Usage) int64 {
	in, out := p.Input, p.Output
	cacheRead, hasCacheRead := p.CacheRead, p.Set&HasCacheRead != 0
	cacheWrite, hasCacheWrite := p.CacheWrite, p.Set&HasCacheWrite != 0
	if p.TierAbove > 0 && u.InputTokens > p.TierAbove {
		if p.Set&HasTierInput != 0 {
			in = p.TierInput
		}
		if p.Set&HasTierOutput != 0 {
			out = p.TierOutput
		}
		if p.Set&HasTierCacheRead != 0 {
			cacheRead, hasCacheRead = p.TierCacheRead, true
		}
		if p.Set&HasTierCacheWrite != 0 {
			cacheWrite, hasCacheWrite = p.TierCacheWrite, true
		}
	}
	if !hasCacheRead {
		cacheRead = in
	}
	if !hasCacheWrite {
		cacheWrite = in
	}

	read, write := nonNeg(u.CacheReadTokens), nonNeg(u.CacheWriteTokens)
	uncached := nonNeg(u.InputTokens)
	uncached -= min(uncached, read)
	uncached -= min(uncached, write)
	output := nonNeg(u.OutputTokens)

	var a acc128
	a.add(uncached, in)
	a.add(read, cacheRead)
	a.add(write, cacheWrite)
	if p.Set&HasReasoning != 0 {
		reasoning := min(nonNeg(u.ReasoningTokens), output)
		a.add(output-reasoning, out)
		a.add(reasoning, p.Reasoning)
	} else {
		a.add(output, out)
	}
	return a.nanoCeil()
}

// nonNeg returns v, or 0 when v is negative.
func nonNeg(v int64) int64 { return max(v, 0) }

// acc128 is an unsigned 128-bit sum of pico-USD amounts that remembers
// whether it ever overflowed 128 bits.
type acc128 struct {
	hi, lo   uint64
	overflow bool
}

// add adds tokens × price, each taken as zero when negative.
func (a *acc128) add(tokens, price int64) {
	hi, lo := bits.Mul64(uint64(nonNeg(tokens)), uint64(nonNeg(price)))
	var carry uint64
	a.lo, carry = bits.Add64(a.lo, lo, 0)
	a.hi, carry = bits.Add64(a.hi, hi, carry)
	if carry != 0 {
		a.overflow = true
	}
}

// nanoCeil returns the sum in nano-USD, rounded up, saturated at
// math.MaxInt64.
func (a *acc128) nanoCeil() int64 {
	if a.overflow || a.hi >= PicoPerNano { // the quotient would not fit 64 bits
		return math.MaxInt64
	}
	q, r := bits.Div64(a.hi, a.lo, PicoPerNano)
	if q >= math.MaxInt64 {
		return math.MaxInt64
	}
	if r != 0 {
		q++ // at most math.MaxInt64 after the check above
	}
	return int64(q)
}
