// Package retry holds the two limits on airgw's retries: a jittered
// exponential backoff that honours the provider's Retry-After, and a retry
// budget that caps retries in flight at a share of active requests, so that
// a failing provider is not hit by a retry storm (Envoy's retry budget).
package retry

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Backoff is a capped exponential backoff with full jitter.
type Backoff struct {
	Base time.Duration // first retry's ceiling; default 100ms
	Max  time.Duration // ceiling of any wait; default 2s
	// Rand returns a float in [0, 1); nil means math/rand/v2.
	Rand func() float64
}

// Wait returns how long to wait before retry number n (1 for the first
// retry): a random duration up to min(Max, Base·2^(n−1)), but never less than
// retryAfter, the provider's own Retry-After.
func (b Backoff) Wait(n int, retryAfter time.Duration) time.Duration {
	base, ceil := b.Base, b.Max
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if ceil <= 0 {
		ceil = 2 * time.Second
	}
	limit := base
	for i := 1; i < n && limit < ceil; i++ {
		limit *= 2
	}
	limit = min(limit, ceil)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	d := time.Duration(r() * float64(limit))
	return max(d, retryAfter)
}

// Budget caps concurrent retries at Ratio of the requests in flight, but
// always allows at least Min. The zero value allows nothing; use NewBudget.
type Budget struct {
	limits   atomic.Pointer[budgetLimits]
	active   atomic.Int64
	retrying atomic.Int64
	denied   atomic.Int64
}

type budgetLimits struct {
	ratio float64
	min   int64
}

// NewBudget returns a budget; ratio ≤ 0 means 0.2, min ≤ 0 means 3.
func NewBudget(ratio float64, min int) *Budget {
	b := &Budget{}
	b.SetLimits(ratio, min)
	return b
}

// SetLimits changes the ratio and the minimum, as NewBudget takes them,
// keeping the requests and retries in flight (a config reload).
func (b *Budget) SetLimits(ratio float64, min int) {
	if ratio <= 0 {
		ratio = 0.2
	}
	if min <= 0 {
		min = 3
	}
	b.limits.Store(&budgetLimits{ratio: ratio, min: int64(min)})
}

// Begin counts a request in flight; call the returned func when it ends.
func (b *Budget) Begin() (end func()) {
	b.active.Add(1)
	return func() { b.active.Add(-1) }
}

// Acquire reserves a retry if the budget allows one; release it when the
// retry attempt ends.
func (b *Budget) Acquire() (release func(), ok bool) {
	limit := b.limit()
	for {
		n := b.retrying.Load()
		if n >= limit {
			b.denied.Add(1)
			return nil, false
		}
		if b.retrying.CompareAndSwap(n, n+1) {
			return func() { b.retrying.Add(-1) }, true
		}
	}
}

// limit is how many retries may be in flight now; 0 for the zero Budget.
func (b *Budget) limit() int64 {
	l := b.limits.Load()
	if l == nil {
		return 0
	}
	return max(l.min, int64(l.ratio*float64(b.active.Load())))
}

// BudgetStatus is a point-in-time view of a retry budget, for the metrics
// endpoint and the admin API.
type BudgetStatus struct {
	// Requests and Retries are in flight now.
	Requests, Retries int64
	// Limit is how many retries may be in flight at the current load.
	Limit int64
	// Denied counts the retries refused since the process started (a
	// monotonic counter): each is a request answered with its last
	// failure instead of being retried.
	Denied int64
}

// Snapshot returns the budget's current status.
func (b *Budget) Snapshot() BudgetStatus {
	return BudgetStatus{Requests: b.active.Load(), Retries: b.retrying.Load(), Limit: b.limit(), Denied: b.denied.Load()}
}

// InFlight returns the requests and retries in flight, for metrics.
func (b *Budget) InFlight() (requests, retries int64) {
	return b.active.Load(), b.retrying.Load()
}
