package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

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

func TestWriterBatchesBySize(t *testing.T) {
	sink := newFakeSink()
	w := NewWriter(sink, WriterOptions{BatchSize: 4, FlushInterval: time.Hour, Logger: quiet()})
	for i := range 10 {
		w.Write(Record{RequestID: id(i)})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{id(0), id(1), id(2), id(3)},
		{id(4), id(5), id(6), id(7)},
		{id(8), id(9)},
	}
	if diff := cmp.Diff(want, sink.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{Written: 10}, w.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestWriterFlushesOnInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newFakeSink()
		w := NewWriter(sink, WriterOptions{BatchSize: 100, FlushInterval: time.Second, Logger: quiet()})
		defer w.Close(context.Background())
		for i := range 3 {
			w.Write(Record{RequestID: id(i)})
		}
		synctest.Wait()
		if n := sink.stored(); n != 0 {
			t.Fatalf("stored %d records before the interval, want 0", n)
		}
		if q := w.Stats().Queued; q != 3 {
			t.Errorf("Stats().Queued = %d, want 3", q)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := sink.stored(); n != 3 {
			t.Fatalf("stored %d records after the interval, want 3", n)
		}
		// An idle writer does not call the sink.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if sink.calls != 1 {
			t.Errorf("sink calls = %d, want 1", sink.calls)
		}
	})
}

func TestWriterRetriesWithoutLossOrDuplicates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newFakeSink()
		sink.failN = 5
		var logs bytes.Buffer
		w := NewWriter(sink, WriterOptions{BatchSize: 3, FlushInterval: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		for i := range 10 {
			w.Write(Record{RequestID: id(i)})
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		sink.checkOnce(t, 10)
		st := w.Stats()
		if st.FailedBatches != 5 || st.Written != 10 || st.Queued != 0 {
			t.Errorf("Stats() = %+v, want 5 failed batches, 10 written, 0 queued", st)
		}
		if n := strings.Count(logs.String(), "audit sink failed"); n != 1 {
			t.Errorf("failure logged %d times, want once per outage\n%s", n, logs.String())
		}
		if n := strings.Count(logs.String(), "audit sink recovered"); n != 1 {
			t.Errorf("recovery logged %d times, want 1", n)
		}
	})
}

func TestWriterBackoffIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newFakeSink()
		sink.failN = 1000
		w := NewWriter(sink, WriterOptions{BatchSize: 1, MaxBackoff: 2 * time.Second, Logger: quiet()})
		w.Write(Record{RequestID: id(0)})
		time.Sleep(time.Minute)
		synctest.Wait()
		// 100ms, 200ms, ... 1.6s, then every 2s: about 30 calls in a minute.
		sink.mu.Lock()
		calls := sink.calls
		sink.failN = 0
		sink.mu.Unlock()
		if calls < 25 || calls > 40 {
			t.Errorf("sink calls in a minute = %d, want about 30", calls)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		sink.checkOnce(t, 1)
	})
}

func TestWriterRejectedRecords(t *testing.T) {
	sink := newFakeSink()
	sink.reject = id(2)
	w := NewWriter(sink, WriterOptions{BatchSize: 5, Logger: quiet()})
	for i := range 5 {
		w.Write(Record{RequestID: id(i)})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Stats{Written: 4, Rejected: 1}, w.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if sink.calls != 1 {
		t.Errorf("sink calls = %d, want 1 (a rejection is not retried)", sink.calls)
	}
}

func TestWriterConcurrentWriters(t *testing.T) {
	sink := newFakeSink()
	w := NewWriter(sink, WriterOptions{BatchSize: 16, QueueSize: 32, FlushInterval: time.Millisecond, Logger: quiet()})
	const writers, each = 8, 250
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				w.Write(Record{RequestID: id(g*each + i)})
			}
		})
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	sink.checkOnce(t, writers*each)
}

func TestWriterCloseWaitsForBlockedWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newFakeSink()
		sink.gate = make(chan struct{})
		w := NewWriter(sink, WriterOptions{BatchSize: 1, QueueSize: 2, Logger: quiet()})
		var returned atomic.Int64
		for i := range 10 {
			go func() {
				w.Write(Record{RequestID: id(i)})
				returned.Add(1)
			}()
		}
		synctest.Wait()
		// One record is in the sink call, two are queued: the rest block.
		if n := returned.Load(); n != 3 {
			t.Fatalf("Writes returned with the sink stuck = %d, want 3 (back-pressure)", n)
		}
		closed := make(chan error)
		go func() { closed <- w.Close(context.Background()) }()
		for range 10 {
			sink.gate <- struct{}{}
		}
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if n := returned.Load(); n != 10 {
			t.Errorf("Writes returned = %d, want 10", n)
		}
		sink.checkOnce(t, 10)
		if d := w.Stats().Dropped; d != 0 {
			t.Errorf("Dropped = %d, want 0", d)
		}
	})
}

func TestWriterCloseTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newFakeSink()
		sink.failN = 1 << 30
		w := NewWriter(sink, WriterOptions{BatchSize: 2, Logger: quiet()})
		for i := range 5 {
			w.Write(Record{RequestID: id(i)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := w.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "5 records not stored") {
			t.Errorf("Close = %v, want deadline error naming 5 records", err)
		}
	})
}

func TestWriterWriteAfterClose(t *testing.T) {
	sink := newFakeSink()
	w := NewWriter(sink, WriterOptions{Logger: quiet()})
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Write(Record{RequestID: id(0)})
	if d := w.Stats().Dropped; d != 1 {
		t.Errorf("Dropped = %d, want 1", d)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func BenchmarkWriterWrite(b *testing.B) {
	w := NewWriter(newFakeSink(), WriterOptions{Logger: quiet()})
	defer w.Close(context.Background())
	rec := Record{RequestID: "r"}
	for b.Loop() {
		w.Write(rec)
	}
}
