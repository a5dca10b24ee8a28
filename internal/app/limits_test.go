package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/airgw/airgw/internal/server"
)

// TestRequestLimits (RELIABILITY.md T28): an oversized body, a huge
// message array, deep JSON nesting and huge headers, on both dialects,
// each get a JSON error in the API's own shape with a stable code,
// quickly, with bounded memory, and an audit record; no provider is
// called.
func TestRequestLimits(t *testing.T) {
	fake := openaitest.NewServer(t)
	dir := t.TempDir()
	yaml := strings.NewReplacer("@DIR@", filepath.ToSlash(dir), "@FAKE_URL@", fake.URL(), "max_body: 64KiB", "max_body: 1MiB").Replace(testConfig)
	cfg, err := config.Parse("test.yaml", []byte(yaml), func(name string) (string, bool) {
		if name == "FAKE_KEY" {
			return openaitest.Key, true
		}
		return os.LookupEnv(name)
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := serveLive(t, a, []keys.CreateOptions{{Name: "search-app", Team: "search"}})
	defer g.stop()
	key := g.keys["search-app"]

	messages := func(n int) string {
		return `[` + strings.TrimSuffix(strings.Repeat(`{"role":"user","content":"x"},`, n), ",") + `]`
	}
	nested := func(depth int) string {
		return `[{"role":"user","content":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}]`
	}
	chat := func(msgs string) string { return `{"model":"gpt-4o","messages":` + msgs + `}` }
	anth := func(msgs string) string { return `{"model":"gpt-4o","max_tokens":16,"messages":` + msgs + `}` }
	tests := []struct {
		name, path, body string
		header           int // bytes of an extra header
		status           int
		code             string // "" for Go's own plain-text answer
	}{
		{"body/openai", "/chat/completions", chat(messages(1)) + strings.Repeat(" ", 2<<20), 0, 413, "payload_too_large"},
		{"body/anthropic", "/messages", anth(messages(1)) + strings.Repeat(" ", 2<<20), 0, 413, "payload_too_large"},
		{"messages/openai", "/chat/completions", chat(messages(10001)), 0, 413, "payload_too_large"},
		{"messages/anthropic", "/messages", anth(messages(10001)), 0, 413, "payload_too_large"},
		{"nesting/openai", "/chat/completions", chat(nested(200000)), 0, 400, "invalid_request"},
		{"nesting/anthropic", "/messages", anth(nested(200000)), 0, 400, "invalid_request"},
		{"headers/openai", "/chat/completions", chat(messages(1)), 100 << 10, 431, "request_header_too_large"},
		{"headers/anthropic", "/messages", anth(messages(1)), 100 << 10, 431, "request_header_too_large"},
		{"headers/models", "/models", "", 100 << 10, 431, "request_header_too_large"},
		// Past what the listener reads: Go's own answer, memory still bounded.
		{"headers/past_read_limit", "/chat/completions", chat(messages(1)), server.ReadHeaderBytes + 8<<10, 431, ""},
	}
	ids := map[string]string{} // request id → test
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "POST"
			if tt.body == "" {
				method = "GET"
			}
			req, _ := http.NewRequest(method, g.base+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			if tt.header > 0 {
				req.Header.Set("X-Filler", strings.Repeat("f", tt.header))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: %d in %s, %d KiB allocated (client and server), request %d KiB", tt.name, resp.StatusCode, took.Round(time.Millisecond), alloc>>10, (len(tt.body)+tt.header)>>10)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %.300s", resp.StatusCode, tt.status, body)
			}
			if took > 2*time.Second {
				t.Errorf("answered in %s, want under 2s", took)
			}
			// Bounded: a few times what was sent, whatever its shape.
			if limit := uint64(4*(len(tt.body)+tt.header) + 16<<20); alloc > limit {
				t.Errorf("allocated %d bytes for a %d-byte request, want at most %d", alloc, len(tt.body)+tt.header, limit)
			}
			if tt.code == "" {
				return
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type, Message, Code string
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code || e.Error.Message == "" || e.Error.Type == "" {
				t.Errorf("body = %.300s, want a JSON error with code %s", body, tt.code)
			}
			if anthropic := strings.HasPrefix(tt.path, "/messages"); anthropic != (e.Type == "error") {
				t.Errorf("body = %.300s: want the Anthropic shape (type: error) on /v1/messages only", body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			id := resp.Header.Get("X-Request-Id")
			if id == "" || !bytes.Contains(body, []byte(id)) {
				t.Errorf("request id %q not in the answer %.200s", id, body)
			}
			if tt.path != "/models" {
				ids[id] = tt.name
			}
		})
	}
	if n := fake.Calls(); n != 0 {
		t.Errorf("provider calls = %d, want 0", n)
	}
	recs := g.records()
	for id, name := range ids {
		rec, ok := recs[id]
		if !ok {
			t.Errorf("%s: no audit record for %s", name, id)
			continue
		}
		var want int
		for _, tt := range tests {
			if tt.name == name {
				want = tt.status
			}
		}
		if rec.Status != want || rec.ErrorClass == "" || len(rec.Attempts) != 0 {
			t.Errorf("%s: audit record status %d, class %q, %d attempts; want %d, a class, no attempt", name, rec.Status, rec.ErrorClass, len(rec.Attempts), want)
		}
	}
}
