package policy

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		detector, in, want string
	}{
		{"email", "write to jane.doe+x@mail.example.co.uk today", "write to [REDACTED_EMAIL] today"},
		{"email", "no address @ here", "no address @ here"},
		{"phone", "call +1 (415) 555-2671 now", "call [REDACTED_PHONE] now"},
		{"phone", "call 415-555-2671 or 415.555.2672", "call [REDACTED_PHONE] or [REDACTED_PHONE]"},
		{"phone", "on +33 6 12 34 56 78", "on [REDACTED_PHONE]"},
		{"phone", "order 2024-01-15 and version 1.2.3", "order 2024-01-15 and version 1.2.3"},
		{"credit_card", "card 4111 1111 1111 1111 exp", "card [REDACTED_CREDIT_CARD] exp"},
		{"credit_card", "card 4111-1111-1111-1111", "card [REDACTED_CREDIT_CARD]"},
		{"credit_card", "luhn fails 4111 1111 1111 1112", "luhn fails 4111 1111 1111 1112"},
		{"credit_card", "amex 378282246310005.", "amex [REDACTED_CREDIT_CARD]."},
		{"iban", "pay GB82 WEST 1234 5698 7654 32 please", "pay [REDACTED_IBAN] please"},
		{"iban", "pay DE89370400440532013000", "pay [REDACTED_IBAN]"},
		{"iban", "bad checksum GB83WEST12345698765432", "bad checksum GB83WEST12345698765432"},
		{"us_ssn", "ssn 123-45-6789.", "ssn [REDACTED_US_SSN]."},
		{"us_ssn", "never issued 666-45-6789 or 123-00-6789", "never issued 666-45-6789 or 123-00-6789"},
		{"ip_address", "from 192.168.10.4 and 2001:db8::8a2e:370:7334", "from [REDACTED_IP_ADDRESS] and [REDACTED_IP_ADDRESS]"},
		{"ip_address", "not 999.1.1.1 nor 12:30:45", "not 999.1.1.1 nor 12:30:45"},
		{"secret", "key sk-proj-abcdefghijklmnopqrstuvwxyz123456 ok", "key [REDACTED_SECRET] ok"},
		{"secret", "aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED_SECRET]"},
		{"secret", "gh ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "gh [REDACTED_SECRET]"},
		{"secret", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "Authorization: [REDACTED_SECRET]"},
		{"secret", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- done", "[REDACTED_SECRET] done"},
		{"secret", "sk-short is fine", "sk-short is fine"},
	}
	for _, tt := range tests {
		t.Run(tt.detector+"/"+strings.Fields(tt.in)[0], func(t *testing.T) {
			p, err := NewPII("policies.pii", ActionRedact, []string{tt.detector})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := p.redact(tt.in); got != tt.want {
				t.Errorf("redact(%q) with %s = %q, want %q", tt.in, tt.detector, got, tt.want)
			}
		})
	}
}

// TestRedactOverlap: with every detector on, a match is redacted once, by
// the most specific detector.
func TestRedactOverlap(t *testing.T) {
	p, err := NewPII("policies.pii", ActionRedact, Detectors())
	if err != nil {
		t.Fatal(err)
	}
	in := "card 4111 1111 1111 1111, mail a@b.io, ip 10.1.2.3, ssn 123-45-6789"
	want := "card [REDACTED_CREDIT_CARD], mail [REDACTED_EMAIL], ip [REDACTED_IP_ADDRESS], ssn [REDACTED_US_SSN]"
	got, ms := p.redact(in)
	if got != want {
		t.Errorf("redact(%q) = %q, want %q", in, got, want)
	}
	if len(ms) != 4 {
		t.Errorf("redact(%q) found %d matches, want 4", in, len(ms))
	}
	// Redacting again changes nothing: the tokens are not PII.
	if again, _ := p.redact(got); again != got {
		t.Errorf("redact(redact(x)) = %q, want %q", again, got)
	}
}

func TestNewPIIRefusesUnknown(t *testing.T) {
	if _, err := NewPII("p", "redact", []string{"passport"}); err == nil {
		t.Error(`NewPII(detector "passport") = nil error, want one`)
	}
	if _, err := NewPII("p", "shred", []string{"email"}); err == nil {
		t.Error(`NewPII(action "shred") = nil error, want one`)
	}
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{"a@b.io", "4111 1111 1111 1111", "+1 415 555 2671", "GB82WEST12345698765432", "::1", "sk-" + strings.Repeat("a", 30)} {
		f.Add(s)
	}
	p, err := NewPII("p", ActionRedact, Detectors())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, ms := p.redact(s)
		if len(ms) == 0 && out != s {
			t.Errorf("redact(%q) changed the text without a match", s)
		}
		for _, d := range detectors {
			if d.re.MatchString(out) {
				for _, loc := range d.re.FindAllStringIndex(out, -1) {
					if m := out[loc[0]:loc[1]]; d.valid == nil || d.valid(m) {
						if !strings.Contains(m, "[REDACTED_") {
							t.Errorf("redact(%q) = %q still holds %s %q", s, out, d.name, m)
						}
					}
				}
			}
		}
	})
}
