package policy

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

func chat(model, text string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}}}}}
}

func mustPattern(t *testing.T, name, expr string) Pattern {
	t.Helper()
	p, err := NewPattern(name, expr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustPII(t *testing.T, action string, detect ...string) *PII {
	t.Helper()
	p, err := NewPII("teams.search.policies.pii", action, detect)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	lan := netip.MustParseAddr("10.1.2.3")
	tests := []struct {
		name  string
		rules Rules
		sub   Subject
		// wantPolicy names the refusing rule; empty means allowed.
		wantPolicy string
		wantCode   llm.Code
		wantMsg    string // a substring of the message
		want       []Decision
	}{
		{name: "empty-allows", rules: Rules{}, sub: Subject{Model: "gpt-4o", Chat: chat("gpt-4o", "hi")}},
		{
			name:  "allow-glob",
			rules: Rules{Owner: "team `search`", Allow: []List{{Name: "teams.search.models", Patterns: []string{"claude-*"}}}},
			sub:   Subject{Model: "claude-sonnet", Chat: chat("claude-sonnet", "hi")},
		},
		{
			name:       "allow-miss",
			rules:      Rules{Owner: "team `search`", Allow: []List{{Name: "teams.search.models", Patterns: []string{"claude-*"}}}},
			sub:        Subject{Model: "gpt-4o", Chat: chat("gpt-4o", "hi")},
			wantPolicy: "teams.search.models", wantCode: llm.CodeModelNotAllowed,
			wantMsg: "team `search` may not use model `gpt-4o` (policy `teams.search.models`)",
		},
		{
			name:       "deny-glob",
			rules:      Rules{Owner: "this gateway", Deny: []List{{Name: "policies.deny_models", Patterns: []string{"*-preview"}}}},
			sub:        Subject{Model: "gpt-5-preview", Chat: chat("gpt-5-preview", "hi")},
			wantPolicy: "policies.deny_models", wantCode: llm.CodeModelNotAllowed,
			wantMsg: "model `gpt-5-preview` is denied to this gateway by policy `policies.deny_models`",
		},
		{
			name:       "purpose-missing",
			rules:      Rules{Owner: "this gateway", RequirePurpose: "policies.require_purpose"},
			sub:        Subject{Model: "m", Purpose: "  ", Chat: chat("m", "hi")},
			wantPolicy: "policies.require_purpose", wantCode: llm.CodePolicyViolation,
			wantMsg: "send the X-Airgw-Purpose header, or metadata.purpose",
		},
		{
			name:  "purpose-present",
			rules: Rules{RequirePurpose: "policies.require_purpose"},
			sub:   Subject{Model: "m", Purpose: "search", Chat: chat("m", "hi")},
		},
		{
			name:       "prompt-too-long",
			rules:      Rules{Owner: "this gateway", MaxPromptTokens: 10, MaxPromptTokensName: "policies.max_prompt_tokens"},
			sub:        Subject{Model: "m", Chat: chat("m", strings.Repeat("word ", 40))},
			wantPolicy: "policies.max_prompt_tokens", wantCode: llm.CodePolicyViolation,
			wantMsg: "the prompt is about 57 tokens, above the limit of 10",
		},
		{
			name:       "prompt-too-long-embeddings",
			rules:      Rules{MaxPromptTokens: 10, MaxPromptTokensName: "policies.max_prompt_tokens"},
			sub:        Subject{Model: "m", Chat: &llm.Request{Model: "m"}, Embed: &llm.EmbeddingRequest{Input: []string{strings.Repeat("x", 80)}}, NoOutput: true},
			wantPolicy: "policies.max_prompt_tokens", wantCode: llm.CodePolicyViolation,
		},
		{
			name:       "max-tokens-reject",
			rules:      Rules{Owner: "this gateway", MaxTokens: &Cap{Name: "policies.max_tokens", Limit: 100}},
			sub:        Subject{Model: "m", Chat: &llm.Request{Model: "m", MaxTokens: 101}},
			wantPolicy: "policies.max_tokens", wantCode: llm.CodePolicyViolation,
			wantMsg: "max_tokens 101 is above the limit of 100",
		},
		{
			name:  "max-tokens-reject-unset-gets-cap",
			rules: Rules{MaxTokens: &Cap{Name: "policies.max_tokens", Limit: 100}},
			sub:   Subject{Model: "m", Chat: &llm.Request{Model: "m"}},
			want:  []Decision{{Policy: "policies.max_tokens", Action: "clamp", Detail: "max_tokens unset -> 100"}},
		},
		{
			name:  "max-tokens-clamp",
			rules: Rules{MaxTokens: &Cap{Name: "policies.max_tokens", Limit: 100, Clamp: true}},
			sub:   Subject{Model: "m", Chat: &llm.Request{Model: "m", MaxTokens: 5000}},
			want:  []Decision{{Policy: "policies.max_tokens", Action: "clamp", Detail: "max_tokens 5000 -> 100"}},
		},
		{
			name:  "max-tokens-not-for-count-tokens",
			rules: Rules{MaxTokens: &Cap{Name: "policies.max_tokens", Limit: 100}},
			sub:   Subject{Model: "m", Chat: &llm.Request{Model: "m"}, NoOutput: true},
		},
		{
			name:       "deny-pattern",
			rules:      Rules{Owner: "team `search`", Patterns: []Pattern{mustPattern(t, "teams.search.policies.deny_patterns.hosts", `(?i)corp\.internal`)}},
			sub:        Subject{Model: "m", Chat: chat("m", "fetch db1.CORP.internal please")},
			wantPolicy: "teams.search.policies.deny_patterns.hosts", wantCode: llm.CodePolicyViolation,
			wantMsg: "the request matches a pattern that team `search` refuses",
		},
		{
			name:       "pii-block",
			rules:      Rules{Owner: "team `search`", PII: mustPII(t, ActionBlock, "email", "credit_card")},
			sub:        Subject{Model: "m", Chat: chat("m", "card 4111111111111111 for a@b.io")},
			wantPolicy: "teams.search.policies.pii", wantCode: llm.CodePolicyViolation,
			wantMsg: "contains personal data (a payment card number, an email address)",
		},
		{
			name:  "pii-log",
			rules: Rules{PII: mustPII(t, ActionLog, "email")},
			sub:   Subject{Model: "m", Chat: chat("m", "a@b.io and c@d.io")},
			want:  []Decision{{Policy: "teams.search.policies.pii", Action: "log", Detail: "email x2"}},
		},
		{
			name:  "pii-redact",
			rules: Rules{PII: mustPII(t, ActionRedact, "email")},
			sub:   Subject{Model: "m", Chat: chat("m", "mail a@b.io")},
			want:  []Decision{{Policy: "teams.search.policies.pii", Action: "redact", Detail: "email x1"}},
		},
		{
			name:  "source-allowed",
			rules: Rules{Sources: &Sources{Name: "policies.source_ips", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
			sub:   Subject{Model: "m", ClientIP: lan, Chat: chat("m", "hi")},
		},
		{
			name:       "source-refused",
			rules:      Rules{Owner: "key `ci-bot`", Sources: &Sources{Name: "key `ci-bot` allowed_ips", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}}},
			sub:        Subject{Model: "m", ClientIP: lan, Chat: chat("m", "hi")},
			wantPolicy: "key `ci-bot` allowed_ips", wantCode: llm.CodePolicyViolation,
			wantMsg: "requests from 10.1.2.3 are not allowed for key `ci-bot`",
		},
		{
			name:       "source-unknown",
			rules:      Rules{Sources: &Sources{Name: "policies.source_ips", Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}},
			sub:        Subject{Model: "m", Chat: chat("m", "hi")},
			wantPolicy: "policies.source_ips", wantCode: llm.CodePolicyViolation,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rules.Check(&tt.sub)
			if tt.wantPolicy == "" {
				if err != nil {
					t.Fatalf("Check = %v, want allowed", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Check decisions mismatch (-want +got):\n%s", diff)
				}
				return
			}
			var le *llm.Error
			if !errors.As(err, &le) {
				t.Fatalf("Check = %v, want an *llm.Error from %s", err, tt.wantPolicy)
			}
			if le.Policy != tt.wantPolicy || le.Code != tt.wantCode || !strings.Contains(le.Message, tt.wantMsg) {
				t.Errorf("Check = {policy %q, code %s, message %q}, want {%q, %s, containing %q}", le.Policy, le.Code, le.Message, tt.wantPolicy, tt.wantCode, tt.wantMsg)
			}
			if !le.NoClientRetry {
				t.Errorf("Check error has NoClientRetry false; a retry of a refused request cannot succeed")
			}
		})
	}
}

// TestRefusalsNeverQuoteContent: a refused client learns which rule
// matched, never the text that matched it (which may be a secret).
func TestRefusalsNeverQuoteContent(t *testing.T) {
	secret := "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
	rules := []Rules{
		{PII: mustPII(t, ActionBlock, "secret")},
		{Patterns: []Pattern{mustPattern(t, "policies.deny_patterns.keys", `sk-proj-\w+`)}},
	}
	for _, r := range rules {
		_, err := r.Check(&Subject{Model: "m", Chat: chat("m", "my key is "+secret)})
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("Check = %v, want a refusal that does not quote the secret", err)
		}
	}
}

func TestRedactNative(t *testing.T) {
	body := `{"model":"gpt-4o","user":"u1","messages":[{"role":"user","content":[` +
		`{"type":"text","text":"I am jane@example.com <b>"},` +
		`{"type":"image_url","image_url":{"url":"data:image/png;base64,QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="}}]}],` +
		`"max_tokens":50,"custom_field":{"nested":"ring 415-555-2671"}}`
	req := chat("gpt-4o", "I am jane@example.com <b>")
	req.Native = &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", Body: json.RawMessage(body)}
	r := Rules{PII: mustPII(t, ActionRedact, "email", "phone", "secret")}
	got, err := r.Check(&Subject{Model: "gpt-4o", Chat: req})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Decision{{Policy: "teams.search.policies.pii", Action: "redact", Detail: "email x1"}}; !cmp.Equal(got, want) {
		t.Errorf("Check decisions = %v, want %v", got, want)
	}
	out := string(req.Native.Body)
	for _, gone := range []string{"jane@example.com", "415-555-2671"} {
		if strings.Contains(out, gone) {
			t.Errorf("native body still holds %q: %s", gone, out)
		}
	}
	for _, kept := range []string{`"model":"gpt-4o"`, `data:image/png;base64,QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=`, `"max_tokens":50`, `[REDACTED_EMAIL] <b>`, `ring [REDACTED_PHONE]`} {
		if !strings.Contains(out, kept) {
			t.Errorf("native body lost %q: %s", kept, out)
		}
	}
	if req.Messages[0].Content[0].Text != "I am [REDACTED_EMAIL] <b>" {
		t.Errorf("request text = %q, want the email redacted", req.Messages[0].Content[0].Text)
	}
}

func TestClampNative(t *testing.T) {
	tests := []struct {
		endpoint, body, want string
	}{
		{"/v1/chat/completions", `{"model":"m","max_tokens":9000}`, `"max_tokens":100`},
		{"/v1/chat/completions", `{"model":"m","max_completion_tokens":9000}`, `"max_completion_tokens":100`},
		{"/v1/chat/completions", `{"model":"m"}`, `"max_completion_tokens":100`},
		{"/v1/messages", `{"model":"m","max_tokens":9000}`, `"max_tokens":100`},
		{"/v1/responses", `{"model":"m","input":"hi"}`, `"max_output_tokens":100`},
	}
	for _, tt := range tests {
		req := &llm.Request{Model: "m", Native: &llm.Native{Endpoint: tt.endpoint, Body: json.RawMessage(tt.body)}}
		r := Rules{MaxTokens: &Cap{Name: "policies.max_tokens", Limit: 100, Clamp: true}}
		if _, err := r.Check(&Subject{Model: "m", Chat: req}); err != nil {
			t.Fatalf("Check(%s) = %v", tt.body, err)
		}
		if !strings.Contains(string(req.Native.Body), tt.want) || req.MaxTokens != 100 {
			t.Errorf("clamp %s %s = %s (MaxTokens %d), want %s", tt.endpoint, tt.body, req.Native.Body, req.MaxTokens, tt.want)
		}
	}
}
