package redact

import (
	"encoding/json"
	"regexp"
	"strings"
)

// PII detectors for stored bodies, applied in this order: longer and more
// specific shapes first, so that a card number is not taken for a phone.
var piiRules = []struct {
	label string
	re    *regexp.Regexp
	valid func(string) bool // nil: every match
}{
	{"[secret]", regexp.MustCompile(`\b(?:sk|pk|rk|xox[abp])-[A-Za-z0-9_-]{16,}`), nil},
	{"[email]", regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`), nil},
	{"[iban]", regexp.MustCompile(`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b`), nil},
	{"[credit_card]", regexp.MustCompile(`\b\d(?:[ -]?\d){12,18}\b`), luhn},
	{"[us_ssn]", regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`), nil},
	{"[ip_address]", regexp.MustCompile(`\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b`), nil},
	// International (+…), North American (415) 555-0100, national 0612345678.
	{"[phone]", regexp.MustCompile(`\+\d[\d ()-]{7,17}\d|\(?\b\d{3}\)?[ -]\d{3}[ -]\d{4}\b|\b0\d{9,10}\b`), nil},
}

// PII returns s with e-mail addresses, card numbers (Luhn-checked), IBANs,
// US social security numbers, phone numbers, IPv4 addresses and API-key
// shaped secrets replaced by a label such as "[email]". It is for bodies
// stored in the audit trail; replacements never contain a quote or a
// backslash, so JSON stays JSON.
func PII(s string) string {
	for _, r := range piiRules {
		if r.valid == nil {
			s = r.re.ReplaceAllLiteralString(s, r.label)
			continue
		}
		s = r.re.ReplaceAllStringFunc(s, func(m string) string {
			if r.valid(m) {
				return r.label
			}
			return m
		})
	}
	return s
}

// luhn reports whether the digits of s pass the Luhn check.
func luhn(s string) bool {
	d := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	sum, double := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if double {
			if n *= 2; n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return len(d) >= 13 && sum%10 == 0
}

// PIIBody is PII for a stored body: in a JSON document only the string
// values are redacted (numbers and structure stay as they are); any other
// text is redacted whole.
func PIIBody(s string) string {
	if !json.Valid([]byte(s)) {
		return PII(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] != '"' {
			j := strings.IndexByte(s[i:], '"')
			if j < 0 {
				b.WriteString(s[i:])
				break
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		// A string literal: find its closing quote, past escapes.
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		b.WriteByte('"')
		b.WriteString(PII(s[i+1 : min(j, len(s))]))
		if j < len(s) {
			b.WriteByte('"')
		}
		i = j + 1
	}
	return b.String()
}
