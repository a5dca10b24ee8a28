// Package metrics counts what airgw does and serves it on /metrics in the
// Prometheus text format (version 0.0.4).
//
// It is written by hand rather than with prometheus/client_golang: airgw
// needs a fixed set of counters and histograms, updated once per request
// from the finished audit record, and the hand-written path costs one
// read-locked map lookup and a few atomic adds per request (see
// BenchmarkObserve) with no dependency; client_golang would add about ten
// modules (protobuf, procfs, …) and a label-hashing lookup per metric.
//
// Labels are bounded by construction: model is the requested alias only
// when it resolved to a configured route (otherwise "-"), provider and
// team come from the config and the key store, status is an HTTP status,
// error_class one of airgw's classes. As a safety net, each label keeps at
// most MaxLabelValues distinct values; later ones are counted as "other".
// No secret and no client-chosen free text (purpose, end user, tags) is
// ever a label.
package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

// MaxLabelValues bounds the distinct values of each label.
const MaxLabelValues = 500

// Registry holds airgw's metrics. It is safe for concurrent use; the zero
// value is not usable, call New.
type Registry struct {
	mu       sync.RWMutex
	requests map[reqKey]*reqSeries
	latency  map[mpKey]*latSeries
	errors   map[errKey]*atomic.Int64
	attempts map[attKey]*atomic.Int64
	retries  map[string]*counters // by model
	seen     map[string]map[string]bool

	auditWrite histogram // seconds a spool write took

	o       Options
	started time.Time
}

// Options are the state sources read at scrape time; nil ones are left
// out.
type Options struct {
	// Spool reports the audit spool.
	Spool func() audit.SpoolStats
	// Breakers reports the circuit-breaker state of every target.
	Breakers func() []Breaker
	// Budgets reports budget utilisation (the budget package).
	Budgets BudgetSource
	// Reloads reports configuration reloads (the reload package).
	Reloads ReloadSource
	// Version is reported by airgw_build_info.
	Version string
}

// New returns an empty Registry reading o's sources at scrape time.
func New(o Options) *Registry {
	return &Registry{
		requests:   map[reqKey]*reqSeries{},
		latency:    map[mpKey]*latSeries{},
		errors:     map[errKey]*atomic.Int64{},
		attempts:   map[attKey]*atomic.Int64{},
		retries:    map[string]*counters{},
		seen:       map[string]map[string]bool{},
		auditWrite: newHistogram(auditWriteBuckets),
		o:          o,
		started:    time.Now(),
	}
}

type reqKey struct {
	model, provider, team string
	status                int
}

type reqSeries struct {
	requests, input, output, cacheRead, cacheWrite, reasoning, cost atomic.Int64
}

type mpKey struct{ model, provider string }

type latSeries struct{ latency, ttft histogram }

type errKey struct{ class, provider string }

type attKey struct{ provider, class string }

type counters struct{ retries, fallbacks atomic.Int64 }

// Observe counts one finished request from its audit record. It is called
// once per request, after the record is spooled; records of other kinds
// (admin changes, reloads) are ignored.
func (r *Registry) Observe(rec *audit.Record) {
	if rec.Kind != "" && rec.Kind != audit.KindRequest {
		return
	}
	model := "-"
	if rec.Provider != "" {
		model = rec.RequestedModel // resolved to a configured route
	}
	k := reqKey{model: model, provider: rec.Provider, team: rec.Team, status: rec.Status}
	s := series(r, r.requests, k, boundReq, newReqSeries)
	s.requests.Add(1)
	s.input.Add(rec.InputTokens)
	s.output.Add(rec.OutputTokens)
	s.cacheRead.Add(rec.CacheReadTokens)
	s.cacheWrite.Add(rec.CacheWriteTokens)
	s.reasoning.Add(rec.ReasoningTokens)
	s.cost.Add(rec.CostNanoUSD)
	if rec.Provider != "" {
		l := series(r, r.latency, mpKey{k.model, k.provider}, boundMP, newLatSeries)
		l.latency.observe(float64(rec.LatencyMillis) / 1000)
		if rec.Stream && rec.TTFTMillis > 0 {
			l.ttft.observe(float64(rec.TTFTMillis) / 1000)
		}
	}
	if rec.ErrorClass != "" {
		series(r, r.errors, errKey{rec.ErrorClass, rec.Provider}, boundErr, newCounter).Add(1)
	}
	for i := range rec.Attempts {
		a := &rec.Attempts[i]
		series(r, r.attempts, attKey{a.Provider, a.ErrorClass}, boundAtt, newCounter).Add(1)
	}
	if n := len(rec.Attempts); n > 1 {
		c := series(r, r.retries, model, boundModel, newCounters)
		c.retries.Add(int64(n - 1))
		first, last := rec.Attempts[0], rec.Attempts[n-1]
		if first.Provider != last.Provider || first.Model != last.Model {
			c.fallbacks.Add(1)
		}
	}
}

// ObserveAuditWrite records how long a spool write took.
func (r *Registry) ObserveAuditWrite(d time.Duration) { r.auditWrite.observe(d.Seconds()) }

// series returns m's value for k, creating it (with bound applied to the
// key's labels) on first use. The common path is one read-locked lookup.
func series[K comparable, V any](r *Registry, m map[K]*V, k K, bound func(*Registry, K) K, mk func() *V) *V {
	r.mu.RLock()
	v := m[k]
	r.mu.RUnlock()
	if v != nil {
		return v
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k = bound(r, k)
	if v = m[k]; v == nil {
		v = mk()
		m[k] = v
	}
	return v
}

func boundReq(r *Registry, k reqKey) reqKey {
	return reqKey{r.boundLocked("model", k.model), r.boundLocked("provider", k.provider), r.boundLocked("team", k.team), k.status}
}

func boundMP(r *Registry, k mpKey) mpKey {
	return mpKey{r.boundLocked("model", k.model), r.boundLocked("provider", k.provider)}
}

func boundErr(r *Registry, k errKey) errKey {
	return errKey{r.boundLocked("error_class", k.class), r.boundLocked("provider", k.provider)}
}

func boundAtt(r *Registry, k attKey) attKey {
	return attKey{r.boundLocked("provider", k.provider), r.boundLocked("error_class", k.class)}
}

func boundModel(r *Registry, m string) string { return r.boundLocked("model", m) }

func newReqSeries() *reqSeries { return &reqSeries{} }
func newLatSeries() *latSeries {
	return &latSeries{latency: newHistogram(latencyBuckets), ttft: newHistogram(latencyBuckets)}
}
func newCounter() *atomic.Int64 { return new(atomic.Int64) }
func newCounters() *counters    { return &counters{} }

// boundLocked returns v, or "other" once label has MaxLabelValues other
// values; r.mu is held.
func (r *Registry) boundLocked(label, v string) string {
	vals := r.seen[label]
	if vals == nil {
		vals = map[string]bool{}
		r.seen[label] = vals
	}
	if vals[v] {
		return v
	}
	if len(vals) >= MaxLabelValues {
		return "other"
	}
	vals[v] = true
	return v
}

// Histogram buckets, in seconds.
var (
	latencyBuckets    = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	auditWriteBuckets = []float64{0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1}
)

// histogram counts observations per bucket (not cumulative; exposition
// accumulates) and their sum in nanoseconds.
type histogram struct {
	bounds []float64
	counts []atomic.Int64 // len(bounds)+1: the last is +Inf
	sumNS  atomic.Int64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]atomic.Int64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNS.Add(int64(v * 1e9))
}

func itoa(n int) string { return strconv.Itoa(n) }
