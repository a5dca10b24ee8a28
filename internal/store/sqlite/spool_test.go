package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

// outage is the database as the spool sees it, with a switch that makes
// every write fail as if the database were unreachable.
type outage struct {
	*DB
	down atomic.Bool
}

func (o *outage) InsertRecords(ctx context.Context, recs []audit.Record) error {
	if o.down.Load() {
		return errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")
	}
	return o.DB.InsertRecords(ctx, recs)
}

func spoolOn(t *testing.T, sink audit.Sink, dir string) *audit.Spool {
	t.Helper()
	sp, err := audit.OpenSpool(sink, audit.SpoolOptions{Dir: dir, FlushInterval: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		MemoryQueue: 64, BatchSize: 32, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func request(i int) audit.Record {
	return audit.Record{RequestID: fmt.Sprintf("req-%05d", i), Start: time.Date(2026, 11, 1, 12, 0, 0, i, time.UTC),
		KeyID: "key_1", Team: "search", RequestedModel: "gpt-4o", Provider: "openai", Status: 200,
		Tags: []string{"t" + fmt.Sprint(i%3)}, InputTokens: int64(i), CostNanoUSD: int64(10 * i)}
}

func closeSpool(t *testing.T, sp *audit.Spool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sp.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// storedOnce fails unless the database holds exactly the request ids of
// want, once each, and returns how many records it holds.
func storedOnce(t *testing.T, db *DB, want map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	if err := db.QueryRecords(context.Background(), audit.Filter{}, func(r audit.Record) error {
		seen[r.RequestID]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var missing, dup, extra int
	for id := range want {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	for id := range seen {
		if !want[id] {
			extra++
		}
	}
	if missing+dup+extra > 0 {
		t.Errorf("records: %d missing, %d duplicated, %d unexpected of %d", missing, dup, extra, len(want))
	}
}

func verified(t *testing.T, db *DB, dir string) *audit.Report {
	t.Helper()
	dead, err := audit.ReadDeadLetters(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), db, audit.VerifyOptions{DeadLetter: dead.Lookup})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Errorf("Verify = %+v, problem %+v", rep, rep.Chains[0].Problem)
	}
	return rep
}

// TestSpoolDatabaseDown is RELIABILITY.md T14 (short): the database
// refuses every write for a while under a steady flow of records; the
// spool holds them, on disk and with bounded memory, and stores each one
// exactly once when the database is back.
func TestSpoolDatabaseDown(t *testing.T) {
	db := openTemp(t)
	dir := t.TempDir()
	sink := &outage{DB: db}
	sp := spoolOn(t, sink, dir)
	want := map[string]bool{}
	const n = 3000
	var slowest time.Duration
	for i := range n {
		if i == n/3 {
			sink.down.Store(true)
		}
		if i == 2*n/3 {
			if st := sp.Stats(); st.Depth < n/3 || !st.SinkFailing {
				t.Errorf("Stats during the outage = %+v, want ≥ %d records waiting and the sink failing", st, n/3)
			}
			sink.down.Store(false)
		}
		r := request(i)
		start := time.Now()
		sp.Write(r)
		slowest = max(slowest, time.Since(start))
		want[r.RequestID] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sp.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	closeSpool(t, sp)
	storedOnce(t, db, want)
	verified(t, db, dir)
	t.Logf("FIGURE T14 short: %d records, database down for a third of them: 0 lost, 0 duplicated; slowest Write %v", n, slowest)
}

// TestSpoolDatabaseLocked is T15 (short): a writer holding the database's
// lock (a backup, a long migration) makes inserts wait; Write does not.
func TestSpoolDatabaseLocked(t *testing.T) {
	db := openTemp(t)
	dir := t.TempDir()
	sp := spoolOn(t, db, dir)
	other, err := sql.Open("sqlite", db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	var slowest time.Duration
	for i := range 500 {
		r := request(i)
		start := time.Now()
		sp.Write(r)
		slowest = max(slowest, time.Since(start))
		want[r.RequestID] = true
	}
	if st := sp.Stats(); st.Stored != 0 {
		t.Errorf("records stored while the database was locked = %d, want 0", st.Stored)
	}
	conn.ExecContext(context.Background(), `ROLLBACK`)
	conn.Close()
	closeSpool(t, sp)
	storedOnce(t, db, want)
	t.Logf("FIGURE T15 short: 500 records written while another process held the database's write lock: slowest Write %v; all stored after", slowest)
}

// TestSpoolPoisonRecords is RELIABILITY.md T16: records the database
// refuses go to the dead-letter file with the reason; the good records of
// the same batches are stored; the chain still verifies, the rejected
// records filling their gaps from the dead-letter file.
func TestSpoolPoisonRecords(t *testing.T) {
	db := openTemp(t)
	dir := t.TempDir()
	sp := spoolOn(t, db, dir)
	want := map[string]bool{}
	for i := range 200 {
		r := request(i)
		switch i {
		case 50:
			r.Start = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) // beyond int64 nanoseconds
		case 120:
			r.RequestID = request(7).RequestID // an id stored already, with other content
		default:
			want[r.RequestID] = true
		}
		sp.Write(r)
	}
	closeSpool(t, sp)
	storedOnce(t, db, want)
	b, err := os.ReadFile(filepath.Join(dir, audit.DeadLetterFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "out of range") || !strings.Contains(lines[1], "stored already with other content") {
		t.Errorf("dead-letter file:\n%s\nwant the two poison records with their reasons", b)
	}
	if st := sp.Stats(); st.DeadLettered != 2 || st.Stored != 198 {
		t.Errorf("Stats = %+v, want 2 dead-lettered and 198 stored", st)
	}
	rep := verified(t, db, dir)
	if rep.Chains[0].DeadLettered != 2 || rep.Records != 200 {
		t.Errorf("Verify = %+v, want 200 records of which 2 from the dead-letter file", rep.Chains[0])
	}
}
