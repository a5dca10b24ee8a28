package ratelimit

import (
	"context"
	"errors"
	"time"
)

// Reader is a Store that can tell what its counters hold without counting:
// the admin API's live view of the limits.
type Reader interface {
	// Peek returns, for each demand (its Amount is ignored), what its
	// counter holds at now and how long until the oldest unit counted
	// leaves the window.
	Peek(ctx context.Context, now time.Time, ds []Demand) ([]Count, error)
}

// Count is what one counter holds.
type Count struct {
	// Used is the requests or tokens counted in the window, or the
	// requests in flight for KindConcurrent.
	Used int64
	// Reset is how long until the oldest unit counted leaves the window;
	// zero for an empty window and for KindConcurrent.
	Reset time.Duration
}

// ErrNoReader is returned by Limiter.Usage when its Store cannot peek.
var ErrNoReader = errors.New("ratelimit: the limit store cannot report its counters")

// State is one limit's live state: the figures the x-ratelimit-* headers
// of a request counted against it alone would give.
type State struct {
	// Scope is the scope's key ("team:search").
	Scope string
	// Name is where the limit is set: "teams.search.limits.models.gpt-4o.rpm".
	Name string
	// Model is the alias or glob of a per-model limit; empty otherwise.
	Model     string
	Kind      Kind
	Limit     int64
	Used      int64
	Remaining int64
	// Reset is how long until room frees up (the oldest unit counted
	// leaves the window); zero when nothing is counted, and for
	// KindConcurrent, whose room frees when a request ends.
	Reset time.Duration
}

// Usage returns the live state of every limit of scopes, per-model limits
// included, at now, counting nothing. It needs a Store that implements
// Reader (Memory does); ErrNoReader otherwise.
func (l *Limiter) Usage(ctx context.Context, now time.Time, scopes []Scope) ([]State, error) {
	r, ok := l.store.(Reader)
	if !ok {
		return nil, ErrNoReader
	}
	var t Ticket
	var models []string
	for i := range scopes {
		sc := &scopes[i]
		if sc.Limits.IsZero() {
			continue
		}
		lim := sc.Limits
		n := len(t.ds)
		t.add(sc.Key, origin{scope: i}, lim.RPM, lim.RPD, lim.TPM, lim.Concurrent, 0)
		for range len(t.ds) - n {
			models = append(models, "")
		}
		for j := range lim.Models {
			ml := &lim.Models[j]
			n := len(t.ds)
			t.add(sc.Key+"|model:"+ml.Model, origin{scope: i, model: ml}, ml.RPM, ml.RPD, ml.TPM, ml.Concurrent, 0)
			for range len(t.ds) - n {
				models = append(models, ml.Model)
			}
		}
	}
	if len(t.ds) == 0 {
		return nil, nil
	}
	counts, err := r.Peek(ctx, now, t.ds)
	if err != nil {
		return nil, err
	}
	out := make([]State, len(t.ds))
	for i, d := range t.ds {
		o, sc := t.from[i], &scopes[t.from[i].scope]
		name := sc.Path
		if o.model != nil {
			name += ".models." + o.model.Model
		}
		out[i] = State{Scope: sc.Key, Name: name + "." + d.Kind.String(), Model: models[i], Kind: d.Kind, Limit: d.Limit,
			Used: counts[i].Used, Remaining: max(d.Limit-counts[i].Used, 0), Reset: counts[i].Reset}
	}
	return out, nil
}

var _ Reader = (*Memory)(nil)

// Peek implements Reader. It creates no counter: one never used (or
// forgotten by Sweep) holds nothing.
func (m *Memory) Peek(_ context.Context, now time.Time, ds []Demand) ([]Count, error) {
	t := now.UnixNano()
	out := make([]Count, len(ds))
	for i := range ds {
		v, ok := m.counters.Load(ds[i].Key)
		if !ok {
			continue
		}
		c := v.(*counter)
		c.mu.Lock()
		switch {
		case c.dead:
		case c.w == nil:
			out[i].Used = c.inflight
		default:
			c.w.advance(t)
			out[i] = Count{Used: c.w.total, Reset: c.w.reset(t)}
		}
		c.mu.Unlock()
	}
	return out, nil
}
