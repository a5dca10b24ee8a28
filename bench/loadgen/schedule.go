package main

import (
	"context"
	"math"
	"syscall"
	"time"
)

// schedule is a fixed-rate plan: request i is due at offset i/rate from the
// start of the run. The plan never depends on responses, which is what makes
// the load open-loop.
type schedule struct {
	rate float64 // requests per second, > 0
	n    int     // requests in the plan
}

// newSchedule plans every request due within d at rate requests per second.
func newSchedule(rate float64, d time.Duration) schedule {
	if rate <= 0 || d <= 0 {
		return schedule{rate: rate}
	}
	// The epsilon keeps rate*d that is a whole number from rounding up.
	n := int(math.Ceil(rate*d.Seconds() - 1e-9))
	return schedule{rate: rate, n: n}
}

// at returns the offset from the start at which request i is due.
func (s schedule) at(i int) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / s.rate)
}

// clock is the time source of the launcher, replaced in tests.
type clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Sleep waits for about d, or less when d is long.
func (realClock) Sleep(d time.Duration) {
	// The runtime's timers can wake up to a millisecond late, which would
	// be most of the latency being measured. Long waits use them for all
	// but the last millisecond; the rest is a nanosleep, which blocks only
	// the launcher's own thread and wakes within tens of microseconds.
	if d > 2*time.Millisecond {
		time.Sleep(d - time.Millisecond)
		return // the caller sleeps again for what is left
	}
	ts := syscall.NsecToTimespec(int64(d))
	syscall.Nanosleep(&ts, nil)
}

// launch calls fire for every request of s in order, each no earlier than
// start+s.at(i), and passes the scheduled time (not the time of the call) so
// that latency is measured from when the request should have been sent. A
// launcher that falls behind fires the overdue requests at once instead of
// shifting the plan: this avoids coordinated omission. It returns the number
// of requests fired, which is less than s.n only if ctx ended.
func launch(ctx context.Context, s schedule, start time.Time, clk clock, fire func(i int, scheduled time.Time)) int {
	for i := 0; i < s.n; i++ {
		at := start.Add(s.at(i))
		for d := at.Sub(clk.Now()); d > 0; d = at.Sub(clk.Now()) {
			clk.Sleep(d)
		}
		if ctx.Err() != nil {
			return i
		}
		fire(i, at)
	}
	return s.n
}
