// Package storetest holds conformance suites for airgw's storage
// interfaces. Every backend (SQLite, PostgreSQL, …) runs them from its own
// tests, so that all backends behave the same way.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/keys"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// base is the time the suites' records are built around. It has
// nanosecond precision, which every backend must keep.
var base = time.Date(2026, 11, 1, 12, 0, 0, 123456789, time.UTC)

var equateEmpty = cmpopts.EquateEmpty()

func testKey(id, name, team string, created time.Time) *keys.Key {
	h := sha256.Sum256([]byte(id))
	return &keys.Key{
		ID:        id,
		Name:      name,
		Team:      team,
		Hash:      h[:],
		Prefix:    "sk-airgw-" + id[len(id)-4:] + "…",
		CreatedAt: created,
	}
}

// TestKeyStore runs the keys.Store conformance suite. newStore must return
// an empty store; it is called once per subtest.
func TestKeyStore(t *testing.T, newStore func(t *testing.T) keys.Store) {
	ctx := context.Background()
	testKeyGovernance(t, newStore)

	t.Run("CreateAndGet", func(t *testing.T) {
		s := newStore(t)
		k := testKey("key_aaaaaaaaaaaaaaaa", "search-api", "search", base)
		k.Models = []string{"gpt-4o", "claude-sonnet"}
		k.ExpiresAt = base.Add(30 * 24 * time.Hour)
		k.Metadata = map[string]string{"owner": "ana", "ticket": "OPS-1"}
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		got, err := s.KeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatalf("KeyByHash: %v", err)
		}
		if diff := cmp.Diff(k, got, equateEmpty); diff != "" {
			t.Errorf("KeyByHash (-want +got):\n%s", diff)
		}
		minimal := testKey("key_bbbbbbbbbbbbbbbb", "minimal", "", base)
		if err := s.CreateKey(ctx, minimal); err != nil {
			t.Fatalf("CreateKey(minimal): %v", err)
		}
		got, err = s.KeyByHash(ctx, minimal.Hash)
		if err != nil {
			t.Fatalf("KeyByHash(minimal): %v", err)
		}
		if diff := cmp.Diff(minimal, got, equateEmpty); diff != "" {
			t.Errorf("KeyByHash(minimal) (-want +got):\n%s", diff)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.KeyByHash(ctx, make([]byte, 32)); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("KeyByHash(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := s.RevokeKey(ctx, "nope", base); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("RevokeKey(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("DuplicateName", func(t *testing.T) {
		s := newStore(t)
		a := testKey("key_aaaaaaaaaaaaaaaa", "dup", "", base)
		if err := s.CreateKey(ctx, a); err != nil {
			t.Fatal(err)
		}
		b := testKey("key_bbbbbbbbbbbbbbbb", "dup", "", base)
		if err := s.CreateKey(ctx, b); !errors.Is(err, keys.ErrDuplicateName) {
			t.Fatalf("CreateKey(same name) = %v, want ErrDuplicateName", err)
		}
		if _, err := s.RevokeKey(ctx, a.ID, base.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateKey(ctx, b); err != nil {
			t.Fatalf("CreateKey(name of a revoked key) = %v, want nil", err)
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		ks := []*keys.Key{
			testKey("key_cccccccccccccccc", "c", "red", base.Add(2*time.Second)),
			testKey("key_aaaaaaaaaaaaaaaa", "a", "red", base),
			testKey("key_bbbbbbbbbbbbbbbb", "b", "blue", base.Add(time.Second)),
			testKey("key_dddddddddddddddd", "d", "red", base.Add(3*time.Second)),
		}
		for _, k := range ks {
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.RevokeKey(ctx, "d", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			f    keys.ListFilter
			want []string
		}{
			{"active", keys.ListFilter{}, []string{"a", "b", "c"}},
			{"all", keys.ListFilter{IncludeRevoked: true}, []string{"a", "b", "c", "d"}},
			{"team", keys.ListFilter{Team: "red"}, []string{"a", "c"}},
			{"team-all", keys.ListFilter{Team: "red", IncludeRevoked: true}, []string{"a", "c", "d"}},
			{"no-such-team", keys.ListFilter{Team: "green"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListKeys(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, k := range got {
					names = append(names, k.Name)
				}
				if diff := cmp.Diff(tt.want, names, equateEmpty); diff != "" {
					t.Errorf("ListKeys(%+v) names (-want +got):\n%s", tt.f, diff)
				}
			})
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		s := newStore(t)
		a := testKey("key_aaaaaaaaaaaaaaaa", "a", "", base)
		b := testKey("key_bbbbbbbbbbbbbbbb", "b", "", base)
		for _, k := range []*keys.Key{a, b} {
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		at := base.Add(time.Hour)
		got, err := s.RevokeKey(ctx, a.ID, at)
		if err != nil {
			t.Fatalf("RevokeKey(id): %v", err)
		}
		if got.ID != a.ID || !got.RevokedAt.Equal(at) {
			t.Errorf("RevokeKey(id) = %s revoked %v, want %s revoked %v", got.ID, got.RevokedAt, a.ID, at)
		}
		got, err = s.RevokeKey(ctx, "b", at)
		if err != nil || got.ID != b.ID {
			t.Fatalf("RevokeKey(name) = %v, %v, want %s", got, err, b.ID)
		}
		// Again by id: unchanged, the first time stands.
		got, err = s.RevokeKey(ctx, a.ID, at.Add(time.Hour))
		if err != nil || !got.RevokedAt.Equal(at) {
			t.Errorf("RevokeKey(revoked id) = %v, %v, want first revocation time %v", got, err, at)
		}
		// By name: no active key has it any more.
		if _, err := s.RevokeKey(ctx, "a", at); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("RevokeKey(name of revoked key) = %v, want ErrNotFound", err)
		}
		// Revoked keys are still found by hash, so that the caller can say so.
		k, err := s.KeyByHash(ctx, a.Hash)
		if err != nil || !k.RevokedAt.Equal(at) {
			t.Errorf("KeyByHash(revoked) = %v, %v, want RevokedAt %v", k, err, at)
		}
	})

	t.Run("Touch", func(t *testing.T) {
		s := newStore(t)
		a := testKey("key_aaaaaaaaaaaaaaaa", "a", "", base)
		b := testKey("key_bbbbbbbbbbbbbbbb", "b", "", base)
		for _, k := range []*keys.Key{a, b} {
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		t1, t2 := base.Add(time.Minute), base.Add(2*time.Minute)
		if err := s.TouchKeys(ctx, map[string]time.Time{a.ID: t2, b.ID: t1, "key_unknown": t1}); err != nil {
			t.Fatalf("TouchKeys: %v", err)
		}
		if err := s.TouchKeys(ctx, map[string]time.Time{a.ID: t1}); err != nil {
			t.Fatalf("TouchKeys(older): %v", err)
		}
		if err := s.TouchKeys(ctx, nil); err != nil {
			t.Fatalf("TouchKeys(nil): %v", err)
		}
		for _, c := range []struct {
			k    *keys.Key
			want time.Time
		}{{a, t2}, {b, t1}} {
			got, err := s.KeyByHash(ctx, c.k.Hash)
			if err != nil {
				t.Fatal(err)
			}
			if !got.LastUsedAt.Equal(c.want) {
				t.Errorf("LastUsedAt(%s) = %v, want %v", c.k.Name, got.LastUsedAt, c.want)
			}
		}
	})
}
