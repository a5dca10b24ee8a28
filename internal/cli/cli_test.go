package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// goodConfig is a valid config with a demo provider, SQLite in @DIR@ and a
// listener on a free loopback port.
const goodConfig = `server: {listen: "127.0.0.1:0", shutdown_timeout: 5s}
storage: {sqlite: @DB@}
audit: {flush_interval: 5ms}
providers:
  demo: {type: demo}
models:
  demo-fast:
    targets: [{provider: demo, model: demo-fast}]
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60}
teams:
  search: {models: [demo-fast]}
  support: {models: [demo-fast]}
`

// badConfig has three problems, each reported at its line and column.
const badConfig = `server:
  listen: localhost
log:
  colour: true
providers:
  demo: {type: demo}
models:
  demo-fast:
    targets: [{provider: nope, model: x}]
`

// writeConfig writes a config into a fresh temporary directory and returns
// its path.
func writeConfig(t *testing.T, name, body string) string {
	t.Helper()
	dir := t.TempDir()
	body = strings.ReplaceAll(body, "@DB@", strconv.Quote(filepath.Join(dir, "airgw.db")))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestVersion(t *testing.T) {
	old := Version
	Version = "v1.2.3-test"
	t.Cleanup(func() { Version = old })
	for _, arg := range []string{"version", "--version", "-v"} {
		if r := run(t, arg); r.code != 0 || r.stdout != "airgw v1.2.3-test\n" || r.stderr != "" {
			t.Errorf("Run(%s) = %d %q %q, want 0 \"airgw v1.2.3-test\\n\" and no stderr", arg, r.code, r.stdout, r.stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	good := writeConfig(t, "good.yaml", goodConfig)
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"no_args", nil, "Usage:"},
		{"unknown_command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown_flag", []string{"check", "--frob"}, "frob"},
		{"check_two_args", []string{"check", good, "extra"}, "unexpected argument"},
		{"keys_no_sub", []string{"keys"}, "missing subcommand"},
		{"keys_unknown_sub", []string{"keys", "rename"}, `unknown subcommand "rename"`},
		{"keys_create_no_name", []string{"keys", "create", "--config", good}, "--name is required"},
		{"keys_create_bad_expiry", []string{"keys", "create", "--name", "x", "--expires", "soon", "--config", good}, "--expires"},
		{"keys_revoke_no_arg", []string{"keys", "revoke", "--config", good}, "name the key"},
		{"audit_no_sub", []string{"audit"}, "missing subcommand"},
		{"audit_bad_since", []string{"audit", "export", "--since", "yesterday", "--config", good}, "--since"},
		{"audit_bad_until", []string{"audit", "export", "--until", "-5h", "--config", good}, "--until"},
		{"audit_bad_format", []string{"audit", "export", "--format", "xml", "--config", good}, "xml"},
		{"audit_bad_status", []string{"audit", "export", "--status", "ok", "--config", good}, "--status"},
		{"audit_bad_kind", []string{"audit", "export", "--kind", "everything", "--config", good}, "--kind"},
		{"audit_unknown_sub", []string{"audit", "delete"}, "export, tail or verify"},
		{"usage_bad_by", []string{"usage", "--by", "colour", "--config", good}, "colour"},
		{"usage_bad_format", []string{"usage", "--format", "xml", "--config", good}, "xml"},
		{"audit_negative_limit", []string{"audit", "export", "--limit", "-1", "--config", good}, "--limit"},
		{"demo_and_config", []string{"keys", "list", "--demo", "--config", good}, "--demo and --config"},
		{"serve_demo_and_config", []string{"serve", "--demo", "--config", good}, "--demo and --config"},
		{"data_dir_without_demo", []string{"check", "--config", good, "--data-dir", t.TempDir()}, "--data-dir applies to --demo only"},
		{"serve_demo_public", []string{"serve", "--demo", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:0"}, "only listens on loopback"},
		{"serve_demo_all_interfaces", []string{"serve", "--demo", "--data-dir", t.TempDir(), "--listen", ":0"}, "only listens on loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("Run(%q) = %d, stderr %q, want 2 and stderr containing %q", tt.args, r.code, r.stderr, tt.wantStderr)
			}
			if r.stdout != "" {
				t.Errorf("Run(%q) stdout = %q, want nothing", tt.args, r.stdout)
			}
		})
	}
}

func TestNoConfigFile(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("AIRGW_CONFIG", "")
	r := run(t, "check")
	if r.code != 2 || !strings.Contains(r.stderr, "no config file") || !strings.Contains(r.stderr, "serve --demo") {
		t.Errorf("Run(check) without a config = %d %q, want 2 naming the ways to give one", r.code, r.stderr)
	}
}

func TestCheck(t *testing.T) {
	good := writeConfig(t, "good.yaml", goodConfig)
	bad := writeConfig(t, "bad.yaml", badConfig)
	badProblems := []string{
		bad + `:2:11: server.listen: expected an address like 127.0.0.1:8080, got "localhost"`,
		bad + `:4:3: log.colour: unknown field "colour"`,
		bad + `:9:26: models.demo-fast.targets[0].provider: unknown provider "nope"`,
	}

	t.Run("good", func(t *testing.T) {
		for _, args := range [][]string{{"check", "--config", good}, {"check", good}} {
			r := run(t, args...)
			if r.code != 0 || !regexp.MustCompile(`^ok: 1 providers, 1 models, 2 teams \(config sha256 [0-9a-f]{12}\)\n$`).MatchString(r.stdout) {
				t.Errorf("Run(%q) = %d %q %q, want 0 and an ok: line", args, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv("AIRGW_CONFIG", good)
		if r := run(t, "check"); r.code != 0 || !strings.HasPrefix(r.stdout, "ok: ") {
			t.Errorf("Run(check) with AIRGW_CONFIG = %d %q %q, want 0 ok:", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("bad", func(t *testing.T) {
		r := run(t, "check", "--config", bad)
		if r.code != 1 {
			t.Errorf("Run(check bad) = %d, want 1", r.code)
		}
		lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(r.stderr, "airgw: ")), "\n")
		if len(lines) != len(badProblems) {
			t.Fatalf("Run(check bad) stderr = %q, want %d problems, one per line", r.stderr, len(badProblems))
		}
		for i, want := range badProblems {
			if !strings.HasPrefix(lines[i], want) {
				t.Errorf("Run(check bad) problem %d = %q, want it to start %q", i, lines[i], want)
			}
		}
		if r.stdout != "" {
			t.Errorf("Run(check bad) stdout = %q, want nothing", r.stdout)
		}
	})
	t.Run("missing_file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		if r := run(t, "check", "--config", missing); r.code != 1 || !strings.Contains(r.stderr, missing) {
			t.Errorf("Run(check missing) = %d %q, want 1 naming %s", r.code, r.stderr, missing)
		}
	})
	t.Run("unpriced_warns", func(t *testing.T) {
		cfg := writeConfig(t, "unpriced.yaml", `storage: {sqlite: @DB@}
providers:
  demo: {type: demo}
models:
  mystery:
    targets: [{provider: demo, model: mystery-9000}]
`)
		r := run(t, "check", "--config", cfg)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "ok: ") || !strings.Contains(r.stderr, "warning: "+cfg+":6:") || !strings.Contains(r.stderr, "model_unpriced") {
			t.Errorf("Run(check unpriced) = %d %q %q, want 0, ok: and a positioned model_unpriced warning", r.code, r.stdout, r.stderr)
		}
	})

	type checkJSON struct {
		OK       bool     `json:"ok"`
		Hash     string   `json:"sha256"`
		Errors   []string `json:"errors"`
		Warnings []string `json:"warnings"`
	}
	t.Run("json_good", func(t *testing.T) {
		r := run(t, "check", "--json", "--config", good)
		var got checkJSON
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("Run(check --json good) stdout %q: %v", r.stdout, err)
		}
		if r.code != 0 || !got.OK || len(got.Hash) != 64 || got.Errors != nil {
			t.Errorf("Run(check --json good) = %d %+v, want 0, ok, a sha256 and no errors", r.code, got)
		}
	})
	t.Run("json_bad", func(t *testing.T) {
		r := run(t, "check", "--json", "--config", bad)
		var got checkJSON
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("Run(check --json bad) stdout %q: %v", r.stdout, err)
		}
		if r.code != 1 || got.OK || got.Hash != "" || len(got.Errors) != len(badProblems) {
			t.Fatalf("Run(check --json bad) = %d %+v, want 1, not ok, %d errors", r.code, got, len(badProblems))
		}
		for i, want := range badProblems {
			if !strings.HasPrefix(got.Errors[i], want) {
				t.Errorf("Run(check --json bad) error %d = %q, want it to start %q", i, got.Errors[i], want)
			}
		}
	})
}

// keyJSON is a key as `keys … --json` prints it.
type keyJSON map[string]any

func decodeKeys(t *testing.T, r result) []keyJSON {
	t.Helper()
	var ks []keyJSON
	if err := json.Unmarshal([]byte(r.stdout), &ks); err != nil {
		t.Fatalf("keys list --json stdout %q: %v", r.stdout, err)
	}
	return ks
}

func TestKeys(t *testing.T) {
	cfg := writeConfig(t, "airgw.yaml", goodConfig)

	// create
	r := run(t, "keys", "create", "--name", "x", "--team", "search", "--json", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("Run(keys create x) = %d %q, want 0", r.code, r.stderr)
	}
	var created keyJSON
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("Run(keys create --json) stdout %q: %v", r.stdout, err)
	}
	plain, _ := created["key"].(string)
	if !strings.HasPrefix(plain, "sk-airgw-") || created["name"] != "x" || created["team"] != "search" {
		t.Errorf("Run(keys create --json) = %v, want key sk-airgw-…, name x, team search", created)
	}
	id, _ := created["id"].(string)
	if !strings.HasPrefix(id, "key_") {
		t.Errorf("Run(keys create --json) id = %q, want key_…", id)
	}
	for _, field := range []string{"hash", "Hash", "revoked_at"} {
		if _, ok := created[field]; ok {
			t.Errorf("Run(keys create --json) has field %q, want none: %v", field, created)
		}
	}

	// list shows it, never the plaintext
	r = run(t, "keys", "list", "--json", "--config", cfg)
	ks := decodeKeys(t, r)
	if r.code != 0 || len(ks) != 1 || ks[0]["id"] != id || ks[0]["name"] != "x" {
		t.Fatalf("Run(keys list --json) = %d %v, want the one key %s", r.code, ks, id)
	}
	if _, ok := ks[0]["key"]; ok || strings.Contains(r.stdout, plain) {
		t.Errorf("Run(keys list --json) = %s, want no plaintext key", r.stdout)
	}
	if p, _ := ks[0]["prefix"].(string); !strings.HasPrefix(p, "sk-airgw-") || len(p) >= len(plain) {
		t.Errorf("Run(keys list --json) prefix = %q, want a short sk-airgw- display form", p)
	}
	r = run(t, "keys", "list", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, id) || strings.Contains(r.stdout, plain) || !strings.Contains(r.stdout, "active") {
		t.Errorf("Run(keys list) = %d %q, want a table with %s active and no plaintext", r.code, r.stdout, id)
	}
	r = run(t, "keys", "list", "--team", "support", "--json", "--config", cfg)
	if ks := decodeKeys(t, r); r.code != 0 || len(ks) != 0 {
		t.Errorf("Run(keys list --team support --json) = %d %v, want 0 and []", r.code, ks)
	}

	// refusals
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"duplicate", []string{"keys", "create", "--name", "x"}, []string{`an active key named "x" already exists`, "airgw keys revoke x"}},
		{"unknown_team", []string{"keys", "create", "--name", "y", "--team", "sales"}, []string{`team "sales" is not in the config`, "known teams: search, support"}},
		{"unknown_model", []string{"keys", "create", "--name", "y", "--models", "demo-fast,gpt-9"}, []string{`model "gpt-9" is not in the config`, "known models: demo-fast"}},
		{"revoke_unknown", []string{"keys", "revoke", "nobody"}, []string{`no key with id or active name "nobody"`, "keys list --all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, append(tt.args, "--config", cfg)...)
			if r.code != 1 {
				t.Errorf("Run(%q) = %d, want 1", tt.args, r.code)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("Run(%q) stderr = %q, want it to contain %q", tt.args, r.stderr, want)
				}
			}
		})
	}
	r = run(t, "keys", "list", "--json", "--config", cfg)
	if ks := decodeKeys(t, r); len(ks) != 1 {
		t.Errorf("keys after refused creates = %v, want still only %s", ks, id)
	}

	// revoke by name, flags after the argument
	r = run(t, "keys", "revoke", "x", "--json", "--config", cfg)
	var revoked keyJSON
	if err := json.Unmarshal([]byte(r.stdout), &revoked); err != nil || r.code != 0 {
		t.Fatalf("Run(keys revoke x --json) = %d %q %q, want 0 and JSON", r.code, r.stdout, r.stderr)
	}
	if revoked["id"] != id || revoked["revoked_at"] == nil {
		t.Errorf("Run(keys revoke x --json) = %v, want key %s with revoked_at", revoked, id)
	}
	r = run(t, "keys", "list", "--json", "--config", cfg)
	if ks := decodeKeys(t, r); r.code != 0 || len(ks) != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("Run(keys list --json) after revoke = %d %q, want []", r.code, r.stdout)
	}
	r = run(t, "keys", "list", "--all", "--json", "--config", cfg)
	ks = decodeKeys(t, r)
	if r.code != 0 || len(ks) != 1 || ks[0]["id"] != id {
		t.Fatalf("Run(keys list --all --json) = %d %v, want the revoked key %s", r.code, ks, id)
	}
	at, _ := ks[0]["revoked_at"].(string)
	if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
		t.Errorf("Run(keys list --all --json) revoked_at = %q, want an RFC 3339 time", at)
	}

	// the name is free again
	r = run(t, "keys", "create", "x", "--config", cfg)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sk-airgw-") || !strings.Contains(r.stdout, "only time the key is shown") {
		t.Errorf("Run(keys create x) after revoke = %d %q %q, want 0 and the plaintext", r.code, r.stdout, r.stderr)
	}
}

func TestAuditExportEmpty(t *testing.T) {
	cfg := writeConfig(t, "airgw.yaml", goodConfig)
	for _, since := range []string{"24h", "30d", "2026-01-02", "2026-01-02T15:04:05Z"} {
		r := run(t, "audit", "export", "--since", since, "--config", cfg)
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("Run(audit export --since %s) on an empty db = %d %q %q, want 0 and no output", since, r.code, r.stdout, r.stderr)
		}
	}
}

// lockedBuffer is an io.Writer safe for the server's goroutines that
// reports the address the server logs once it listens.
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	addr  chan string
	found bool
}

var listening = regexp.MustCompile(`msg="airgw listening" addr=(\S+)`)

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if m := listening.FindSubmatch(b.buf.Bytes()); m != nil && !b.found {
		b.found = true
		b.addr <- string(m[1])
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServe runs `airgw serve` in-process: a key made with the CLI works
// against it, cancelling the context drains it with exit 0, and the
// request it served is in `audit export`.
func TestServe(t *testing.T) {
	cfg := writeConfig(t, "airgw.yaml", goodConfig)
	r := run(t, "keys", "create", "--name", "svc", "--team", "search", "--json", "--config", cfg)
	var created struct {
		Key string `json:"key"`
		ID  string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || r.code != 0 {
		t.Fatalf("Run(keys create) = %d %q %q", r.code, r.stdout, r.stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{addr: make(chan string, 1)}
	var stdout bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"serve", "--config", cfg}, &stdout, stderr) }()

	var addr string
	select {
	case addr = <-stderr.addr:
	case code := <-done:
		t.Fatalf("Run(serve) = %d before listening, stderr %q", code, stderr)
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatalf("Run(serve) did not listen; stderr %q", stderr)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Fatalf("serve listened on %q, want 127.0.0.1 and a real port", addr)
	}
	base := "http://" + addr

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /healthz = %d, want 200", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"demo-fast","messages":[{"role":"user","content":"hello"}]}`))
	req.Header.Set("Authorization", "Bearer "+created.Key)
	req.Header.Set("X-Airgw-Purpose", "cli-test")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/chat/completions = %v", err)
	}
	var body struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body.Choices) != 1 || body.Choices[0].Message.Content != "This is airgw's demo provider. You said: hello" {
		t.Errorf("POST /v1/chat/completions = %d %+v, want 200 and the demo answer", resp.StatusCode, body)
	}
	reqID := resp.Header.Get("X-Request-Id")

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Run(serve) after cancel = %d, want 0; stderr %q", code, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Run(serve) did not return after cancel; stderr %q", stderr)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("GET /healthz after shutdown succeeded, want the listener closed")
	}
	if strings.Contains(stderr.String(), created.Key) {
		t.Errorf("serve log contains the plaintext key")
	}

	// Shutdown flushed the audit record of the request it served.
	r = run(t, "audit", "export", "--since", "1h", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("Run(audit export) = %d %q", r.code, r.stderr)
	}
	type rec struct {
		RequestID string `json:"request_id"`
		KeyID     string `json:"key_id"`
		Team      string `json:"team"`
		Purpose   string `json:"purpose"`
		Model     string `json:"requested_model"`
		Status    int    `json:"status"`
	}
	var got []rec
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var x rec
		var kind struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatalf("audit export line %q: %v", sc.Text(), err)
		}
		_ = json.Unmarshal(sc.Bytes(), &kind)
		if kind.Kind == "admin" {
			continue // `keys create` is an admin change, recorded too (TestKeysAudited)
		}
		got = append(got, x)
	}
	want := []rec{{RequestID: reqID, KeyID: created.ID, Team: "search", Purpose: "cli-test", Model: "demo-fast", Status: 200}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit export after serve mismatch (-want +got):\n%s", diff)
	}
	r = run(t, "audit", "export", "--until", "2000-01-01", "--config", cfg)
	if r.code != 0 || r.stdout != "" {
		t.Errorf("Run(audit export --until 2000-01-01) = %d %q, want 0 and nothing", r.code, r.stdout)
	}
	checkAuditCommands(t, cfg, reqID, created.ID)
}

// checkAuditCommands runs the query commands against the trail a served
// request left: one record, of key keyID in team search, model demo-fast.
func checkAuditCommands(t *testing.T, cfg, reqID, keyID string) {
	t.Helper()
	tests := []struct {
		args []string
		want []string // substrings of stdout
		code int
	}{
		{[]string{"audit", "export", "--format", "csv", "--team", "search", "--purpose", "cli-test"}, []string{"request_id,kind,start", reqID + ",request,"}, 0},
		{[]string{"audit", "export", "--format", "csv", "--team", "ads"}, []string{"request_id,kind,start"}, 0},
		{[]string{"audit", "export", "--error-class", "any"}, nil, 0},
		{[]string{"audit", "tail", "-n", "5"}, []string{reqID + " 200 key=svc team=search purpose=cli-test model=demo-fast provider=demo"}, 0},
		// The gateway's chain, and the CLI's (`keys create` before serve).
		{[]string{"audit", "verify"}, []string{": ok: 1 records, seq 1 to 1, 1 checkpoints, signed up to seq 1", "chain cli: ok: 1 records, seq 1 to 1, 1 checkpoints, signed up to seq 1", "OK: 2 chained records in 2 chains"}, 0},
		{[]string{"audit", "verify", "--json"}, []string{`"ok": true`, `"trusted_keys": true`}, 0},
		{[]string{"audit", "verify", "--public-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, []string{"FAILED", "bad_signature", "untrusted key"}, 1},
		{[]string{"usage", "--by", "team,model", "--since", "30d"}, []string{"team", "search", "demo-fast", "total"}, 0},
		{[]string{"usage", "--by", "key", "--json"}, []string{`"group_by": [`, `"key": "` + keyID + `"`, `"key_name": "svc"`, `"requests": 1`}, 0},
		{[]string{"usage", "--by", "purpose", "--format", "csv"}, []string{"purpose,key_name,requests", "cli-test,,1,0"}, 0},
	}
	for _, tt := range tests {
		r := run(t, append(tt.args, "--config", cfg)...)
		if r.code != tt.code {
			t.Errorf("Run(%v) = %d, want %d; stdout %q stderr %q", tt.args, r.code, tt.code, r.stdout, r.stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("Run(%v) stdout lacks %q:\n%s", tt.args, w, r.stdout)
			}
		}
		if tt.args[1] == "export" && tt.args[len(tt.args)-1] == "any" && r.stdout != "" {
			t.Errorf("Run(%v) = %q, want no failed request", tt.args, r.stdout)
		}
	}
}

func TestMigrate(t *testing.T) {
	cfg := writeConfig(t, "airgw.yaml", goodConfig)
	db := filepath.Join(filepath.Dir(cfg), "airgw.db")
	for range 2 { // idempotent
		r := run(t, "migrate", "--config", cfg)
		if r.code != 0 || r.stdout != "ok: "+db+" is up to date\n" {
			t.Errorf("Run(migrate) = %d %q %q, want 0 and ok: %s is up to date", r.code, r.stdout, r.stderr, db)
		}
	}
}
