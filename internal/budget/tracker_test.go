package budget

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

const usd1 = 1_000_000_000 // nano-USD

var paris, _ = time.LoadLocation("Europe/Paris")

func teamBudget(limit int64, p Period, hard bool) Budget {
	return Budget{Account: "team:search", Owner: "team `search`", Path: "teams.search.budget",
		Spec: Spec{Limit: limit, Period: p, Hard: hard, AlertAt: DefaultAlertAt}}
}

func req(at time.Time, amount int64, bs ...Budget) Request {
	return Request{At: at, Accounts: []string{"global", "team:search", "key:k1"}, Budgets: bs, Amount: amount, Detail: "test"}
}

// TestConcurrentReservationsNeverOverspend (T01, in memory): 200 requests
// released together, each reserving its worst case and settling a random
// actual cost below it: the spend never passes the hard limit, and equals
// the sum of the admitted requests' costs to the nano-dollar.
func TestConcurrentReservationsNeverOverspend(t *testing.T) {
	tr := NewTracker(Options{})
	b := teamBudget(10*usd1+7, Monthly, true)
	const worst = 170_000_000 // $0.17
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	var admitted, charged atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 200 {
		wg.Go(func() {
			<-start
			h, err := tr.Reserve(req(now, worst, b))
			if err != nil {
				var le *llm.Error
				if !errors.As(err, &le) || le.Code != llm.CodeBudgetExceeded {
					t.Errorf("Reserve = %v, want budget_exceeded", err)
				}
				return
			}
			cost := int64(worst - i*7919%worst)
			admitted.Add(1)
			charged.Add(cost)
			h.Settle(cost)
		})
	}
	close(start)
	wg.Wait()
	st := tr.Status(b, now)
	if st.Spent > b.Spec.Limit || st.Spent != charged.Load() || st.Reserved != 0 {
		t.Errorf("spent %d (reserved %d) after %d admitted charging %d, want ≤ limit %d, equal to the charges, nothing reserved",
			st.Spent, st.Reserved, admitted.Load(), charged.Load(), b.Spec.Limit)
	}
	if admitted.Load() < 10*usd1/worst {
		t.Errorf("admitted %d, want at least %d (each fits while the worst case does)", admitted.Load(), 10*usd1/worst)
	}
	if g := tr.Spent("global", Monthly, now); g != charged.Load() {
		t.Errorf("global spend = %d, want %d (every account of a request is charged)", g, charged.Load())
	}
}

// TestPeriodRollover: a monthly budget in Europe/Paris, exhausted on the
// last evening of January, refuses with its reset time, and admits again
// at local midnight on 1 February; a request that straddles midnight
// counts in January.
func TestPeriodRollover(t *testing.T) {
	tr := NewTracker(Options{Location: paris})
	b := teamBudget(1*usd1, Monthly, true)
	jan31 := time.Date(2026, 1, 31, 23, 58, 0, 0, paris)
	h, err := tr.Reserve(req(jan31, usd1, b))
	if err != nil {
		t.Fatal(err)
	}
	h.Settle(usd1)
	straddle, err := tr.Reserve(req(jan31.Add(30*time.Second), 0, b))
	if err == nil {
		straddle.Settle(0)
		t.Fatal("a free request was admitted against a budget spent to its limit")
	}
	want := "team `search` has spent $1.00 of its $1.00 monthly budget; it resets 2026-02-01T00:00+01:00; raise `teams.search.budget.limit_usd` or wait"
	if err.Error() != "budget_exceeded: "+want {
		t.Errorf("refusal = %q, want %q", err, want)
	}
	var le *llm.Error
	if errors.As(err, &le) && (le.Status() != 402 || le.Policy != "teams.search.budget" || !le.NoClientRetry) {
		t.Errorf("refusal = status %d policy %q retry-useless %v, want 402 teams.search.budget true", le.Status(), le.Policy, le.NoClientRetry)
	}

	feb1 := time.Date(2026, 2, 1, 0, 0, 0, 0, paris)
	// A request that started at 23:59:59 and ends after midnight.
	b2 := teamBudget(5*usd1, Monthly, true)
	late, err := tr.Reserve(req(feb1.Add(-time.Second), 0, b2))
	if err != nil {
		t.Fatal(err)
	}
	h, err = tr.Reserve(req(feb1, usd1/2, b))
	if err != nil {
		t.Fatalf("at midnight on 1 February (Paris) = %v, want admitted", err)
	}
	h.Settle(usd1 / 4)
	late.Settle(usd1 / 10) // belongs to January
	if st := tr.Status(b, feb1.Add(time.Hour)); st.Spent != usd1/4 || !st.PeriodStart.Equal(feb1) || !st.ResetsAt.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, paris)) {
		t.Errorf("February status = spent %d from %v to %v, want %d from %v to 1 March", st.Spent, st.PeriodStart, st.ResetsAt, usd1/4, feb1)
	}
}

func TestPeriodBounds(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 30, 0, 0, paris) // a Sunday, the night clocks go forward
	tests := []struct {
		p          Period
		start, end time.Time
	}{
		{Daily, time.Date(2026, 3, 29, 0, 0, 0, 0, paris), time.Date(2026, 3, 30, 0, 0, 0, 0, paris)},
		{Weekly, time.Date(2026, 3, 23, 0, 0, 0, 0, paris), time.Date(2026, 3, 30, 0, 0, 0, 0, paris)},
		{Monthly, time.Date(2026, 3, 1, 0, 0, 0, 0, paris), time.Date(2026, 4, 1, 0, 0, 0, 0, paris)},
	}
	for _, tt := range tests {
		s, e := tt.p.bounds(at, paris)
		if !s.Equal(tt.start) || !e.Equal(tt.end) {
			t.Errorf("%s bounds(%v) = %v – %v, want %v – %v", tt.p, at, s, e, tt.start, tt.end)
		}
	}
	if d := time.Date(2026, 3, 30, 0, 0, 0, 0, paris).Sub(time.Date(2026, 3, 29, 0, 0, 0, 0, paris)); d != 23*time.Hour {
		t.Errorf("the DST day lasts %v, want 23h: calendar days are not 24h", d)
	}
}

type fakeNotifier struct {
	mu     sync.Mutex
	alerts []Alert
}

func (f *fakeNotifier) Notify(a Alert) { f.mu.Lock(); f.alerts = append(f.alerts, a); f.mu.Unlock() }

func TestAlerts(t *testing.T) {
	var logs bytes.Buffer
	n := &fakeNotifier{}
	tr := NewTracker(Options{Notifier: n, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	soft := teamBudget(10*usd1, Daily, false)
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	for _, cost := range []int64{4 * usd1, usd1, 2 * usd1, usd1, usd1, 5 * usd1} { // 40, 50, 70, 80, 90, 140%
		h, err := tr.Reserve(req(now, 0, soft))
		if err != nil {
			t.Fatalf("a soft budget refused: %v", err)
		}
		h.Settle(cost)
	}
	var got []int
	for _, a := range n.alerts {
		got = append(got, a.Percent)
	}
	if len(got) != 3 || got[0] != 50 || got[1] != 80 || got[2] != 100 {
		t.Errorf("alerts at %v%%, want 50, 80, 100, each once", got)
	}
	if !strings.Contains(logs.String(), "budget threshold reached") || !strings.Contains(logs.String(), "percent=80") {
		t.Errorf("log = %q, want the threshold alerts", logs.String())
	}
	// A hard budget's refusal alerts once per period.
	hard := Budget{Account: "key:k1", Owner: "key `a`", Path: "key `a` budget", Spec: Spec{Limit: usd1, Period: Daily, Hard: true}}
	for range 3 {
		if _, err := tr.Reserve(req(now, 2*usd1, hard)); err == nil {
			t.Fatal("a request whose worst case is above the limit was admitted")
		}
	}
	refused := 0
	for _, a := range n.alerts {
		if a.Type == AlertRefused {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("refusal alerts = %d, want 1 per period", refused)
	}
}

type fakeLedger map[time.Time][]Spend

func (f fakeLedger) Spend(_ context.Context, since time.Time) ([]Spend, error) {
	return f[since.UTC()], nil
}

func TestLoadRebuildsSpend(t *testing.T) {
	now := time.Date(2026, 5, 14, 9, 0, 0, 0, time.UTC) // a Thursday
	day, week, month := time.Date(2026, 5, 14, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	l := fakeLedger{
		day:                   {{KeyID: "key_a", Team: "search", CostNanoUSD: 1}},
		week:                  {{KeyID: "key_a", Team: "search", CostNanoUSD: 10}},
		month:                 {{KeyID: "key_a", Team: "search", CostNanoUSD: 100}, {KeyID: "key_b", CostNanoUSD: 5}},
		time.Unix(0, 0).UTC(): {{KeyID: "key_a", Team: "search", CostNanoUSD: 1000}},
	}
	accounts := func(s Spend) []string {
		out := []string{"global", "key:" + s.KeyID}
		if s.Team != "" {
			out = append(out, "team:"+s.Team)
		}
		return out
	}
	n := &fakeNotifier{}
	tr := NewTracker(Options{Notifier: n})
	b := teamBudget(150, Monthly, true)
	if err := tr.Load(context.Background(), l, now, accounts, []Budget{b}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		account string
		p       Period
		want    int64
	}{
		{"team:search", Daily, 1}, {"team:search", Weekly, 10}, {"team:search", Monthly, 100}, {"team:search", Total, 1000},
		{"global", Monthly, 105}, {"key:key_b", Monthly, 5},
	} {
		if got := tr.Spent(tt.account, tt.p, now); got != tt.want {
			t.Errorf("Spent(%s, %s) = %d, want %d", tt.account, tt.p, got, tt.want)
		}
	}
	// 100 of 150 is past 50%: that alert was sent before the restart.
	h, err := tr.Reserve(req(now, 10, b))
	if err != nil {
		t.Fatal(err)
	}
	h.Settle(10)
	if len(n.alerts) != 0 {
		t.Errorf("alerts after restart = %+v, want none (50%% was already crossed)", n.alerts)
	}
	if got := tr.Snapshot(now); len(got) != 1 || got[0].Spent != 110 || got[0].Account != "team:search" {
		t.Errorf("Snapshot = %+v, want the team budget with 110 spent", got)
	}
}

func TestSettleIsIdempotent(t *testing.T) {
	tr := NewTracker(Options{})
	b := teamBudget(usd1, Total, true)
	now := time.Now()
	h, err := tr.Reserve(req(now, usd1/2, b))
	if err != nil {
		t.Fatal(err)
	}
	if left, ok := h.Remaining(); !ok || left != usd1 {
		t.Errorf("Remaining = %d, %v; want %d, true", left, ok, int64(usd1))
	}
	h.Settle(7)
	h.Settle(7)
	var nilHold *Hold
	nilHold.Settle(1)
	if st := tr.Status(b, now); st.Spent != 7 || st.Reserved != 0 {
		t.Errorf("after settling twice: spent %d reserved %d, want 7 and 0", st.Spent, st.Reserved)
	}
}

func BenchmarkReserveSettle(b *testing.B) {
	tr := NewTracker(Options{})
	bs := []Budget{teamBudget(1<<62, Monthly, true), {Account: "key:k1", Spec: Spec{Limit: 1 << 62, Period: Daily, Hard: true}}}
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		h, err := tr.Reserve(req(now, 1000, bs...))
		if err != nil {
			b.Fatal(err)
		}
		h.Settle(int64(rng.IntN(1000)))
	}
}
