package pricing

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDefaultKnownModels checks prices read by hand from
// model_prices_and_context_window.json (2026-07-24 mirror).
func TestDefaultKnownModels(t *testing.T) {
	const all = HasCacheRead | HasCacheWrite | HasTierInput | HasTierOutput | HasTierCacheRead | HasTierCacheWrite
	tests := []struct {
		name string
		want Price
	}{
		{"gpt-4o", Price{
			Input: 2_500_000, Output: 10_000_000, CacheRead: 1_250_000, Set: HasCacheRead,
			MaxInputTokens: 128_000, MaxOutputTokens: 16_384, Provider: "openai", Mode: "chat", Source: SourceCatalog,
		}},
		{"gpt-4o-mini", Price{
			Input: 150_000, Output: 600_000, CacheRead: 75_000, Set: HasCacheRead,
			MaxInputTokens: 128_000, MaxOutputTokens: 16_384, Provider: "openai", Mode: "chat", Source: SourceCatalog,
		}},
		{"claude-sonnet-4-5", Price{
			Input: 3_000_000, Output: 15_000_000, CacheRead: 300_000, CacheWrite: 3_750_000,
			TierAbove: 200_000, TierInput: 6_000_000, TierOutput: 22_500_000, TierCacheRead: 600_000, TierCacheWrite: 7_500_000,
			Set: all, MaxInputTokens: 200_000, MaxOutputTokens: 64_000, Provider: "anthropic", Mode: "chat", Source: SourceCatalog,
		}},
		{"gemini/gemini-2.5-pro", Price{
			Input: 1_250_000, Output: 10_000_000, CacheRead: 125_000,
			TierAbove: 200_000, TierInput: 2_500_000, TierOutput: 15_000_000, TierCacheRead: 250_000,
			Set:            HasCacheRead | HasTierInput | HasTierOutput | HasTierCacheRead,
			MaxInputTokens: 1_048_576, MaxOutputTokens: 65_535, Provider: "gemini", Mode: "chat", Source: SourceCatalog,
		}},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", Price{
			Input: 3_300_000, Output: 16_500_000, CacheRead: 330_000, CacheWrite: 4_125_000,
			TierAbove: 200_000, TierInput: 6_600_000, TierOutput: 24_750_000, TierCacheRead: 660_000, TierCacheWrite: 8_250_000,
			Set: all, MaxInputTokens: 200_000, MaxOutputTokens: 64_000, Provider: "bedrock_converse", Mode: "chat", Source: SourceCatalog,
		}},
		{"amazon.nova-pro-v1:0", Price{
			Input: 800_000, Output: 3_200_000,
			MaxInputTokens: 300_000, MaxOutputTokens: 10_000, Provider: "bedrock_converse", Mode: "chat", Source: SourceCatalog,
		}},
		{"text-embedding-3-small", Price{
			Input: 20_000, Output: 0, MaxInputTokens: 8191, Provider: "openai", Mode: "embedding", Source: SourceCatalog,
		}},
		{"deepseek/deepseek-chat", Price{
			Input: 280_000, Output: 420_000, CacheRead: 28_000, CacheWrite: 0, Set: HasCacheRead | HasCacheWrite,
			MaxInputTokens: 131_072, MaxOutputTokens: 8192, Provider: "deepseek", Mode: "chat", Source: SourceCatalog,
		}},
		{"dashscope/qwen-turbo", Price{
			Input: 50_000, Output: 200_000, Reasoning: 500_000, Set: HasReasoning,
			MaxInputTokens: 129_024, MaxOutputTokens: 16_384, Provider: "dashscope", Mode: "chat", Source: SourceCatalog,
		}},
		// 1.5000020000000002e-05 USD has more than 12 decimals: rounded up.
		{"databricks/databricks-claude-opus-4", Price{
			Input: 15_000_021, Output: 75_000_031,
			MaxInputTokens: 200_000, MaxOutputTokens: 32_000, Provider: "databricks", Mode: "chat", Source: SourceCatalog,
		}},
	}
	c := Default()
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, "/", "_"), func(t *testing.T) {
			got, ok := c.Lookup(tt.name)
			if !ok {
				t.Fatalf("Lookup(%q) = _, false, want true", tt.name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestDefaultWhole(t *testing.T) {
	c := Default()
	if c != Default() {
		t.Errorf("Default() returned two different catalogs")
	}
	if n := c.Len(); n < 2000 {
		t.Errorf("Default().Len() = %d, want at least 2000", n)
	}
	names := c.Names()
	if len(names) != c.Len() {
		t.Errorf("len(Names()) = %d, want Len() = %d", len(names), c.Len())
	}
	modes := map[string]bool{"chat": true, "completion": true, "responses": true, "embedding": true}
	for _, name := range names {
		p, _ := c.Lookup(name)
		if err := p.Validate(); err != nil {
			t.Errorf("Lookup(%q).Validate() = %v, want nil", name, err)
		}
		if !modes[p.Mode] || p.Source != SourceCatalog || p.Provider == "" {
			t.Errorf("Lookup(%q) = mode %q, source %q, provider %q; want a kept mode, catalog, a provider", name, p.Mode, p.Source, p.Provider)
		}
	}
	for _, name := range []string{"sample_spec", "fallback_generalizations", "dall-e-3", "whisper-1"} {
		if _, ok := c.Lookup(name); ok {
			t.Errorf("Lookup(%q) = _, true, want false", name)
		}
	}
}

func TestLookupTarget(t *testing.T) {
	tests := []struct {
		name, provider, model string
		want                  string // catalog name expected, "" for no price
	}{
		{"openai", "openai", "gpt-4o", "gpt-4o"},
		{"openai_unknown", "openai", "gpt-nonexistent", ""},
		{"azure_prefixed", "azure_openai", "gpt-4o", "azure/gpt-4o"},
		{"azure_deployment_name", "azure_openai", "gpt-4o-prod", ""},
		{"anthropic", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"},
		{"gemini", "gemini", "gemini-2.5-pro", "gemini/gemini-2.5-pro"},
		{"gemini_models_prefix", "gemini", "models/gemini-2.5-pro", "gemini/gemini-2.5-pro"},
		{"bedrock_base", "bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"bedrock_regional_listed", "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"bedrock_arn", "bedrock", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0"},
		{"groq", "groq", "llama-3.3-70b-versatile", "groq/llama-3.3-70b-versatile"},
		{"mistral", "mistral", "mistral-large-latest", "mistral/mistral-large-latest"},
		{"deepseek", "deepseek", "deepseek-chat", "deepseek/deepseek-chat"},
		{"xai", "xai", "grok-4", "xai/grok-4"},
		{"openrouter", "openrouter", "anthropic/claude-sonnet-4.5", "openrouter/anthropic/claude-sonnet-4.5"},
		{"together", "together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"},
		{"fireworks", "fireworks_ai", "accounts/fireworks/models/llama-v3p1-8b-instruct", "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct"},
		{"preset_already_prefixed", "groq", "groq/llama-3.3-70b-versatile", "groq/llama-3.3-70b-versatile"},
		{"compatible_local", "openai_compatible", "meta-llama/Llama-3.1-8B-Instruct", ""},
		{"empty_model", "openai", "", ""},
	}
	c := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.LookupTarget(tt.provider, tt.model)
			if tt.want == "" {
				if ok {
					t.Errorf("LookupTarget(%q, %q) = %+v, true, want false", tt.provider, tt.model, got)
				}
				return
			}
			want, _ := c.Lookup(tt.want)
			if !ok || got != want {
				t.Errorf("LookupTarget(%q, %q) = %+v, %t, want %q's price %+v", tt.provider, tt.model, got, ok, tt.want, want)
			}
		})
	}
}

// TestLookupTargetBedrockStripsGeo uses a small catalog, since the real one
// lists most regional ids itself.
func TestLookupTargetBedrockStripsGeo(t *testing.T) {
	base := WithOverrides(nil, map[string]Price{"amazon.titan-x": {Input: 7}})
	for _, model := range []string{"amazon.titan-x", "eu.amazon.titan-x", "global.amazon.titan-x", "apac.amazon.titan-x"} {
		got, ok := base.LookupTarget("bedrock", model)
		if !ok || got.Input != 7 {
			t.Errorf("LookupTarget(bedrock, %q) = %+v, %t, want Input 7", model, got, ok)
		}
	}
	if got, ok := base.LookupTarget("bedrock", "xx.amazon.titan-x"); ok {
		t.Errorf("LookupTarget(bedrock, xx.amazon.titan-x) = %+v, true, want false", got)
	}
}

func TestWithOverrides(t *testing.T) {
	base := Default()
	overrides := map[string]Price{
		"gpt-4o":      {Input: 1, Output: 2},                    // repriced
		"llama-local": {},                                       // explicit zero: free
		"my-model":    {Input: 5, Output: 6, Source: "ignored"}, // new
	}
	c := WithOverrides(base, overrides)
	overrides["gpt-4o"] = Price{Input: 999} // the catalog holds a copy

	if got, want := c.Len(), base.Len()+2; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	tests := []struct {
		name string
		want Price
	}{
		{"gpt-4o", Price{Input: 1, Output: 2, Source: SourceConfig}},
		{"llama-local", Price{Source: SourceConfig}},
		{"my-model", Price{Input: 5, Output: 6, Source: SourceConfig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.Lookup(tt.name)
			if !ok {
				t.Fatalf("Lookup(%q) = _, false, want true", tt.name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
	if p, _ := c.LookupTarget("openai", "gpt-4o"); p.Source != SourceConfig {
		t.Errorf("LookupTarget(openai, gpt-4o).Source = %q, want %q", p.Source, SourceConfig)
	}
	if p, _ := c.Lookup("gpt-4o-mini"); p.Source != SourceCatalog {
		t.Errorf("Lookup(gpt-4o-mini).Source = %q, want %q", p.Source, SourceCatalog)
	}
	if p, _ := base.Lookup("gpt-4o"); p.Input != 2_500_000 {
		t.Errorf("base Lookup(gpt-4o).Input = %d after WithOverrides, want 2500000", p.Input)
	}
	var nilCatalog *Catalog
	if _, ok := nilCatalog.Lookup("gpt-4o"); ok || nilCatalog.Len() != 0 {
		t.Errorf("nil catalog: Lookup ok = %t, Len = %d, want false, 0", ok, nilCatalog.Len())
	}
}

func TestParseCatalogErrors(t *testing.T) {
	const ok = "m\tp\tchat\t1\t2\t3\t4\t-\t-\t-\t-\t-\t-\t-\t-\n"
	tests := []struct {
		name, in, want string
	}{
		{"too_few_columns", "m\tp\tchat\n", "columns"},
		{"too_many_columns", strings.TrimSuffix(ok, "\n") + "\textra\n", "columns"},
		{"empty_column", "m\t\tchat\t1\t2\t3\t4\t-\t-\t-\t-\t-\t-\t-\t-\n", "columns"},
		{"not_a_number", "m\tp\tchat\t1\t2\tx\t4\t-\t-\t-\t-\t-\t-\t-\t-\n", "column 6"},
		{"negative", "m\tp\tchat\t1\t2\t-3\t4\t-\t-\t-\t-\t-\t-\t-\t-\n", "negative"},
		{"no_output", "m\tp\tchat\t1\t2\t3\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", "no input or output"},
		{"duplicate", ok + ok, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCatalog("# comment\n" + tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseCatalog(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
	c, err := parseCatalog("# header\n\n" + ok)
	if err != nil || c.Len() != 1 {
		t.Fatalf("parseCatalog(ok) = %v, %v, want one model", c, err)
	}
}

func BenchmarkLookup(b *testing.B) {
	c := WithOverrides(Default(), map[string]Price{"llama-local": {}})
	for b.Loop() {
		if _, ok := c.LookupTarget("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"); !ok {
			b.Fatal("no price")
		}
	}
}

func BenchmarkDefaultParse(b *testing.B) {
	for b.Loop() {
		if _, err := parseCatalog(catalogTSV); err != nil {
			b.Fatal(err)
		}
	}
}
