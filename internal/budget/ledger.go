package budget

import (
	"context"
	"fmt"
	"time"
)

// Spend is the cost of the request records of one key, team and end user.
type Spend struct {
	KeyID, Team, EndUser string
	CostNanoUSD          int64
}

// Ledger is where spend is rebuilt from at start: the audit trail. Every
// record must have reached it (a durable spool drained first), or the
// rebuilt spend would be short.
type Ledger interface {
	// Spend sums the cost of the request records that started at or after
	// since, grouped by key id, team and end user.
	Spend(ctx context.Context, since time.Time) ([]Spend, error)
}

// Load adds the ledger's spend to the current period of every kind, as of
// now: accountsOf names the accounts a row counts against (the gateway's,
// the team's, the key family's, the end user's). budgets are the known
// budgets: their thresholds already crossed are marked sent, so that a
// restart does not repeat an alert. Load is meant for a fresh Tracker.
func (t *Tracker) Load(ctx context.Context, l Ledger, now time.Time, accountsOf func(Spend) []string, budgets []Budget) error {
	for k, p := range periods {
		start, _ := p.bounds(now, t.loc)
		rows, err := l.Spend(ctx, start)
		if err != nil {
			return fmt.Errorf("budget: rebuilding %s spend: %w", p, err)
		}
		for _, r := range rows {
			for _, name := range accountsOf(r) {
				a := t.account(name)
				a.mu.Lock()
				s, _ := a.roll(k, now, t.loc)
				s.spent += r.CostNanoUSD
				a.mu.Unlock()
			}
		}
	}
	if t.journal != nil {
		start, _ := Total.bounds(now, t.loc) // the earliest start of all
		events, err := t.journal.BudgetEvents(ctx, start)
		if err != nil {
			return fmt.Errorf("budget: reading the budget journal: %w", err)
		}
		t.replay(events, now)
	}
	for _, b := range budgets {
		a := t.account(b.Account)
		a.mu.Lock()
		s, _ := a.roll(b.Spec.Period.index(), now, t.loc)
		s.alerted = max(s.alerted, crossed(b.Spec, s.spent, 0))
		a.mu.Unlock()
	}
	t.Define(budgets)
	return nil
}
