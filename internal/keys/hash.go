package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// SecretFile is the name of the HMAC secret file inside the data directory.
const SecretFile = "hmac.secret"

const secretLen = 32

// Hasher computes the HMAC-SHA-256 of keys under a deployment secret. Only
// the hash is stored, so a stolen database alone does not reveal or verify
// keys. A Hasher is safe for concurrent use.
type Hasher struct {
	pool sync.Pool // of hash.Hash, reset before use
}

// NewHasher returns a Hasher keyed with secret. The secret is copied.
func NewHasher(secret []byte) *Hasher {
	s := bytes.Clone(secret)
	h := &Hasher{}
	h.pool.New = func() any { return hmac.New(sha256.New, s) }
	return h
}

// Hash returns the 32-byte HMAC-SHA-256 of key.
func (h *Hasher) Hash(key string) []byte {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(key))
	sum := m.Sum(make([]byte, 0, sha256.Size))
	h.pool.Put(m)
	return sum
}

// Equal reports in constant time whether the hash of key is sum.
func (h *Hasher) Equal(key string, sum []byte) bool {
	return hmac.Equal(h.Hash(key), sum)
}

// LoadOrCreateSecret returns the HMAC secret stored in dir/hmac.secret,
// creating dir (0700) and the file (0600, 32 random bytes hex-encoded) if
// they do not exist. Creation is atomic: the secret is written to a
// temporary file and hard-linked into place, which fails rather than
// overwrites if another process got there first, in which case that
// process's secret is read and returned. Every process sharing dir therefore
// agrees on one secret.
func LoadOrCreateSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, SecretFile)
	secret, err := readSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: create secret dir: %w", err)
	}
	raw := make([]byte, secretLen)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("keys: generate secret: %w", err)
	}
	tmp, err := os.CreateTemp(dir, SecretFile+".tmp*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("keys: create secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(raw) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("keys: write secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			// No hard links on this file system: fall back to rename, which
			// can lose a race with a concurrent creator, so read back
			// whatever won.
			if err := os.Rename(tmp.Name(), path); err != nil {
				return nil, fmt.Errorf("keys: install secret: %w", err)
			}
		}
		return readSecret(path)
	}
	syncDir(dir)
	return raw, nil
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: read secret: %w", err)
	}
	secret, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("keys: secret file %s is not hex: %w", path, err)
	}
	if len(secret) < secretLen {
		return nil, fmt.Errorf("keys: secret file %s holds %d bytes, want at least %d", path, len(secret), secretLen)
	}
	return secret, nil
}

// syncDir makes the new directory entry durable; failure only weakens
// durability, so it is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
