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

// TestSaturatedNeedsMany: the delay signal refuses nothing while few
// requests are in flight, however slow the machine.
func TestSaturatedNeedsMany(t *testing.T) {
	var a admission
	a.maxDelay.Store(1) // 1 ns: any delay at all is over it
	a.overloaded.Store(true)
	a.nextRead.Store(math.MaxInt64) // keep the verdict: no read
	for range minInFlightToShed {
		if !a.admit() {
			t.Fatalf("admit() refused with %d in flight, want admitted up to %d", a.inFlight.Load(), minInFlightToShed)
		}
	}
	if a.admit() {
		t.Errorf("admit() with %d in flight and the CPU saturated = true, want refused", minInFlightToShed+1)
	}
	if got := a.shed.Load(); got != 1 {
		t.Errorf("shed = %d, want 1", got)
	}
}
