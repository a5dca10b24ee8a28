package ratelimit

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is the single-node Store: counters in this process's memory,
// exact under any concurrency. Each counter has its own lock; a request
// locks the counters it needs in key order, so two requests that share a
// team counter serialise on it and nothing else. Memory is safe for
// concurrent use.
type Memory struct {
	counters sync.Map // key → *counter
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{} }

type counter struct {
	mu       sync.Mutex
	dead     bool    // removed by Sweep: look the key up again
	w        *window // nil for KindConcurrent
	inflight int64
}

// lockCounter returns the counter for d, created if needed, locked.
func (m *Memory) lockCounter(d *Demand) *counter {
	for {
		v, ok := m.counters.Load(d.Key)
		if !ok {
			c := &counter{}
			if k := d.Kind; k != KindConcurrent {
				c.w = newWindow(k.Window(), k.buckets())
			}
			v, _ = m.counters.LoadOrStore(d.Key, c)
		}
		c := v.(*counter)
		c.mu.Lock()
		if !c.dead {
			return c
		}
		c.mu.Unlock()
	}
}

// Take implements Store.
func (m *Memory) Take(_ context.Context, now time.Time, ds []Demand) (Result, error) {
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ds[a].Key, ds[b].Key) })
	cs := make([]*counter, len(ds))
	for _, i := range order {
		cs[i] = m.lockCounter(&ds[i])
	}
	defer func() {
		for _, c := range cs {
			c.mu.Unlock()
		}
	}()
	t := now.UnixNano()
	res := Result{Denied: -1, Remaining: make([]int64, len(ds)), Reset: make([]time.Duration, len(ds))}
	for i := range ds {
		d, c := &ds[i], cs[i]
		if c.w == nil {
			if c.inflight+d.Amount > d.Limit && res.Denied < 0 {
				res.Denied, res.RetryAfter = i, time.Second
			}
			continue
		}
		c.w.advance(t)
		if wait := c.w.until(t, d.Amount, d.Limit); wait > 0 && res.Denied < 0 {
			res.Denied, res.RetryAfter = i, wait
		}
	}
	for i := range ds {
		d, c := &ds[i], cs[i]
		if res.Denied < 0 {
			if c.w == nil {
				c.inflight += d.Amount
			} else {
				c.w.add(d.Amount)
			}
		}
		if c.w == nil {
			res.Remaining[i] = max(d.Limit-c.inflight, 0)
		} else {
			res.Remaining[i], res.Reset[i] = max(d.Limit-c.w.total, 0), c.w.reset(t)
		}
	}
	return res, nil
}

// Adjust implements Store.
func (m *Memory) Adjust(_ context.Context, at time.Time, ds []Demand) error {
	for i := range ds {
		d := &ds[i]
		if d.Kind == KindConcurrent || d.Amount == 0 {
			continue
		}
		c := m.lockCounter(d)
		c.w.adjust(at.UnixNano(), d.Amount)
		c.mu.Unlock()
	}
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, ds []Demand) error {
	for i := range ds {
		d := &ds[i]
		if d.Kind != KindConcurrent {
			continue
		}
		c := m.lockCounter(d)
		c.inflight = max(c.inflight-d.Amount, 0)
		c.mu.Unlock()
	}
	return nil
}

// Sweep forgets counters that count nothing at now (an empty window, no
// request in flight), so that memory follows the keys and users in use.
// It is safe to call at any time; the app calls it every minute.
func (m *Memory) Sweep(now time.Time) (removed int) {
	t := now.UnixNano()
	m.counters.Range(func(k, v any) bool {
		c := v.(*counter)
		c.mu.Lock()
		idle := c.inflight == 0
		if c.w != nil {
			c.w.advance(t)
			idle = c.w.total == 0
		}
		if idle {
			c.dead = true
			m.counters.Delete(k)
			removed++
		}
		c.mu.Unlock()
		return true
	})
	return removed
}

// Len returns the number of live counters.
func (m *Memory) Len() int {
	n := 0
	m.counters.Range(func(any, any) bool { n++; return true })
	return n
}
