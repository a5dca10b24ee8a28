package idempotency

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

var (
	_ Store  = (*Memory)(nil)
	_ Purger = (*Memory)(nil)
)

// Memory is a Store in process memory, for tests and single-process use
// without a database. It is safe for concurrent use; its keys do not
// survive a restart.
type Memory struct {
	mu   sync.Mutex
	rows map[memKey]*memRow
}

type memKey struct{ scope, key string }

type memRow struct {
	hash    []byte
	done    bool
	result  Stored
	claimed time.Time
	expires time.Time
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{rows: map[memKey]*memRow{}} }

// Begin implements Store.
func (m *Memory) Begin(_ context.Context, scope, key string, bodyHash []byte, now time.Time, ttl, stale time.Duration) (Outcome, *Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{scope, key}
	r, ok := m.rows[k]
	switch {
	case !ok || !r.expires.After(now):
		// absent or expired: claim below
	case !bytes.Equal(r.hash, bodyHash):
		return Mismatch, nil, nil
	case r.done:
		return Replay, cloneStored(&r.result), nil
	case now.Sub(r.claimed) < stale:
		return InFlight, nil, nil
	}
	m.rows[k] = &memRow{hash: bytes.Clone(bodyHash), claimed: now, expires: now.Add(ttl)}
	return Proceed, nil, nil
}

// Complete implements Store.
func (m *Memory) Complete(_ context.Context, scope, key string, s Stored) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[memKey{scope, key}]
	if !ok {
		return ErrNotClaimed
	}
	r.done, r.result = true, *cloneStored(&s)
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, scope, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{scope, key}
	if r, ok := m.rows[k]; ok && !r.done {
		delete(m.rows, k)
	}
	return nil
}

// Purge implements Purger.
func (m *Memory) Purge(_ context.Context, now time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for k, r := range m.rows {
		if !r.expires.After(now) {
			delete(m.rows, k)
			n++
		}
	}
	return n, nil
}

// cloneStored returns a deep copy, so that callers never share memory with
// the store.
func cloneStored(s *Stored) *Stored {
	c := &Stored{Status: s.Status, Body: bytes.Clone(s.Body), Stream: s.Stream}
	if s.Header != nil {
		c.Header = make(map[string][]string, len(s.Header))
		for k, vs := range maps.All(s.Header) {
			c.Header[k] = slices.Clone(vs)
		}
	}
	return c
}
