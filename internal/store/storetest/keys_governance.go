package storetest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
)

// settings exercises every field of keys.Settings.
func settings() keys.Settings {
	return keys.Settings{
		Budget: &budget.Spec{Limit: 50_000_000_000, Period: budget.Monthly, Hard: true, AlertAt: []int{50, 100}},
		Limits: &ratelimit.Limits{RPM: 60, TPM: 10000, Models: []ratelimit.ModelLimits{{Model: "gpt-*", RPM: 5}}},
		Users: &keys.UserDefaults{Budget: &budget.Spec{Limit: 1, Period: budget.Daily, AlertAt: []int{}},
			Limits: &ratelimit.Limits{Concurrent: 2}},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
	}
}

var cmpKeys = cmp.Options{equateEmpty, cmpopts.EquateComparable(netip.Prefix{})}

// testKeyGovernance is the part of TestKeyStore about settings, updates
// and rotation.
func testKeyGovernance(t *testing.T, newStore func(t *testing.T) keys.Store) {
	ctx := context.Background()

	t.Run("SettingsRoundTrip", func(t *testing.T) {
		s := newStore(t)
		k := testKey("key_aaaaaaaaaaaaaaaa", "a", "search", base)
		k.Settings = settings()
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		got, err := s.KeyByID(ctx, k.ID)
		if err != nil {
			t.Fatalf("KeyByID: %v", err)
		}
		if diff := cmp.Diff(k, got, cmpKeys); diff != "" {
			t.Errorf("KeyByID (-want +got):\n%s", diff)
		}
		if _, err := s.KeyByID(ctx, "key_nope"); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("KeyByID(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		k := testKey("key_aaaaaaaaaaaaaaaa", "a", "search", base)
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		u := *k
		u.Models, u.ExpiresAt, u.Metadata, u.Settings = []string{"m"}, base.Add(time.Hour), map[string]string{"o": "p"}, settings()
		u.Name, u.Team = "ignored", "ignored" // only the documented fields change
		if err := s.UpdateKey(ctx, &u); err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
		got, _ := s.KeyByHash(ctx, k.Hash)
		want := u
		want.Name, want.Team = k.Name, k.Team
		if diff := cmp.Diff(&want, got, cmpKeys); diff != "" {
			t.Errorf("after UpdateKey (-want +got):\n%s", diff)
		}
		missing := testKey("key_bbbbbbbbbbbbbbbb", "b", "", base)
		if err := s.UpdateKey(ctx, missing); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("UpdateKey(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("Rotate", func(t *testing.T) {
		s := newStore(t)
		old := testKey("key_aaaaaaaaaaaaaaaa", "api", "search", base)
		if err := s.CreateKey(ctx, old); err != nil {
			t.Fatal(err)
		}
		graceEnd := base.Add(24 * time.Hour)
		upd := *old
		upd.RevokedAt = graceEnd
		next := testKey("key_bbbbbbbbbbbbbbbb", "api", "search", base.Add(time.Second))
		next.Family = old.ID
		if err := s.RotateKey(ctx, &upd, next); err != nil {
			t.Fatalf("RotateKey: %v", err)
		}
		gotOld, _ := s.KeyByID(ctx, old.ID)
		if !gotOld.RevokedAt.Equal(graceEnd) || gotOld.RotatedTo != next.ID {
			t.Errorf("old key after rotation: revoked %v rotated_to %q, want %v %q", gotOld.RevokedAt, gotOld.RotatedTo, graceEnd, next.ID)
		}
		gotNext, _ := s.KeyByHash(ctx, next.Hash)
		if gotNext == nil || gotNext.Family != old.ID || gotNext.FamilyID() != old.ID {
			t.Errorf("new key = %+v, want family %s", gotNext, old.ID)
		}
		active, _ := s.ListKeys(ctx, keys.ListFilter{})
		if len(active) != 1 || active[0].ID != next.ID {
			t.Errorf("active keys after rotation = %v, want only the new one", active)
		}
		if err := s.RotateKey(ctx, &upd, testKey("key_cccccccccccccccc", "api", "", base)); !errors.Is(err, keys.ErrRevoked) {
			t.Errorf("RotateKey(rotated) = %v, want ErrRevoked", err)
		}
		// Revoking the old key during its grace brings the revocation forward.
		now := base.Add(time.Hour)
		got, err := s.RevokeKey(ctx, old.ID, now)
		if err != nil || !got.RevokedAt.Equal(now) {
			t.Errorf("RevokeKey(in grace) = %v, %v, want revoked at %v", got, err, now)
		}
	})
}
