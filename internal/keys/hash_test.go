package keys

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestHasher(t *testing.T) {
	k := sample(t)
	a := NewHasher([]byte("secret-one-secret-one-secret-one"))
	a2 := NewHasher([]byte("secret-one-secret-one-secret-one"))
	b := NewHasher([]byte("secret-two-secret-two-secret-two"))
	h := a.Hash(k)
	if len(h) != 32 {
		t.Fatalf("len(Hash) = %d, want 32", len(h))
	}
	if got := a.Hash(k); !bytes.Equal(got, h) {
		t.Error("Hash is not deterministic")
	}
	if got := a2.Hash(k); !bytes.Equal(got, h) {
		t.Error("Hash differs between Hashers with the same secret")
	}
	if got := b.Hash(k); bytes.Equal(got, h) {
		t.Error("Hash does not depend on the secret")
	}
	if got := a.Hash(k + "x"); bytes.Equal(got, h) {
		t.Error("Hash does not depend on the key")
	}
	if !a.Equal(k, h) || a.Equal(k, b.Hash(k)) {
		t.Error("Equal gives the wrong answer")
	}
}

func TestHasherConcurrent(t *testing.T) {
	h := NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	want := h.Hash("x")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if !bytes.Equal(h.Hash("x"), want) {
					t.Error("concurrent Hash differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestLoadOrCreateSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s1, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatalf("LoadOrCreateSecret(new) error: %v", err)
	}
	if len(s1) != 32 {
		t.Errorf("len(secret) = %d, want 32", len(s1))
	}
	fi, err := os.Stat(filepath.Join(dir, SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("secret file mode = %v, want 0600", got)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("secret dir mode = %v, want 0700", got)
	}
	s2, err := LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatalf("LoadOrCreateSecret(existing) error: %v", err)
	}
	if !bytes.Equal(s1, s2) {
		t.Error("LoadOrCreateSecret did not reuse the existing secret")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only %s (temp files left behind?)", len(entries), SecretFile)
	}
}

func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 16
	secrets := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { secrets[i], errs[i] = LoadOrCreateSecret(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("creator %d: %v", i, errs[i])
		}
		if !bytes.Equal(secrets[i], secrets[0]) {
			t.Fatalf("creator %d got a different secret", i)
		}
	}
}

func TestLoadOrCreateSecretBadFile(t *testing.T) {
	tests := []struct{ name, content string }{
		{"not-hex", "zz"},
		{"too-short", "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, SecretFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateSecret(dir); err == nil {
				t.Errorf("LoadOrCreateSecret(%s) = nil error, want error", tt.name)
			}
		})
	}
}
