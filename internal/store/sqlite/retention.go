package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

var (
	_ audit.BodySource = (*DB)(nil)
	_ audit.Purger     = (*DB)(nil)
)

// RecordBodies implements audit.BodySource.
func (db *DB) RecordBodies(ctx context.Context, requestID string) (*audit.Bodies, error) {
	var b audit.Bodies
	err := db.r.QueryRowContext(ctx, `SELECT request, response, truncated FROM audit_bodies WHERE request_id = ?`, requestID).
		Scan(&b.Request, &b.Response, &b.Truncated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: bodies: %w", err)
	}
	return &b, nil
}

// PurgeBodies implements audit.Purger.
func (db *DB) PurgeBodies(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM audit_bodies WHERE created_ns < ?`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge bodies: %w", err)
	}
	return res.RowsAffected()
}

// PurgeRecords implements audit.Purger. Admin changes and reloads are kept
// as long as requests; each chain is cut at its last checkpoint whose
// record started before the cut-off.
func (db *DB) PurgeRecords(ctx context.Context, before time.Time) (int64, error) {
	cut := before.UnixNano()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge records: %w", err)
	}
	defer tx.Rollback()
	var total int64
	// Unchained records: by time alone.
	res, err := tx.ExecContext(ctx, `DELETE FROM audit_records WHERE chain = '' AND start_ns < ?`, cut)
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge records: %w", err)
	}
	n, _ := res.RowsAffected()
	total += n
	// Chained records: up to the last checkpoint before the cut-off.
	rows, err := tx.QueryContext(ctx, `SELECT c.chain, max(c.seq) FROM audit_checkpoints c
		JOIN audit_records r ON r.chain = c.chain AND r.seq = c.seq AND r.chain != ''
		WHERE r.start_ns < ? GROUP BY c.chain`, cut)
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge records: %w", err)
	}
	type cutAt struct {
		chain string
		seq   int64
	}
	var cuts []cutAt
	for rows.Next() {
		var c cutAt
		if err := rows.Scan(&c.chain, &c.seq); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: purge records: %w", err)
		}
		cuts = append(cuts, c)
	}
	rows.Close()
	for _, c := range cuts {
		// By position, not time: what precedes the checkpoint in the chain
		// goes with it (a record finished before the checkpoint's may have
		// started a little after the cut-off).
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_records WHERE chain = ? AND chain != '' AND seq <= ?`, c.chain, c.seq)
		if err != nil {
			return 0, fmt.Errorf("sqlite: purge records: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	// The daily totals of the days records were deleted from (up to a day
	// after the cut-off: deletion goes by chain position) are summed again
	// from what is left.
	redo := before.UTC().Truncate(24 * time.Hour).Add(48 * time.Hour)
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_usage_daily WHERE day != '' AND day < ?`, usageDay(redo)); err != nil {
		return 0, fmt.Errorf("sqlite: purge records: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_usage_daily
		SELECT date(start_ns / 1000000000, 'unixepoch'), key_id, team, requested_model, provider, purpose, max(key_name),
			count(*), sum(status >= 400), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
			sum(reasoning_tokens), sum(cost_nano_usd)
		FROM audit_records WHERE kind = 'request' AND start_ns < ?
		GROUP BY 1, key_id, team, requested_model, provider, purpose`, redo.UnixNano()); err != nil {
		return 0, fmt.Errorf("sqlite: purge records: %w", err)
	}
	// Tags of deleted records (foreign keys cascade only when enabled on
	// the connection that deletes).
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_tags WHERE record_id NOT IN (SELECT id FROM audit_records)`); err != nil {
		return 0, fmt.Errorf("sqlite: purge records: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: purge records: %w", err)
	}
	return total, nil
}
