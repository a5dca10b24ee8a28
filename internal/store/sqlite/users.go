package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/users"
)

var _ users.Store = (*DB)(nil)

type userSettings struct {
	Budget *budget.Spec      `json:"budget,omitempty"`
	Limits *ratelimit.Limits `json:"limits,omitempty"`
}

// CreateUsers implements users.Store, in one transaction.
func (db *DB) CreateUsers(ctx context.Context, us []users.User) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: create users: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO end_users (owner, id, created_at, settings) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("sqlite: create users: %w", err)
	}
	defer stmt.Close()
	for _, u := range us {
		s, err := json.Marshal(userSettings{u.Budget, u.Limits})
		if err != nil {
			return fmt.Errorf("sqlite: create users: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, u.Owner, u.ID, u.CreatedAt.UnixNano(), string(s)); err != nil {
			return fmt.Errorf("sqlite: create users: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create users: %w", err)
	}
	return nil
}

// ListUsers implements users.Store.
func (db *DB) ListUsers(ctx context.Context) ([]users.User, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT owner, id, created_at, settings FROM end_users ORDER BY owner, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []users.User
	for rows.Next() {
		var u users.User
		var created int64
		var settings string
		if err := rows.Scan(&u.Owner, &u.ID, &created, &settings); err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		var s userSettings
		if err := json.Unmarshal([]byte(settings), &s); err != nil {
			return nil, fmt.Errorf("sqlite: user %s/%s: settings: %w", u.Owner, u.ID, err)
		}
		u.CreatedAt, u.Budget, u.Limits = time.Unix(0, created).UTC(), s.Budget, s.Limits
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return out, nil
}

// UpdateUser implements users.Store.
func (db *DB) UpdateUser(ctx context.Context, u users.User) error {
	s, err := json.Marshal(userSettings{u.Budget, u.Limits})
	if err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE end_users SET settings = ? WHERE owner = ? AND id = ?`, string(s), u.Owner, u.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return users.ErrNotFound
	}
	return nil
}
