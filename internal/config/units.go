package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time span written in Go syntax: 30s, 1m30s, 2h, 250ms.
// A bare number is refused unless it is 0, so "30" never silently means
// 30 nanoseconds. Convert with time.Duration(d).
type Duration time.Duration

// ParseDuration parses a non-negative duration such as 30s or 1m30s.
func ParseDuration(s string) (Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, errors.New("a number needs a unit: ms, s, m or h")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("units are ns, us, ms, s, m and h")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return Duration(d), nil
}

// String formats d like time.Duration does, such as 1m30s.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText formats d like String, so JSON shows "30s" rather than nanoseconds.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Size is a number of bytes, written as a plain number or with a unit:
// B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
type Size int64

var sizeUnits = []struct {
	name string
	mult int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseSize parses a size such as 4MiB, 512KiB, 1MB or 1048576.
// Units are case-insensitive; a space between number and unit is allowed.
func ParseSize(s string) (Size, error) {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if len(s) > len(u.name) && strings.EqualFold(s[len(s)-len(u.name):], u.name) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.name)]), u.mult
			break
		}
	}
	if strings.HasPrefix(num, "-") {
		return 0, errors.New("must not be negative")
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, errors.New("units are B, KB, MB, GB, TB, KiB, MiB, GiB and TiB")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, errors.New("too large")
	}
	return Size(n * mult), nil
}

// String formats s with the largest binary unit that divides it exactly.
func (s Size) String() string {
	for i := 3; i >= 0; i-- {
		u := sizeUnits[i]
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText formats s like String.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Secret is a credential. It prints as [redacted] through fmt, JSON, YAML
// and slog (an empty Secret prints as empty, so "not set" stays visible);
// only Value returns the real text.
type Secret string

const redacted = "[redacted]"

// Value returns the secret's real text.
func (s Secret) Value() string { return string(s) }

// String returns [redacted], or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format prints String for every verb, including %#v and %q.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' || (verb == 'v' && f.Flag('#')) {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	fmt.Fprint(f, s.String())
}

// GoString returns String quoted.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalJSON returns String as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText returns String.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML returns String.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue returns String, so slog never logs the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Price is a price in integer pico-dollars (1e-12 USD) per token. In the file
// it is written in USD per million tokens: 2.50 is 2,500,000 pico-dollars per
// token. Six decimal places are the most that are exact.
type Price int64

// ParsePrice parses a decimal USD-per-million-tokens figure such as 2.50
// exactly, without going through float64.
func ParsePrice(s string) (Price, error) {
	n, err := parseDecimal(s, 6)
	return Price(n), err
}

// String formats p back in USD per million tokens, such as 2.5.
func (p Price) String() string { return formatDecimal(int64(p), 6) }

// MarshalText formats p like String.
func (p Price) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Money is an amount in integer nano-dollars (1e-9 USD). In the file it is
// written in USD, with at most nine decimal places.
type Money int64

// ParseMoney parses a decimal USD amount such as 500 or 12.75 exactly.
func ParseMoney(s string) (Money, error) {
	n, err := parseDecimal(s, 9)
	return Money(n), err
}

// String formats m in USD, such as 12.75.
func (m Money) String() string { return formatDecimal(int64(m), 9) }

// MarshalText formats m like String.
func (m Money) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// parseDecimal parses a non-negative decimal with at most scale significant
// fraction digits and returns it times 10^scale. Trailing zeros past scale
// are accepted because they lose nothing.
func parseDecimal(s string, scale int) (int64, error) {
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("must not be negative")
	}
	s = strings.TrimPrefix(s, "+")
	whole, frac, _ := strings.Cut(s, ".")
	if whole+frac == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return 0, errors.New("expected a decimal number like 2.50")
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > scale {
		return 0, fmt.Errorf("too precise: at most %d decimal places", scale)
	}
	digits := strings.TrimLeft(whole+frac+strings.Repeat("0", scale-len(frac)), "0")
	if digits == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, errors.New("too large")
	}
	return n, nil
}

// formatDecimal is the inverse of parseDecimal, without trailing zeros.
func formatDecimal(n int64, scale int) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	s := strconv.FormatInt(n, 10)
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	whole, frac := s[:len(s)-scale], strings.TrimRight(s[len(s)-scale:], "0")
	if frac == "" {
		return sign + whole
	}
	return sign + whole + "." + frac
}
