package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
)

// prefilterSeeds are texts with and without personal data, near misses
// included: every pre-filter must let through each text that holds a match.
var prefilterSeeds = []string{
	"", "hello", "Say hello to the benchmark in one short sentence.",
	"write to jane.doe+x@mail.example.co.uk today", "call +1 (415) 555-2671 now",
	"call 415-555-2671 or 415.555.2672", "on +33 6 12 34 56 78", "(0612) 345-678",
	"order 2024-01-15 and version 1.2.3", "card 4111 1111 1111 1111 exp",
	"card 4111-1111-1111-1111", "amex 378282246310005.", "pay GB82 WEST 1234 5698 7654 32 please",
	"pay DE89370400440532013000", "ssn 123-45-6789.", "ssn 123 45 6789",
	"from 192.168.10.4 and 2001:db8::8a2e:370:7334", "::1", "fe80::1%eth0", "not 999.1.1.1 nor 12:30:45",
	"key sk-proj-abcdefghijklmnopqrstuvwxyz123456 ok", "aws AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE",
	"gh ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "x_ghs_0123456789abcdefghijklmnopqrstuvwxyzAB",
	"github_pat_0123456789abcdefghijklmnopqrstuvwxyz", "xoxb-0123456789-abcdef", "AIza" + strings.Repeat("x", 35),
	"glpat-abcdefghijklmnopqrstuvwxyz", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
	"Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "BEARER\tabcdefghijklmnopqrstuvwxyz0123",
	"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- done",
}

// TestPrefilterNecessary: a detector skipped by its pre-filter finds
// nothing when run anyway, so redacting with the pre-filters gives what the
// regular expressions alone give.
func TestPrefilterNecessary(t *testing.T) {
	for _, s := range prefilterSeeds {
		checkPrefilter(t, s)
	}
}

func FuzzPrefilter(f *testing.F) {
	for _, s := range prefilterSeeds {
		f.Add(s)
	}
	f.Fuzz(checkPrefilter)
}

func checkPrefilter(t *testing.T, s string) {
	st := scanText(s)
	all, err := NewPII("p", ActionRedact, Detectors())
	if err != nil {
		t.Fatal(err)
	}
	anyMatch := false
	for _, d := range detectors {
		for _, loc := range d.re.FindAllStringIndex(s, -1) {
			if d.valid != nil && !d.valid(s[loc[0]:loc[1]]) {
				continue
			}
			anyMatch = true
			if !d.possible(&st, s) {
				t.Errorf("pre-filter of %s refuses %q, which holds %q", d.name, s, s[loc[0]:loc[1]])
			}
		}
	}
	body, _ := json.Marshal(map[string]any{"messages": []any{map[string]string{"content": s}}})
	if anyMatch && !all.mayHold(body) {
		t.Errorf("mayHold(%s) = false, but the text holds a match", body)
	}
}

// BenchmarkPolicyPII is the policy step of bench/run.sh's configuration on
// its request: every detector redacting (gateway level) and the secret
// detector blocking (team level), on a request with nothing to find.
func BenchmarkPolicyPII(b *testing.B) {
	redact, err := NewPII("policies.pii", ActionRedact, Detectors())
	if err != nil {
		b.Fatal(err)
	}
	block, err := NewPII("teams.bench.policies.pii", ActionBlock, []string{"secret"})
	if err != nil {
		b.Fatal(err)
	}
	levels := []*Rules{{PII: redact}, {PII: block}}
	body := `{"max_tokens":64,"messages":[{"content":"You are a concise assistant.","role":"system"},{"content":"Say hello to the benchmark in one short sentence.","role":"user"}],"model":"bench-model","temperature":0,"user":"bench-user"}`
	b.ReportAllocs()
	for b.Loop() {
		req := &llm.Request{Model: "bench-model", Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: "You are a concise assistant."}}},
			{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "Say hello to the benchmark in one short sentence."}}},
		}}
		req.Native = &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", Body: json.RawMessage(body)}
		for _, r := range levels {
			if _, err := r.Check(&Subject{Model: "bench-model", Chat: req}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
