package budget

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memJournal is a Journal in memory; fail makes AddBudgetEvent fail.
type memJournal struct {
	mu     sync.Mutex
	events []Event
	fail   bool
	// during, if set, runs inside AddBudgetEvent: what requests do while
	// the database writes.
	during func()
}

func (j *memJournal) AddBudgetEvent(_ context.Context, e Event) error {
	if j.during != nil {
		j.during()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail {
		return errors.New("disk full")
	}
	j.events = append(j.events, e)
	return nil
}

func (j *memJournal) BudgetEvents(_ context.Context, since time.Time) ([]Event, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Event
	for _, e := range j.events {
		if !e.PeriodStart.Before(since) {
			out = append(out, e)
		}
	}
	return out, nil
}

// trail is a Ledger made of the requests settled: what the audit trail
// holds after a restart.
type trail struct {
	mu   sync.Mutex
	recs []struct {
		at   time.Time
		cost int64
		user string
	}
}

func (l *trail) add(at time.Time, cost int64, user string) {
	l.mu.Lock()
	l.recs = append(l.recs, struct {
		at   time.Time
		cost int64
		user string
	}{at, cost, user})
	l.mu.Unlock()
}

func (l *trail) Spend(_ context.Context, since time.Time) ([]Spend, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sum := map[string]int64{}
	for _, r := range l.recs {
		if !r.at.Before(since) {
			sum[r.user] += r.cost
		}
	}
	var out []Spend
	for u, c := range sum {
		out = append(out, Spend{KeyID: "k1", Team: "search", EndUser: u, CostNanoUSD: c})
	}
	return out, nil
}

func trailAccounts(s Spend) []string {
	out := []string{"global", "team:search", "key:" + s.KeyID}
	if s.EndUser != "" {
		out = append(out, "user:team:search/"+s.EndUser)
	}
	return out
}

// spend reserves worst and settles cost at at, and files the record.
func spend(t *testing.T, tr *Tracker, l *trail, at time.Time, worst, cost int64, bs ...Budget) {
	t.Helper()
	h, err := tr.Reserve(req(at, worst, bs...))
	if err != nil {
		t.Fatalf("Reserve at %v: %v", at, err)
	}
	h.Settle(cost)
	l.add(at, cost, "")
}

// TestResetSurvivesRestart: spend, a request in flight across the reset,
// the reset, more spend; a restart rebuilds from the ledger and the
// journal exactly the spend the running tracker had, and the reset's
// record holds what it took off.
func TestResetSurvivesRestart(t *testing.T) {
	j, l := &memJournal{}, &trail{}
	b := teamBudget(10*usd1, Monthly, true)
	t0 := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(Options{Journal: j})
	spend(t, tr, l, t0, usd1, 6*usd1/10, b)
	spend(t, tr, l, t0.Add(time.Minute), usd1, 3*usd1/10, b)
	inflight, err := tr.Reserve(req(t0.Add(2*time.Minute), 2*usd1, b))
	if err != nil {
		t.Fatal(err)
	}
	before, after, err := tr.Reset(context.Background(), b, t0.Add(3*time.Minute), "admin-key:root")
	if err != nil {
		t.Fatal(err)
	}
	if before.Spent != 9*usd1/10 || before.Reserved != 2*usd1 || after.Spent != 0 || after.Reserved != 2*usd1 || !after.LastReset.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("Reset = before %+v after %+v, want spent 0.9 → 0, the 2.00 in flight kept, the reset time", before, after)
	}
	inflight.Settle(usd1 / 2) // started before the reset, ends after: counts after it
	l.add(t0.Add(2*time.Minute), usd1/2, "")
	spend(t, tr, l, t0.Add(4*time.Minute), usd1, usd1/10, b)
	want := tr.Status(b, t0.Add(5*time.Minute))
	if want.Spent != 6*usd1/10 || want.Reserved != 0 {
		t.Fatalf("after the reset: spent %d reserved %d, want 0.6 and 0", want.Spent, want.Reserved)
	}
	if len(j.events) != 1 || j.events[0].Type != EventReset || j.events[0].Amount != 9*usd1/10 || j.events[0].Actor != "admin-key:root" {
		t.Errorf("journal = %+v, want one reset of 0.9 by admin-key:root", j.events)
	}

	restarted := NewTracker(Options{Journal: j})
	now := t0.Add(10 * time.Minute)
	if err := restarted.Load(context.Background(), l, now, trailAccounts, []Budget{b}); err != nil {
		t.Fatal(err)
	}
	got := restarted.Status(b, now)
	if got.Spent != want.Spent || !got.LastReset.Equal(want.LastReset) {
		t.Errorf("after a restart: spent %d (last reset %v), want %d (%v)", got.Spent, got.LastReset, want.Spent, want.LastReset)
	}
	if g := restarted.Spent("global", Monthly, now); g != 15*usd1/10 {
		t.Errorf("global spend after a restart = %d, want %d: a reset touches only its own account", g, 15*usd1/10)
	}
	// Next month the reset is history: the ledger's new month is all.
	next := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	l.add(next, usd1, "")
	again := NewTracker(Options{Journal: j})
	if err := again.Load(context.Background(), l, next.Add(time.Hour), trailAccounts, []Budget{b}); err != nil {
		t.Fatal(err)
	}
	if st := again.Status(b, next.Add(time.Hour)); st.Spent != usd1 || !st.LastReset.IsZero() {
		t.Errorf("next month after a restart: %+v, want spent 1.00 and no reset", st)
	}
}

// TestResetNotStoredChangesNothing: when the journal cannot store the
// reset, Reset fails and changes nothing, so what the API says and what a
// restart rebuilds agree; a request arriving while the write is under way
// is checked against the spend before the reset, so even a failed reset
// never lets spend pass the limit.
func TestResetNotStoredChangesNothing(t *testing.T) {
	j := &memJournal{fail: true}
	b := teamBudget(10*usd1, Daily, true)
	t0 := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(Options{Journal: j})
	spend(t, tr, &trail{}, t0, 9*usd1, 9*usd1, b)
	j.during = func() {
		if _, err := tr.Reserve(req(t0, 2*usd1, b)); err == nil {
			t.Error("a request for 2.00 was admitted during a reset against 9.00 spent of 10.00")
		}
	}
	if _, _, err := tr.Reset(context.Background(), b, t0.Add(time.Second), "x"); err == nil {
		t.Fatal("Reset with a failing journal = nil, want an error")
	}
	if st := tr.Status(b, t0.Add(time.Second)); st.Spent != 9*usd1 || !st.LastReset.IsZero() {
		t.Errorf("after a failed reset: %+v, want the spend of 9.00 kept", st)
	}
}

// TestSpendDuringResetCountsAfter: spend settled while the reset is being
// stored counts after it, in memory and after a restart alike.
func TestSpendDuringResetCountsAfter(t *testing.T) {
	j, l := &memJournal{}, &trail{}
	b := teamBudget(10*usd1, Monthly, true)
	t0 := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(Options{Journal: j})
	spend(t, tr, l, t0, usd1, 4*usd1, b)
	j.during = func() { j.during = nil; spend(t, tr, l, t0.Add(time.Second), usd1, usd1/4, b) }
	_, after, err := tr.Reset(context.Background(), b, t0.Add(time.Second), "x")
	if err != nil || after.Spent != usd1/4 {
		t.Fatalf("Reset = %+v, %v; want 0.25 spent (settled during the reset)", after, err)
	}
	restarted := NewTracker(Options{Journal: j})
	if err := restarted.Load(context.Background(), l, t0.Add(time.Minute), trailAccounts, nil); err != nil {
		t.Fatal(err)
	}
	if got := restarted.Status(b, t0.Add(time.Minute)).Spent; got != usd1/4 {
		t.Errorf("after a restart: spent %d, want %d", got, usd1/4)
	}
}

// TestResetDuringRequestsNeverOverspends: requests reserve and settle
// while an admin resets the budget; the spend after the reset (requests in
// flight at the reset included) never passes the limit, and equals what
// the requests settled after it.
func TestResetDuringRequestsNeverOverspends(t *testing.T) {
	tr := NewTracker(Options{Journal: &memJournal{}})
	b := teamBudget(3*usd1, Monthly, true)
	const worst = 170_000_000
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var resetDone atomic.Bool
	var afterReset atomic.Int64 // settled by requests that reserved after the reset
	start := make(chan struct{})
	for i := range 400 {
		wg.Go(func() {
			<-start
			after := resetDone.Load()
			h, err := tr.Reserve(req(now, worst, b))
			if err != nil {
				return
			}
			cost := int64(worst - i*7919%worst)
			if after {
				afterReset.Add(cost)
			}
			h.Settle(cost)
		})
		if i == 200 {
			wg.Go(func() {
				<-start
				if _, _, err := tr.Reset(context.Background(), b, now, "admin-key:root"); err != nil {
					t.Error(err)
				}
				resetDone.Store(true)
			})
		}
	}
	close(start)
	wg.Wait()
	st := tr.Status(b, now)
	if st.Spent > b.Spec.Limit || st.Reserved != 0 || st.Spent < afterReset.Load() {
		t.Errorf("after the reset: spent %d reserved %d, want ≤ limit %d, nothing reserved, at least the %d settled by later requests",
			st.Spent, st.Reserved, b.Spec.Limit, afterReset.Load())
	}
}

// TestAlertsNotRepeatedAfterRestart: an end user's budget (which the
// restart does not know) alerts at 50% and 80%; after a restart, more
// spend sends only 100%; in the next day (injected clock) the alerts are
// armed again. A reset re-arms them too, and the alerts sent after it are
// remembered across a restart.
func TestAlertsNotRepeatedAfterRestart(t *testing.T) {
	j, l := &memJournal{}, &trail{}
	user := Budget{Account: "user:team:search/alice", Owner: "end user `alice`", Path: "teams.search.users.budget",
		Spec: Spec{Limit: 10 * usd1, Period: Daily, Hard: false, AlertAt: DefaultAlertAt}}
	day1 := time.Date(2026, 5, 10, 9, 0, 0, 0, time.UTC)
	run := func(tr *Tracker) func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { tr.Run(ctx); close(done) }()
		return func() { cancel(); <-done }
	}
	userSpend := func(tr *Tracker, at time.Time, cost int64) {
		h, err := tr.Reserve(Request{At: at, Accounts: []string{"global", "team:search", "key:k1", user.Account}, Budgets: []Budget{user}})
		if err != nil {
			t.Fatal(err)
		}
		h.Settle(cost)
		l.add(at, cost, "alice")
	}
	percents := func(n *fakeNotifier) []int {
		var out []int
		for _, a := range n.alerts {
			out = append(out, a.Percent)
		}
		return out
	}
	restart := func(now time.Time) (*Tracker, *fakeNotifier, func()) {
		n := &fakeNotifier{}
		tr := NewTracker(Options{Journal: j, Notifier: n})
		if err := tr.Load(context.Background(), l, now, trailAccounts, nil); err != nil {
			t.Fatal(err)
		}
		return tr, n, run(tr)
	}

	tr, n, stop := restart(day1)
	userSpend(tr, day1, 5*usd1)
	userSpend(tr, day1.Add(time.Minute), 3*usd1)
	stop()
	if got := percents(n); len(got) != 2 || got[0] != 50 || got[1] != 80 {
		t.Fatalf("alerts before the restart = %v, want 50, 80", got)
	}

	tr, n, stop = restart(day1.Add(time.Hour))
	userSpend(tr, day1.Add(time.Hour), usd1/2)   // 85%: nothing new
	userSpend(tr, day1.Add(2*time.Hour), 2*usd1) // 105%
	if got := percents(n); len(got) != 1 || got[0] != 100 {
		t.Errorf("alerts after a restart = %v, want only 100 (50 and 80 were sent)", got)
	}
	// A reset re-arms the alerts; 50% after it is sent and remembered.
	if _, _, err := tr.Reset(context.Background(), user, day1.Add(3*time.Hour), "admin-key:root"); err != nil {
		t.Fatal(err)
	}
	userSpend(tr, day1.Add(4*time.Hour), 6*usd1)
	stop()
	if got := percents(n); len(got) != 2 || got[1] != 50 {
		t.Errorf("alerts after a reset = %v, want 100 then 50 again", got)
	}

	tr, n, stop = restart(day1.Add(5 * time.Hour))
	userSpend(tr, day1.Add(5*time.Hour), usd1) // 70% of the spend since the reset
	if st := tr.Status(user, day1.Add(5*time.Hour)); st.Spent != 7*usd1 {
		t.Errorf("spend since the reset after a restart = %d, want %d", st.Spent, 7*usd1)
	}
	if got := percents(n); len(got) != 0 {
		t.Errorf("alerts after a reset and a restart = %v, want none (50 was sent after the reset)", got)
	}
	stop()

	day2 := day1.Add(24 * time.Hour)
	tr, n, stop = restart(day2)
	userSpend(tr, day2, 6*usd1)
	stop()
	if got := percents(n); len(got) != 1 || got[0] != 50 {
		t.Errorf("alerts the next day = %v, want 50 again (a new period re-arms them)", got)
	}
}
