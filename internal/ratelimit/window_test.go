package ratelimit

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestWindowReset: reset finds the oldest counted bucket as a plain scan
// of every bucket does, whatever the window's history.
func TestWindowReset(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, buckets := range []int{1, 2, 60, 288} {
		w := newWindow(time.Minute, buckets)
		now := int64(1_700_000_000) * int64(time.Second)
		for i := range 5000 {
			now += rng.Int64N(3 * w.size)
			w.advance(now)
			switch rng.IntN(4) {
			case 0, 1:
				w.add(rng.Int64N(3))
			case 2:
				w.adjust(now-rng.Int64N(w.size*w.n), -rng.Int64N(3))
			}
			want := time.Duration(0)
			for b := w.head - w.n; b <= w.head; b++ {
				if *w.slot(b) > 0 {
					want = time.Duration((b+w.n+1)*w.size - now)
					break
				}
			}
			if got := w.reset(now); got != want {
				t.Fatalf("%d buckets, step %d: reset = %v, want %v (ring %v, head %d)", buckets, i, got, want, w.ring, w.head)
			}
		}
	}
}
