package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/store/sqlite"
)

// faulty is the database as the spool sees it: down (every write refused)
// until a deadline, or slow (each batch delayed).
type faulty struct {
	*sqlite.DB
	downUntil atomic.Int64
	slow      time.Duration
}

func (f *faulty) InsertRecords(ctx context.Context, recs []audit.Record) error {
	if time.Now().UnixNano() < f.downUntil.Load() {
		return errors.New("connect: connection refused")
	}
	if f.slow > 0 {
		select {
		case <-time.After(f.slow):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.DB.InsertRecords(ctx, recs)
}

func statSize(path string) (int64, error) {
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return total, nil
}

// benchOutage writes records at rate per second for dur through a real
// spool over SQLite while the database is down for the first down (or
// slow), then waits for the drain and counts: T14 and T15 at full size.
func benchOutage(ctx context.Context, db *sqlite.DB, dir string, rate int, dur, down, slow time.Duration) {
	sink := &faulty{DB: db, slow: slow}
	if slow == 0 {
		sink.downUntil.Store(time.Now().Add(down).UnixNano())
	}
	sp, err := audit.OpenSpool(sink, audit.SpoolOptions{Dir: filepath.Join(dir, "spool"), Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		log.Fatal(err)
	}
	var lat []time.Duration
	var maxDepth int64
	var maxRSS uint64
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	n := 0
	for next := start; time.Since(start) < dur; next = next.Add(interval) {
		time.Sleep(time.Until(next))
		r := audit.Record{RequestID: fmt.Sprintf("req_%024x", n), Start: time.Now(), KeyID: "key_1", Team: "search",
			RequestedModel: "gpt-4o", Provider: "openai", Status: 200, InputTokens: 1000, OutputTokens: 200, CostNanoUSD: 4_500_000,
			Attempts: []audit.Attempt{{Provider: "openai", Model: "gpt-4o", Status: 200, LatencyMillis: 900}}}
		t0 := time.Now()
		if err := sp.Begin(r); err != nil {
			log.Fatalf("Begin refused at record %d: %v", n, err)
		}
		sp.Write(r)
		lat = append(lat, time.Since(t0))
		n++
		if n%rate == 0 {
			st := sp.Stats()
			maxDepth = max(maxDepth, st.Depth)
			maxRSS = max(maxRSS, rss())
		}
	}
	wrote := time.Since(start)
	t0 := time.Now()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := sp.Sync(dctx); err != nil {
		log.Fatal(err)
	}
	drained := time.Since(t0)
	if err := sp.Close(dctx); err != nil {
		log.Fatal(err)
	}
	seen := map[string]int{}
	if err := db.QueryRecords(ctx, audit.Filter{}, func(r audit.Record) error { seen[r.RequestID]++; return nil }); err != nil {
		log.Fatal(err)
	}
	var missing, dup int
	for i := range n {
		switch seen[fmt.Sprintf("req_%024x", i)] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	what := fmt.Sprintf("database down for the first %v", down)
	if slow > 0 {
		what = fmt.Sprintf("database slow (+%v per batch)", slow)
	}
	fmt.Printf("FIGURE outage: %d records at %d/s for %v, %s: %d missing, %d duplicated; spool peak %d records; drained %v after the writes ended; Begin+Write p50 %v p99 %v max %v; peak RSS %d MiB\n",
		n, rate, wrote.Round(time.Second), what, missing, dup, maxDepth, drained.Round(time.Millisecond), q(0.5), q(0.99), lat[len(lat)-1], maxRSS>>20)
}

// rss is the process's resident set size, from /proc (0 elsewhere).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res uint64
	fmt.Sscan(string(b), &size, &res)
	return res * uint64(os.Getpagesize())
}
