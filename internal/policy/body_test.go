package policy

import (
	"encoding/json"
	"testing"
)

func TestRedactAll(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mail jane.doe+x@mail.example.co.uk now", "mail [REDACTED_EMAIL] now"},
		{"card 4111 1111 1111 1111 ok", "card [REDACTED_CREDIT_CARD] ok"},
		{"card 4111-1111-1111-1112 fails luhn", "card 4111-1111-1111-1112 fails luhn"},
		{"ssn 123-45-6789", "ssn [REDACTED_US_SSN]"},
		{"iban DE89 3704 0044 0532 0130 00", "iban [REDACTED_IBAN]"},
		{"from 192.168.1.20", "from [REDACTED_IP_ADDRESS]"},
		{"key sk-proj-abcdefghijklmnopqrstuv", "key [REDACTED_SECRET]"},
		{"version 1.2.3 and 42 apples", "version 1.2.3 and 42 apples"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := RedactAll(tt.in); got != tt.want {
			t.Errorf("RedactAll(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactBody(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"messages":[{"role":"user","content":"I am bob@example.com, card 4111111111111111"}]}`,
			`{"messages":[{"role":"user","content":"I am [REDACTED_EMAIL], card [REDACTED_CREDIT_CARD]"}]}`},
		// Numbers and escapes outside and inside strings are kept.
		{`{"max_tokens":4111111111111111,"messages":[{"content":"card 4111111111111111, \"quoted\" a@b.io"}]}`,
			`{"max_tokens":4111111111111111,"messages":[{"content":"card [REDACTED_CREDIT_CARD], \"quoted\" [REDACTED_EMAIL]"}]}`},
		{"streamed text to a@b.io", "streamed text to [REDACTED_EMAIL]"},
	}
	for _, tt := range tests {
		if got := RedactBody(tt.in); got != tt.want {
			t.Errorf("RedactBody(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func FuzzRedactBody(f *testing.F) {
	f.Add(`{"content":"a@b.co 4111111111111111 +44 20 7946 0958"}`)
	f.Add(`{"max_tokens":70000000000070,"n":"4111111111111111"}`)
	f.Fuzz(func(t *testing.T, s string) {
		out := RedactBody(s)
		if json.Valid([]byte(s)) && !json.Valid([]byte(out)) {
			t.Errorf("RedactBody broke valid JSON: %q -> %q", s, out)
		}
		if RedactAll(RedactAll(s)) != RedactAll(s) {
			t.Errorf("RedactAll is not idempotent on %q", s)
		}
	})
}
