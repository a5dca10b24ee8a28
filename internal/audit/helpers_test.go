package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeSink records what it stores and can fail or block on demand.
type fakeSink struct {
	mu      sync.Mutex
	batches [][]string     // request ids per successful call
	count   map[string]int // times each id was stored
	calls   int
	failN   int           // fail this many calls before succeeding
	reject  string        // request id refused permanently
	gate    chan struct{} // if set, each call waits for a receive from it
}

func newFakeSink() *fakeSink { return &fakeSink{count: make(map[string]int)} }

func (s *fakeSink) InsertRecords(ctx context.Context, recs []Record) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failN > 0 {
		s.failN--
		return errors.New("database is locked")
	}
	var ids, rejected []string
	for _, r := range recs {
		if r.RequestID == s.reject && s.reject != "" {
			rejected = append(rejected, r.RequestID)
			continue
		}
		ids = append(ids, r.RequestID)
		s.count[r.RequestID]++
	}
	s.batches = append(s.batches, ids)
	if rejected != nil {
		return &RejectedError{IDs: rejected, Err: errors.New("bad record")}
	}
	return nil
}

func (s *fakeSink) stored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.count)
}

// checkOnce fails unless ids 0..n-1 were each stored exactly once.
func (s *fakeSink) checkOnce(t *testing.T, n int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[string]int, n)
	for i := range n {
		want[id(i)] = 1
	}
	if diff := cmp.Diff(want, s.count); diff != "" {
		t.Errorf("stored ids (-want +got):\n%s", diff)
	}
}

func id(i int) string { return fmt.Sprintf("req-%04d", i) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
