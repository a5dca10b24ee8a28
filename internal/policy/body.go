package policy

import (
	"encoding/json"
	"strings"
)

// everyDetector redacts with every detector: the audit trail's stored
// bodies use it, whatever the request's own policies were.
var everyDetector = &PII{Name: "audit.bodies", Action: ActionRedact, detectors: detectors}

// RedactAll returns s with the matches of every PII detector replaced by
// their tokens ("[REDACTED_EMAIL]", …). Tokens hold no quote or backslash,
// so text inside a JSON string stays a valid JSON string.
func RedactAll(s string) string {
	out, _ := everyDetector.redact(s)
	return out
}

// RedactBody is RedactAll for a stored prompt or response body: in a JSON
// document only the string values are redacted, so numbers and structure
// stay as they were; any other text (a streamed answer) is redacted whole.
func RedactBody(s string) string {
	if !json.Valid([]byte(s)) {
		return RedactAll(s)
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
		b.WriteString(RedactAll(s[i+1 : min(j, len(s))]))
		if j < len(s) {
			b.WriteByte('"')
		}
		i = j + 1
	}
	return b.String()
}
