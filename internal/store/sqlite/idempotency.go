package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/airgw/airgw/internal/idempotency"
)

var (
	_ idempotency.Store  = (*DB)(nil)
	_ idempotency.Purger = (*DB)(nil)
)

// Begin implements idempotency.Store. It runs in one IMMEDIATE transaction
// on the writer connection, so concurrent Begins for a key, in this process
// or another, are serialised and at most one of them proceeds.
func (db *DB) Begin(ctx context.Context, scope, key string, bodyHash []byte, now time.Time, ttl, stale time.Duration) (idempotency.Outcome, *idempotency.Stored, error) {
	nowNs, err := nanos(now)
	if err != nil {
		return 0, nil, fmt.Errorf("sqlite: idempotency begin: %w", err)
	}
	if nowNs == nil {
		return 0, nil, errors.New("sqlite: idempotency begin: now is zero")
	}
	tx, err := db.w.BeginTx(ctx, nil) // _txlock=immediate: the write lock is taken here
	if err != nil {
		return 0, nil, fmt.Errorf("sqlite: idempotency begin: %w", err)
	}
	defer tx.Rollback()
	var (
		hash, body       []byte
		state, header    string
		status           int
		stream           bool
		created, expires int64
	)
	err = tx.QueryRowContext(ctx, `SELECT body_sha256, state, status, header, body, stream, created_at, expires_at
		FROM idempotency_keys WHERE scope = ? AND "key" = ?`, scope, key).
		Scan(&hash, &state, &status, &header, &body, &stream, &created, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// absent: claim below
	case err != nil:
		return 0, nil, fmt.Errorf("sqlite: idempotency begin: %w", err)
	case expires <= now.UnixNano():
		// expired: replaced below, as if absent
	case !bytes.Equal(hash, bodyHash):
		return idempotency.Mismatch, nil, nil
	case state == "done":
		st := &idempotency.Stored{Status: status, Body: body, Stream: stream}
		if err := json.Unmarshal([]byte(header), &st.Header); err != nil {
			return 0, nil, fmt.Errorf("sqlite: idempotency begin: stored header: %w", err)
		}
		return idempotency.Replay, st, nil
	case now.UnixNano()-created < int64(stale):
		return idempotency.InFlight, nil, nil
	}
	// Absent, expired or abandoned: (re)claim it with a fresh row.
	_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys
		(scope, "key", body_sha256, state, created_at, expires_at) VALUES (?, ?, ?, 'pending', ?, ?)
		ON CONFLICT (scope, "key") DO UPDATE SET body_sha256 = excluded.body_sha256, state = 'pending',
			status = 0, header = '{}', body = NULL, stream = 0,
			created_at = excluded.created_at, expires_at = excluded.expires_at`,
		scope, key, bodyHash, nowNs, saturatingAdd(now.UnixNano(), ttl))
	if err != nil {
		return 0, nil, fmt.Errorf("sqlite: idempotency begin: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("sqlite: idempotency begin: %w", err)
	}
	return idempotency.Proceed, nil, nil
}

// Complete implements idempotency.Store.
func (db *DB) Complete(ctx context.Context, scope, key string, s idempotency.Stored) error {
	h := s.Header
	if h == nil {
		h = http.Header{}
	}
	header, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("sqlite: idempotency complete: %w", err)
	}
	body := s.Body
	if body == nil {
		body = []byte{} // a stored empty body is not "no body"
	}
	res, err := db.w.ExecContext(ctx, `UPDATE idempotency_keys SET state = 'done', status = ?, header = ?, body = ?, stream = ?
		WHERE scope = ? AND "key" = ?`, s.Status, string(header), body, s.Stream, scope, key)
	if err != nil {
		return fmt.Errorf("sqlite: idempotency complete: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: idempotency complete: %w", err)
	} else if n == 0 {
		return idempotency.ErrNotClaimed
	}
	return nil
}

// Release implements idempotency.Store.
func (db *DB) Release(ctx context.Context, scope, key string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND "key" = ? AND state = 'pending'`, scope, key)
	if err != nil {
		return fmt.Errorf("sqlite: idempotency release: %w", err)
	}
	return nil
}

// Purge implements idempotency.Purger: it deletes every row that expired
// at or before now and returns how many.
func (db *DB) Purge(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at <= ?`, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("sqlite: idempotency purge: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: idempotency purge: %w", err)
	}
	return n, nil
}

// saturatingAdd is t+d in unix nanoseconds, capped at the largest int64.
func saturatingAdd(t int64, d time.Duration) int64 {
	if d > 0 && t > (1<<63-1)-int64(d) {
		return 1<<63 - 1
	}
	return t + int64(d)
}
