package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/airgw/airgw/internal/budget"
)

var _ budget.Ledger = (*DB)(nil)

// Spend implements budget.Ledger from the audit trail: the cost of the
// request records that started at or after since, grouped by key, team and
// end user. It reads what has reached the database; records still in a
// writer's queue or spool are not counted, so the app drains them first.
func (db *DB) Spend(ctx context.Context, since time.Time) ([]budget.Spend, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT key_id, team, end_user, sum(cost_nano_usd) FROM audit_records
		WHERE start_ns >= ? AND kind = 'request' AND cost_nano_usd != 0
		GROUP BY key_id, team, end_user`, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite: spend: %w", err)
	}
	defer rows.Close()
	var out []budget.Spend
	for rows.Next() {
		var s budget.Spend
		if err := rows.Scan(&s.KeyID, &s.Team, &s.EndUser, &s.CostNanoUSD); err != nil {
			return nil, fmt.Errorf("sqlite: spend: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: spend: %w", err)
	}
	return out, nil
}
