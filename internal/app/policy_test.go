package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/keys"
)

// TestPIIRedactedBeforeProvider checks from the providers' side that a
// redact policy replaces personal data before any provider receives it:
// on every chat route, streaming and not, in both dialects, to an OpenAI
// and an Anthropic upstream (same dialect: the client's native body is
// forwarded; other dialect: it is translated), plus the Responses API and
// embeddings. The audit record names the policy and what it redacted.
func TestPIIRedactedBeforeProvider(t *testing.T) {
	g, ks := startGov(t, `
policies:
  pii: {action: redact, detect: [email, credit_card, secret, phone]}
`, keys.CreateOptions{Name: "app"})
	key := ks["app"]
	pii := []string{"jane.doe@example.com", "4111 1111 1111 1111", "sk-proj-0123456789abcdefghijklmnop", "+1 415 555 2671"}
	prompt := "mail " + pii[0] + " card " + pii[1] + " key " + pii[2] + " call " + pii[3]

	type sent struct{ name, id string }
	var ids []sent
	check := func(name string, status int, h map[string][]string, body string) {
		t.Helper()
		if status != 200 {
			t.Errorf("%s: status %d, want 200; body %s", name, status, body)
		}
		for _, v := range pii {
			if strings.Contains(body, v) {
				t.Errorf("%s: the response echoes %q: the provider received it", name, v)
			}
		}
		ids = append(ids, sent{name, h["X-Request-Id"][0]})
	}
	for _, rc := range chatRoutes {
		for _, model := range []string{"chat-oa", "chat-an"} {
			name := rc.name + "/" + model
			status, h, body := g.do("POST", rc.path, key, rc.body(model, prompt))
			check(name, status, h, body)
		}
	}
	for _, stream := range []string{"false", "true"} {
		status, h, body := g.do("POST", "/v1/responses", key, `{"model":"chat-oa","stream":`+stream+`,"input":`+jsonString(prompt)+`}`)
		check("responses/stream="+stream, status, h, body)
	}
	status, h, body := g.do("POST", "/v1/embeddings", key, `{"model":"embed-oa","input":[`+jsonString(prompt)+`]}`)
	check("embeddings", status, h, body)

	bodies := g.upstreamBodies()
	if len(bodies) != len(ids) {
		t.Fatalf("the fakes received %d requests, want %d", len(bodies), len(ids))
	}
	for _, b := range bodies {
		for _, v := range pii {
			if strings.Contains(b, v) {
				t.Errorf("a provider received %q: %s", v, b)
			}
		}
		if !strings.Contains(b, "[REDACTED_EMAIL]") || !strings.Contains(b, "[REDACTED_CREDIT_CARD]") {
			t.Errorf("a provider body lacks the redaction tokens: %s", b)
		}
	}
	recs := g.records()
	for _, s := range ids {
		r := recs[s.id]
		found := false
		for _, d := range r.Policies {
			found = found || d.Policy == "policies.pii" && d.Action == "redact" && strings.Contains(d.Detail, "email x1")
		}
		if !found {
			t.Errorf("%s: audit policies = %+v, want a policies.pii redact decision", s.name, r.Policies)
		}
		raw, _ := json.Marshal(r)
		for _, v := range pii {
			if strings.Contains(string(raw), v) {
				t.Errorf("%s: the audit record holds %q", s.name, v)
			}
		}
	}
}

// TestPolicyRefusals (T29 for policies): each refusal is a 403 in the
// client's dialect naming the policy, says how to fix it, never quotes the
// matched text, reaches no provider, and is audited with the policy name.
func TestPolicyRefusals(t *testing.T) {
	g, ks := startGov(t, `
policies:
  require_purpose: true
  max_tokens: {limit: 100}
  deny_patterns:
    codenames: '(?i)project\s+nightingale'
teams:
  search:
    models: ["chat-*"]
    policies:
      deny_models: [chat-an]
      pii: {action: block, detect: [secret]}
      max_prompt_tokens: 50
`, keys.CreateOptions{Name: "app", Team: "search"})
	key := ks["app"]
	purpose := []string{"X-Airgw-Purpose", "tests"}
	tests := []struct {
		name, path, body string
		header           []string
		status           int
		policy, code     string
	}{
		{"no-purpose", "/v1/chat/completions", `{"model":"chat-oa","messages":[{"role":"user","content":"hi"}]}`, nil,
			403, "policies.require_purpose", "policy_violation"},
		{"denied-model", "/v1/chat/completions", `{"model":"chat-an","messages":[{"role":"user","content":"hi"}]}`, purpose,
			403, "teams.search.policies.deny_models", "model_not_allowed"},
		{"not-in-team", "/v1/embeddings", `{"model":"embed-oa","input":"hi"}`, purpose,
			403, "teams.search.models", "model_not_allowed"},
		{"max-tokens", "/v1/messages", `{"model":"chat-oa","max_tokens":4096,"messages":[{"role":"user","content":"hi"}]}`, purpose,
			403, "policies.max_tokens", "permission_error"},
		{"deny-pattern", "/v1/chat/completions", `{"model":"chat-oa","stream":true,"messages":[{"role":"user","content":"status of Project  Nightingale?"}]}`, purpose,
			403, "policies.deny_patterns.codenames", "policy_violation"},
		{"secret", "/v1/responses", `{"model":"chat-oa","input":"use AKIAIOSFODNN7EXAMPLE"}`, purpose,
			403, "teams.search.policies.pii", "policy_violation"},
		{"prompt-size", "/v1/chat/completions", `{"model":"chat-oa","messages":[{"role":"user","content":"` + strings.Repeat("long ", 100) + `"}]}`, purpose,
			403, "teams.search.policies.max_prompt_tokens", "policy_violation"},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		status, h, body := g.do("POST", tt.path, key, tt.body, tt.header...)
		if status != tt.status || !strings.Contains(body, "`"+tt.policy+"`") || !strings.Contains(body, tt.code) {
			t.Errorf("%s: %d %s, want %d naming policy %s and %s", tt.name, status, body, tt.status, tt.policy, tt.code)
		}
		if h.Get("X-Should-Retry") != "false" {
			t.Errorf("%s: x-should-retry = %q, want false", tt.name, h.Get("X-Should-Retry"))
		}
		for _, leak := range []string{"Nightingale", "AKIAIOSFODNN7EXAMPLE"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the error quotes %q", tt.name, leak)
			}
		}
		ids[tt.name] = h.Get("X-Request-Id")
	}
	if n := g.oa.Calls() + g.an.Calls(); n != 0 {
		t.Errorf("providers received %d requests, want 0", n)
	}
	recs := g.records()
	for _, tt := range tests {
		r := recs[ids[tt.name]]
		if len(r.Policies) == 0 || r.Policies[0].Policy != tt.policy || r.Policies[0].Action != "deny" {
			t.Errorf("%s: audit policies = %+v, want %s deny", tt.name, r.Policies, tt.policy)
		}
	}
}
