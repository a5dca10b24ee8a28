package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/airgw/airgw/internal/budget"
)

var _ budget.Journal = (*DB)(nil)

// eventNanos is t in Unix nanoseconds; the zero Time is 0.
func eventNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// eventTime is the inverse of eventNanos.
func eventTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// AddBudgetEvent implements budget.Journal.
func (db *DB) AddBudgetEvent(ctx context.Context, e budget.Event) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO budget_events
		(type, account, period, period_start_ns, at_ns, epoch_ns, amount_nano_usd, percent, actor)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Type, e.Account, string(e.Period), e.PeriodStart.UnixNano(), eventNanos(e.At), eventNanos(e.Epoch), e.Amount, e.Percent, e.Actor)
	if err != nil {
		return fmt.Errorf("sqlite: add budget event: %w", err)
	}
	return nil
}

// BudgetEvents implements budget.Journal, in the order they were added.
func (db *DB) BudgetEvents(ctx context.Context, since time.Time) ([]budget.Event, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT type, account, period, period_start_ns, at_ns, epoch_ns, amount_nano_usd, percent, actor
		FROM budget_events WHERE period_start_ns >= ? ORDER BY id`, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite: budget events: %w", err)
	}
	defer rows.Close()
	var out []budget.Event
	for rows.Next() {
		var e budget.Event
		var period string
		var start, at, epoch int64
		if err := rows.Scan(&e.Type, &e.Account, &period, &start, &at, &epoch, &e.Amount, &e.Percent, &e.Actor); err != nil {
			return nil, fmt.Errorf("sqlite: budget events: %w", err)
		}
		e.Period, e.PeriodStart, e.At, e.Epoch = budget.Period(period), time.Unix(0, start).UTC(), eventTime(at), eventTime(epoch)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: budget events: %w", err)
	}
	return out, nil
}
