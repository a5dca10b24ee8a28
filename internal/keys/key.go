package keys

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store errors.
var (
	ErrNotFound      = errors.New("keys: key not found")
	ErrDuplicateName = errors.New("keys: an active key with this name already exists")
)

// Key is a virtual key as stored: everything but the key itself. The JSON
// form is what `airgw keys list --json` and the admin API print; Hash is never
// marshalled.
type Key struct {
	// ID is "key_" followed by 16 lowercase base32 characters.
	ID   string `json:"id"`
	Name string `json:"name"`
	Team string `json:"team,omitempty"`
	// Models is the allow-list of model names; empty allows every model the
	// team may use.
	Models []string `json:"models,omitempty"`
	// Hash is the HMAC-SHA-256 of the key (see Hasher).
	Hash []byte `json:"-"`
	// Prefix is a display form such as "sk-airgw-AbCd…" that identifies the
	// key to a person without revealing it.
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt is when the key was revoked; zero means it is active.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// LastUsedAt is approximate: the Authenticator batches updates.
	LastUsedAt time.Time         `json:"last_used_at,omitzero"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	// Family is the ID of the first key of a rotation chain: a rotated key
	// shares its predecessor's budget and limit counters. Empty means the
	// key's own ID (see FamilyID).
	Family string `json:"family,omitempty"`
	// RotatedTo is the ID of the key that replaced this one.
	RotatedTo string `json:"rotated_to,omitempty"`
	// Settings are the key's own budget, limits, end-user defaults and
	// allowed source addresses.
	Settings
}

// FamilyID returns the key's rotation family: Family, or ID when empty.
func (k *Key) FamilyID() string {
	if k.Family != "" {
		return k.Family
	}
	return k.ID
}

// Revoked reports whether k had been revoked at time now.
func (k *Key) Revoked(now time.Time) bool {
	return !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt)
}

// Expired reports whether k had expired at time now.
func (k *Key) Expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// ListFilter selects keys for Store.ListKeys.
type ListFilter struct {
	Team           string // empty: every team
	IncludeRevoked bool
}

// Store is the persistence that keys need. Implementations are safe for
// concurrent use; store/storetest holds their conformance suite.
type Store interface {
	// CreateKey stores k. It returns ErrDuplicateName if an active key
	// already has k.Name.
	CreateKey(ctx context.Context, k *Key) error
	// KeyByHash returns the key, revoked or not, whose Hash is hash, or
	// ErrNotFound.
	KeyByHash(ctx context.Context, hash []byte) (*Key, error)
	// ListKeys returns the keys matching f, oldest first.
	ListKeys(ctx context.Context, f ListFilter) ([]Key, error)
	// RevokeKey revokes the key whose ID is idOrName or, failing that, the
	// active key whose Name is idOrName, and returns it. Revoking a revoked
	// key by ID returns it unchanged (the first revocation time stands).
	// It returns ErrNotFound if nothing matches.
	RevokeKey(ctx context.Context, idOrName string, at time.Time) (*Key, error)
	// TouchKeys records last-used times by key ID. A time earlier than the
	// stored one and an unknown ID are ignored.
	TouchKeys(ctx context.Context, lastUsed map[string]time.Time) error
	// KeyByID returns the key with id, revoked or not, or ErrNotFound.
	KeyByID(ctx context.Context, id string) (*Key, error)
	// UpdateKey stores k's Models, ExpiresAt, Metadata and Settings. It
	// returns ErrNotFound if no key has k.ID.
	UpdateKey(ctx context.Context, k *Key) error
	// RotateKey, in one transaction, sets the revocation time of the key
	// old.ID to old.RevokedAt and its RotatedTo, and creates next (which
	// keeps old's name: old is no longer active by name once a revocation
	// time is set). It returns ErrNotFound if old does not exist and
	// ErrRevoked if it is already revoked or rotated.
	RotateKey(ctx context.Context, old *Key, next *Key) error
}

// ErrInvalid is matched (errors.Is) by every error about a value a caller
// gave: a bad name, expiry, model pattern, limit or budget.
var ErrInvalid = errors.New("keys: invalid value")

type invalidError struct{ msg string }

func (e invalidError) Error() string        { return e.msg }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return invalidError{fmt.Sprintf(format, args...)}
}

// ErrRevoked is returned when rotating a key that is revoked or rotated.
var ErrRevoked = errors.New("keys: the key is already revoked or rotated")

// NewID returns a new key ID: "key_" and 16 lowercase base32 characters
// (80 random bits).
func NewID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("keys: generate id: %w", err)
	}
	return "key_" + strings.ToLower(base32.StdEncoding.EncodeToString(b[:])), nil
}

// CheckName reports whether name is a valid key name: 1 to 64 characters,
// each a letter, digit, '.', '_' or '-'.
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return invalidf("keys: name must be 1 to 64 characters, got %d", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isBase62(c) && c != '.' && c != '_' && c != '-' {
			return invalidf("keys: name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	return nil
}

// maxExpiry bounds ExpiresAt so that every store can hold it (int64 unix
// nanoseconds end in 2262).
var maxExpiry = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// CreateOptions describes a key to create.
type CreateOptions struct {
	Name      string
	Team      string
	Models    []string
	ExpiresAt time.Time // zero: never
	Metadata  map[string]string
	Settings  Settings
}

// Manager creates, lists and revokes keys. It is what the CLI and the admin
// API use; it is safe for concurrent use.
type Manager struct {
	store  Store
	hasher *Hasher
	now    func() time.Time
}

// NewManager returns a Manager over store. now, if nil, is time.Now.
func NewManager(store Store, hasher *Hasher, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{store: store, hasher: hasher, now: now}
}

// Create makes a new key and returns its plaintext, which is shown once and
// never stored, together with the stored Key.
func (m *Manager) Create(ctx context.Context, o CreateOptions) (string, *Key, error) {
	if err := CheckName(o.Name); err != nil {
		return "", nil, err
	}
	if o.Team != "" {
		if err := CheckName(o.Team); err != nil {
			return "", nil, fmt.Errorf("keys: team: %w", err)
		}
	}
	if err := checkModels(o.Models); err != nil {
		return "", nil, err
	}
	if err := o.Settings.Validate(); err != nil {
		return "", nil, err
	}
	if err := checkMetadata(o.Metadata); err != nil {
		return "", nil, err
	}
	now := m.now().UTC()
	if !o.ExpiresAt.IsZero() {
		if !o.ExpiresAt.After(now) {
			return "", nil, invalidf("keys: expiry %s is not in the future", o.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if o.ExpiresAt.After(maxExpiry) {
			return "", nil, invalidf("keys: expiry %s is after %d; leave it empty for a key that never expires", o.ExpiresAt.UTC().Format(time.RFC3339), maxExpiry.Year())
		}
	}
	plain, err := Generate()
	if err != nil {
		return "", nil, err
	}
	id, err := NewID()
	if err != nil {
		return "", nil, err
	}
	k := &Key{
		ID:        id,
		Name:      o.Name,
		Team:      o.Team,
		Models:    o.Models,
		Hash:      m.hasher.Hash(plain),
		Prefix:    DisplayPrefix(plain),
		CreatedAt: now,
		ExpiresAt: o.ExpiresAt.UTC(),
		Metadata:  o.Metadata,
		Settings:  o.Settings,
	}
	if o.ExpiresAt.IsZero() {
		k.ExpiresAt = time.Time{}
	}
	if err := m.store.CreateKey(ctx, k); err != nil {
		return "", nil, fmt.Errorf("keys: create %q: %w", o.Name, err)
	}
	return plain, k, nil
}

// List returns the keys matching f, oldest first.
func (m *Manager) List(ctx context.Context, f ListFilter) ([]Key, error) {
	ks, err := m.store.ListKeys(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	return ks, nil
}

// Revoke revokes the key with ID or active name idOrName now. Within the
// Authenticator's cache TTL the key stops working on every replica.
func (m *Manager) Revoke(ctx context.Context, idOrName string) (*Key, error) {
	k, err := m.store.RevokeKey(ctx, idOrName, m.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("keys: revoke %q: %w", idOrName, err)
	}
	return k, nil
}
