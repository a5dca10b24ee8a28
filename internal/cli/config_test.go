package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/reload"
)

func withSecret(body string) string {
	return strings.Replace(body, "  demo: {type: demo}\n", "  demo: {type: demo}\n  oa: {type: openai, api_key: \"${CLI_TEST_KEY}\"}\n", 1)
}

// adminServer serves GET /admin/v1/config for cfg with reload's handler,
// behind the bearer key "adm-test".
func adminServer(t *testing.T, cfg *config.Config) *httptest.Server {
	t.Helper()
	h := reload.ConfigHandler(func() reload.Snapshot {
		return reload.Snapshot{SHA256: cfg.Hash(), Path: "/etc/airgw/airgw.yaml", LoadedAt: time.Unix(1700000000, 0), Config: cfg.Effective(), Reload: reload.Status{SHA256: cfg.Hash(), LastOK: true}}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer adm-test" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckAgainst(t *testing.T) {
	t.Setenv("CLI_TEST_KEY", "sk-canary-cli-0123456789")
	old := writeConfig(t, "old.yaml", withSecret(goodConfig))
	dir := filepath.Dir(old)
	newer := filepath.Join(dir, "new.yaml")
	body, _ := os.ReadFile(old)
	changed := strings.NewReplacer(
		"output_per_mtok: 0.60}", "output_per_mtok: 0.75}",
		`listen: "127.0.0.1:0"`, `listen: "127.0.0.1:9999"`,
		"  support: {models: [demo-fast]}\n", "",
	).Replace(string(body))
	if err := os.WriteFile(newer, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	running, err := config.Load(old)
	if err != nil {
		t.Fatal(err)
	}
	srv := adminServer(t, running)
	t.Setenv("AIRGW_ADMIN_KEY", "adm-test")

	wantLines := []string{
		newer + `:10:52: models.demo-fast.price.output_per_mtok: "0.6" → "0.75"`,
		newer + `:1:18: server.listen: "127.0.0.1:0" → "127.0.0.1:9999" [restart required: airgw reads this setting only at startup]`,
		old + `:13:12: teams.support: removed (was {"models":["demo-fast"]})`,
	}
	for _, tt := range []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"against-file", []string{"check", "--config", newer, "--against", old}, append([]string{"3 changes against " + old + "; 1 need a restart:"}, wantLines...), ""},
		{"against-itself", []string{"check", "--config", old, "--against", old}, []string{"no changes against " + old}, ""},
		{"against-running", []string{"check", "--config", newer, "--against", "running", "--admin-url", srv.URL}, nil, ""},
		{"against-missing-file", []string{"check", "--config", newer, "--against", filepath.Join(dir, "nope.yaml")}, nil, "--against " + filepath.Join(dir, "nope.yaml")},
		{"against-running-wrong-key", []string{"check", "--config", newer, "--against", "running", "--admin-url", srv.URL + "/x"}, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "against-running-wrong-key" {
				t.Setenv("AIRGW_ADMIN_KEY", "wrong")
				tt.wantErr = "the admin key was refused"
			}
			r := run(t, tt.args...)
			if strings.Contains(r.stdout+r.stderr, "sk-canary") {
				t.Fatalf("Run(%q) printed a secret value:\n%s%s", tt.args, r.stdout, r.stderr)
			}
			if tt.wantErr != "" {
				if r.code != 1 || !strings.Contains(r.stderr, tt.wantErr) {
					t.Errorf("Run(%q) = %d %q, want 1 and %q", tt.args, r.code, r.stderr, tt.wantErr)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("Run(%q) = %d %q %q, want 0", tt.args, r.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] // after the ok: line
			for i := range lines {
				lines[i] = strings.TrimSpace(lines[i])
			}
			if tt.name == "against-running" {
				// The running side has no positions: removals point nowhere.
				want := []string{"3 changes against the running gateway (sha256 " + running.Hash()[:12] + "); 1 need a restart:", wantLines[0], wantLines[1],
					`teams.support: removed (was {"models":["demo-fast"]})`,
					"(secrets are compared by their source only: a rotated value under the same variable or file does not show)"}
				tt.want = want
			}
			if strings.Join(lines, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Run(%q) stdout:\n%s\nwant:\n%s", tt.args, strings.Join(lines, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		r := run(t, "check", "--json", "--config", newer, "--against", old)
		var got struct {
			OK      bool            `json:"ok"`
			Changes []config.Change `json:"changes"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 || !got.OK || len(got.Changes) != 3 || !got.Changes[1].Restart {
			t.Errorf("Run(check --json --against) = %d %s (%v), want ok and 3 changes, the second needing a restart", r.code, r.stdout, err)
		}
	})
}

func TestConfigShow(t *testing.T) {
	t.Setenv("CLI_TEST_KEY", "sk-canary-cli-0123456789")
	path := writeConfig(t, "airgw.yaml", withSecret(goodConfig))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := adminServer(t, cfg)
	t.Setenv("AIRGW_ADMIN_KEY", "adm-test")

	for _, tt := range []struct {
		name string
		args []string
		want []string // substrings of stdout
	}{
		{"file-yaml", []string{"config", "show", "--config", path}, []string{
			"# effective config of " + path + " (sha256 " + cfg.Hash() + ")",
			"api_key: '[redacted: ${CLI_TEST_KEY}]'", "retries: 2", "listen: 127.0.0.1:0",
		}},
		{"file-json", []string{"config", "show", "--config", path, "--format", "json"}, []string{`"sha256": "` + cfg.Hash() + `"`, `"api_key": "[redacted: ${CLI_TEST_KEY}]"`}},
		{"running-yaml", []string{"config", "show", "--running", "--admin-url", srv.URL}, []string{
			"# effective config of /etc/airgw/airgw.yaml (sha256 " + cfg.Hash() + ")", "# running since 2023-11-14T22:13:20Z", "retries: 2",
		}},
		{"running-json", []string{"config", "show", "--running", "--admin-url", srv.URL, "--format", "json"}, []string{`"loaded_at": "2023-11-14T22:13:20`, `"last_ok": true`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			if r.code != 0 {
				t.Fatalf("Run(%q) = %d %q", tt.args, r.code, r.stderr)
			}
			if strings.Contains(r.stdout, "sk-canary") {
				t.Fatalf("Run(%q) printed a secret value:\n%s", tt.args, r.stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("Run(%q) stdout lacks %q:\n%s", tt.args, w, r.stdout)
				}
			}
		})
	}
	for _, args := range [][]string{
		{"config"}, {"config", "list"}, {"config", "show", "--format", "xml", "--config", path}, {"config", "show", "--running", "--config", path},
	} {
		if r := run(t, args...); r.code != 2 {
			t.Errorf("Run(%q) = %d %q, want 2 (usage)", args, r.code, r.stderr)
		}
	}
}
