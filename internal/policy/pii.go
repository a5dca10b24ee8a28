package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/airgw/airgw/internal/llm"
)

// PII actions.
const (
	ActionRedact = "redact"
	ActionBlock  = "block"
	ActionLog    = "log"
)

// PII is a named personal-data rule: its detectors and what to do on a
// match.
type PII struct {
	Name      string
	Action    string
	detectors []*detector
}

// NewPII returns the rule called name that applies action to the matches of
// the named detectors (see Detectors).
func NewPII(name, action string, detect []string) (*PII, error) {
	switch action {
	case ActionRedact, ActionBlock, ActionLog:
	default:
		return nil, fmt.Errorf("policy: %s: unknown PII action %q", name, action)
	}
	p := &PII{Name: name, Action: action}
	for _, d := range detectors {
		if slices.Contains(detect, d.name) {
			p.detectors = append(p.detectors, d)
		}
	}
	for _, n := range detect {
		if !slices.ContainsFunc(detectors, func(d *detector) bool { return d.name == n }) {
			return nil, fmt.Errorf("policy: %s: unknown PII detector %q", name, n)
		}
	}
	return p, nil
}

// Detectors lists the PII detector names, most specific first: where two
// matches overlap, the earlier detector wins.
func Detectors() []string {
	out := make([]string, len(detectors))
	for i, d := range detectors {
		out[i] = d.name
	}
	return out
}

// detector finds one kind of personal data: candidates by regular
// expression, each confirmed by valid (a checksum, a range) when set.
type detector struct {
	name  string
	label string // for messages: "an email address"
	re    *regexp.Regexp
	valid func(match string) bool
	// token replaces a match when redacting.
	token string
}

var detectors = []*detector{
	{name: "secret", label: "a secret (API key or private key)", token: "[REDACTED_SECRET]",
		re: regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----` +
			`|\bsk-[A-Za-z0-9_\-]{20,}` +
			`|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b` +
			`|\bgh[pousr]_[A-Za-z0-9]{36,}` +
			`|\bgithub_pat_[A-Za-z0-9_]{22,}` +
			`|\bxox[abprs]-[A-Za-z0-9\-]{10,}` +
			`|\bAIza[0-9A-Za-z_\-]{35}` +
			`|\bglpat-[A-Za-z0-9_\-]{20,}` +
			`|\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}` +
			`|(?i:\bbearer\s+)[A-Za-z0-9._~+/\-]{20,}=*`)},
	{name: "credit_card", label: "a payment card number", token: "[REDACTED_CREDIT_CARD]",
		re: regexp.MustCompile(`\b\d(?:[ \-]?\d){12,18}\b`), valid: luhn},
	{name: "iban", label: "an IBAN", token: "[REDACTED_IBAN]",
		re: regexp.MustCompile(`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b`), valid: ibanValid},
	{name: "us_ssn", label: "a US social security number", token: "[REDACTED_US_SSN]",
		re: regexp.MustCompile(`\b\d{3}[- ]\d{2}[- ]\d{4}\b`), valid: ssnValid},
	{name: "email", label: "an email address", token: "[REDACTED_EMAIL]",
		re: regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)},
	{name: "ip_address", label: "an IP address", token: "[REDACTED_IP_ADDRESS]",
		re:    regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b|(?i)\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\b`),
		valid: ipValid},
	{name: "phone", label: "a phone number", token: "[REDACTED_PHONE]",
		re:    regexp.MustCompile(`\+\d[\d \-.()]{8,18}\d|\(\d{2,4}\)[ \-.]?\d{3,4}[ \-.]?\d{3,4}\b|\b\d{3}[\-. ]\d{3}[\-. ]\d{4}\b`),
		valid: phoneValid},
}

// match is one detected span of text.
type match struct {
	start, end int
	d          *detector
}

// find returns the non-overlapping matches of the rule's detectors in s,
// in order; where two overlap, the more specific detector wins.
func (p *PII) find(s string) []match {
	var out []match
	st := scanText(s)
	for _, d := range p.detectors {
		if !d.possible(&st, s) {
			continue // see prefilter.go
		}
		for _, loc := range d.re.FindAllStringIndex(s, -1) {
			if d.valid != nil && !d.valid(s[loc[0]:loc[1]]) {
				continue
			}
			m := match{loc[0], loc[1], d}
			if !slices.ContainsFunc(out, func(o match) bool { return o.start < m.end && m.start < o.end }) {
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// redact returns s with every match replaced by its detector's token, and
// the matches found.
func (p *PII) redact(s string) (string, []match) {
	ms := p.find(s)
	if len(ms) == 0 {
		return s, nil
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m.start])
		b.WriteString(m.d.token)
		last = m.end
	}
	b.WriteString(s[last:])
	return b.String(), ms
}

// counts tallies matches by detector, in detector order: "email×2, phone×1".
type counts map[*detector]int

func (c counts) add(ms []match) {
	for _, m := range ms {
		c[m.d]++
	}
}

func (c counts) String() string {
	var parts []string
	for _, d := range detectors {
		if n := c[d]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s x%d", d.name, n))
		}
	}
	return strings.Join(parts, ", ")
}

func (c counts) labels() string {
	var parts []string
	for _, d := range detectors {
		if c[d] > 0 {
			parts = append(parts, d.label)
		}
	}
	return strings.Join(parts, ", ")
}

// apply runs the rule on the request: a block refuses it, a log records
// what was found, a redact replaces every match in the request and in its
// native body before any provider sees it.
func (p *PII) apply(s *Subject, owner string) (*Decision, error) {
	found := counts{}
	if p.Action != ActionRedact {
		eachText(s, func(t string) bool { found.add(p.find(t)); return true })
		if len(found) == 0 {
			return nil, nil
		}
		if p.Action == ActionBlock {
			return nil, &llm.Error{Code: llm.CodePolicyViolation, NoClientRetry: true, Policy: p.Name,
				Message: fmt.Sprintf("the request contains personal data (%s), which %s does not send to providers (policy `%s`); remove it and send the request again", found.labels(), owner, p.Name)}
		}
		return &Decision{Policy: p.Name, Action: ActionLog, Detail: found.String()}, nil
	}
	redactRequest(p, s, found)
	changed, err := redactNative(p, s, found)
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeInvalidRequest, NoClientRetry: true, Policy: p.Name, Err: err,
			Message: "airgw could not apply the PII policy to this request body; send it as a JSON object"}
	}
	if len(found) == 0 && !changed {
		return nil, nil
	}
	return &Decision{Policy: p.Name, Action: ActionRedact, Detail: found.String()}, nil
}

// redactRequest redacts the provider-neutral request in place.
func redactRequest(p *PII, s *Subject, found counts) {
	if s.Embed != nil {
		for i, in := range s.Embed.Input {
			out, ms := p.redact(in)
			s.Embed.Input[i] = out
			found.add(ms)
		}
		return
	}
	if s.Chat == nil {
		return
	}
	for i := range s.Chat.Messages {
		m := &s.Chat.Messages[i]
		for j := range m.Content {
			if pt := &m.Content[j]; pt.Type == llm.PartText && pt.Text != "" {
				out, ms := p.redact(pt.Text)
				pt.Text = out
				found.add(ms)
			}
		}
		for j := range m.ToolCalls {
			if tc := &m.ToolCalls[j]; tc.Arguments != "" {
				out, ms := p.redact(tc.Arguments)
				tc.Arguments = out
				found.add(ms)
			}
		}
	}
}

// luhn reports whether the digits of s (separators ignored) pass the Luhn
// checksum that payment card numbers carry.
func luhn(s string) bool {
	sum, n, double := 0, 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
		double = !double
	}
	return n >= 13 && n <= 19 && sum%10 == 0
}

// ibanValid checks the ISO 13616 mod-97 checksum.
func ibanValid(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	rearranged := s[4:] + s[:4]
	rem := 0
	for i := 0; i < len(rearranged); i++ {
		c := rearranged[i]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// ssnValid refuses numbers the Social Security Administration never
// issues: area 000, 666 or 900-999, group 00, serial 0000.
func ssnValid(s string) bool {
	digits := strings.NewReplacer("-", "", " ", "").Replace(s)
	if len(digits) != 9 {
		return false
	}
	area, group, serial := digits[:3], digits[3:5], digits[5:]
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

func ipValid(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return a.Is4() || strings.Count(s, ":") >= 2 && len(s) > 2
}

// phoneValid wants 10 to 15 digits (E.164 allows 15) and refuses what is
// an IPv4 address.
func phoneValid(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	return n >= 10 && n <= 15
}
