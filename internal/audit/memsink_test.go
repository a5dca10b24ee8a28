package audit

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// memSink is an in-memory store: a Sink, CheckpointSink, ChainSource and
// HeadSource, with switches to fail, reject or stall.
type memSink struct {
	mu      sync.Mutex
	recs    []Record
	byID    map[string]int
	cps     []Checkpoint
	calls   int
	fail    bool            // every insert fails
	failN   int             // the next failN inserts fail
	reject  map[string]bool // request ids refused permanently
	gate    chan struct{}   // when set, each insert waits for a receive
	head    Head            // returned by ChainHead when set
	noChain bool            // hide ChainHead
}

func newMemSink() *memSink { return &memSink{byID: map[string]int{}, reject: map[string]bool{}} }

var errDown = errors.New("database is down")

func (m *memSink) InsertRecords(ctx context.Context, recs []Record) error {
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail {
		return errDown
	}
	if m.failN > 0 {
		m.failN--
		return errDown
	}
	var rejected []string
	for _, r := range recs {
		if m.reject[r.RequestID] {
			rejected = append(rejected, r.RequestID)
			continue
		}
		if _, dup := m.byID[r.RequestID]; dup {
			continue
		}
		m.byID[r.RequestID] = len(m.recs)
		m.recs = append(m.recs, r)
	}
	if rejected != nil {
		return &RejectedError{IDs: rejected, Err: errors.New("CHECK constraint failed")}
	}
	return nil
}

func (m *memSink) InsertCheckpoints(ctx context.Context, cps []Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errDown
	}
	for _, c := range cps {
		if !slices.ContainsFunc(m.cps, func(x Checkpoint) bool { return x.Chain == c.Chain && x.Seq == c.Seq }) {
			m.cps = append(m.cps, c)
		}
	}
	return nil
}

func (m *memSink) setFail(v bool) {
	m.mu.Lock()
	m.fail = v
	m.mu.Unlock()
}

// ids returns the stored request ids in storage order.
func (m *memSink) ids() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.recs {
		out = append(out, r.RequestID)
	}
	return out
}

func (m *memSink) record(id string) (Record, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.byID[id]
	if !ok {
		return Record{}, false
	}
	return m.recs[i], true
}

func (m *memSink) Chains(context.Context) ([]string, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var chains []string
	var unchained int64
	for _, r := range m.recs {
		if r.Chain == "" {
			unchained++
		} else if !slices.Contains(chains, r.Chain) {
			chains = append(chains, r.Chain)
		}
	}
	slices.Sort(chains)
	return chains, unchained, nil
}

func (m *memSink) ChainRecords(ctx context.Context, chain string, fn func(Record) error) error {
	m.mu.Lock()
	var recs []Record
	for _, r := range m.recs {
		if r.Chain == chain {
			recs = append(recs, r)
		}
	}
	m.mu.Unlock()
	slices.SortStableFunc(recs, func(a, b Record) int { return int(a.Seq - b.Seq) })
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *memSink) Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Checkpoint
	for _, c := range m.cps {
		if c.Chain == chain {
			out = append(out, c)
		}
	}
	return out, nil
}

// headSink adds ChainHead to a memSink.
type headSink struct{ *memSink }

func (h headSink) ChainHead(ctx context.Context, chain string) (Head, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	best := h.head
	for _, r := range h.recs {
		if r.Chain == chain && r.Seq > best.Seq {
			best = Head{Seq: r.Seq, Hash: r.Hash}
		}
	}
	return best, nil
}

var (
	_ Sink           = (*memSink)(nil)
	_ CheckpointSink = (*memSink)(nil)
	_ ChainSource    = (*memSink)(nil)
	_ HeadSource     = headSink{}
)
