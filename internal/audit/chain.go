package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The hash chain. Each writer (one gateway's spool) numbers its records 1,
// 2, 3… within its Chain and links each one to the one before:
//
//	Hash = hex(SHA-256("airgw-audit-v1\n" Chain "\n" Seq "\n" PrevHash "\n" SHA-256(body)))
//
// where body is the record's JSON (encoding/json, struct order) with Chain,
// Seq, PrevHash, Hash and Bodies cleared and times in UTC, and Seq is in
// decimal.
// Changing, removing, inserting or reordering a record breaks the links
// after it. Someone who can rewrite the whole database could recompute
// every hash, so the writer also signs checkpoints (Checkpoint) of its
// chain head with an Ed25519 key that the database does not hold.

const hashDomain = "airgw-audit-v1\n"

// Body returns the canonical JSON of r that its Hash covers: r without its
// chain fields, times in UTC, an empty Kind as KindRequest.
func Body(r *Record) ([]byte, error) {
	c := *r
	c.Chain, c.Seq, c.PrevHash, c.Hash = "", 0, "", ""
	c.Bodies = nil // deleted by their retention: never hashed
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	if c.Kind == "" {
		c.Kind = KindRequest
	}
	if b, ok := appendRecord(make([]byte, 0, 768), &c); ok {
		return b, nil
	}
	return marshal(c)
}

// marshal is json.Marshal of a record passed by value, so that Body's copy
// stays on its stack when appendRecord writes it.
func marshal(c Record) ([]byte, error) { return json.Marshal(&c) }

// linkHash is the Hash of the record with body digest sum at seq in chain.
func linkHash(chain string, seq int64, prev string, sum *[32]byte) string {
	var buf [256]byte
	b := append(buf[:0], hashDomain...)
	b = append(b, chain...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, '\n')
	b = append(b, prev...)
	b = append(b, '\n')
	b = append(b, sum[:]...)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// HashOf computes the Hash that r should carry given its Chain, Seq,
// PrevHash and other fields.
func HashOf(r *Record) (string, error) {
	body, err := Body(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	return linkHash(r.Chain, r.Seq, r.PrevHash, &sum), nil
}

// Head is the end of a chain: the Seq and Hash of its last record (zero
// for a chain with no record yet).
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Link sets r's chain fields to follow head in chain, given the SHA-256 of
// r's Body, and returns the new head.
func Link(r *Record, chain string, head Head, bodySum *[32]byte) Head {
	r.Chain, r.Seq, r.PrevHash = chain, head.Seq+1, head.Hash
	r.Hash = linkHash(chain, r.Seq, r.PrevHash, bodySum)
	return Head{Seq: r.Seq, Hash: r.Hash}
}

// Checkpoint is a signed statement that record Seq of Chain has Hash: it
// vouches for every record up to Seq. A verifier holding the writer's
// public key detects a chain rewritten before a checkpoint, and records
// removed from the end of a chain before its last checkpoint.
type Checkpoint struct {
	Chain string    `json:"chain"`
	Seq   int64     `json:"seq"`
	Hash  string    `json:"hash"`
	Time  time.Time `json:"time"`
	// PublicKey is the signer's Ed25519 public key and Signature its
	// signature of the fields above, both in standard base64.
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"`
}

func (c *Checkpoint) message() []byte {
	return fmt.Appendf(nil, "airgw-audit-checkpoint-v1\n%s\n%d\n%s\n%d", c.Chain, c.Seq, c.Hash, c.Time.UnixNano())
}

// Sign fills c's PublicKey and Signature with key's.
func (c *Checkpoint) Sign(key ed25519.PrivateKey) {
	c.PublicKey = base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, c.message()))
}

// ErrUntrustedKey is returned by Checkpoint.Check for a checkpoint signed
// by a key that is not among the trusted ones.
var ErrUntrustedKey = errors.New("audit: checkpoint signed by an untrusted key")

// Check verifies c's signature. With trusted keys, c must also be signed by
// one of them; without, only the signature against c's own public key is
// checked, which proves nothing against someone who holds the database and
// can sign with a key of their own.
func (c *Checkpoint) Check(trusted []ed25519.PublicKey) error {
	pub, err := base64.StdEncoding.DecodeString(c.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return errors.New("audit: checkpoint public key is not a base64 Ed25519 key")
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.message(), sig) {
		return errors.New("audit: checkpoint signature does not match its content")
	}
	if len(trusted) == 0 {
		return nil
	}
	for _, k := range trusted {
		if k.Equal(ed25519.PublicKey(pub)) {
			return nil
		}
	}
	return ErrUntrustedKey
}

// SigningKeyFile is the file, in the data directory, that holds the
// checkpoint signing key when the config does not give one.
const SigningKeyFile = "audit-signing.key"

// ParseSigningKey decodes an Ed25519 signing key written as the hex or
// standard base64 of its 32-byte seed.
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	seed, err := hex.DecodeString(s)
	if err != nil {
		seed, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("audit: signing key: want the hex (64 characters) or base64 of a 32-byte Ed25519 seed; generate one with: openssl rand -hex 32")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKey decodes an Ed25519 public key in standard base64, as
// PublicKeyString writes it.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit: public key %q: want the base64 of a 32-byte Ed25519 public key, as `airgw audit verify --print-public-key` shows it", s)
	}
	return b, nil
}

// PublicKeyString is key's public half in standard base64.
func PublicKeyString(key ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
}

// LoadOrCreateSigningKey reads the signing key in dir/SigningKeyFile,
// creating it (mode 0600) with a new random seed if it does not exist.
func LoadOrCreateSigningKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, SigningKeyFile)
	if key, err := LoadSigningKey(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadSigningKey(path) // created by a concurrent start
	}
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(seed) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: writing %s: %w", path, err)
	}
	syncDir(dir)
	return ed25519.NewKeyFromSeed(seed), nil
}

// LoadSigningKey reads a signing key file written by
// LoadOrCreateSigningKey.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	key, err := ParseSigningKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// syncDir makes a new directory entry durable; errors are ignored because
// some file systems cannot sync directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
