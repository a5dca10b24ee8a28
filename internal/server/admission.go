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
// The scheduler is read from runtime/metrics at most every 50 ms, by
// whichever request comes first, so an idle gateway does no work for it.
// Shedding starts after two windows in a row over the limit, and stops
// after two under it: a burst (thousands of streams whose events arrive
// together) passes within one window, and a gateway that has just drained
// its queue does not take the next burst of arrivals whole. It also needs
// more than minRunnable goroutines waiting for a CPU: a few slow requests
// on a busy machine (a test run, a batch job beside the gateway) are not
// an overload of the gateway. (Requests in flight are no such gauge: past
// saturation they can be few while thousands wait to be read.)

// minRunnable is the fewest runnable goroutines for the delay signal to
// refuse requests.
const minRunnable = 1024

// delayWindow is how often the scheduler's delays are read.
const delayWindow = 50 * time.Millisecond

// admission counts the API requests in flight and decides whether a new
// one may start. It is safe for concurrent use.
type admission struct {
	inFlight, maxInFlight, shed atomic.Int64
	maxDelay                    atomic.Int64 // time.Duration; ≤ 0: off
	overloaded                  atomic.Bool
	nextRead                    atomic.Int64 // unix nanos of the next read of the scheduler

	mu     sync.Mutex // guards sample, prev and streak, for the one reader
	sample []metrics.Sample
	prev   []uint64
	// streak counts the windows in a row whose verdict differs from
	// overloaded; two flip it.
	streak int
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
	if limit := a.maxInFlight.Load(); limit > 0 && n > limit || a.saturated() {
		a.inFlight.Add(-1)
		a.shed.Add(1)
		return false
	}
	return true
}

func (a *admission) done() { a.inFlight.Add(-1) }

// saturated reports whether the CPU is saturated: in each of the last two
// windows, runnable goroutines waited longer than maxDelay (90th
// percentile) and more than minRunnable of them were waiting; or, once
// so, not yet two windows without.
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
	delay, runnable := a.read()
	a.observe(delay > limit && runnable > minRunnable)
	return a.overloaded.Load()
}

// observe takes one window's verdict; a.mu is held.
func (a *admission) observe(over bool) {
	if over == a.overloaded.Load() {
		a.streak = 0
		return
	}
	if a.streak++; a.streak >= 2 {
		a.overloaded.Store(over)
		a.streak = 0
	}
}

// read returns the 90th percentile of the scheduler's delays since the
// previous read (0 when there were none) and the goroutines runnable now;
// a.mu is held.
func (a *admission) read() (time.Duration, uint64) {
	if a.sample == nil {
		a.sample = []metrics.Sample{{Name: "/sched/latencies:seconds"}, {Name: "/sched/goroutines/runnable:goroutines"}}
	}
	metrics.Read(a.sample)
	var runnable uint64
	if v := a.sample[1].Value; v.Kind() == metrics.KindUint64 {
		runnable = v.Uint64()
	}
	if a.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0, runnable
	}
	h := a.sample[0].Value.Float64Histogram()
	prev := a.prev
	a.prev = append(a.prev[:0:0], h.Counts...)
	if len(prev) != len(h.Counts) {
		return 0, runnable // the first read: no window yet
	}
	return p90(h.Buckets, prev, h.Counts), runnable
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
