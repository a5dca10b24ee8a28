package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/store/storetest"
	"github.com/airgw/airgw/internal/users"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "sub", "airgw.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestKeyStore(t *testing.T) {
	storetest.TestKeyStore(t, func(t *testing.T) keys.Store { return openTemp(t) })
}

func TestUserStore(t *testing.T) {
	storetest.TestUserStore(t, func(t *testing.T) users.Store { return openTemp(t) })
}

func TestBudgetJournal(t *testing.T) {
	storetest.TestBudgetJournal(t, func(t *testing.T) budget.Journal { return openTemp(t) })
}

func TestAuditStore(t *testing.T) {
	storetest.TestAuditStore(t, func(t *testing.T) storetest.AuditStore { return openTemp(t) })
}

func TestOpenPragmas(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	tests := []struct {
		pool   *sql.DB
		pragma string
		want   string
	}{
		{db.w, "journal_mode", "wal"},
		{db.w, "busy_timeout", "5000"},
		{db.w, "foreign_keys", "1"},
		{db.w, "synchronous", "1"}, // NORMAL
		{db.r, "journal_mode", "wal"},
		{db.r, "query_only", "1"},
	}
	for _, tt := range tests {
		var got string
		if err := tt.pool.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	if _, err := db.r.ExecContext(ctx, `DELETE FROM keys`); err == nil {
		t.Error("write through the read pool succeeded, want query_only error")
	}
}

func TestPing(t *testing.T) {
	db := openTemp(t)
	if err := db.Ping(context.Background()); err != nil {
		t.Errorf("Ping = %v", err)
	}
	db.Close()
	if err := db.Ping(context.Background()); err == nil {
		t.Error("Ping after Close = nil, want error")
	}
}

func TestMigrateIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airgw.db")
	ctx := context.Background()
	for i := range 3 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d: %v", i, err)
		}
		var n, v int
		if err := db.r.QueryRowContext(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		// Versions have gaps (each area of the code owns a range of
		// numbers), so count the embedded migrations.
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || v != SchemaVersion() {
			t.Errorf("schema_migrations holds %d rows up to %d, want %d up to %d", n, v, len(ms), SchemaVersion())
		}
		db.Close()
	}
}

func TestOpenConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airgw.db")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := Open(context.Background(), path)
			if err == nil {
				db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airgw.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	future := SchemaVersion() + 1
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future.sql', 0)`, future); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprint(future)) {
		t.Errorf("Open(newer schema) = %v, want ErrSchemaTooNew naming version %d", err, future)
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, p := range []string{"", "a.db?mode=ro", "file:a.db"} {
		if _, err := Open(context.Background(), p); err == nil {
			t.Errorf("Open(%q) = nil error, want error", p)
		}
	}
}

// TestNoPlaintextKeysOnDisk is T31: only the HMAC of a key reaches the
// database file.
func TestNoPlaintextKeysOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "airgw.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secret, err := keys.LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	mgr := keys.NewManager(db, keys.NewHasher(secret), nil)
	var plains []string
	for i := range 20 {
		plain, _, err := mgr.Create(ctx, keys.CreateOptions{Name: fmt.Sprintf("k%d", i), Team: "t", Metadata: map[string]string{"i": fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		plains = append(plains, plain)
	}
	if _, err := mgr.Revoke(ctx, "k3"); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		files, _ := filepath.Glob(path + "*") // the db, -wal and -shm
		if len(files) < 2 {
			t.Fatalf("%s: found only %v", stage, files)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range plains {
				random := p[len(keys.Prefix) : len(keys.Prefix)+32]
				if bytes.Contains(b, []byte(p)) || bytes.Contains(b, []byte(random)) || bytes.Contains(b, []byte(random[4:20])) {
					t.Errorf("%s: %s contains key %d", stage, filepath.Base(f), i)
				}
			}
		}
	}
	check("wal")
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	check("checkpointed")
}

func TestConcurrentInsertRecords(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	const writers, batches, size = 8, 10, 25
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]audit.Record, size)
				for i := range recs {
					n := (g*batches+b)*size + i
					recs[i] = audit.Record{RequestID: fmt.Sprintf("r%05d", n), Start: base.Add(time.Duration(n) * time.Millisecond), Status: 200}
				}
				// Every batch is sent twice, as a retrying writer might.
				for range 2 {
					if err := db.InsertRecords(ctx, recs); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	// Readers run alongside the writers.
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if err := db.QueryRecords(ctx, audit.Filter{Limit: 50}, func(audit.Record) error { return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n, distinct int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT request_id) FROM audit_records`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if want := writers * batches * size; n != want || distinct != want {
		t.Errorf("rows = %d (%d distinct), want %d", n, distinct, want)
	}
}

func TestInsertRecordsRejectsOutOfRangeTime(t *testing.T) {
	db := openTemp(t)
	err := db.InsertRecords(context.Background(), []audit.Record{
		{RequestID: "ok", Start: time.Now()},
		{RequestID: "far", Start: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	})
	var rej *audit.RejectedError
	if !errors.As(err, &rej) || len(rej.IDs) != 1 || rej.IDs[0] != "far" {
		t.Fatalf("InsertRecords = %v, want rejection of far", err)
	}
}

// BenchmarkInsertRecords stores batches of 256 records as the gateway
// writes them, into a trail that holds 100,000 already, with request ids
// random (as they were) or time-ordered (as server.newRequestID makes
// them): random keys touch a different page of the request_id index for
// nearly every record.
func BenchmarkInsertRecords(b *testing.B) {
	for _, ids := range []string{"random", "ordered"} {
		b.Run(ids, func(b *testing.B) {
			db, err := Open(context.Background(), filepath.Join(b.TempDir(), "airgw.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			n := 0
			recs := make([]audit.Record, 256)
			batch := func() {
				for i := range recs {
					id := fmt.Sprintf("req_%012x%012x", time.Now().UnixMilli(), n)
					if ids == "random" {
						var r [12]byte
						_, _ = rand.Read(r[:])
						id = "req_" + hex.EncodeToString(r[:])
					}
					// A record as the gateway writes one (bench/run.sh's request).
					now := time.Now()
					recs[i] = audit.Record{Kind: audit.KindRequest, RequestID: id, Start: now, End: now,
						KeyID: "key_ixji6a5anepy22bn", KeyName: "bench", Team: "bench", EndUser: "bench-user", ClientIP: "127.0.0.1",
						Dialect: "openai", Endpoint: "/v1/chat/completions", RequestedModel: "bench-model", Provider: "fake", ServedModel: "bench-model",
						Attempts: []audit.Attempt{{Provider: "fake", Model: "bench-model", Status: 200, LatencyMillis: 1}},
						Status:   200, InputTokens: 12, OutputTokens: 9, CostNanoUSD: 30000, LatencyMillis: 1,
						Chain: "w", Seq: int64(n + 1), PrevHash: strings.Repeat("a", 64), Hash: fmt.Sprintf("%064d", n)}
					n++
				}
				if err := db.InsertRecords(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
			}
			for range 100_000 / len(recs) {
				batch()
			}
			b.ResetTimer()
			for b.Loop() {
				batch()
			}
		})
	}
}

// TestAuditQueriesUseIndexes: the chain queries and the export filters use
// an index, never a scan of every record or a sort of them (the partial
// indexes of migration 0020 need their condition in the query).
func TestAuditQueriesUseIndexes(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	plan := func(q string, args ...any) string {
		rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "; ")
	}
	where := func(f audit.Filter) string {
		w, _, err := filterSQL(f)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	since := time.Now()
	tests := []struct {
		name, query string
		args        []any
	}{
		{"chain records", `SELECT ` + auditColumns + ` FROM audit_records WHERE chain = ? AND chain != '' ORDER BY seq`, []any{"w"}},
		{"chain head", `SELECT seq, hash FROM audit_records WHERE chain = ? AND chain != '' ORDER BY seq DESC LIMIT 1`, []any{"w"}},
		{"user", `SELECT id FROM audit_records` + where(audit.Filter{EndUser: "u"}), []any{"u"}},
		{"purpose", `SELECT id FROM audit_records` + where(audit.Filter{Purpose: "p"}), []any{"p"}},
		{"error class", `SELECT id FROM audit_records` + where(audit.Filter{ErrorClass: "x"}), []any{"x"}},
		{"any error", `SELECT id FROM audit_records` + where(audit.Filter{ErrorClass: audit.ErrorClassAny}), nil},
		{"team since", `SELECT id FROM audit_records` + where(audit.Filter{Team: "t", Since: since}), []any{since.UnixNano(), "t"}},
		{"tag", `SELECT id FROM audit_records` + where(audit.Filter{Tag: "g"}), []any{"g"}},
	}
	for _, tt := range tests {
		p := plan(tt.query, tt.args...)
		if !strings.Contains(p, "USING INDEX") && !strings.Contains(p, "USING COVERING INDEX") && !strings.Contains(p, "PRIMARY KEY") ||
			strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want an index and no sort", tt.name, p)
		}
	}
}

// TestInsertKeepsTempStore: record batches keep their statement journals
// in memory, and leave the writer connection as they found it (a
// retention delete's journal must be able to spill to disk).
func TestInsertKeepsTempStore(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	if err := db.InsertRecords(ctx, []audit.Record{{RequestID: "a", Start: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	var got int
	if err := db.w.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != 0 {
		t.Errorf("PRAGMA temp_store after InsertRecords = %d, want 0 (default)", got)
	}
}
