package server

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// Admission control (DESIGN.md §8: overload is answered quickly with 503,
// never with seconds of queueing). Two signals refuse a new API request
// before its body is read:
//
//   - a count: more than max_in_flight requests being served, which
//     bounds memory (each open stream holds buffers and goroutines);
//   - a delay: the CPU is saturated. Past saturation the backlog is not in
//     the handlers but in the Go scheduler's run queue (connections whose
//     requests have arrived and wait for a CPU to be read), where no count
//     of requests sees it; the scheduler's own measure of how long runnable
//     goroutines wait does. Refusing new work while that delay is above
//     max_queue_delay keeps the wait of the requests admitted near it,
//     where a count limit large enough for thousands of open streams would
//     let them queue for seconds.
//
// The delay is read from runtime/metrics at most every 50 ms, by whichever
// request comes first, so an idle gateway does no work for it; it must be
// over the limit in two windows in a row, so that a burst is not taken
// for an overload. It is only
// consulted with more than minInFlightToShed requests in flight: a few
// slow requests on a busy machine (a test run, a batch job beside the
// gateway) are not an overload of the gateway.

// minInFlightToShed is the fewest requests in flight for the delay signal
// to refuse any.
const minInFlightToShed = 256

// delayWindow is how often the scheduler's delays are read.
const delayWindow = 50 * time.Millisecond

// admission counts the API requests in flight and decides whether a new
// one may start. It is safe for concurrent use.
type admission struct {
	inFlight, maxInFlight, shed atomic.Int64
	maxDelay                    atomic.Int64 // time.Duration; ≤ 0: off
	overloaded                  atomic.Bool
	nextRead                    atomic.Int64 // unix nanos of the next read of the delays

	mu     sync.Mutex // guards sample, prev and over, for the one reader
	sample []metrics.Sample
	prev   []uint64
	over   int // consecutive windows over maxDelay
}

// SetMaxInFlight changes the most API requests served at once, for
// requests that start from now on (a config reload); n ≤ 0 means no limit.
func (s *Server) SetMaxInFlight(n int) { s.adm.maxInFlight.Store(int64(n)) }

// SetMaxQueueDelay changes the scheduler delay past which new requests
// are refused (Options.MaxQueueDelay); d ≤ 0 turns the signal off.
func (s *Server) SetMaxQueueDelay(d time.Duration) { s.adm.maxDelay.Store(int64(d)) }

// Shed returns how many API requests were refused by admission control.
func (s *Server) Shed() int64 { return s.adm.shed.Load() }

// errOverloaded answers a request that admission control refused.
var errOverloaded = &llm.Error{Code: llm.CodeServiceUnavailable, RetryAfter: time.Second,
	Message: "airgw is at capacity (server.max_in_flight requests in flight, or its CPU saturated beyond server.max_queue_delay); retry after a moment"}

// admit counts a request in flight, or refuses it; a request admitted
// must call done.
func (a *admission) admit() bool {
	n := a.inFlight.Add(1)
	if limit := a.maxInFlight.Load(); limit > 0 && n > limit || n > minInFlightToShed && a.saturated() {
		a.inFlight.Add(-1)
		a.shed.Add(1)
		return false
	}
	return true
}

func (a *admission) done() { a.inFlight.Add(-1) }

// saturated reports whether runnable goroutines waited longer than
// maxDelay (90th percentile) in each of the last two windows.
func (a *admission) saturated() bool {
	limit := time.Duration(a.maxDelay.Load())
	if limit <= 0 {
		return false
	}
	now := time.Now().UnixNano()
	next := a.nextRead.Load()
	if now < next || !a.nextRead.CompareAndSwap(next, now+int64(delayWindow)) {
		return a.overloaded.Load()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Two windows in a row: a burst (thousands of streams whose events
	// arrive together) passes within one, an overload does not.
	if a.readDelay() > limit {
		a.over++
	} else {
		a.over = 0
	}
	a.overloaded.Store(a.over >= 2)
	return a.overloaded.Load()
}

// readDelay returns the 90th percentile of the scheduler's delays since
// the previous read (0 when there were none); a.mu is held.
func (a *admission) readDelay() time.Duration {
	if a.sample == nil {
		a.sample = []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	}
	metrics.Read(a.sample)
	if a.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := a.sample[0].Value.Float64Histogram()
	prev := a.prev
	a.prev = append(a.prev[:0:0], h.Counts...)
	if len(prev) != len(h.Counts) {
		return 0 // the first read: no window yet
	}
	return p90(h.Buckets, prev, h.Counts)
}

// p90 returns the lower bound of the bucket holding the 90th percentile of
// the delays counted between two reads of a histogram (counts[i] holds
// delays in [buckets[i], buckets[i+1]) seconds), or 0 when none were.
func p90(buckets []float64, prev, cur []uint64) time.Duration {
	var total uint64
	for i, c := range cur {
		total += c - prev[i]
	}
	if total == 0 {
		return 0
	}
	rank, seen := total-total/10, uint64(0)
	for i, c := range cur {
		if seen += c - prev[i]; seen >= rank {
			return time.Duration(buckets[i] * float64(time.Second))
		}
	}
	return 0
}
