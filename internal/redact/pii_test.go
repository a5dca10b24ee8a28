package redact

import (
	"encoding/json"
	"testing"
)

func TestPII(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mail jane.doe+x@mail.example.co.uk now", "mail [email] now"},
		{"card 4111 1111 1111 1111 ok", "card [credit_card] ok"},
		{"card 4111-1111-1111-1112 fails luhn", "card 4111-1111-1111-1112 fails luhn"},
		{"order 1234567890123 is not a card", "order 1234567890123 is not a card"},
		{"ssn 123-45-6789", "ssn [us_ssn]"},
		{"iban DE89 3704 0044 0532 0130 00", "iban [iban]"},
		{"call +1 (415) 555-0100 or 0612345678", "call [phone] or [phone]"},
		{"from 192.168.1.20", "from [ip_address]"},
		{"key sk-proj-abcdefghijklmnopqrstuv", "key [secret]"},
		{"version 1.2.3 and 42 apples", "version 1.2.3 and 42 apples"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := PII(tt.in); got != tt.want {
			t.Errorf("PII(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	body := `{"messages":[{"role":"user","content":"I am bob@example.com, card 4111111111111111"}]}`
	out := PIIBody(body)
	if !json.Valid([]byte(out)) || out != `{"messages":[{"role":"user","content":"I am [email], card [credit_card]"}]}` {
		t.Errorf("PII(JSON body) = %s", out)
	}
}

func TestPIIBodyKeepsNumbers(t *testing.T) {
	in := `{"max_tokens":4111111111111111,"messages":[{"content":"card 4111111111111111, \"quoted\" a@b.io"}]}`
	want := `{"max_tokens":4111111111111111,"messages":[{"content":"card [credit_card], \"quoted\" [email]"}]}`
	if got := PIIBody(in); got != want {
		t.Errorf("PIIBody(%s) = %s, want %s", in, got, want)
	}
	if got := PIIBody("streamed text to a@b.io"); got != "streamed text to [email]" {
		t.Errorf("PIIBody(text) = %q", got)
	}
}

func FuzzPII(f *testing.F) {
	f.Add(`{"content":"a@b.co 4111111111111111 +44 20 7946 0958"}`)
	f.Add(`{"max_tokens":70000000000070,"n":"4111111111111111"}`)
	f.Fuzz(func(t *testing.T, s string) {
		out := PIIBody(s)
		if json.Valid([]byte(s)) && !json.Valid([]byte(out)) {
			t.Errorf("PIIBody broke valid JSON: %q -> %q", s, out)
		}
		if PII(PII(s)) != PII(s) {
			t.Errorf("PII is not idempotent on %q", s)
		}
	})
}
