package main

import (
	"context"
	"testing"
	"time"
)

func TestNewScheduleCount(t *testing.T) {
	tests := []struct {
		rate float64
		d    time.Duration
		want int
	}{
		{1000, time.Second, 1000},
		{500, 10 * time.Second, 5000},
		{3, time.Second, 3},
		{0.5, 10 * time.Second, 5},
		{0.3, 10 * time.Second, 3},
		{2000, 2500 * time.Millisecond, 5000},
		{7, 100 * time.Millisecond, 1}, // due at 0 only
		{0, time.Second, 0},
		{100, 0, 0},
	}
	for _, tt := range tests {
		if got := newSchedule(tt.rate, tt.d).n; got != tt.want {
			t.Errorf("newSchedule(%v, %v).n = %d, want %d", tt.rate, tt.d, got, tt.want)
		}
	}
}

func TestScheduleOffsets(t *testing.T) {
	s := newSchedule(1000, time.Second)
	for i := 0; i < s.n; i++ {
		if got, want := s.at(i), time.Duration(i)*time.Millisecond; got != want {
			t.Fatalf("at(%d) = %v, want %v", i, got, want)
		}
	}
	// Every request of the plan is due inside the planned duration.
	for _, rate := range []float64{1, 3, 7, 333, 500, 1000, 2000} {
		d := 3 * time.Second
		s := newSchedule(rate, d)
		if last := s.at(s.n - 1); last >= d {
			t.Errorf("newSchedule(%v, %v): last offset %v, want < %v", rate, d, last, d)
		}
		if next := s.at(s.n); next < d-time.Nanosecond {
			t.Errorf("newSchedule(%v, %v): offset %v of the first unplanned request, want >= %v", rate, d, next, d)
		}
	}
}

// fakeClock advances only when slept on, by the requested duration plus a
// fixed oversleep, like a loaded machine that wakes the launcher late.
type fakeClock struct {
	now       time.Time
	oversleep time.Duration
	sleeps    int
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(d time.Duration) {
	c.sleeps++
	c.now = c.now.Add(d + c.oversleep)
}

func TestLaunchKeepsSchedule(t *testing.T) {
	for _, oversleep := range []time.Duration{0, 300 * time.Microsecond, 5 * time.Millisecond} {
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clk := &fakeClock{now: t0, oversleep: oversleep}
		s := newSchedule(1000, 100*time.Millisecond)
		var fired []time.Time
		var firedAt []time.Time
		n := launch(context.Background(), s, t0, clk, func(i int, at time.Time) {
			if i != len(fired) {
				t.Fatalf("oversleep %v: fire(%d) after %d calls, want in order", oversleep, i, len(fired))
			}
			fired = append(fired, at)
			firedAt = append(firedAt, clk.now)
		})
		if n != s.n || len(fired) != s.n {
			t.Fatalf("oversleep %v: launch fired %d (returned %d), want %d", oversleep, len(fired), n, s.n)
		}
		for i, at := range fired {
			// The scheduled time is never shifted by a late launcher:
			// latency is charged from when the request was due.
			if want := t0.Add(time.Duration(i) * time.Millisecond); !at.Equal(want) {
				t.Fatalf("oversleep %v: request %d scheduled at %v, want %v", oversleep, i, at.Sub(t0), want.Sub(t0))
			}
			if firedAt[i].Before(at) {
				t.Fatalf("oversleep %v: request %d fired at %v, before its time %v", oversleep, i, firedAt[i].Sub(t0), at.Sub(t0))
			}
		}
		// A launcher that oversleeps 5 ms fires the overdue requests in a
		// burst instead of sleeping before each.
		if oversleep == 5*time.Millisecond && clk.sleeps > s.n/4 {
			t.Errorf("oversleep %v: %d sleeps for %d requests, want overdue requests fired without sleeping", oversleep, clk.sleeps, s.n)
		}
	}
}

func TestLaunchStopsOnCancel(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	ctx, cancel := context.WithCancel(context.Background())
	s := newSchedule(100, time.Second)
	n := launch(ctx, s, t0, clk, func(i int, _ time.Time) {
		if i == 9 {
			cancel()
		}
	})
	if n != 10 {
		t.Errorf("launch with cancel after the 10th request = %d, want 10", n)
	}
}
