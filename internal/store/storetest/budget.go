package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/budget"
)

// TestBudgetJournal runs the budget.Journal conformance suite. newStore
// must return an empty store.
func TestBudgetJournal(t *testing.T, newStore func(t *testing.T) budget.Journal) {
	ctx := context.Background()
	s := newStore(t)
	may := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	june := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	reset := budget.Event{Type: budget.EventReset, Account: "team:search", Period: budget.Monthly, PeriodStart: may,
		At: may.Add(time.Hour), Epoch: may.Add(time.Hour), Amount: 123_456_789_012, Actor: "admin-key:root"}
	alert := budget.Event{Type: budget.AlertThreshold, Account: "user:team:search/alice@example.com", Period: budget.Daily,
		PeriodStart: june, At: june.Add(time.Minute), Percent: 80}
	total := budget.Event{Type: budget.AlertRefused, Account: "key:key_a", Period: budget.Total, PeriodStart: time.Unix(0, 0).UTC(), At: june}
	for _, e := range []budget.Event{reset, alert, total} {
		if err := s.AddBudgetEvent(ctx, e); err != nil {
			t.Fatalf("AddBudgetEvent(%+v): %v", e, err)
		}
	}
	for _, tt := range []struct {
		since time.Time
		want  []budget.Event
	}{
		{time.Unix(0, 0).UTC(), []budget.Event{reset, alert, total}},
		{may, []budget.Event{reset, alert}},
		{june, []budget.Event{alert}},
		{june.Add(time.Hour), nil},
	} {
		got, err := s.BudgetEvents(ctx, tt.since)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
			t.Errorf("BudgetEvents(%v) (-want +got):\n%s", tt.since, diff)
		}
	}
}
