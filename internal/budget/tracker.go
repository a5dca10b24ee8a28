package budget

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
)

// Tracker holds the spend of every account and the reservations of the
// requests in flight. It is safe for concurrent use; a config reload keeps
// it (budgets are looked up by account, so new limits apply to the spend
// already made).
type Tracker struct {
	loc      *time.Location
	log      *slog.Logger
	notify   Notifier
	journal  Journal
	events   chan Event // alerts for the journal, written by Run
	accounts sync.Map   // account name → *account
}

// Options configures a Tracker.
type Options struct {
	// Location is where calendar periods start; nil means UTC.
	Location *time.Location
	// Notifier receives alerts besides the log; nil means the log only.
	Notifier Notifier
	// Logger receives alerts; nil discards them.
	Logger *slog.Logger
	// Journal keeps resets and the alerts sent across restarts (Load reads
	// it back, Run writes the alerts to it); nil keeps them in memory only,
	// and a restart sends again the alerts of spend it cannot see crossed.
	Journal Journal
}

// NewTracker returns an empty Tracker.
func NewTracker(o Options) *Tracker {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{loc: o.Location, log: o.Logger, notify: o.Notifier, journal: o.Journal}
	if o.Journal != nil {
		t.events = make(chan Event, journalQueue)
	}
	return t
}

// account is the spend of one account in the current period of each kind.
type account struct {
	mu sync.Mutex
	p  [len(periods)]state
	// defined holds, per period kind, the budget last seen on this
	// account, for Snapshot.
	defined [len(periods)]*Budget
}

type state struct {
	start, end      time.Time
	spent, reserved int64
	alerted         int  // highest alert threshold sent this period, percent
	refused         bool // a refusal alert was sent this period
	// epoch is the time of the period's last reset by an admin; zero when
	// there was none.
	epoch time.Time
}

// roll moves the period of kind k to the one holding at, if at is past its
// end, and returns at clamped to the period (a request that started just
// before a period another request already rolled into counts in the new).
func (a *account) roll(k int, at time.Time, loc *time.Location) (*state, time.Time) {
	s := &a.p[k]
	if s.end.IsZero() || !at.Before(s.end) {
		start, end := periods[k].bounds(at, loc)
		*s = state{start: start, end: end}
	}
	if at.Before(s.start) {
		at = s.start
	}
	return s, at
}

func (t *Tracker) account(name string) *account {
	if v, ok := t.accounts.Load(name); ok {
		return v.(*account)
	}
	v, _ := t.accounts.LoadOrStore(name, &account{})
	return v.(*account)
}

// Request is what Reserve needs to know about one request.
type Request struct {
	// At is when the request started: its cost belongs to the periods that
	// hold it, as the ledger records it.
	At time.Time
	// Accounts are every account the request's spend counts against, each
	// once; the Account of every budget in Budgets must be among them.
	Accounts []string
	Budgets  []Budget
	// Amount is the request's worst-case cost, nano-USD.
	Amount int64
	// Detail explains Amount in a refusal ("up to 1,200 prompt tokens and
	// 4,096 output tokens of gpt-4o").
	Detail string
}

// Hold is one request's reservation. Settle must be called exactly once
// when the request ends; a Hold is used by one goroutine.
type Hold struct {
	t        *Tracker
	at       time.Time
	accounts []*account
	names    []string
	starts   [][len(periods)]time.Time // per account: the period starts at reservation
	budgets  []Budget
	amount   int64
	// remaining is, at reservation, the least any budget had left before
	// this request; -1 when no budget applies.
	remaining int64
	settled   bool
}

// Reserve reserves r.Amount against every hard budget of r, all or none.
// A budget already spent to its limit refuses any request, even a free
// one; a hard budget whose spend and reservations would go over its limit
// refuses with an *llm.Error of class budget_exceeded naming the budget,
// its spend and its reset time.
func (t *Tracker) Reserve(r Request) (*Hold, error) {
	h := &Hold{t: t, at: r.At, budgets: r.Budgets, amount: r.Amount, remaining: -1}
	order := slices.Clone(r.Accounts)
	for _, b := range r.Budgets {
		order = append(order, b.Account)
	}
	slices.Sort(order)
	order = slices.Compact(order)
	h.names = order
	h.accounts = make([]*account, len(order))
	h.starts = make([][len(periods)]time.Time, len(order))
	for i, name := range order {
		h.accounts[i] = t.account(name)
		h.accounts[i].mu.Lock()
	}
	var refused *Budget
	var refusedState state
	for i := range r.Budgets {
		b := &r.Budgets[i]
		a := h.accounts[slices.Index(order, b.Account)]
		a.defined[b.Spec.Period.index()] = b
		s, _ := a.roll(b.Spec.Period.index(), r.At, t.loc)
		left := b.Spec.Limit - s.spent - s.reserved
		if h.remaining < 0 || left < h.remaining {
			h.remaining = max(left, 0)
		}
		if b.Spec.Hard && refused == nil && (s.spent >= b.Spec.Limit || left < r.Amount) {
			refused, refusedState = b, *s
			if !s.refused {
				s.refused = true
				defer t.alert(Alert{Type: AlertRefused, Budget: *b, Spent: s.spent, PeriodStart: s.start, ResetsAt: s.end, At: r.At, epoch: s.epoch})
			}
		}
	}
	if refused == nil {
		for i, a := range h.accounts {
			for k := range periods {
				s, _ := a.roll(k, r.At, t.loc)
				h.starts[i][k] = s.start
			}
		}
		for i := range r.Budgets {
			if b := &r.Budgets[i]; b.Spec.Hard {
				a := h.accounts[slices.Index(order, b.Account)]
				a.p[b.Spec.Period.index()].reserved += r.Amount
			}
		}
	}
	for _, a := range h.accounts {
		a.mu.Unlock()
	}
	if refused != nil {
		h.settled = true
		return h, refusal(refused, refusedState, r, t.loc)
	}
	return h, nil
}

func refusal(b *Budget, s state, r Request, loc *time.Location) *llm.Error {
	reset := "it never resets (period total)"
	if b.Spec.Period != Total {
		reset = "it resets " + s.end.In(loc).Format("2006-01-02T15:04Z07:00")
	}
	what := fmt.Sprintf("%s has spent %s of its %s %s budget", b.Owner, usd(s.spent), usd(b.Spec.Limit), b.Spec.Period)
	if s.spent < b.Spec.Limit {
		what += fmt.Sprintf(" and %s is reserved by requests in flight; this request could cost up to %s (%s)",
			usd(s.reserved), usd(r.Amount), r.Detail)
	}
	return &llm.Error{Code: llm.CodeBudgetExceeded, NoClientRetry: true, Policy: b.Path,
		Message: fmt.Sprintf("%s; %s; raise `%s.limit_usd` or wait", what, reset, b.Path)}
}

func usd(nano int64) string { return pricing.FormatUSD(nano) }

// Remaining is the least any budget of the request had left when it was
// admitted, before its own cost; false when no budget applies.
func (h *Hold) Remaining() (int64, bool) {
	if h == nil || h.remaining < 0 {
		return 0, false
	}
	return h.remaining, true
}

// Settle charges cost, the request's actual cost, to every account of the
// request and releases the reservation. It is called on every exit path;
// calling it again, or on a refused or nil Hold, does nothing.
func (h *Hold) Settle(cost int64) {
	if h == nil || h.settled {
		return
	}
	h.settled = true
	t := h.t
	for _, a := range h.accounts {
		a.mu.Lock()
	}
	var alerts []Alert
	for i, a := range h.accounts {
		for k := range periods {
			s, _ := a.roll(k, h.at, t.loc)
			if !s.start.Equal(h.starts[i][k]) {
				continue // the period ended while the request ran: its cost belongs to the old one
			}
			s.spent += cost
		}
	}
	for i := range h.budgets {
		b := &h.budgets[i]
		ai := slices.Index(h.names, b.Account)
		k := b.Spec.Period.index()
		s := &h.accounts[ai].p[k]
		if !s.start.Equal(h.starts[ai][k]) {
			continue
		}
		if b.Spec.Hard {
			s.reserved = max(s.reserved-h.amount, 0)
		}
		if th := crossed(b.Spec, s.spent, s.alerted); th > 0 {
			s.alerted = th
			alerts = append(alerts, Alert{Type: AlertThreshold, Budget: *b, Percent: th, Spent: s.spent, PeriodStart: s.start, ResetsAt: s.end, At: h.at, epoch: s.epoch})
		}
	}
	for _, a := range h.accounts {
		a.mu.Unlock()
	}
	for _, al := range alerts {
		t.alert(al)
	}
}

// crossed returns the highest threshold of spec at or below spent that is
// above the one already alerted, or 0.
func crossed(spec Spec, spent int64, alerted int) int {
	if spec.Limit <= 0 {
		return 0
	}
	top := 0
	for _, th := range spec.AlertAt {
		if th > alerted && spent >= ceilPct(spec.Limit, th) {
			top = th
		}
	}
	return top
}

// ceilPct is th percent of limit, rounded up, without overflow for any
// limit below 9.2e16 nano-USD.
func ceilPct(limit int64, th int) int64 {
	return (limit/100)*int64(th) + ((limit%100)*int64(th)+99)/100
}

// Define registers budgets that Snapshot reports before any request used
// them (the config's, at start and after a reload).
func (t *Tracker) Define(bs []Budget) {
	for i := range bs {
		b := bs[i]
		a := t.account(b.Account)
		a.mu.Lock()
		a.defined[b.Spec.Period.index()] = &b
		a.mu.Unlock()
	}
}

// Status is a budget's state in its current period.
type Status struct {
	Budget      Budget    `json:"-"`
	Account     string    `json:"account"`
	Owner       string    `json:"owner"`
	Path        string    `json:"path"`
	Spec        Spec      `json:"spec"`
	Spent       int64     `json:"spent_nano_usd"`
	Reserved    int64     `json:"reserved_nano_usd"`
	PeriodStart time.Time `json:"period_start"`
	ResetsAt    time.Time `json:"resets_at,omitzero"`
	// Alerted is the highest alert threshold sent this period, percent.
	Alerted int `json:"alerted_percent,omitempty"`
	// LastReset is when an admin last reset the period's spend; zero when
	// none did.
	LastReset time.Time `json:"last_reset,omitzero"`
}

// Remaining is what the budget has left for new requests: its limit less
// the spend and the reservations in flight, at least zero.
func (s Status) Remaining() int64 { return max(s.Spec.Limit-s.Spent-s.Reserved, 0) }

// Status returns b's spend and reservations in its period holding now.
func (t *Tracker) Status(b Budget, now time.Time) Status {
	a := t.account(b.Account)
	a.mu.Lock()
	s, _ := a.roll(b.Spec.Period.index(), now, t.loc)
	st := status(b, s)
	a.mu.Unlock()
	return st
}

// status is b's Status in s; the account is locked.
func status(b Budget, s *state) Status {
	st := Status{Budget: b, Account: b.Account, Owner: b.Owner, Path: b.Path, Spec: b.Spec,
		Spent: s.spent, Reserved: s.reserved, PeriodStart: s.start.UTC(), Alerted: s.alerted}
	if b.Spec.Period != Total {
		st.ResetsAt = s.end.UTC()
	}
	if !s.epoch.IsZero() {
		st.LastReset = s.epoch.UTC()
	}
	return st
}

// Spent returns what account spent in its period of kind p holding now.
func (t *Tracker) Spent(account string, p Period, now time.Time) int64 {
	a := t.account(account)
	a.mu.Lock()
	defer a.mu.Unlock()
	s, _ := a.roll(p.index(), now, t.loc)
	return s.spent
}

// Snapshot returns the status of every budget defined or used so far,
// ordered by account: what a metrics collector reports as each budget's
// limit, spend and reservations.
func (t *Tracker) Snapshot(now time.Time) []Status {
	var bs []Budget
	t.accounts.Range(func(_, v any) bool {
		a := v.(*account)
		a.mu.Lock()
		for _, b := range a.defined {
			if b != nil {
				bs = append(bs, *b)
			}
		}
		a.mu.Unlock()
		return true
	})
	slices.SortFunc(bs, func(a, b Budget) int {
		return strings.Compare(a.Account+"|"+string(a.Spec.Period), b.Account+"|"+string(b.Spec.Period))
	})
	out := make([]Status, len(bs))
	for i, b := range bs {
		out[i] = t.Status(b, now)
	}
	return out
}
