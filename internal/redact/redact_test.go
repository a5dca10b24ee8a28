package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestHandlerMasksSecrets(t *testing.T) {
	const provider = "sk-proj-CANARY0123456789"
	const vkey = "sk-airgw-AbCdEfGh0123456789xyzXYZ_-12"
	var b bytes.Buffer
	log := slog.New(New(slog.NewJSONHandler(&b, nil), []string{provider, "short", provider + "-rotated"}))
	log = log.With("component", "x "+provider)
	log.WithGroup("g").Info("upstream said "+provider, "err", errors.New("401: key "+provider+"-rotated invalid"),
		"body", `{"key":"`+vkey+`"}`, "n", 3, slog.Group("nested", "k", vkey), "word", "short")
	out := b.String()
	for _, secret := range []string{provider, vkey, "CANARY", "AbCdEfGh"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	for _, kept := range []string{`"n":3`, `"word":"short"`, "upstream said [redacted]", "401: key [redacted] invalid"} {
		if !strings.Contains(out, kept) {
			t.Errorf("log lacks %q:\n%s", kept, out)
		}
	}
}

// TestAddSecrets masks a secret added after the logger was built (a
// config reload's rotated key) in derived loggers too, and keeps masking
// the old one.
func TestAddSecrets(t *testing.T) {
	const old, rotated = "old-admin-key-0123456789", "new-admin-key-0123456789"
	var b bytes.Buffer
	h := New(slog.NewTextHandler(&b, nil), []string{old})
	derived := slog.New(h).With("component", "admin")
	h.AddSecrets([]string{rotated, "short"})
	derived.Info("keys " + old + " " + rotated + " short")
	if out := b.String(); strings.Contains(out, old) || strings.Contains(out, rotated) || !strings.Contains(out, "[redacted] [redacted] short") {
		t.Errorf("log after AddSecrets = %s, want both keys masked", out)
	}
}

func BenchmarkAccessLine(b *testing.B) {
	log := slog.New(New(slog.NewJSONHandler(&bytes.Buffer{}, nil), []string{"sk-proj-CANARY0123456789", "0123456789abcdef0123456789abcdef"}))
	for b.Loop() {
		log.Info("request", "request_id", "req_0123456789abcdef01234567", "status", 200, "endpoint", "/v1/chat/completions",
			"model", "gpt-4o", "provider", "openai", "key_id", "key_aaaaaaaaaaaaaaaa", "latency_ms", 12, "cost_nano_usd", 6512500)
	}
}

// TestHandlerCleanLineUnchanged: a line with nothing to mask is written as
// the wrapped handler writes it, and a secret in its last string attribute
// is still masked.
func TestHandlerCleanLineUnchanged(t *testing.T) {
	const secret = "sk-proj-CANARY0123456789"
	var got, want bytes.Buffer
	slog.New(New(slog.NewTextHandler(&got, nil), []string{secret})).Info("request",
		"request_id", "req_1", "status", 200, "model", "gpt-4o", "provider", "openai", "key_id", "key_1", "latency_ms", 12)
	slog.New(slog.NewTextHandler(&want, nil)).Info("request",
		"request_id", "req_1", "status", 200, "model", "gpt-4o", "provider", "openai", "key_id", "key_1", "latency_ms", 12)
	// Drop the time, the only field that differs.
	trim := func(s string) string { _, rest, _ := strings.Cut(s, " "); return rest }
	if trim(got.String()) != trim(want.String()) {
		t.Errorf("clean line = %q, want %q", got.String(), want.String())
	}
	got.Reset()
	slog.New(New(slog.NewTextHandler(&got, nil), []string{secret})).Info("request",
		"status", 200, "model", "gpt-4o", "provider", "openai", "key_id", "key_1", "cause", "upstream: "+secret)
	if out := got.String(); strings.Contains(out, "CANARY") || !strings.Contains(out, "[redacted]") {
		t.Errorf("line with a secret in its last attribute = %q, want it masked", out)
	}
}
