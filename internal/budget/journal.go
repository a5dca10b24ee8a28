package budget

import (
	"context"
	"fmt"
	"time"
)

// EventReset is the type of the Event that records an admin's reset of a
// budget's spend.
const EventReset = "budget.reset"

// Event is what the ledger cannot tell about a budget's period: that an
// admin reset its spend, or that an alert was sent. The Tracker writes
// events to its Journal and reads them back at start, so that a restart
// keeps a reset and does not send an alert again.
type Event struct {
	// Type is EventReset, AlertThreshold or AlertRefused.
	Type    string
	Account string
	Period  Period
	// PeriodStart is the start of the period the event belongs to; events
	// of other periods are ignored, so a new period re-arms every alert.
	PeriodStart time.Time
	// At is when the event happened.
	At time.Time
	// Epoch is the time of the last reset of the period before the event
	// (its own At for a reset; zero when there was none): an alert counts
	// only if no reset came after it.
	Epoch time.Time
	// Amount is the spend a reset removed, nano-USD: the ledger's spend of
	// the period minus every reset's Amount is the spend that counts.
	Amount int64
	// Percent is the threshold of an AlertThreshold.
	Percent int
	// Actor made a reset ("admin-key:root", "cli:ana").
	Actor string
}

// Journal keeps a Tracker's events across restarts: the database, beside
// the ledger.
type Journal interface {
	// AddBudgetEvent stores e durably.
	AddBudgetEvent(ctx context.Context, e Event) error
	// BudgetEvents returns the events of the periods that started at or
	// after since.
	BudgetEvents(ctx context.Context, since time.Time) ([]Event, error)
}

// journalQueue is how many alert events may wait for the Journal; alerts
// are rare (each threshold once per budget per period), so a full queue
// means the Journal is stuck, and the alert is sent but may repeat after a
// restart.
const journalQueue = 1024

// remember queues the event of an alert for the Journal, without blocking:
// alerts are sent from the request path.
func (t *Tracker) remember(a Alert) {
	if t.journal == nil {
		return
	}
	e := Event{Type: a.Type, Account: a.Budget.Account, Period: a.Budget.Spec.Period, PeriodStart: a.PeriodStart,
		At: a.At, Epoch: a.epoch, Percent: a.Percent}
	select {
	case t.events <- e:
	default:
		t.log.Warn("budget alert not journalled (queue full); it may be sent again after a restart", "budget", e.Account, "type", e.Type)
	}
}

// Run writes the events of the alerts sent to the Journal until ctx is
// done, then the ones still queued (for up to 5 s). Without a Journal it
// returns at once. The app runs it for as long as it serves.
func (t *Tracker) Run(ctx context.Context) {
	if t.journal == nil {
		return
	}
	write := func(ctx context.Context, e Event) {
		if err := t.journal.AddBudgetEvent(ctx, e); err != nil {
			t.log.Warn("budget alert not journalled; it may be sent again after a restart", "budget", e.Account, "type", e.Type, "err", err)
		}
	}
	for {
		select {
		case e := <-t.events:
			write(ctx, e)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case e := <-t.events:
					write(dctx, e)
				default:
					return
				}
			}
		}
	}
}

// Reset takes the spend of b's period holding now back to zero and
// re-arms its alerts, as an admin asks. With a Journal, the reset is
// stored first, and only then applied: if it cannot be stored, nothing
// changes and the error is returned, and once Reset returns, the spend
// rebuilt at the next start honours it. Reservations of requests in
// flight stay (they still bound what new requests may reserve) and settle
// as usual, so their cost counts as spend after the reset, and the spend
// after a reset never passes the limit either. Spend settled while the
// reset is being stored counts after it too. Reset returns b's status
// before and after.
func (t *Tracker) Reset(ctx context.Context, b Budget, now time.Time, actor string) (before, after Status, err error) {
	a := t.account(b.Account)
	k := b.Spec.Period.index()
	if k < 0 {
		return Status{}, Status{}, fmt.Errorf("budget: reset %s: unknown period %q", b.Account, b.Spec.Period)
	}
	a.mu.Lock()
	s, _ := a.roll(k, now, t.loc)
	before = status(b, s)
	start, amount := s.start, s.spent
	a.mu.Unlock()
	if t.journal != nil {
		err := t.journal.AddBudgetEvent(ctx, Event{Type: EventReset, Account: b.Account, Period: b.Spec.Period,
			PeriodStart: start, At: now, Epoch: now, Amount: amount, Actor: actor})
		if err != nil {
			return before, before, fmt.Errorf("budget: recording the reset of %s: %w", b.Account, err)
		}
	}
	a.mu.Lock()
	s, _ = a.roll(k, now, t.loc)
	if s.start.Equal(start) { // else the period ended meanwhile: nothing left to reset
		s.spent = max(s.spent-amount, 0)
		s.alerted, s.refused, s.epoch = 0, false, now
	}
	after = status(b, s)
	a.mu.Unlock()
	return before, after, nil
}

// replay applies the journal's events to the periods holding now: resets
// take their amount off the spend rebuilt from the ledger, and the alerts
// sent since the last reset of a period are marked sent.
func (t *Tracker) replay(events []Event, now time.Time) {
	current := func(e Event) (*state, bool) {
		k := e.Period.index()
		if k < 0 {
			return nil, false
		}
		s, _ := t.account(e.Account).roll(k, now, t.loc)
		return s, s.start.Equal(e.PeriodStart)
	}
	lock := func(e Event) *account {
		a := t.account(e.Account)
		a.mu.Lock()
		return a
	}
	for _, e := range events {
		if e.Type != EventReset {
			continue
		}
		a := lock(e)
		if s, ok := current(e); ok {
			s.spent = max(s.spent-e.Amount, 0)
			if e.At.After(s.epoch) {
				s.epoch, s.alerted, s.refused = e.At, 0, false
			}
		}
		a.mu.Unlock()
	}
	for _, e := range events {
		if e.Type == EventReset {
			continue
		}
		a := lock(e)
		if s, ok := current(e); ok && e.Epoch.Equal(s.epoch) {
			switch e.Type {
			case AlertThreshold:
				s.alerted = max(s.alerted, e.Percent)
			case AlertRefused:
				s.refused = true
			}
		}
		a.mu.Unlock()
	}
}
