package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/airgw/airgw/internal/audit"
)

// InsertCheckpoints implements audit.CheckpointSink; a checkpoint stored
// already is skipped.
func (db *DB) InsertCheckpoints(ctx context.Context, cps []audit.Checkpoint) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: insert checkpoints: %w", err)
	}
	defer tx.Rollback()
	for _, c := range cps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (chain, seq, hash, time_ns, public_key, signature)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, c.Chain, c.Seq, c.Hash, c.Time.UnixNano(), c.PublicKey, c.Signature); err != nil {
			return fmt.Errorf("sqlite: insert checkpoints: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: insert checkpoints: %w", err)
	}
	return nil
}

// ChainHead implements audit.HeadSource.
func (db *DB) ChainHead(ctx context.Context, chain string) (audit.Head, error) {
	var h audit.Head
	err := db.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit_records WHERE chain = ? AND chain != '' ORDER BY seq DESC LIMIT 1`, chain).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{}, nil
	}
	if err != nil {
		return h, fmt.Errorf("sqlite: chain head: %w", err)
	}
	return h, nil
}

// SyncRecords makes stored records durable against a power cut: the WAL,
// which synchronous=NORMAL does not fsync at each commit, is checkpointed
// into the database file. The spool calls it before deleting segments.
func (db *DB) SyncRecords(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	return nil
}

// Chains implements audit.ChainSource.
func (db *DB) Chains(ctx context.Context) ([]string, int64, error) {
	var chains []string
	// Skip-scan the chain index: one probe per chain.
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT chain FROM audit_records WHERE chain != '' ORDER BY chain`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: chains: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, 0, fmt.Errorf("sqlite: chains: %w", err)
		}
		chains = append(chains, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: chains: %w", err)
	}
	var unchained int64
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM audit_records WHERE chain = ''`).Scan(&unchained); err != nil {
		return nil, 0, fmt.Errorf("sqlite: chains: %w", err)
	}
	return chains, unchained, nil
}

// ChainRecords implements audit.ChainSource. (chain != ” lets SQLite use
// the partial index on (chain, seq): records come in order, without a
// sort.)
func (db *DB) ChainRecords(ctx context.Context, chain string, fn func(audit.Record) error) error {
	_, err := db.scanRecords(ctx, `SELECT `+auditColumns+` FROM audit_records WHERE chain = ? AND chain != '' ORDER BY seq`, []any{chain}, fn)
	return err
}

// Checkpoints implements audit.ChainSource.
func (db *DB) Checkpoints(ctx context.Context, chain string) ([]audit.Checkpoint, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT chain, seq, hash, time_ns, public_key, signature FROM audit_checkpoints WHERE chain = ? ORDER BY seq`, chain)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var c audit.Checkpoint
		var t sql.NullInt64
		if err := rows.Scan(&c.Chain, &c.Seq, &c.Hash, &t, &c.PublicKey, &c.Signature); err != nil {
			return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
		}
		c.Time = fromNanos(t)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	return out, nil
}
