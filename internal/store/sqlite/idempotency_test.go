package sqlite

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/idempotency"
	"github.com/airgw/airgw/internal/store/storetest"
)

func TestIdempotencyStore(t *testing.T) {
	storetest.TestIdempotencyStore(t, func(t *testing.T) idempotency.Store { return openTemp(t) })
}

// Two processes share one database file: their Begins for one key are
// serialised by SQLite's write lock, so exactly one proceeds.
func TestIdempotencyBeginAcrossConnections(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "airgw.db")
	dbs := make([]*DB, 3)
	for i := range dbs {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	hash := sha256.Sum256([]byte("body"))
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	var (
		mu       sync.Mutex
		proceeds int
		wg       sync.WaitGroup
	)
	for i := range 30 {
		wg.Go(func() {
			out, _, err := dbs[i%len(dbs)].Begin(ctx, "key_1", "same", hash[:], now, time.Hour, time.Minute)
			if err != nil {
				t.Errorf("Begin: %v", err)
				return
			}
			if out == idempotency.Proceed {
				mu.Lock()
				proceeds++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if proceeds != 1 {
		t.Errorf("30 Begins over 3 connections: %d proceeded, want exactly 1", proceeds)
	}
}

// A stored result survives a restart: it is in the file, not in memory.
func TestIdempotencyResultSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "airgw.db")
	hash := sha256.Sum256([]byte("body"))
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := db.Begin(ctx, "key_1", "k", hash[:], now, time.Hour, time.Minute); err != nil || out != idempotency.Proceed {
		t.Fatalf("Begin = %v, %v", out, err)
	}
	if err := db.Complete(ctx, "key_1", "k", idempotency.Stored{Status: 200, Body: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out, st, err := db.Begin(ctx, "key_1", "k", hash[:], now.Add(time.Minute), time.Hour, time.Minute)
	if err != nil || out != idempotency.Replay || st == nil || string(st.Body) != "hello" || st.Status != 200 {
		t.Errorf("Begin after reopen = %v, %+v, %v; want Replay of the stored body", out, st, err)
	}
}
