package pricing

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestFormatUSD(t *testing.T) {
	tests := []struct {
		name string
		in   int64
		want string
	}{
		{"zero", 0, "$0.00"},
		{"one_nano", 1, "$0.000000001"},
		{"micro", 123_000, "$0.000123"},
		{"cent", 10_000_000, "$0.01"},
		{"half_dollar", 500_000_000, "$0.50"},
		{"fifty", 50 * NanoPerUSD, "$50.00"},
		{"three_decimals", 1_234_000_000, "$1.234"},
		{"all_decimals", 1_234_567_891, "$1.234567891"},
		{"negative", -1_500_000_000, "-$1.50"},
		{"negative_nano", -1, "-$0.000000001"},
		{"max", math.MaxInt64, "$9223372036.854775807"},
		{"min", math.MinInt64, "-$9223372036.854775808"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatUSD(tt.in); got != tt.want {
				t.Errorf("FormatUSD(%d) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseUSD(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"integer", "50", 50 * NanoPerUSD, false},
		{"dollar_sign", "$50.00", 50 * NanoPerUSD, false},
		{"fraction", "0.25", 250_000_000, false},
		{"one_nano", "0.000000001", 1, false},
		{"nine_places", "1.234567891", 1_234_567_891, false},
		{"negative", "-$1.50", -1_500_000_000, false},
		{"negative_no_sign", "-0.5", -500_000_000, false},
		{"plus", "+2", 2 * NanoPerUSD, false},
		{"negative_zero", "-0", 0, false},
		{"leading_zeros", "007.10", 7_100_000_000, false},
		{"max", "9223372036.854775807", math.MaxInt64, false},
		{"min", "-9223372036.854775808", math.MinInt64, false},
		{"ten_places", "0.0000000001", 0, true},
		{"ten_places_zero", "1.0000000000", 0, true},
		{"overflow", "9223372036.854775808", 0, true},
		{"overflow_min", "-9223372036.854775809", 0, true},
		{"overflow_whole", "99999999999999999999", 0, true},
		{"exponent", "1e3", 0, true},
		{"exponent_upper", "2.5E-6", 0, true},
		{"nan", "NaN", 0, true},
		{"inf", "Inf", 0, true},
		{"empty", "", 0, true},
		{"sign_only", "-", 0, true},
		{"dollar_only", "$", 0, true},
		{"no_leading_digit", ".5", 0, true},
		{"no_trailing_digit", "5.", 0, true},
		{"thousands", "1,000", 0, true},
		{"underscore", "1_000", 0, true},
		{"space", " 1", 0, true},
		{"trailing_space", "1 ", 0, true},
		{"sign_after_dollar", "$-1", 0, true},
		{"double_sign", "--1", 0, true},
		{"two_points", "1.2.3", 0, true},
		{"hex", "0x10", 0, true},
		{"unicode_digit", "١", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUSD(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrAmount) {
					t.Errorf("ParseUSD(%q) = %d, %v, want an ErrAmount error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseUSD(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPerMTok(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"gpt4o_input", "2.50", 2_500_000, false},
		{"gpt4o_mini_input", "0.15", 150_000, false},
		{"free", "0", 0, false},
		{"dollar", "$15", 15_000_000, false},
		{"six_places", "0.000001", 1, false},
		{"seven_places", "0.0000001", 0, true},
		{"negative", "-1", 0, true},
		{"exponent", "3e-6", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePerMTok(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParsePerMTok(%q) = %d, %v, want %d (error %t)", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				back, err := ParsePerMTok(FormatPerMTok(got))
				if err != nil || back != got {
					t.Errorf("ParsePerMTok(FormatPerMTok(%d)) = %d, %v, want %d", got, back, err, got)
				}
			}
		})
	}
	if got, want := FormatPerMTok(2_500_000), "$2.50"; got != want {
		t.Errorf("FormatPerMTok(2500000) = %q, want %q", got, want)
	}
}

// FuzzParseUSD checks that ParseUSD never panics, that what it accepts is a
// plain decimal that FormatUSD writes back to the same value, and that every
// FormatUSD output parses.
func FuzzParseUSD(f *testing.F) {
	for _, s := range []string{
		"0", "50", "$50.00", "-$1.50", "0.000000001", "1.234567891", "0.0000000001",
		"9223372036.854775807", "-9223372036.854775808", "9223372036.854775808",
		"1e3", "NaN", "", ".5", "5.", "+$7.1", "--1", "１",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseUSD(s)
		if err != nil {
			if !errors.Is(err, ErrAmount) {
				t.Fatalf("ParseUSD(%q) error %v does not wrap ErrAmount", s, err)
			}
			return
		}
		if strings.ContainsAny(s, "eEnN ,_") {
			t.Fatalf("ParseUSD(%q) = %d, want an error", s, v)
		}
		formatted := FormatUSD(v)
		back, err := ParseUSD(formatted)
		if err != nil || back != v {
			t.Fatalf("ParseUSD(FormatUSD(%d)) = %d, %v, want %d (formatted %q from %q)", v, back, err, v, formatted, s)
		}
	})
}
