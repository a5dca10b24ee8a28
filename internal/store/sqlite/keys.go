package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/keys"
	"modernc.org/sqlite"
)

var _ keys.Store = (*DB)(nil)

const keyColumns = `id, name, team, models, hash, prefix, created_at, expires_at, revoked_at, last_used_at, metadata`

// CreateKey implements keys.Store.
func (db *DB) CreateKey(ctx context.Context, k *keys.Key) error {
	models, err := json.Marshal(nonNil(k.Models))
	if err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	meta := k.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	metadata, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	var times [4]any
	for i, t := range []time.Time{k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt} {
		if times[i], err = nanos(t); err != nil {
			return fmt.Errorf("sqlite: create key: %w", err)
		}
	}
	if times[0] == nil {
		return errors.New("sqlite: create key: CreatedAt is zero")
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	defer tx.Rollback()
	if k.RevokedAt.IsZero() {
		var taken bool
		err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM keys WHERE name = ? AND revoked_at IS NULL`, k.Name).Scan(&taken)
		if err != nil {
			return fmt.Errorf("sqlite: create key: %w", err)
		}
		if taken {
			return keys.ErrDuplicateName
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Team, string(models), k.Hash, k.Prefix, times[0], times[1], times[2], times[3], string(metadata))
	if err != nil {
		if isConstraint(err) && strings.Contains(err.Error(), "keys.name") {
			return keys.ErrDuplicateName
		}
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	return nil
}

// KeyByHash implements keys.Store.
func (db *DB) KeyByHash(ctx context.Context, hash []byte) (*keys.Key, error) {
	row := db.r.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE hash = ?`, hash)
	k, err := scanKey(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keys.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: key by hash: %w", err)
	}
	return k, nil
}

// ListKeys implements keys.Store.
func (db *DB) ListKeys(ctx context.Context, f keys.ListFilter) ([]keys.Key, error) {
	q := `SELECT ` + keyColumns + ` FROM keys WHERE (? = '' OR team = ?)`
	if !f.IncludeRevoked {
		q += ` AND revoked_at IS NULL`
	}
	q += ` ORDER BY created_at, id`
	rows, err := db.r.QueryContext(ctx, q, f.Team, f.Team)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	defer rows.Close()
	var out []keys.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list keys: %w", err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	return out, nil
}

// RevokeKey implements keys.Store.
func (db *DB) RevokeKey(ctx context.Context, idOrName string, at time.Time) (*keys.Key, error) {
	atN, err := nanos(at)
	if err != nil || atN == nil {
		return nil, fmt.Errorf("sqlite: revoke key: bad time %v", at)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoke key: %w", err)
	}
	defer tx.Rollback()
	k, err := scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = ?`, idOrName))
	if errors.Is(err, sql.ErrNoRows) {
		k, err = scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE name = ? AND revoked_at IS NULL`, idOrName))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keys.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoke key: %w", err)
	}
	if !k.RevokedAt.IsZero() {
		return k, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE keys SET revoked_at = ? WHERE id = ?`, atN, k.ID); err != nil {
		return nil, fmt.Errorf("sqlite: revoke key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: revoke key: %w", err)
	}
	k.RevokedAt = fromNanos(sql.NullInt64{Int64: atN.(int64), Valid: true})
	return k, nil
}

// TouchKeys implements keys.Store, in one transaction.
func (db *DB) TouchKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: touch keys: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE keys SET last_used_at = ?1
		WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
	if err != nil {
		return fmt.Errorf("sqlite: touch keys: %w", err)
	}
	defer stmt.Close()
	for id, t := range lastUsed {
		n, err := nanos(t)
		if err != nil || n == nil {
			continue // a bad time from a clock is not worth failing the batch
		}
		if _, err := stmt.ExecContext(ctx, n, id); err != nil {
			return fmt.Errorf("sqlite: touch keys: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: touch keys: %w", err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanKey(s scanner) (*keys.Key, error) {
	var (
		k                          keys.Key
		models, metadata           string
		created                    int64
		expires, revoked, lastUsed sql.NullInt64
	)
	if err := s.Scan(&k.ID, &k.Name, &k.Team, &models, &k.Hash, &k.Prefix, &created, &expires, &revoked, &lastUsed, &metadata); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
		return nil, fmt.Errorf("key %s: models: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(metadata), &k.Metadata); err != nil {
		return nil, fmt.Errorf("key %s: metadata: %w", k.ID, err)
	}
	if len(k.Models) == 0 {
		k.Models = nil
	}
	if len(k.Metadata) == 0 {
		k.Metadata = nil
	}
	k.CreatedAt = time.Unix(0, created).UTC()
	k.ExpiresAt = fromNanos(expires)
	k.RevokedAt = fromNanos(revoked)
	k.LastUsedAt = fromNanos(lastUsed)
	return &k, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// isConstraint reports whether err is a SQLite constraint violation, which
// retrying cannot fix.
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == 19 // SQLITE_CONSTRAINT
}
