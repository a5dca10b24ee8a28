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

const keyColumns = `id, name, team, models, hash, prefix, created_at, expires_at, revoked_at, last_used_at, metadata, family, rotated_to, settings`

// keyRow is a key's column values, in keyColumns order.
func keyRow(k *keys.Key) ([]any, error) {
	models, err := json.Marshal(nonNil(k.Models))
	if err != nil {
		return nil, err
	}
	meta := k.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	metadata, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	settings, err := json.Marshal(k.Settings)
	if err != nil {
		return nil, err
	}
	var times [4]any
	for i, t := range []time.Time{k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt} {
		if times[i], err = nanos(t); err != nil {
			return nil, err
		}
	}
	if times[0] == nil {
		return nil, errors.New("CreatedAt is zero")
	}
	return []any{k.ID, k.Name, k.Team, string(models), k.Hash, k.Prefix, times[0], times[1], times[2], times[3],
		string(metadata), k.Family, k.RotatedTo, string(settings)}, nil
}

// CreateKey implements keys.Store.
func (db *DB) CreateKey(ctx context.Context, k *keys.Key) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	defer tx.Rollback()
	if err := insertKey(ctx, tx, k); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	return nil
}

func insertKey(ctx context.Context, tx *sql.Tx, k *keys.Key) error {
	row, err := keyRow(k)
	if err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
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
	_, err = tx.ExecContext(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, row...)
	if err != nil {
		if isConstraint(err) && strings.Contains(err.Error(), "keys.name") {
			return keys.ErrDuplicateName
		}
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
	if !k.RevokedAt.IsZero() && !k.RevokedAt.After(at) {
		return k, nil // the first revocation stands; a later one (a rotation's grace) is brought forward
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
		models, metadata, settings string
		created                    int64
		expires, revoked, lastUsed sql.NullInt64
	)
	if err := s.Scan(&k.ID, &k.Name, &k.Team, &models, &k.Hash, &k.Prefix, &created, &expires, &revoked, &lastUsed, &metadata,
		&k.Family, &k.RotatedTo, &settings); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &k.Settings); err != nil {
		return nil, fmt.Errorf("key %s: settings: %w", k.ID, err)
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

// KeyByID implements keys.Store.
func (db *DB) KeyByID(ctx context.Context, id string) (*keys.Key, error) {
	k, err := scanKey(db.r.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keys.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: key by id: %w", err)
	}
	return k, nil
}

// UpdateKey implements keys.Store.
func (db *DB) UpdateKey(ctx context.Context, k *keys.Key) error {
	row, err := keyRow(k)
	if err != nil {
		return fmt.Errorf("sqlite: update key: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE keys SET models = ?, expires_at = ?, metadata = ?, settings = ? WHERE id = ?`,
		row[3], row[7], row[10], row[13], k.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return keys.ErrNotFound
	}
	return nil
}

// RotateKey implements keys.Store.
func (db *DB) RotateKey(ctx context.Context, old, next *keys.Key) error {
	at, err := nanos(old.RevokedAt)
	if err != nil || at == nil {
		return fmt.Errorf("sqlite: rotate key: bad revocation time %v", old.RevokedAt)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: rotate key: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE keys SET revoked_at = ?, rotated_to = ? WHERE id = ? AND revoked_at IS NULL AND rotated_to = ''`,
		at, next.ID, old.ID)
	if err != nil {
		return fmt.Errorf("sqlite: rotate key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM keys WHERE id = ?`, old.ID).Scan(&exists); err != nil {
			return fmt.Errorf("sqlite: rotate key: %w", err)
		}
		if !exists {
			return keys.ErrNotFound
		}
		return keys.ErrRevoked
	}
	if err := insertKey(ctx, tx, next); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: rotate key: %w", err)
	}
	return nil
}
