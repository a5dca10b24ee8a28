package sqlite

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
)

// TestRevocationReachesOtherReplica runs two Authenticators ("replicas")
// over one database: a key revoked through one stops working on the other
// once its cache TTL has passed.
func TestRevocationReachesOtherReplica(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	hasher := keys.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	mgr := keys.NewManager(db, hasher, clock)
	plain, k, err := mgr.Create(ctx, keys.CreateOptions{Name: "replicated"})
	if err != nil {
		t.Fatal(err)
	}
	opts := keys.AuthOptions{Now: clock, Logger: slog.New(slog.DiscardHandler)}
	replica := keys.NewAuthenticator(db, hasher, opts)
	defer replica.Close(ctx)
	if _, err := replica.Authenticate(ctx, plain); err != nil {
		t.Fatalf("Authenticate(active) = %v", err)
	}
	if _, err := mgr.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	advance(keys.DefaultTTL)
	_, err = replica.Authenticate(ctx, plain)
	if le := llm.AsError(err); err == nil || le.Code != llm.CodeAuthenticationFailed {
		t.Fatalf("Authenticate(revoked, after TTL) = %v, want authentication_failed", err)
	}
	if keys.DefaultTTL >= 5*time.Second {
		t.Errorf("DefaultTTL = %v, want under 5s (DESIGN.md §2 step 2)", keys.DefaultTTL)
	}
	// Last-used times reach the database when flushed.
	if err := replica.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := db.KeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-keys.DefaultTTL); !got.LastUsedAt.Equal(want) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, want)
	}
}
