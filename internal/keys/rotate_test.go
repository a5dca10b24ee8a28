package keys

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/ratelimit"
)

// TestRotateGrace: during the grace period the old and the new key both
// work; after it only the new one does; the new key inherits everything
// and stays in the old key's family.
func TestRotateGrace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	set := Settings{Budget: &budget.Spec{Limit: 5, Period: budget.Daily, Hard: true}, Limits: &ratelimit.Limits{RPM: 3}}
	oldPlain, old := f.create(t, CreateOptions{Name: "ci", Team: "search", Models: []string{"m"}, Metadata: map[string]string{"owner": "ana"}, Settings: set})
	newPlain, next, updated, err := f.mgr.Rotate(ctx, "ci", time.Hour)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if next.Name != "ci" || next.Team != "search" || next.FamilyID() != old.ID || next.Budget == nil || next.Limits.RPM != 3 || next.Metadata["owner"] != "ana" {
		t.Errorf("rotated key = %+v, want the old key's name, team, settings, metadata, family %s", next, old.ID)
	}
	if updated.RotatedTo != next.ID || !updated.RevokedAt.Equal(f.clock.Now().Add(time.Hour)) {
		t.Errorf("old key = rotated_to %q revoked %v, want %q and now+1h", updated.RotatedTo, updated.RevokedAt, next.ID)
	}
	for _, p := range []string{oldPlain, newPlain} {
		if _, err := f.auth.Authenticate(ctx, p); err != nil {
			t.Errorf("during the grace period: Authenticate = %v, want both keys to work", err)
		}
	}
	f.clock.Advance(time.Hour + DefaultTTL)
	if _, err := f.auth.Authenticate(ctx, oldPlain); authCode(t, err) != llm.CodeAuthenticationFailed {
		t.Errorf("after the grace period: old key = %v, want authentication_failed", err)
	}
	if _, err := f.auth.Authenticate(ctx, newPlain); err != nil {
		t.Errorf("after the grace period: new key = %v, want it to work", err)
	}
	if _, _, _, err := f.mgr.Rotate(ctx, old.ID, 0); !errors.Is(err, ErrRevoked) {
		t.Errorf("rotating the old key again = %v, want ErrRevoked", err)
	}
	if _, _, _, err := f.mgr.Rotate(ctx, "ci", MaxGrace+time.Second); err == nil {
		t.Error("Rotate with a grace beyond MaxGrace = nil error")
	}
	// A second rotation stays in the first key's family.
	_, third, _, err := f.mgr.Rotate(ctx, "ci", 0)
	if err != nil || third.FamilyID() != old.ID {
		t.Errorf("second rotation = %v, family %q, want family %s", err, third.FamilyID(), old.ID)
	}
}

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, k := f.create(t, CreateOptions{Name: "app"})
	ips := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	models := []string{"gpt-*"}
	before, after, err := f.mgr.Update(ctx, "app", Update{Models: &models, Settings: &Settings{AllowedIPs: ips}})
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Models) != 0 || after.Models[0] != "gpt-*" || after.AllowedIPs[0] != ips[0] {
		t.Errorf("Update = before %+v after %+v", before, after)
	}
	got, _ := f.mgr.Get(ctx, k.ID)
	if len(got.AllowedIPs) != 1 {
		t.Errorf("stored key = %+v, want the allowed IPs", got)
	}
	bad := []struct {
		name string
		u    Update
	}{
		{"negative-limit", Update{Settings: &Settings{Limits: &ratelimit.Limits{RPM: -1}}}},
		{"empty-ips", Update{Settings: &Settings{AllowedIPs: []netip.Prefix{}}}},
		{"bad-period", Update{Settings: &Settings{Budget: &budget.Spec{Limit: 1, Period: "hourly"}}}},
		{"bad-glob", Update{Models: &[]string{"gpt-["}}},
		{"past-expiry", Update{ExpiresAt: ptrTime(f.clock.Now().Add(-time.Hour))}},
	}
	for _, tt := range bad {
		if _, _, err := f.mgr.Update(ctx, "app", tt.u); err == nil {
			t.Errorf("Update(%s) = nil error, want a refusal", tt.name)
		}
	}
	if _, _, err := f.mgr.Update(ctx, "nope", Update{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update(unknown) = %v, want ErrNotFound", err)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }
