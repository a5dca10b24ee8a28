package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// diffBase is the running config the diff tests change.
const diffBase = `server:
  listen: 127.0.0.1:8080
  max_body: 4MiB
storage:
  sqlite: ./airgw.db
providers:
  openai:
    type: openai
    api_key: ${OPENAI_API_KEY}
  other:
    type: openai_compatible
    base_url: https://llm.example.com/v1
    api_key: ${OTHER_KEY:-none}
models:
  gpt-4o:
    targets:
      - {provider: openai, model: gpt-4o}
  cheap:
    targets:
      - {provider: other, model: small}
    price: {input_per_mtok: 1, output_per_mtok: 2}
teams:
  search:
    models: [gpt-4o]
`

// diffEnv is the environment the diff tests load under; a test may
// override a variable through vars.
func diffEnv(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := vars[name]; ok {
			return v, true
		}
		switch name {
		case "OPENAI_API_KEY":
			return "sk-canary-openai-0123456789", true
		case "OTHER_KEY":
			return "sk-canary-other-0123456789", true
		}
		return "", false
	}
}

func mustParse(t *testing.T, name, yaml string, env func(string) (string, bool)) *Config {
	t.Helper()
	c, err := Parse(name, []byte(yaml), env)
	if err != nil {
		t.Fatalf("Parse(%s): %v\n%s", name, err, yaml)
	}
	return c
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		env     map[string]string
		want    []string
		restart bool // some change needs a restart
	}{
		{
			name: "unchanged",
			edit: func(s string) string { return s },
		},
		{
			name: "target-moved-to-another-provider",
			edit: func(s string) string {
				return strings.Replace(s, "{provider: openai, model: gpt-4o}", "{provider: other, model: gpt-4o}", 1)
			},
			want: []string{`new.yaml:17:20: models.gpt-4o.targets[0].provider: "openai" → "other"`},
		},
		{
			name: "fallback-added",
			edit: func(s string) string {
				return strings.Replace(s, "      - {provider: openai, model: gpt-4o}\n", "      - {provider: openai, model: gpt-4o}\n    fallbacks: [cheap]\n", 1)
			},
			want: []string{`new.yaml:18:16: models.gpt-4o.fallbacks: added ["cheap"]`},
		},
		{
			name: "model-removed",
			edit: func(s string) string {
				return strings.Replace(s, "  cheap:\n    targets:\n      - {provider: other, model: small}\n    price: {input_per_mtok: 1, output_per_mtok: 2}\n", "", 1)
			},
			want: []string{`old.yaml:19:5: models.cheap: removed (was {"price":{"input_per_mtok":"1","output_per_mtok":"2"},"targets":[{"model":"small","provider":"other","weight":1}]})`},
		},
		{
			name: "price-changed",
			edit: func(s string) string { return strings.Replace(s, "input_per_mtok: 1,", "input_per_mtok: 1.25,", 1) },
			want: []string{`new.yaml:21:29: models.cheap.price.input_per_mtok: "1" → "1.25"`},
		},
		{
			name: "team-allow-list-changed",
			edit: func(s string) string { return strings.Replace(s, "models: [gpt-4o]", "models: [gpt-4o, cheap]", 1) },
			want: []string{`new.yaml:24:22: teams.search.models[1]: added "cheap"`},
		},
		{
			name: "secret-rotated-under-the-same-variable",
			edit: func(s string) string { return s },
			env:  map[string]string{"OPENAI_API_KEY": "sk-canary-rotated-9876543210"},
			want: []string{`new.yaml:9:14: providers.openai.api_key: "[redacted: ${OPENAI_API_KEY}]" → "[redacted: ${OPENAI_API_KEY}]" (the value changed; it is not shown)`},
		},
		{
			name: "secret-moved-to-another-variable",
			edit: func(s string) string { return strings.Replace(s, "${OPENAI_API_KEY}", "${OPENAI_KEY_2}", 1) },
			env:  map[string]string{"OPENAI_KEY_2": "sk-canary-second-0123456789"},
			want: []string{`new.yaml:9:14: providers.openai.api_key: "[redacted: ${OPENAI_API_KEY}]" → "[redacted: ${OPENAI_KEY_2}]"`},
		},
		{
			name:    "listen-needs-a-restart",
			edit:    func(s string) string { return strings.Replace(s, "127.0.0.1:8080", "127.0.0.1:9090", 1) },
			want:    []string{`new.yaml:2:11: server.listen: "127.0.0.1:8080" → "127.0.0.1:9090" [restart required: airgw reads this setting only at startup]`},
			restart: true,
		},
		{
			name: "max-body-applies-live",
			edit: func(s string) string { return strings.Replace(s, "max_body: 4MiB", "max_body: 8MiB", 1) },
			want: []string{`new.yaml:3:13: server.max_body: "4MiB" → "8MiB"`},
		},
		{
			name: "a-default-written-explicitly-is-no-change",
			edit: func(s string) string { return s + "routing:\n  retries: 2\n" },
		},
		{
			name: "a-default-overridden",
			edit: func(s string) string { return s + "routing:\n  timeout: 60s\n" },
			want: []string{`new.yaml:26:12: routing.timeout: "2m0s" → "1m0s"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := mustParse(t, "old.yaml", diffBase, diffEnv(nil))
			new := mustParse(t, "new.yaml", tt.edit(diffBase), diffEnv(tt.env))
			changes := Diff(old, new)
			var got []string
			restart := false
			for _, c := range changes {
				got = append(got, c.String())
				restart = restart || c.Restart
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Diff() mismatch (-want +got):\n%s", diff)
			}
			if restart != tt.restart {
				t.Errorf("Diff() restart required = %v, want %v", restart, tt.restart)
			}
			for _, line := range got {
				if strings.Contains(line, "sk-canary") {
					t.Errorf("Diff() shows a secret value: %s", line)
				}
			}
		})
	}
}

// TestWithStartupSettings changes every startup-only setting and checks
// that the reloaded config keeps the running values of exactly those, and
// takes every other change.
func TestWithStartupSettings(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "hmac")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	running := mustParse(t, "old.yaml", diffBase, diffEnv(nil))
	next := mustParse(t, "new.yaml", strings.NewReplacer(
		"listen: 127.0.0.1:8080", "listen: 127.0.0.1:9090\n  read_header_timeout: 3s\n  idle_timeout: 7s",
		"sqlite: ./airgw.db", "sqlite: ./other.db\n  data_dir: ./data",
		"input_per_mtok: 1,", "input_per_mtok: 3,",
	).Replace(diffBase)+"auth:\n  hmac_secret: file:"+secret+"\nlog: {level: debug, format: json}\naudit: {batch_size: 10, flush_interval: 2s}\nadmin:\n  key: ${ADMIN_KEY}\n",
		diffEnv(map[string]string{"ADMIN_KEY": "0123456789abcdef-new-admin-key"}))

	all := Diff(running, next)
	var restartPaths []string
	for _, c := range all {
		if c.Restart {
			restartPaths = append(restartPaths, c.Path)
		}
	}
	wantRestart := []string{"audit.batch_size", "audit.flush_interval", "audit.spool_dir", "auth.hmac_secret", "log.format", "server.idle_timeout", "server.listen", "server.read_header_timeout", "storage.data_dir", "storage.sqlite"}
	if diff := cmp.Diff(wantRestart, restartPaths); diff != "" {
		t.Fatalf("Diff(running, next) restart-required paths (-want +got):\n%s", diff)
	}

	applied := Diff(running, next.WithStartupSettings(running))
	var got []string
	for _, c := range applied {
		got = append(got, c.Path)
	}
	// The admin credentials and the log level are applied by a reload.
	if diff := cmp.Diff([]string{"admin.key", "log.level", "models.cheap.price.input_per_mtok"}, got); diff != "" {
		t.Errorf("Diff(running, WithStartupSettings) (-want +got):\n%s", diff)
	}
	if next.Server.Listen != "127.0.0.1:9090" {
		t.Errorf("WithStartupSettings changed its receiver: listen = %s", next.Server.Listen)
	}
}

// TestRestartOnlyPathsExist keeps the restart table in step with the
// schema: every entry names a setting the effective config has.
func TestRestartOnlyPathsExist(t *testing.T) {
	tree := mustParse(t, "a.yaml", diffBase, diffEnv(nil)).Effective()
	for _, p := range RestartOnlySettings() {
		node := any(tree)
		for _, k := range strings.Split(p, ".") {
			m, ok := node.(map[string]any)
			if !ok {
				t.Fatalf("restart-only setting %s: %v is not a section", p, node)
			}
			if node, ok = m[k]; !ok {
				t.Errorf("restart-only setting %s is not in the effective config (renamed?)", p)
				break
			}
		}
	}
}

func TestDiffRunning(t *testing.T) {
	running := mustParse(t, "old.yaml", diffBase, diffEnv(nil))
	data, err := json.Marshal(running.Effective())
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := Normalize(data).(map[string]any)

	same := mustParse(t, "new.yaml", diffBase, diffEnv(map[string]string{"OPENAI_API_KEY": "sk-canary-rotated"}))
	if got := DiffRunning(tree, same); len(got) != 0 {
		t.Errorf("DiffRunning(same file, rotated secret) = %v, want none: secrets compare by source", got)
	}
	next := mustParse(t, "new.yaml", strings.Replace(diffBase, "model: small", "model: large", 1), diffEnv(nil))
	got := DiffRunning(tree, next)
	if len(got) != 1 || got[0].String() != `new.yaml:20:34: models.cheap.targets[0].model: "small" → "large"` {
		t.Errorf("DiffRunning(model changed) = %v", got)
	}
}
