package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
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

// TestWriterIntoSQLite sends records from many goroutines through an
// audit.Writer into the database.
func TestWriterIntoSQLite(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "airgw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := audit.NewWriter(db, audit.WriterOptions{BatchSize: 64, FlushInterval: 5 * time.Millisecond, QueueSize: 128, Logger: slog.New(slog.DiscardHandler)})
	var wg sync.WaitGroup
	start := time.Now()
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				w.Write(audit.Record{RequestID: fmt.Sprintf("g%d-%d", g, i), Start: start, Status: 200})
			}
		})
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := db.QueryRecords(context.Background(), audit.Filter{}, func(audit.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1600 || w.Stats().Written != 1600 {
		t.Errorf("stored %d records, Stats %+v, want 1600", n, w.Stats())
	}
}
