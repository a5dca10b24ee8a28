// Command pricegen converts the LiteLLM model price list
// (model_prices_and_context_window.json) into airgw's embedded price
// catalog, internal/pricing/catalog.tsv.
//
// It is run by go generate in internal/pricing:
//
//	go run ../../tools/pricegen -in ../../../shared/data/model_prices_and_context_window.json -out catalog.tsv
//
// Every price is converted exactly from its decimal text (the JSON is decoded
// with UseNumber; no float64 is involved) to integer pico-USD per token. A
// price with more than 12 decimal places is rounded up to the next
// pico-dollar and counted. Only the modes airgw serves are kept (chat,
// completion, responses, embedding), and only entries with a per-token input
// price and, except for embeddings, a per-token output price: the gateway
// must never price a model at zero by accident. A summary of what was kept,
// rounded and skipped goes to standard error.
//
// The output is sorted by model name, one tab-separated line per model, so
// that a refresh of the source shows up as a readable diff.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// keptModes are the LiteLLM modes the gateway serves.
var keptModes = map[string]bool{
	"chat":       true,
	"completion": true,
	"responses":  true,
	"embedding":  true,
}

// Price columns, in file order after the name, provider, mode and limits.
const (
	colInput = iota
	colOutput
	colCacheRead
	colCacheWrite
	colReasoning
	colTierAbove
	colTierInput
	colTierOutput
	colTierCacheRead
	colTierCacheWrite
	numCols
)

// baseCols maps the source's per-token price keys to their columns.
var baseCols = map[string]int{
	"input_cost_per_token":            colInput,
	"output_cost_per_token":           colOutput,
	"cache_read_input_token_cost":     colCacheRead,
	"cache_creation_input_token_cost": colCacheWrite,
	"output_cost_per_reasoning_token": colReasoning,
}

// tierCols maps a tiered price's base key to its tier column.
var tierCols = map[string]int{
	"input_cost_per_token":            colTierInput,
	"output_cost_per_token":           colTierOutput,
	"cache_read_input_token_cost":     colTierCacheRead,
	"cache_creation_input_token_cost": colTierCacheWrite,
}

// columns is the header line naming the catalog's columns.
const columns = "#model\tprovider\tmode\tmax_input\tmax_output\tinput\toutput\tcache_read\tcache_write\treasoning\ttier_above\ttier_input\ttier_output\ttier_cache_read\ttier_cache_write"

func main() {
	in := flag.String("in", "", "LiteLLM `file` model_prices_and_context_window.json")
	out := flag.String("out", "", "catalog `file` to write")
	date := flag.String("date", "2026-07-24", "`date` of the source mirror, written in the header")
	flag.Parse()
	if *in == "" || *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *out, *date, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "pricegen: %v\n", err)
		os.Exit(1)
	}
}

// run converts the file in into the catalog out and reports to log.
func run(in, out, date string, log io.Writer) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	cat, st, err := generate(src, date)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if err := os.WriteFile(out, cat, 0o644); err != nil {
		return err
	}
	st.report(log, out, len(cat))
	return nil
}

// stats counts what the conversion kept, rounded and skipped.
type stats struct {
	kept          int
	skippedMode   map[string]int // mode -> entries not kept for their mode
	noTokenPrice  int            // kept mode, but no per-token input price
	noOutputPrice int            // chat-like entry without a per-token output price
	badName       int            // names that cannot go in a TSV line
	badPrice      int            // entries dropped for an unreadable price
	badLimit      int            // limits dropped as unreadable or fractional
	tierDropped   int            // tiers without a tiered input price
	rounded       int            // prices rounded up to a whole pico-dollar
	roundedModels int            // entries with at least one rounded price
}

func (st *stats) report(w io.Writer, out string, size int) {
	skipped := 0
	var modes []string
	for m, n := range st.skippedMode {
		skipped += n
		modes = append(modes, fmt.Sprintf("%s %d", m, n))
	}
	slices.Sort(modes)
	skipped += st.noTokenPrice + st.noOutputPrice + st.badName + st.badPrice
	fmt.Fprintf(w, "pricegen: wrote %s: %d models, %d bytes\n", out, st.kept, size)
	fmt.Fprintf(w, "pricegen: rounded up %d prices in %d models to a whole pico-dollar\n", st.rounded, st.roundedModels)
	fmt.Fprintf(w, "pricegen: skipped %d entries: other modes (%s); no per-token input price %d; no per-token output price %d; bad name %d; unreadable price %d\n",
		skipped, strings.Join(modes, ", "), st.noTokenPrice, st.noOutputPrice, st.badName, st.badPrice)
	fmt.Fprintf(w, "pricegen: dropped %d unreadable or fractional limits, %d tiers without a tiered input price\n", st.badLimit, st.tierDropped)
}

// generate converts the LiteLLM JSON src into the catalog file's bytes.
func generate(src []byte, date string) ([]byte, *stats, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil {
		return nil, nil, err
	}
	st := &stats{skippedMode: map[string]int{}}
	var lines []string
	for name, v := range all {
		if name == "sample_spec" || name == "fallback_generalizations" {
			continue
		}
		e, ok := v.(map[string]any)
		if !ok {
			st.skippedMode["(not an object)"]++
			continue
		}
		line, err := convert(name, e, st)
		if err != nil {
			return nil, nil, fmt.Errorf("model %q: %w", name, err)
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	slices.Sort(lines)
	st.kept = len(lines)

	var b bytes.Buffer
	b.WriteString("# airgw price catalog: integer pico-USD per token. Generated by tools/pricegen; DO NOT EDIT.\n")
	fmt.Fprintf(&b, "# Source: model_prices_and_context_window.json from LiteLLM (https://github.com/BerriAI/litellm), mirror of %s.\n", date)
	b.WriteString("# Copyright (c) 2023 Berri AI. MIT License; see THIRD_PARTY_NOTICES.md.\n")
	b.WriteString("# Tab-separated; \"-\" marks a price or limit the source does not list; tier prices apply above tier_above input tokens.\n")
	b.WriteString(columns + "\n")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes(), st, nil
}

// convert turns one source entry into a catalog line, or "" when the entry
// is skipped (counted in st). It fails only on input the catalog format
// cannot represent faithfully, such as several long-context tiers.
func convert(name string, e map[string]any, st *stats) (string, error) {
	mode, _ := e["mode"].(string)
	if !keptModes[mode] {
		if mode == "" {
			mode = "(none)"
		}
		st.skippedMode[mode]++
		return "", nil
	}
	provider, _ := e["litellm_provider"].(string)
	if name == "" || strings.ContainsAny(name, "\t\r\n ") || strings.HasPrefix(name, "#") ||
		provider == "" || strings.ContainsAny(provider, "\t\r\n ") {
		st.badName++
		return "", nil
	}

	var cells [numCols]string
	for i := range cells {
		cells[i] = "-"
	}
	rounded := 0
	price := func(key string) (string, bool) {
		text, ok := numberText(e[key])
		if !ok {
			return "-", true
		}
		v, r, err := toPico(text)
		if err != nil {
			return "", false
		}
		if r {
			rounded++
		}
		return strconv.FormatInt(v, 10), true
	}
	for key, col := range baseCols {
		c, ok := price(key)
		if !ok {
			st.badPrice++
			return "", nil
		}
		cells[col] = c
	}
	var above int64
	for key := range e {
		base, n, ok := tierField(key)
		if !ok {
			continue
		}
		if above != 0 && n != above {
			return "", fmt.Errorf("several long-context tiers (%d and %d tokens); the catalog holds one", above, n)
		}
		above = n
		c, ok := price(key)
		if !ok {
			st.badPrice++
			return "", nil
		}
		cells[tierCols[base]] = c
	}
	if above != 0 {
		if cells[colTierInput] == "-" {
			// LiteLLM switches tiers on the tiered input price; without
			// one the tier never applies.
			st.tierDropped++
			for _, col := range []int{colTierOutput, colTierCacheRead, colTierCacheWrite} {
				cells[col] = "-"
			}
		} else {
			cells[colTierAbove] = strconv.FormatInt(above, 10)
		}
	}

	if cells[colInput] == "-" {
		st.noTokenPrice++
		return "", nil
	}
	if cells[colOutput] == "-" {
		if mode != "embedding" {
			st.noOutputPrice++
			return "", nil
		}
		cells[colOutput] = "0" // embeddings produce no output tokens
	}
	if rounded > 0 {
		st.rounded += rounded
		st.roundedModels++
	}

	limit := func(key string) string {
		text, ok := numberText(e[key])
		if !ok {
			return "-"
		}
		v, err := toTokens(text)
		if err != nil {
			st.badLimit++
			return "-"
		}
		return strconv.FormatInt(v, 10)
	}
	fields := append([]string{name, provider, mode, limit("max_input_tokens"), limit("max_output_tokens")}, cells[:]...)
	return strings.Join(fields, "\t"), nil
}

// picoScale is the power of ten from dollars to pico-dollars: the catalog
// holds prices as integer pico-USD per token.
const picoScale = 12

// maxExponent bounds the decimal exponent accepted in a number, so that a
// hostile or corrupt input cannot make the converter build huge integers.
const maxExponent = 400

// decimalRE is the JSON number grammar, which is also what the price list
// uses when it spells a number as a string.
var decimalRE = regexp.MustCompile(`^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$`)

var (
	errNegative = errors.New("negative value")
	errOverflow = errors.New("value overflows int64")
	errNotInt   = errors.New("not a whole number")
)

// scaleDecimal returns the decimal text s multiplied by 10^scale as an
// integer, rounded up (toward +Inf) when the product is not whole, and
// whether it had to round. The conversion is exact: no float64 is involved.
// Negative values and values beyond int64 are errors.
func scaleDecimal(s string, scale int) (v int64, rounded bool, err error) {
	m := decimalRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false, fmt.Errorf("not a decimal number: %q", s)
	}
	intPart, frac, expText := m[2], m[3], m[4]
	exp := 0
	if expText != "" {
		e, err := strconv.Atoi(expText)
		if err != nil || e > maxExponent || e < -maxExponent {
			return 0, false, fmt.Errorf("exponent out of range: %q", s)
		}
		exp = e
	}
	mant, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return 0, false, fmt.Errorf("not a decimal number: %q", s)
	}
	if mant.Sign() == 0 {
		return 0, false, nil // "-0", "0.0", "0e5"
	}
	if m[1] == "-" {
		return 0, false, errNegative
	}
	shift := scale + exp - len(frac)
	if shift >= 0 {
		mant.Mul(mant, pow10(shift))
	} else {
		var rem big.Int
		mant.QuoRem(mant, pow10(-shift), &rem)
		if rem.Sign() != 0 {
			mant.Add(mant, big.NewInt(1))
			rounded = true
		}
	}
	if !mant.IsInt64() {
		return 0, false, errOverflow
	}
	return mant.Int64(), rounded, nil
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// numberText returns the decimal text of a JSON value decoded with
// UseNumber: a json.Number, or a string holding a number (the price list
// sometimes quotes numbers). ok is false when v is absent or of another type.
func numberText(v any) (text string, ok bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case string:
		return x, true
	}
	return "", false
}

// toPico converts a price in USD per token, as decimal text, to integer
// pico-USD per token, rounding up to the next pico-dollar when the listed
// price has more than 12 decimal places.
func toPico(s string) (pico int64, rounded bool, err error) {
	return scaleDecimal(s, picoScale)
}

// toTokens converts a token limit such as "128000", 128000 or "2000000.0"
// to an integer. A limit that is not a whole number is an error.
func toTokens(s string) (int64, error) {
	v, rounded, err := scaleDecimal(s, 0)
	if err != nil {
		return 0, err
	}
	if rounded {
		return 0, errNotInt
	}
	return v, nil
}

// tierRE matches the long-context tier variants of the four token prices,
// such as input_cost_per_token_above_200k_tokens. Variants with a further
// qualifier (_priority, _above_1hr_...) are service tiers airgw does not
// price and do not match.
var tierRE = regexp.MustCompile(`^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost)_above_([0-9]+)k_tokens$`)

// tierField splits a tiered price key into its base key and its threshold
// in tokens (the list's "k" is a thousand tokens, as LiteLLM reads it).
func tierField(key string) (base string, above int64, ok bool) {
	m := tierRE.FindStringSubmatch(key)
	if m == nil {
		return "", 0, false
	}
	k, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil || k <= 0 || k > math.MaxInt64/1000 {
		return "", 0, false
	}
	return m[1], k * 1000, true
}
