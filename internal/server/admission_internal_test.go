package server

import (
	"math"
	"testing"
	"time"
)

func TestP90(t *testing.T) {
	buckets := []float64{math.Inf(-1), 0, 0.001, 0.01, 0.1, math.Inf(1)}
	tests := []struct {
		name      string
		prev, cur []uint64
		want      time.Duration
	}{
		{"none", []uint64{0, 5, 5, 5, 5}, []uint64{0, 5, 5, 5, 5}, 0},
		{"all_fast", []uint64{0, 0, 0, 0, 0}, []uint64{0, 100, 0, 0, 0}, 0},
		{"tail_in_10ms", []uint64{0, 0, 0, 0, 0}, []uint64{0, 80, 5, 15, 0}, 10 * time.Millisecond},
		{"since_prev", []uint64{0, 1000, 0, 0, 0}, []uint64{0, 1000, 0, 0, 10}, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p90(buckets, tt.prev, tt.cur); got != tt.want {
				t.Errorf("p90(%v → %v) = %v, want %v", tt.prev, tt.cur, got, tt.want)
			}
		})
	}
}

// TestSheddingHysteresis: shedding starts after two saturated windows in a
// row and stops after two calm ones; one window alone changes nothing.
func TestSheddingHysteresis(t *testing.T) {
	var a admission
	steps := []struct {
		over, want bool
	}{
		{true, false}, {false, false}, // a burst: one window
		{true, false}, {true, true}, // two: shedding
		{false, true}, {true, true}, // one calm window: still shedding
		{false, true}, {false, false}, // two: admitting again
	}
	for i, st := range steps {
		a.observe(st.over)
		if got := a.overloaded.Load(); got != st.want {
			t.Fatalf("after window %d (saturated %v): overloaded = %v, want %v", i, st.over, got, st.want)
		}
	}
}

// TestAdmitRefusesWhenSaturated: a saturated verdict refuses new requests
// and counts them; with the signal off, nothing is refused.
func TestAdmitRefusesWhenSaturated(t *testing.T) {
	var a admission
	a.maxDelay.Store(int64(50 * time.Millisecond))
	a.overloaded.Store(true)
	a.nextRead.Store(math.MaxInt64) // keep the verdict: no read
	if a.admit() {
		t.Error("admit() while saturated = true, want refused")
	}
	if got := a.shed.Load(); got != 1 {
		t.Errorf("shed = %d, want 1", got)
	}
	a.maxDelay.Store(0)
	if !a.admit() {
		t.Error("admit() with the signal off = false, want admitted")
	}
}

// TestSaturatedReadsScheduler: the delay signal reads the real scheduler
// metrics; an idle process is never judged saturated, the first read only
// starts a window, and reads happen at most once per window.
func TestSaturatedReadsScheduler(t *testing.T) {
	var a admission
	a.maxDelay.Store(int64(time.Nanosecond)) // any delay is over the limit
	for i := range 3 {
		if a.saturated() {
			t.Fatalf("saturated() on an idle process (read %d) = true, want false (fewer than %d runnable goroutines)", i, minRunnable)
		}
		a.nextRead.Store(0) // the next call reads again
	}
	if a.prev == nil {
		t.Error("no histogram kept after a read: /sched/latencies:seconds not read")
	}
	a.nextRead.Store(time.Now().Add(time.Hour).UnixNano())
	a.overloaded.Store(true)
	if !a.saturated() {
		t.Error("saturated() between reads = false, want the last verdict (true)")
	}
}
