package policy

import "strings"

// The PII detectors are regular expressions, and Go's regexp engine costs
// about a microsecond per detector even on a short text that holds nothing
// to find. Most requests hold nothing, so each detector has a pre-filter: a
// condition that every text with a match (one its valid func accepts) must
// meet, checked in one pass over the text for all detectors at once. A
// detector whose condition fails cannot match and is skipped; when it
// holds, the regular expression decides as before. The conditions are
// monotone (a text that contains a passing text passes too), which is what
// lets a whole JSON body be pre-filtered at once (mayHold).

// textStats is what one pass over a text learns for the pre-filters.
type textStats struct {
	// digits is the most digits in one run of characters from
	// "0123456789 -.()+": every card number, SSN, phone number and IPv4
	// address lies inside such a run.
	digits int
	// colons is the most colons in one run of hexadecimal digits and
	// colons: an IPv6 address has at least two.
	colons int
	// at: an '@' (every email address has one).
	at bool
	// iban: two capital letters followed by two digits (every IBAN starts so).
	iban bool
}

// scanText computes the pre-filters' statistics of s in one pass.
func scanText(s string) textStats {
	var st textStats
	digits, colons := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			// In both kinds of run.
			digits++
			st.digits = max(st.digits, digits)
			if i >= 3 && isDigit(s[i-1]) && isUpper(s[i-2]) && isUpper(s[i-3]) {
				st.iban = true
			}
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+':
			colons = 0
		case c == ':':
			digits = 0
			colons++
			st.colons = max(st.colons, colons)
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			digits = 0
		default:
			digits, colons = 0, 0
			if c == '@' {
				st.at = true
			}
		}
	}
	return st
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// possible reports whether the detector d could find a match in s, whose
// statistics are st. It is a necessary condition, never a sufficient one.
func (d *detector) possible(st *textStats, s string) bool {
	switch d.name {
	case "secret":
		return maySecret(s)
	case "credit_card": // luhn wants 13 to 19 digits
		return st.digits >= 13
	case "iban":
		return st.iban
	case "us_ssn": // nine digits
		return st.digits >= 9
	case "email":
		return st.at
	case "ip_address": // four numbers, or two colons
		return st.digits >= 4 || st.colons >= 2
	case "phone": // phoneValid wants 10 to 15 digits
		return st.digits >= 10
	}
	return true
}

// secretPrefixes are the literal starts of the secret detector's
// alternatives (the GitHub tokens' "gh?_" apart, see maySecret), with
// "bearer" checked without regard to case.
var secretPrefixes = []string{"-----BEGIN ", "sk-", "AKIA", "ASIA", "github_pat_", "xox", "AIza", "glpat-", "eyJ"}

func maySecret(s string) bool {
	for _, p := range secretPrefixes {
		if strings.Contains(s, p) {
			return true
		}
	}
	// ghp_, gho_, ghu_, ghs_, ghr_
	for i := strings.IndexByte(s, '_'); i >= 0; {
		if i >= 3 && s[i-3] == 'g' && s[i-2] == 'h' && strings.IndexByte("pousr", s[i-1]) >= 0 {
			return true
		}
		j := strings.IndexByte(s[i+1:], '_')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return containsFold(s, "bearer")
}

// containsFold reports whether s contains the lower-case ASCII word w in
// any case.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i]|0x20 == w[0] && strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

// mayHold reports whether any of the rule's detectors could find a match
// in some string of the JSON text body. Unless a \u escape could spell a
// character that the raw text does not show (then it answers true), each
// decoded string's characters of interest stand in body as they are (the
// other escapes decode to characters no pre-filter counts), so a body
// whose whole text fails every pre-filter has no string that passes one.
func (p *PII) mayHold(body []byte) bool {
	s := string(body)
	if strings.Contains(s, `\u`) {
		return true
	}
	st := scanText(s)
	for _, d := range p.detectors {
		if d.possible(&st, s) {
			return true
		}
	}
	return false
}
