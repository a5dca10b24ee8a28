package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEffective(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "anthropic.key")
	if err := os.WriteFile(keyFile, []byte("sk-canary-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := diffBase + `  anthropic:
    type: anthropic
    api_key: file:` + keyFile + `
    headers:
      X-Inline: sk-canary-inline-0123456789
      X-Mixed: "Bearer ${OPENAI_API_KEY}"
`
	yaml = strings.Replace(yaml, "models:\n", "models:\n  claude:\n    targets: [{provider: anthropic, model: claude-sonnet-4-5}]\n", 1)
	// The providers section ends where models begins; move the anthropic
	// provider up so the file stays valid.
	provider := yaml[strings.Index(yaml, "  anthropic:\n"):]
	yaml = strings.Replace(yaml[:strings.Index(yaml, "  anthropic:\n")], "models:\n", provider+"models:\n", 1)
	c := mustParse(t, "a.yaml", yaml, diffEnv(nil))

	tree := c.Effective()
	data, err := json.Marshal(tree)
	if err != nil {
		t.Fatalf("json.Marshal(Effective()): %v", err)
	}
	if strings.Contains(string(data), "sk-canary") {
		t.Fatalf("Effective() holds a secret value:\n%s", data)
	}
	providers := tree["providers"].(map[string]any)
	for _, tt := range []struct {
		path []string
		want any
	}{
		{[]string{"openai", "api_key"}, "[redacted: ${OPENAI_API_KEY}]"},
		{[]string{"other", "api_key"}, "[redacted: ${OTHER_KEY}]"},
		{[]string{"anthropic", "api_key"}, "[redacted: file:" + keyFile + "]"},
		{[]string{"anthropic", "headers", "X-Inline"}, "[redacted]"},
		{[]string{"anthropic", "headers", "X-Mixed"}, "[redacted]"},
		{[]string{"openai", "type"}, "openai"},
	} {
		node := any(providers)
		for _, k := range tt.path {
			node = node.(map[string]any)[k]
		}
		if node != tt.want {
			t.Errorf("Effective().providers.%s = %v, want %v", strings.Join(tt.path, "."), node, tt.want)
		}
	}
	if got := tree["routing"].(map[string]any)["retries"]; got != int64(2) {
		t.Errorf("Effective().routing.retries = %#v, want the default int64(2)", got)
	}
	if got := tree["server"].(map[string]any)["max_body"]; got != "4MiB" {
		t.Errorf("Effective().server.max_body = %#v, want 4MiB as a file writes it", got)
	}
	if got := c.SecretFiles(); !cmp.Equal(got, []string{keyFile}) {
		t.Errorf("SecretFiles() = %v, want [%s]", got, keyFile)
	}

	// A tree sent over JSON and normalized compares equal to the original,
	// and the encoding is stable.
	again, _ := json.Marshal(c.Effective())
	if string(again) != string(data) {
		t.Errorf("Effective() encodes differently on a second call")
	}
	if diff := cmp.Diff(any(tree), Normalize(data)); diff != "" {
		t.Errorf("Normalize(json(Effective())) differs (-effective +normalized):\n%s", diff)
	}
}

func TestEnvReference(t *testing.T) {
	for raw, want := range map[string]string{
		"${OPENAI_API_KEY}":       "OPENAI_API_KEY",
		"${KEY:-sk-default-0000}": "KEY",
		"sk-literal":              "",
		"Bearer ${TOKEN}":         "",
		"${A}${B}":                "",
		"$${A}":                   "",
	} {
		if got := envReference(raw); got != want {
			t.Errorf("envReference(%q) = %q, want %q", raw, got, want)
		}
	}
}
