package pricing

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Money units. Costs and budgets are int64 nano-USD; prices are int64
// pico-USD per token.
const (
	NanoPerUSD  = 1_000_000_000 // nano-USD in one dollar
	PicoPerNano = 1_000         // pico-USD in one nano-USD
)

// ErrAmount is wrapped by the errors of ParseUSD and ParsePerMTok.
var ErrAmount = errors.New("pricing: invalid dollar amount")

// FormatUSD formats an amount of nano-USD as dollars for people: a "$",
// at least 2 and at most 9 decimals, trailing zeros beyond the second
// trimmed, and a leading "-" for negative amounts. For example
// 50_000_000_000 is "$50.00", 123_000 is "$0.000123" and -1 is
// "-$0.000000001". The result is exact and ParseUSD reads it back to the
// same value.
func FormatUSD(nano int64) string {
	return formatFixed(nano, 9, "$")
}

// ParseUSD parses a dollar amount such as "50", "$0.25", "-$1.50" or
// "0.000000001" into exact nano-USD. It accepts an optional sign, an
// optional "$", at least one digit, and an optional point followed by one
// to nine digits. It rejects more than 9 decimal places (sub-nano amounts),
// exponents, NaN and infinities, separators, surrounding space, and amounts
// beyond the int64 range. Errors wrap ErrAmount.
func ParseUSD(s string) (int64, error) {
	return parseFixed(s, 9, true)
}

// ParsePerMTok parses a price in USD per million tokens, the unit providers
// publish and the configuration uses ("3", "0.15", "$2.50"), into exact
// pico-USD per token. Because one USD per million tokens is 10⁶ pico-USD
// per token, at most 6 decimal places are accepted. Negative prices are
// rejected. Errors wrap ErrAmount.
func ParsePerMTok(s string) (int64, error) {
	return parseFixed(s, 6, false)
}

// FormatPerMTok formats a price in pico-USD per token as USD per million
// tokens, as in "$2.50" for 2,500,000 pico-USD per token.
func FormatPerMTok(pico int64) string {
	return formatFixed(pico, 6, "$")
}

// formatFixed writes v / 10^decimals with at least two and at most
// decimals places.
func formatFixed(v int64, decimals int, unit string) string {
	neg := v < 0
	mag := uint64(v)
	if neg {
		mag = -mag // two's complement: also right for math.MinInt64
	}
	scale := pow10u(decimals)
	whole, frac := mag/scale, mag%scale

	b := make([]byte, 0, 32)
	if neg {
		b = append(b, '-')
	}
	b = append(b, unit...)
	b = strconv.AppendUint(b, whole, 10)
	b = append(b, '.')
	fracStart := len(b)
	for d := scale / 10; d > 0; d /= 10 {
		b = append(b, byte('0'+frac/d%10))
	}
	end := len(b)
	for end > fracStart+2 && b[end-1] == '0' {
		end--
	}
	return string(b[:end])
}

// parseFixed parses a decimal with at most decimals places into an integer
// of 10^-decimals units, exactly; see ParseUSD for the accepted syntax.
func parseFixed(s string, decimals int, allowNeg bool) (int64, error) {
	fail := func(why string) (int64, error) {
		return 0, fmt.Errorf("%w %q: %s", ErrAmount, s, why)
	}
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	if neg && !allowNeg {
		return fail("must not be negative")
	}
	if i < len(s) && s[i] == '$' {
		i++
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // math.MinInt64 has no positive counterpart
	}
	var mag uint64
	digits := 0
	for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		if mag > (limit-uint64(s[i]-'0'))/10 {
			return fail("out of range")
		}
		mag = mag*10 + uint64(s[i]-'0')
		digits++
	}
	if digits == 0 {
		return fail("want digits, as in 12.50")
	}
	places := 0
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
			places++
			if places > decimals {
				return fail(fmt.Sprintf("more than %d decimal places", decimals))
			}
			if mag > (limit-uint64(s[i]-'0'))/10 {
				return fail("out of range")
			}
			mag = mag*10 + uint64(s[i]-'0')
		}
		if places == 0 {
			return fail("want digits after the point")
		}
	}
	if i != len(s) {
		return fail(fmt.Sprintf("unexpected %q", s[i:]))
	}
	scale := pow10u(decimals - places)
	if mag > limit/scale {
		return fail("out of range")
	}
	mag *= scale
	if neg {
		return int64(-mag), nil // wraps to math.MinInt64 exactly at the limit
	}
	return int64(mag), nil
}

// pow10u returns 10^n for 0 ≤ n ≤ 19.
func pow10u(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}
