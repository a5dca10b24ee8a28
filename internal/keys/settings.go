package keys

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/ratelimit"
)

// Settings are a key's own governance: they apply on top of its team's.
// The zero value sets nothing.
type Settings struct {
	// Budget is the key's spending limit; nil means none.
	Budget *budget.Spec `json:"budget,omitempty"`
	// Limits are the key's rate limits; nil means none.
	Limits *ratelimit.Limits `json:"limits,omitempty"`
	// Users are the budget and limits of each end user of a key without a
	// team (and override the team's for a key with one).
	Users *UserDefaults `json:"users,omitempty"`
	// AllowedIPs, when set, are the only client addresses the key works from.
	AllowedIPs []netip.Prefix `json:"allowed_ips,omitempty"`
}

// UserDefaults are what each end user gets when first seen.
type UserDefaults struct {
	Budget *budget.Spec      `json:"budget,omitempty"`
	Limits *ratelimit.Limits `json:"limits,omitempty"`
}

// Validate reports settings that cannot be enforced.
func (s *Settings) Validate() error {
	if s.Budget != nil {
		if err := s.Budget.Validate(); err != nil {
			return invalidf("keys: budget: %v", err)
		}
	}
	if err := checkLimits("limits", s.Limits); err != nil {
		return err
	}
	if u := s.Users; u != nil {
		if u.Budget != nil {
			if err := u.Budget.Validate(); err != nil {
				return invalidf("keys: users.budget: %v", err)
			}
		}
		if err := checkLimits("users.limits", u.Limits); err != nil {
			return err
		}
	}
	if s.AllowedIPs != nil && len(s.AllowedIPs) == 0 {
		return invalidf("keys: allowed_ips is empty, which would refuse every client; list at least one range or leave it unset")
	}
	for _, p := range s.AllowedIPs {
		if !p.IsValid() {
			return invalidf("keys: allowed_ips holds an invalid range")
		}
	}
	return nil
}

func checkLimits(field string, l *ratelimit.Limits) error {
	if l == nil {
		return nil
	}
	for _, v := range []int{l.RPM, l.RPD, l.TPM, l.Concurrent} {
		if v < 0 {
			return invalidf("keys: %s: limits must not be negative", field)
		}
	}
	for _, m := range l.Models {
		if _, err := path.Match(m.Model, ""); err != nil || m.Model == "" {
			return invalidf("keys: %s.models: %q is not a model name or pattern", field, m.Model)
		}
		if m.RPM < 0 || m.RPD < 0 || m.TPM < 0 || m.Concurrent < 0 {
			return invalidf("keys: %s.models.%s: limits must not be negative", field, m.Model)
		}
	}
	return nil
}

func checkModels(models []string) error {
	for _, m := range models {
		if strings.TrimSpace(m) == "" {
			return invalidf("keys: empty model name in allow-list")
		}
		if _, err := path.Match(m, ""); err != nil {
			return invalidf("keys: model pattern %q is malformed; use * and ? as wildcards", m)
		}
	}
	return nil
}

func checkMetadata(md map[string]string) error {
	if len(md) > 64 {
		return invalidf("keys: %d metadata entries; at most 64", len(md))
	}
	for k, v := range md {
		if k == "" || len(k) > 64 || len(v) > 512 {
			return invalidf("keys: metadata %q: keys are 1 to 64 bytes, values at most 512", k)
		}
	}
	return nil
}

// Get returns the key with ID or active name idOrName.
func (m *Manager) Get(ctx context.Context, idOrName string) (*Key, error) {
	k, err := m.store.KeyByID(ctx, idOrName)
	if errors.Is(err, ErrNotFound) {
		ks, lerr := m.store.ListKeys(ctx, ListFilter{})
		if lerr != nil {
			return nil, fmt.Errorf("keys: get %q: %w", idOrName, lerr)
		}
		for i := range ks {
			if ks[i].Name == idOrName {
				return &ks[i], nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("keys: get %q: %w", idOrName, err)
	}
	return k, nil
}

// Update is a change to a key; nil fields are left as they are.
type Update struct {
	Models    *[]string
	ExpiresAt *time.Time // a zero time clears the expiry
	Metadata  *map[string]string
	Settings  *Settings
}

// Update applies u to the key with ID or active name idOrName and returns
// the key before and after. The Authenticator sees the change within its
// cache TTL (2 s).
func (m *Manager) Update(ctx context.Context, idOrName string, u Update) (before, after *Key, err error) {
	k, err := m.Get(ctx, idOrName)
	if err != nil {
		return nil, nil, err
	}
	before = k
	next := *k
	if u.Models != nil {
		if err := checkModels(*u.Models); err != nil {
			return nil, nil, err
		}
		next.Models = *u.Models
	}
	if u.ExpiresAt != nil {
		if e := *u.ExpiresAt; !e.IsZero() && (e.After(maxExpiry) || !e.After(m.now())) {
			return nil, nil, invalidf("keys: expiry %s must be in the future and before %d", e.UTC().Format(time.RFC3339), maxExpiry.Year())
		}
		next.ExpiresAt = u.ExpiresAt.UTC()
		if u.ExpiresAt.IsZero() {
			next.ExpiresAt = time.Time{}
		}
	}
	if u.Metadata != nil {
		if err := checkMetadata(*u.Metadata); err != nil {
			return nil, nil, err
		}
		next.Metadata = *u.Metadata
	}
	if u.Settings != nil {
		if err := u.Settings.Validate(); err != nil {
			return nil, nil, err
		}
		next.Settings = *u.Settings
	}
	if err := m.store.UpdateKey(ctx, &next); err != nil {
		return nil, nil, fmt.Errorf("keys: update %q: %w", idOrName, err)
	}
	return before, &next, nil
}

// MaxGrace bounds a rotation's grace period.
const MaxGrace = 90 * 24 * time.Hour

// Rotate replaces the key with ID or active name idOrName by a new key
// with the same name, team, models, metadata and settings, in the same
// family (so budgets and limits carry over). The old key keeps working
// for grace, then stops; a zero grace stops it at once. It returns the new
// key's plaintext (shown once), the new key and the old one as updated.
func (m *Manager) Rotate(ctx context.Context, idOrName string, grace time.Duration) (string, *Key, *Key, error) {
	if grace < 0 || grace > MaxGrace {
		return "", nil, nil, invalidf("keys: grace period %s: want 0 to %s", grace, MaxGrace)
	}
	old, err := m.Get(ctx, idOrName)
	if err != nil {
		return "", nil, nil, err
	}
	now := m.now().UTC()
	if !old.RevokedAt.IsZero() || old.RotatedTo != "" {
		return "", nil, nil, fmt.Errorf("keys: rotate %q: %w", idOrName, ErrRevoked)
	}
	if old.Expired(now) {
		return "", nil, nil, invalidf("keys: rotate %q: the key expired at %s; create a new one instead", idOrName, old.ExpiresAt.Format(time.RFC3339))
	}
	plain, err := Generate()
	if err != nil {
		return "", nil, nil, err
	}
	id, err := NewID()
	if err != nil {
		return "", nil, nil, err
	}
	next := &Key{ID: id, Name: old.Name, Team: old.Team, Models: old.Models, Hash: m.hasher.Hash(plain),
		Prefix: DisplayPrefix(plain), CreatedAt: now, ExpiresAt: old.ExpiresAt, Metadata: old.Metadata,
		Family: old.FamilyID(), Settings: old.Settings}
	updated := *old
	updated.RevokedAt, updated.RotatedTo = now.Add(grace), id
	if err := m.store.RotateKey(ctx, &updated, next); err != nil {
		return "", nil, nil, fmt.Errorf("keys: rotate %q: %w", idOrName, err)
	}
	return plain, next, &updated, nil
}
