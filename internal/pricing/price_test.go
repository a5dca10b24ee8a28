package pricing

import (
	"errors"
	"math"
	"testing"

	"github.com/airgw/airgw/internal/llm"
)

// Prices as the catalog lists them (pico-USD per token), spelled out here so
// that the Cost tests do not depend on the embedded file.
var (
	gpt4o = Price{Input: 2_500_000, Output: 10_000_000, CacheRead: 1_250_000, Set: HasCacheRead}

	sonnet45 = Price{
		Input: 3_000_000, Output: 15_000_000, CacheRead: 300_000, CacheWrite: 3_750_000,
		TierAbove: 200_000, TierInput: 6_000_000, TierOutput: 22_500_000,
		TierCacheRead: 600_000, TierCacheWrite: 7_500_000,
		Set: HasCacheRead | HasCacheWrite | HasTierInput | HasTierOutput | HasTierCacheRead | HasTierCacheWrite,
	}

	gemini25Pro = Price{
		Input: 1_250_000, Output: 10_000_000, CacheRead: 125_000,
		TierAbove: 200_000, TierInput: 2_500_000, TierOutput: 15_000_000, TierCacheRead: 250_000,
		Set: HasCacheRead | HasTierInput | HasTierOutput | HasTierCacheRead,
	}

	novaPro = Price{Input: 800_000, Output: 3_200_000}

	// deepseekChat lists a cache-write price of exactly zero.
	deepseekChat = Price{Input: 280_000, Output: 420_000, CacheRead: 28_000, CacheWrite: 0, Set: HasCacheRead | HasCacheWrite}

	withReasoning = Price{Input: 1, Output: 10, Reasoning: 100, Set: HasReasoning}
)

func TestCost(t *testing.T) {
	tests := []struct {
		name  string
		price Price
		usage llm.Usage
		want  int64 // nano-USD
	}{
		{"zero_usage", gpt4o, llm.Usage{}, 0},
		{"free_model", Price{}, llm.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}, 0},
		// 1000 × $2.50/M + 500 × $10/M = $0.0025 + $0.005.
		{"plain", gpt4o, llm.Usage{InputTokens: 1000, OutputTokens: 500}, 7_500_000},
		// OpenAI reports cached tokens inside prompt_tokens: 600 × 2.5e6 + 400 × 1.25e6 pico.
		{"openai_cached", gpt4o, llm.Usage{InputTokens: 1000, CacheReadTokens: 400}, 2_000_000},
		// Anthropic: 100 uncached + 2000 read + 1000 written, 200 out:
		// 3e8 + 6e8 + 3.75e9 + 3e9 pico.
		{"anthropic_cached", sonnet45, llm.Usage{InputTokens: 3100, CacheReadTokens: 2000, CacheWriteTokens: 1000, OutputTokens: 200}, 7_650_000},
		// No cache prices: cached tokens cost the input price.
		{"cache_price_absent", novaPro, llm.Usage{InputTokens: 1000, CacheReadTokens: 500, CacheWriteTokens: 200}, 800_000},
		// A listed zero is free, not absent: only the 1000 reads cost.
		{"cache_write_zero", deepseekChat, llm.Usage{InputTokens: 3000, CacheReadTokens: 1000, CacheWriteTokens: 2000}, 28_000},
		// Cached counts above InputTokens: uncached clamps at 0, caches bill as reported.
		{"cache_above_input", gpt4o, llm.Usage{InputTokens: 100, CacheReadTokens: 400}, 500_000},
		// 30 × 10 + 20 × 100 = 2300 pico, rounded up.
		{"reasoning_priced", withReasoning, llm.Usage{OutputTokens: 50, ReasoningTokens: 20}, 3},
		// Reasoning beyond output is capped at output: 50 × 100 pico.
		{"reasoning_capped", withReasoning, llm.Usage{OutputTokens: 50, ReasoningTokens: 80}, 5},
		// Without a reasoning price, reasoning is ordinary output.
		{"reasoning_unpriced", gpt4o, llm.Usage{OutputTokens: 1000, ReasoningTokens: 900}, 10_000_000},
		// At the threshold the base prices apply: 200000 × 3e6 + 1000 × 1.5e7 pico.
		{"tier_at_threshold", sonnet45, llm.Usage{InputTokens: 200_000, OutputTokens: 1000}, 615_000_000},
		// One token above, the whole request moves to the tier: 200001 × 6e6 + 1000 × 2.25e7.
		{"tier_above_threshold", sonnet45, llm.Usage{InputTokens: 200_001, OutputTokens: 1000}, 1_222_506_000},
		// Tier with caches: 1000 × 6e6 + 199001 × 6e5 + 1000 × 7.5e6 pico.
		{"tier_cached", sonnet45, llm.Usage{InputTokens: 201_001, CacheReadTokens: 199_001, CacheWriteTokens: 1000}, 132_900_600},
		// Gemini: 200000 × 2.5e6 + 100000 × 2.5e5 pico.
		{"tier_gemini", gemini25Pro, llm.Usage{InputTokens: 300_000, CacheReadTokens: 100_000}, 525_000_000},
		// Absent tier cache-read price falls back to the base cache-read
		// price: 100 × 20 + 100 × 1 pico.
		{"tier_field_fallback", Price{Input: 10, CacheRead: 1, TierAbove: 100, TierInput: 20, Set: HasCacheRead | HasTierInput},
			llm.Usage{InputTokens: 200, CacheReadTokens: 100}, 3},
		// No cache-read price at all: the tier input price applies.
		{"tier_cache_to_tier_input", Price{Input: 10, TierAbove: 100, TierInput: 20, Set: HasTierInput},
			llm.Usage{InputTokens: 200, CacheReadTokens: 100}, 4},
		{"round_up_one_pico", Price{Input: 1}, llm.Usage{InputTokens: 1}, 1},
		{"exact_thousand_pico", Price{Input: 1}, llm.Usage{InputTokens: 1000}, 1},
		{"round_up_thousand_one", Price{Input: 1}, llm.Usage{InputTokens: 1001}, 2},
		{"negative_tokens", gpt4o, llm.Usage{InputTokens: -5, OutputTokens: -1, CacheReadTokens: -3}, 0},
		{"negative_price", Price{Input: -1_000_000, Output: 10}, llm.Usage{InputTokens: 10, OutputTokens: 100}, 1},
		// 1e12 × 1e7 pico = 1e19 pico does not fit int64 but is exact in 128 bits.
		{"huge_tokens", gpt4o, llm.Usage{OutputTokens: 1_000_000_000_000}, 10_000_000_000_000_000},
		{"max_tokens_one_pico", Price{Input: 1}, llm.Usage{InputTokens: math.MaxInt64}, 9_223_372_036_854_776},
		{"exact_max", Price{Input: math.MaxInt64}, llm.Usage{InputTokens: 1000}, math.MaxInt64},
		{"saturate_just_over", Price{Input: math.MaxInt64}, llm.Usage{InputTokens: 1001}, math.MaxInt64},
		{"saturate_128bit", Price{
			Input: math.MaxInt64, Output: math.MaxInt64, CacheRead: math.MaxInt64, CacheWrite: math.MaxInt64,
			Reasoning: math.MaxInt64, Set: HasCacheRead | HasCacheWrite | HasReasoning,
		}, llm.Usage{
			InputTokens: math.MaxInt64, OutputTokens: math.MaxInt64, CacheReadTokens: math.MaxInt64 / 3,
			CacheWriteTokens: math.MaxInt64 / 3, ReasoningTokens: math.MaxInt64 / 2,
		}, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.price.Cost(tt.usage); got != tt.want {
				t.Errorf("Cost(%+v) = %d, want %d", tt.usage, got, tt.want)
			}
		})
	}
}

// TestCostMonotonic checks that more tokens never cost less below the tier.
func TestCostMonotonic(t *testing.T) {
	prev := int64(0)
	for n := int64(0); n <= 5000; n += 7 {
		u := llm.Usage{InputTokens: n, CacheReadTokens: n / 3, OutputTokens: n / 2}
		got := gpt4o.Cost(u)
		if got < prev {
			t.Fatalf("Cost(%+v) = %d, want at least %d", u, got, prev)
		}
		prev = got
	}
}

func TestCostAllocs(t *testing.T) {
	u := llm.Usage{InputTokens: 3100, CacheReadTokens: 2000, CacheWriteTokens: 1000, OutputTokens: 200}
	if n := testing.AllocsPerRun(100, func() { sonnet45.Cost(u) }); n != 0 {
		t.Errorf("Cost allocates %v times, want 0", n)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		price Price
		want  error
	}{
		{"zero", Price{}, nil},
		{"catalog_like", sonnet45, nil},
		{"negative_input", Price{Input: -1}, ErrNegativePrice},
		{"negative_tier", Price{TierCacheWrite: -1}, ErrNegativePrice},
		{"negative_limit", Price{MaxOutputTokens: -1}, ErrNegativePrice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.price.Validate(); !errors.Is(err, tt.want) {
				t.Errorf("Validate(%+v) = %v, want %v", tt.price, err, tt.want)
			}
		})
	}
}

func BenchmarkCost(b *testing.B) {
	u := llm.Usage{InputTokens: 201_001, CacheReadTokens: 199_001, CacheWriteTokens: 1000, OutputTokens: 812, ReasoningTokens: 300}
	var sink int64
	for b.Loop() {
		sink += sonnet45.Cost(u)
	}
	_ = sink
}
