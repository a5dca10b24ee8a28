package ratelimit

import "time"

// window counts units (requests or tokens) over a sliding window made of n
// buckets, keeping n+1 so that the buckets counted always cover at least
// the last full window: whatever the arrival times, the units admitted in
// any interval of the window's length never exceed the limit. The price is
// that a unit is forgotten up to one bucket later than exactly one window
// after it arrived (1 s of 60 for per-minute limits, 5 min of 24 h for
// per-day limits), never earlier.
type window struct {
	size  int64 // bucket length, ns
	n     int64 // buckets per window
	ring  []int64
	head  int64 // absolute index of the newest bucket
	total int64 // sum of ring
}

func newWindow(length time.Duration, buckets int) *window {
	return &window{size: int64(length) / int64(buckets), n: int64(buckets), ring: make([]int64, buckets+1)}
}

func (w *window) slot(idx int64) *int64 {
	l := int64(len(w.ring))
	return &w.ring[(idx%l+l)%l]
}

// advance moves the window to now, forgetting buckets that left it. A clock
// that went backwards keeps the window where it is.
func (w *window) advance(now int64) {
	idx := now / w.size
	if idx <= w.head {
		return
	}
	if idx-w.head >= int64(len(w.ring)) {
		clear(w.ring)
		w.total = 0
	} else {
		for b := w.head + 1; b <= idx; b++ {
			s := w.slot(b)
			w.total -= *s
			*s = 0
		}
	}
	w.head = idx
}

func (w *window) add(amount int64) {
	*w.slot(w.head) += amount
	w.total += amount
}

// adjust adds delta to the bucket of time at, if it is still counted; a
// bucket never goes below zero.
func (w *window) adjust(at, delta int64) {
	idx := at / w.size
	if idx > w.head || idx <= w.head-int64(len(w.ring)) {
		return
	}
	s := w.slot(idx)
	if *s+delta < 0 {
		delta = -*s
	}
	*s += delta
	w.total += delta
}

// until returns how long from now until amount more units fit under limit,
// as the oldest buckets leave the window; the window must be advanced to
// now. It is zero when they fit already and the window's length when they
// never can (amount > limit).
func (w *window) until(now, amount, limit int64) time.Duration {
	excess := w.total + amount - limit
	if excess <= 0 {
		return 0
	}
	if amount > limit {
		return time.Duration(w.size * w.n)
	}
	for b := w.head - w.n; b <= w.head; b++ {
		excess -= *w.slot(b)
		if excess <= 0 {
			return time.Duration((b+w.n+1)*w.size - now)
		}
	}
	return time.Duration(w.size * w.n)
}

// reset returns how long from now until the oldest counted unit leaves the
// window; zero when it is empty.
func (w *window) reset(now int64) time.Duration {
	if w.total <= 0 {
		return 0 // every bucket is empty: none goes below zero
	}
	// Every request asks, for every limit: walk the ring from the oldest
	// bucket without a division per bucket (a per-minute window that is
	// mostly empty has 60 of them).
	l := int64(len(w.ring))
	i := ((w.head-w.n)%l + l) % l
	for b := w.head - w.n; b <= w.head; b++ {
		if w.ring[i] > 0 {
			return time.Duration((b+w.n+1)*w.size - now)
		}
		if i++; i == l {
			i = 0
		}
	}
	return 0
}
