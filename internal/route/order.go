package route

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Strategy orders a route's targets for its attempts.
type Strategy string

// Strategies.
const (
	// Weighted draws targets at random in proportion to their weights,
	// without replacement: the first attempt follows the weights, a
	// failover goes to another target.
	Weighted Strategy = "weighted"
	// Priority tries targets in the order the config lists them.
	Priority Strategy = "priority"
	// LowestLatency tries the target with the lowest recent latency first
	// (an EWMA of time to first token or to the whole response); targets
	// not measured yet go first, so that every target gets measured.
	LowestLatency Strategy = "lowest_latency"
	// LowestCost tries the cheapest target first, by the price of a
	// nominal request (input plus output price per token).
	LowestCost Strategy = "lowest_cost"
)

// Order returns the targets of r that carry traffic (weight above 0) in the
// order attempts should try them. lat may be nil.
func (r *Route) Order(lat *Latency) []*Target {
	out := make([]*Target, 0, len(r.Targets))
	for i := range r.Targets {
		if r.Targets[i].Weight > 0 {
			out = append(out, &r.Targets[i])
		}
	}
	if len(out) < 2 {
		return out
	}
	switch r.Strategy {
	case Priority:
	case LowestLatency:
		byLatency(out, lat)
	case LowestCost:
		slices.SortStableFunc(out, func(a, b *Target) int {
			ca, cb := nominal(a), nominal(b)
			switch {
			case ca < cb:
				return -1
			case ca > cb:
				return 1
			}
			return b.Weight - a.Weight
		})
	default: // Weighted
		weightedShuffle(out)
	}
	return out
}

// byLatency orders ts by their average latency, the unmeasured first so
// that every target gets measured. Ties are broken at random rather than
// always in file order.
func byLatency(ts []*Target, lat *Latency) {
	type measured struct {
		t *Target
		d time.Duration // -1: not measured
	}
	m := make([]measured, len(ts))
	lat.load(ts, func(i int, d time.Duration, ok bool) {
		m[i] = measured{ts[i], d}
		if !ok {
			m[i].d = -1
		}
	})
	rand.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
	slices.SortStableFunc(m, func(a, b measured) int { return cmp.Compare(a.d, b.d) })
	for i := range m {
		ts[i] = m[i].t
	}
}

// nominal is a target's price for one input and one output token; an
// unpriced target sorts last.
func nominal(t *Target) int64 {
	if t.Price == nil {
		return 1<<63 - 1
	}
	return t.Price.Input + t.Price.Output
}

// weightedShuffle reorders ts by successive weighted draws without
// replacement.
func weightedShuffle(ts []*Target) {
	total := 0
	for _, t := range ts {
		total += t.Weight
	}
	for i := 0; i < len(ts)-1; i++ {
		n := rand.IntN(total)
		for j := i; j < len(ts); j++ {
			if n < ts[j].Weight {
				ts[i], ts[j] = ts[j], ts[i]
				break
			}
			n -= ts[j].Weight
		}
		total -= ts[i].Weight
	}
}

// Key identifies a target across config reloads: its provider and model.
func (t *Target) Key() string {
	if t.key != "" {
		return t.key
	}
	return t.Provider + "/" + t.Model
}

// Latency keeps an exponentially weighted moving average of each target's
// latency. It is safe for concurrent use and outlives config reloads.
type Latency struct {
	mu sync.Mutex
	m  map[string]time.Duration
}

// NewLatency returns an empty tracker.
func NewLatency() *Latency { return &Latency{m: map[string]time.Duration{}} }

// alpha is the weight of a new observation: about the last ten count.
const alpha = 0.2

// Observe records one latency of target.
func (l *Latency) Observe(target string, d time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.m[target]; ok {
		d = time.Duration(alpha*float64(d) + (1-alpha)*float64(old))
	}
	l.m[target] = d
}

// load calls f with each target's average latency, under one lock.
func (l *Latency) load(ts []*Target, f func(i int, d time.Duration, ok bool)) {
	if l == nil {
		for i := range ts {
			f(i, 0, false)
		}
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, t := range ts {
		d, ok := l.m[t.Key()]
		f(i, d, ok)
	}
}

// Retain forgets the latency of every target for which keep returns false
// (a reload dropping targets that are gone or whose provider changed).
func (l *Latency) Retain(keep func(target string) bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for name := range l.m {
		if !keep(name) {
			delete(l.m, name)
		}
	}
}

// Get returns target's average latency, if it was measured.
func (l *Latency) Get(target string) (time.Duration, bool) {
	if l == nil {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.m[target]
	return d, ok
}
