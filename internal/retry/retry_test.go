package retry

import (
	"testing"
	"time"
)

func TestBackoffWait(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0.999999 }}
	for _, tt := range []struct {
		n          int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, 100 * time.Millisecond},
		{2, 0, 200 * time.Millisecond},
		{4, 0, 800 * time.Millisecond},
		{5, 0, time.Second}, // capped
		{30, 0, time.Second},
		{1, 2 * time.Second, 2 * time.Second}, // Retry-After wins
	} {
		if got := b.Wait(tt.n, tt.retryAfter); got < tt.want-time.Millisecond || got > tt.want {
			t.Errorf("Wait(%d, %v) = %v, want ≈%v", tt.n, tt.retryAfter, got, tt.want)
		}
	}
	zero := Backoff{Rand: func() float64 { return 0 }}
	if got := zero.Wait(3, 0); got != 0 {
		t.Errorf("Wait with zero jitter = %v, want 0", got)
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(0.2, 3)
	var ends []func()
	for range 30 {
		ends = append(ends, b.Begin())
	}
	var rel []func()
	for {
		r, ok := b.Acquire()
		if !ok {
			break
		}
		rel = append(rel, r)
	}
	if len(rel) != 6 { // 20% of 30
		t.Errorf("retries admitted with 30 active = %d, want 6", len(rel))
	}
	rel[0]()
	if _, ok := b.Acquire(); !ok {
		t.Error("Acquire after a release = false, want true")
	}
	for _, e := range ends[:29] {
		e()
	}
	for _, r := range rel[1:] {
		r()
	}
	var n int
	for {
		if _, ok := b.Acquire(); !ok {
			break
		}
		n++
	}
	if n != 2 { // min 3, one still held
		t.Errorf("retries admitted with 1 active and 1 held = %d, want 2 (minimum 3)", n)
	}
}

func TestBudgetSnapshot(t *testing.T) {
	b := NewBudget(0.2, 3)
	var ends []func()
	for range 20 {
		ends = append(ends, b.Begin())
	}
	var held []func()
	for range 5 { // limit 4 at 20 requests: the fifth is denied
		if r, ok := b.Acquire(); ok {
			held = append(held, r)
		}
	}
	want := BudgetStatus{Requests: 20, Retries: 4, Limit: 4, Denied: 1}
	if got := b.Snapshot(); got != want {
		t.Errorf("Snapshot() = %+v, want %+v", got, want)
	}
	for _, f := range append(held, ends...) {
		f()
	}
	want = BudgetStatus{Limit: 3, Denied: 1}
	if got := b.Snapshot(); got != want {
		t.Errorf("Snapshot() when idle = %+v, want %+v", got, want)
	}
}

func TestBudgetSetLimits(t *testing.T) {
	b := NewBudget(0.1, 1)
	for range 10 {
		b.Begin()
	}
	if _, ok := b.Acquire(); !ok {
		t.Fatal("Acquire with 10 active and min 1 = false, want true")
	}
	if _, ok := b.Acquire(); ok {
		t.Fatal("second Acquire with 10 active at 10% = true, want false")
	}
	b.SetLimits(0.5, 1) // a reload: the retry in flight still counts
	var n int
	for {
		if _, ok := b.Acquire(); !ok {
			break
		}
		n++
	}
	if n != 4 { // 50% of 10 = 5, one already in flight
		t.Errorf("retries admitted after SetLimits(0.5) = %d, want 4", n)
	}
	if _, ok := (&Budget{}).Acquire(); ok {
		t.Error("the zero Budget admitted a retry, want none")
	}
}
