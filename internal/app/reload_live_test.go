package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/config"
)

// TestReloadAdminCredentialsAndLogLevel changes admin.key and log.level
// and reloads: both apply at once, neither is reported as needing a
// restart; the old admin key is refused and the new one works, an admin
// request authenticated before the reload completes, and the log writes
// at the new level. The idempotency stale bound follows routing.timeout.
func TestReloadAdminCredentialsAndLogLevel(t *testing.T) {
	const oldKey, newKey = "old-admin-key-0123456789abcdef", "new-admin-key-0123456789abcdef"
	dir := t.TempDir()
	path := filepath.Join(dir, "airgw.yaml")
	conf := func(level, key, timeout string) {
		t.Helper()
		yaml := `
server: {listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}
storage: {sqlite: "` + filepath.ToSlash(dir) + `/airgw.db"}
log: {level: ` + level + `}
admin:
  key: "` + key + `"
routing: {timeout: ` + timeout + `}
providers:
  demo: {type: demo}
models:
  demo-fast: {targets: [{provider: demo, model: demo-fast}], price: {input_per_mtok: 1, output_per_mtok: 1}}
`
		if err := os.WriteFile(path+".tmp", []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	conf("warn", oldKey, "120s")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log, level := NewLevelLogger(cfg.Log, &logs, ConfigSecrets(cfg)...)
	a, err := Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.LogLevel = level
	a.SetReload(ReloadOptions{Path: path})
	adminc := make(chan net.Addr, 1)
	a.AdminReady = func(ad net.Addr) { adminc <- ad }
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- a.Serve(ctx, func(ad net.Addr) { addrc <- ad }) }()
	<-addrc
	adminURL := "http://" + (<-adminc).String() + "/admin/v1"
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	whoami := func(key string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", adminURL+"/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := whoami(oldKey); got != 200 {
		t.Fatalf("before reload: whoami(old key) = %d, want 200", got)
	}
	if got := whoami(newKey); got != 401 {
		t.Fatalf("before reload: whoami(new key) = %d, want 401", got)
	}
	a.Log.Info("probe before reload")
	if a.live.idem.Stale() != 10*time.Minute {
		t.Errorf("idempotency stale = %s, want 10m0s (DefaultStale: routing.timeout 120s + 1m is less)", a.live.idem.Stale())
	}

	// An admin request authenticated with the old key, whose body is
	// still arriving while the reload happens.
	pr, pw := io.Pipe()
	inflight := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", adminURL+"/keys", pr)
		req.Header.Set("Authorization", "Bearer "+oldKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inflight <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	if _, err := io.WriteString(pw, `{"name":`); err != nil {
		t.Fatal(err)
	}
	// The request's headers are sent; give the server the moment it needs
	// to authenticate them and start reading the body.
	time.Sleep(100 * time.Millisecond)

	conf("info", newKey, "30m")
	res, err := a.Reload(context.Background(), "test")
	if err != nil {
		t.Fatalf("Reload: %v (%v)", err, res.Errors)
	}
	if len(res.RestartRequired) != 0 {
		t.Errorf("Reload restart required = %v, want none", res.RestartRequired)
	}
	var applied []string
	for _, c := range res.Applied {
		applied = append(applied, c.Path)
	}
	if got := strings.Join(applied, ","); got != "admin.key,log.level,routing.timeout" {
		t.Errorf("Reload applied = %s, want admin.key,log.level,routing.timeout", got)
	}
	if strings.Contains(strings.Join(res.Warnings, "\n"), "admin") {
		t.Errorf("Reload warnings = %q", res.Warnings)
	}

	_, _ = io.WriteString(pw, `"made-during-reload"}`)
	pw.Close()
	if got := <-inflight; got != http.StatusCreated && got != http.StatusOK {
		t.Errorf("admin request authenticated before the reload = %d, want it to complete (201)", got)
	}
	if got := whoami(oldKey); got != 401 {
		t.Errorf("after reload: whoami(old key) = %d, want 401", got)
	}
	if got := whoami(newKey); got != 200 {
		t.Errorf("after reload: whoami(new key) = %d, want 200", got)
	}
	a.Log.Info("probe after reload", "leak", "Bearer "+newKey)
	if s := logs.String(); strings.Contains(s, "probe before reload") || !strings.Contains(s, "probe after reload") {
		t.Errorf("log level not reloaded from warn to info; log:\n%s", s)
	}
	if got := a.live.idem.Stale(); got != 31*time.Minute {
		t.Errorf("idempotency stale after reload = %s, want 31m0s (routing.timeout 30m + 1m)", got)
	}
	if s := logs.String(); strings.Contains(s, newKey) || strings.Contains(s, oldKey) {
		t.Errorf("an admin key is in the log:\n%s", s)
	}
}
