//go:build unix

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeReloads runs `airgw serve` in-process and changes its config
// file: with --watch=false a SIGHUP reloads it, and by default the change
// alone does. A model added to the file then serves.
func TestServeReloads(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		trigger string
	}{
		{"sighup", []string{"--watch=false"}, "signal:SIGHUP"},
		{"file-watch", nil, "file-watch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, "airgw.yaml", goodConfig)
			r := run(t, "keys", "create", "--name", "svc", "--team", "search", "--json", "--config", cfg)
			var created struct{ Key string }
			if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || r.code != 0 {
				t.Fatalf("Run(keys create) = %d %q %q", r.code, r.stdout, r.stderr)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := &lockedBuffer{addr: make(chan string, 1)}
			done := make(chan int, 1)
			go func() {
				done <- Run(ctx, append([]string{"serve", "--config", cfg}, tt.args...), &bytes.Buffer{}, stderr)
			}()
			var addr string
			select {
			case addr = <-stderr.addr:
			case code := <-done:
				t.Fatalf("Run(serve) = %d before listening, stderr %q", code, stderr)
			case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
				t.Fatalf("Run(serve) did not listen; stderr %q", stderr)
			}
			chat := func(model string) int {
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat/completions",
					strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hello"}]}`))
				req.Header.Set("Authorization", "Bearer "+created.Key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("POST /v1/chat/completions: %v", err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := chat("demo-smart"); code != 403 {
				t.Fatalf("demo-smart before the reload = %d, want 403 (not in the team)", code)
			}

			body, _ := os.ReadFile(cfg)
			next := strings.NewReplacer(
				"models:\n", "models:\n  demo-smart:\n    targets: [{provider: demo, model: demo-smart}]\n    price: {input_per_mtok: 2.5, output_per_mtok: 10}\n",
				"search: {models: [demo-fast]}", "search: {models: [demo-fast, demo-smart]}",
			).Replace(string(body))
			if err := os.WriteFile(cfg+".tmp", []byte(next), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(cfg+".tmp", cfg); err != nil {
				t.Fatal(err)
			}
			if tt.trigger == "signal:SIGHUP" {
				if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			}
			want := `msg="config reloaded" trigger=` + tt.trigger
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), want); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q in the log after 10s:\n%s", want, stderr)
				}
			}
			if code := chat("demo-smart"); code != 200 {
				t.Errorf("demo-smart after the reload = %d, want 200", code)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("Run(serve) after cancel = %d, want 0; stderr %q", code, stderr)
			}
		})
	}
}
