package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestToPico(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		want        int64
		wantRounded bool
		wantErr     bool
	}{
		{"exp_one_micro", "1e-06", 1_000_000, false, false},
		{"exp_mantissa", "2.5e-06", 2_500_000, false, false},
		{"plain_decimal", "0.00000015", 150_000, false, false},
		{"exp_no_pad", "3.75e-7", 375_000, false, false},
		{"exp_upper", "5E-7", 500_000, false, false},
		{"exp_plus", "1e+0", 1_000_000_000_000, false, false},
		{"integer", "2", 2_000_000_000_000, false, false},
		{"zero", "0", 0, false, false},
		{"zero_float", "0.0", 0, false, false},
		{"negative_zero", "-0.0", 0, false, false},
		{"one_pico", "1e-12", 1, false, false},
		{"twelve_places", "0.000000000001", 1, false, false},
		{"sub_pico", "1e-13", 1, true, false},
		{"float_noise", "2.9999900000000002e-06", 2_999_991, true, false},
		{"float_noise_low", "1.5000999999999998e-07", 150_010, true, false},
		{"trailing_zeros", "0.0000025000000000000000", 2_500_000, false, false},
		{"large", "9.223372036854775807e6", 9_223_372_036_854_775_807, false, false},
		{"overflow", "9.223372036854775808e6", 0, false, true},
		{"negative", "-1e-06", 0, false, true},
		{"not_number", "abc", 0, false, true},
		{"leading_zero", "01", 0, false, true},
		{"huge_exponent", "1e999999", 0, false, true},
		{"tiny_exponent", "1e-999999", 0, false, true},
		{"empty", "", 0, false, true},
		{"nan", "NaN", 0, false, true},
		{"spaces_trimmed", " 1e-06 ", 1_000_000, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rounded, err := toPico(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want || rounded != tt.wantRounded {
				t.Errorf("toPico(%q) = %d, %t, %v, want %d, %t (error %t)", tt.in, got, rounded, err, tt.want, tt.wantRounded, tt.wantErr)
			}
		})
	}
}

func TestToTokens(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr error
	}{
		{"integer", "128000", 128_000, nil},
		{"float", "2000000.0", 2_000_000, nil},
		{"exponent", "1e6", 1_000_000, nil},
		{"fraction", "1.5", 0, errNotInt},
		{"negative", "-1", 0, errNegative},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toTokens(tt.in)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("toTokens(%q) = %d, %v, want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestTierField(t *testing.T) {
	tests := []struct {
		key       string
		wantBase  string
		wantAbove int64
	}{
		{"input_cost_per_token_above_200k_tokens", "input_cost_per_token", 200_000},
		{"output_cost_per_token_above_128k_tokens", "output_cost_per_token", 128_000},
		{"cache_read_input_token_cost_above_272k_tokens", "cache_read_input_token_cost", 272_000},
		{"cache_creation_input_token_cost_above_512k_tokens", "cache_creation_input_token_cost", 512_000},
		{"input_cost_per_token_above_200k_tokens_priority", "", 0},
		{"cache_creation_input_token_cost_above_1hr_above_200k_tokens", "", 0},
		{"cache_creation_input_token_cost_above_1hr", "", 0},
		{"input_cost_per_token", "", 0},
		{"input_cost_per_token_above_0k_tokens", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			base, above, _ := tierField(tt.key)
			if base != tt.wantBase || above != tt.wantAbove {
				t.Errorf("tierField(%q) = %q, %d, want %q, %d", tt.key, base, above, tt.wantBase, tt.wantAbove)
			}
		})
	}
}

// TestGenerate converts a small list exercising the tricky parts of the
// source: number spellings, quoted numbers, float limits, missing and
// partial prices, tiers, service-tier keys and skipped modes.
func TestGenerate(t *testing.T) {
	src := `{
  "sample_spec": {"input_cost_per_token": 0.0, "mode": "chat", "litellm_provider": "x"},
  "fallback_generalizations": {"rules": []},
  "m-exp": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128000, "max_output_tokens": 16384,
    "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06,
    "input_cost_per_token_priority": 4.25e-06, "output_cost_per_token_batches": 5e-06},
  "m-strings": {"litellm_provider": "xai", "mode": "chat", "max_input_tokens": "2000000", "max_output_tokens": 2000000.0,
    "input_cost_per_token": "0.00000015", "output_cost_per_token": "3.75e-7"},
  "m-tier": {"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
    "cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_above_1hr": 6e-06,
    "cache_creation_input_token_cost_above_1hr_above_200k_tokens": 1.2e-05,
    "input_cost_per_token_above_200k_tokens": 6e-06, "output_cost_per_token_above_200k_tokens": 2.25e-05,
    "input_cost_per_token_above_200k_tokens_priority": 9e-06},
  "m-reason": {"litellm_provider": "dashscope", "mode": "responses", "input_cost_per_token": 0, "output_cost_per_token": 2e-7,
    "output_cost_per_reasoning_token": 5e-7, "cache_read_input_token_cost": 0.0, "max_input_tokens": 1.5},
  "m-round": {"litellm_provider": "databricks", "mode": "completion", "input_cost_per_token": 2.9999900000000002e-06,
    "output_cost_per_token": 1e-13},
  "m-embed": {"litellm_provider": "mistral", "mode": "embedding", "input_cost_per_token": 1e-7},
  "m-no-output": {"litellm_provider": "x", "mode": "chat", "input_cost_per_token": 1e-7},
  "m-per-second": {"litellm_provider": "x", "mode": "chat", "input_cost_per_second": 1e-4},
  "m-image": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6},
  "m-audio": {"litellm_provider": "openai", "mode": "audio_transcription"},
  "m-nomode": {"litellm_provider": "fireworks_ai", "input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7},
  "bad name": {"litellm_provider": "x", "mode": "chat", "input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7},
  "m-bad-price": {"litellm_provider": "x", "mode": "chat", "input_cost_per_token": "lots", "output_cost_per_token": 1e-7}
}`
	got, st, err := generate([]byte(src), "2026-07-24")
	if err != nil {
		t.Fatalf("generate() error %v", err)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
		if !strings.HasPrefix(l, "#") {
			rows = append(rows, l)
		}
	}
	want := []string{
		"m-embed\tmistral\tembedding\t-\t-\t100000\t0\t-\t-\t-\t-\t-\t-\t-\t-",
		"m-exp\topenai\tchat\t128000\t16384\t2500000\t10000000\t1250000\t-\t-\t-\t-\t-\t-\t-",
		"m-reason\tdashscope\tresponses\t-\t-\t0\t200000\t0\t-\t500000\t-\t-\t-\t-\t-",
		"m-round\tdatabricks\tcompletion\t-\t-\t2999991\t1\t-\t-\t-\t-\t-\t-\t-\t-",
		"m-strings\txai\tchat\t2000000\t2000000\t150000\t375000\t-\t-\t-\t-\t-\t-\t-\t-",
		"m-tier\tanthropic\tchat\t-\t-\t3000000\t15000000\t-\t3750000\t-\t200000\t6000000\t22500000\t-\t-",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("generate() rows mismatch (-want +got):\n%s", diff)
	}
	if !bytes.Contains(got, []byte("mirror of 2026-07-24")) || !bytes.Contains(got, []byte("MIT License")) {
		t.Errorf("generate() header lacks the source date or license:\n%s", got)
	}
	wantStats := stats{
		kept:          6,
		skippedMode:   map[string]int{"image_generation": 1, "audio_transcription": 1, "(none)": 1},
		noTokenPrice:  1,
		noOutputPrice: 1,
		badName:       1,
		badPrice:      1,
		badLimit:      1,
		rounded:       2,
		roundedModels: 1,
	}
	if diff := cmp.Diff(wantStats, *st, cmp.AllowUnexported(stats{})); diff != "" {
		t.Errorf("generate() stats mismatch (-want +got):\n%s", diff)
	}
}

func TestGenerateRejectsSeveralTiers(t *testing.T) {
	src := `{"m": {"litellm_provider": "x", "mode": "chat", "input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6,
	  "input_cost_per_token_above_128k_tokens": 2e-6, "input_cost_per_token_above_200k_tokens": 3e-6}}`
	if _, _, err := generate([]byte(src), "d"); err == nil || !strings.Contains(err.Error(), "several long-context tiers") {
		t.Errorf("generate(two tiers) = %v, want a several-tiers error", err)
	}
}

// TestCatalogUpToDate regenerates the catalog from the shared data and
// compares it with the committed internal/pricing/catalog.tsv, using the
// date written in the go:generate directive.
func TestCatalogUpToDate(t *testing.T) {
	const (
		source    = "../../../shared/data/model_prices_and_context_window.json"
		committed = "../../internal/pricing/catalog.tsv"
		directive = "../../internal/pricing/price.go"
	)
	if _, err := os.Stat(source); errors.Is(err, os.ErrNotExist) {
		t.Skipf("skipping: %s not present", source)
	}
	code, err := os.ReadFile(directive)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate go run \S*tools/pricegen .*-date (\S+)`).FindSubmatch(code)
	if m == nil {
		t.Fatalf("%s: no go:generate directive for pricegen with -date", directive)
	}

	out := filepath.Join(t.TempDir(), "catalog.tsv")
	var log bytes.Buffer
	if err := run(source, out, string(m[1]), &log); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with %s; run go generate ./internal/pricing", committed, source)
	}
	if !strings.Contains(log.String(), "rounded up") {
		t.Errorf("run() log = %q, want a rounding summary", log.String())
	}
}
