package metrics

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Breaker is one target's circuit-breaker state, for the breaker gauges.
type Breaker struct {
	Target string // provider/model, from the config
	State  string // "closed", "open" or "half_open" (breaker.State.String)
}

// Budget is one budget's use, for the budget utilisation gauges.
type Budget struct {
	// Scope is "key", "team" or "global". Per-end-user budgets are not
	// exported: end users are unbounded.
	Scope string
	// Name is the key's id or the team's name; empty for global.
	Name string
	// LimitNanoUSD and SpentNanoUSD are the period's limit and spend.
	LimitNanoUSD, SpentNanoUSD int64
}

// BudgetSource reports every budget's use; the budget package provides it.
type BudgetSource interface {
	Budgets() []Budget
}

// ReloadStats counts configuration reloads.
type ReloadStats struct {
	Succeeded, Failed int64
	// LastSuccess is when the config in force was loaded.
	LastSuccess time.Time
}

// ReloadSource reports configuration reloads; the reload package provides
// it.
type ReloadSource interface {
	Reloads() ReloadStats
}

// ServeHTTP writes every metric in the Prometheus text format.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = r.Write(w)
}

// Write writes every metric in the Prometheus text format to w.
func (r *Registry) Write(w io.Writer) error {
	e := &expo{w: bufio.NewWriterSize(w, 32<<10)}
	r.writeRequests(e)
	r.writeLatency(e)
	r.writeUpstream(e)
	e.histogram("airgw_audit_write_seconds", "Time to append a finished request's record to the audit spool.", nil, &r.auditWrite)
	r.writeSources(e)
	e.family("airgw_build_info", "gauge", "The running airgw's version.")
	e.sample("airgw_build_info", []string{"version", r.o.Version}, 1)
	e.family("process_start_time_seconds", "gauge", "When the process started, unix seconds.")
	e.sample("process_start_time_seconds", nil, float64(r.started.Unix()))
	e.family("go_goroutines", "gauge", "Goroutines that currently exist.")
	e.sample("go_goroutines", nil, float64(runtime.NumGoroutine()))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e.family("go_memstats_heap_inuse_bytes", "gauge", "Bytes in in-use heap spans.")
	e.sample("go_memstats_heap_inuse_bytes", nil, float64(ms.HeapInuse))
	e.family("go_memstats_sys_bytes", "gauge", "Bytes obtained from the system.")
	e.sample("go_memstats_sys_bytes", nil, float64(ms.Sys))
	return e.w.Flush()
}

func (r *Registry) writeRequests(e *expo) {
	r.mu.RLock()
	keys := make([]reqKey, 0, len(r.requests))
	for k := range r.requests {
		keys = append(keys, k)
	}
	r.mu.RUnlock()
	slices.SortFunc(keys, func(a, b reqKey) int {
		return cmp.Or(cmp.Compare(a.model, b.model), cmp.Compare(a.provider, b.provider), cmp.Compare(a.team, b.team), cmp.Compare(a.status, b.status))
	})
	metric := func(name, help string, get func(*reqSeries) float64, extra ...string) {
		e.family(name, "counter", help)
		for _, k := range keys {
			r.mu.RLock()
			s := r.requests[k]
			r.mu.RUnlock()
			labels := append([]string{"model", k.model, "provider", k.provider, "team", k.team, "status", strconv.Itoa(k.status)}, extra...)
			e.sample(name, labels, get(s))
		}
	}
	metric("airgw_requests_total", "Finished requests by requested model, serving provider, team and final HTTP status.",
		func(s *reqSeries) float64 { return float64(s.requests.Load()) })
	e.family("airgw_tokens_total", "counter", "Tokens by type (input, output, cache_read, cache_write, reasoning), model, provider, team and status.")
	for _, typ := range []struct {
		name string
		get  func(*reqSeries) int64
	}{
		{"input", func(s *reqSeries) int64 { return s.input.Load() }},
		{"output", func(s *reqSeries) int64 { return s.output.Load() }},
		{"cache_read", func(s *reqSeries) int64 { return s.cacheRead.Load() }},
		{"cache_write", func(s *reqSeries) int64 { return s.cacheWrite.Load() }},
		{"reasoning", func(s *reqSeries) int64 { return s.reasoning.Load() }},
	} {
		for _, k := range keys {
			r.mu.RLock()
			s := r.requests[k]
			r.mu.RUnlock()
			e.sample("airgw_tokens_total", []string{"model", k.model, "provider", k.provider, "team", k.team, "status", strconv.Itoa(k.status), "type", typ.name}, float64(typ.get(s)))
		}
	}
	metric("airgw_cost_usd_total", "Cost in US dollars (exact to the nano-dollar in the audit trail) by model, provider, team and status.",
		func(s *reqSeries) float64 { return float64(s.cost.Load()) / 1e9 })
}

func (r *Registry) writeLatency(e *expo) {
	r.mu.RLock()
	keys := make([]mpKey, 0, len(r.latency))
	for k := range r.latency {
		keys = append(keys, k)
	}
	r.mu.RUnlock()
	slices.SortFunc(keys, func(a, b mpKey) int {
		return cmp.Or(cmp.Compare(a.model, b.model), cmp.Compare(a.provider, b.provider))
	})
	get := func(k mpKey) *latSeries {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return r.latency[k]
	}
	e.family("airgw_request_duration_seconds", "histogram", "Request latency, from the request to the end of the response, by model and provider.")
	for _, k := range keys {
		e.histogramSamples("airgw_request_duration_seconds", []string{"model", k.model, "provider", k.provider}, &get(k).latency)
	}
	e.family("airgw_time_to_first_token_seconds", "histogram", "Time to the first streamed token, by model and provider.")
	for _, k := range keys {
		e.histogramSamples("airgw_time_to_first_token_seconds", []string{"model", k.model, "provider", k.provider}, &get(k).ttft)
	}
}

func (r *Registry) writeUpstream(e *expo) {
	r.mu.RLock()
	errs := make([]errKey, 0, len(r.errors))
	for k := range r.errors {
		errs = append(errs, k)
	}
	atts := make([]attKey, 0, len(r.attempts))
	for k := range r.attempts {
		atts = append(atts, k)
	}
	models := make([]string, 0, len(r.retries))
	for m := range r.retries {
		models = append(models, m)
	}
	r.mu.RUnlock()
	slices.SortFunc(errs, func(a, b errKey) int {
		return cmp.Or(cmp.Compare(a.class, b.class), cmp.Compare(a.provider, b.provider))
	})
	slices.SortFunc(atts, func(a, b attKey) int {
		return cmp.Or(cmp.Compare(a.provider, b.provider), cmp.Compare(a.class, b.class))
	})
	slices.Sort(models)
	r.mu.RLock()
	defer r.mu.RUnlock()
	e.family("airgw_errors_total", "counter", "Failed requests by error class and the provider last tried.")
	for _, k := range errs {
		e.sample("airgw_errors_total", []string{"error_class", k.class, "provider", k.provider}, float64(r.errors[k].Load()))
	}
	e.family("airgw_upstream_attempts_total", "counter", "Calls to providers by provider and error class (empty: success).")
	for _, k := range atts {
		e.sample("airgw_upstream_attempts_total", []string{"provider", k.provider, "error_class", k.class}, float64(r.attempts[k].Load()))
	}
	e.family("airgw_retries_total", "counter", "Upstream attempts after a request's first, by model.")
	for _, m := range models {
		e.sample("airgw_retries_total", []string{"model", m}, float64(r.retries[m].retries.Load()))
	}
	e.family("airgw_fallbacks_total", "counter", "Requests that ended on another target than their first, by model.")
	for _, m := range models {
		e.sample("airgw_fallbacks_total", []string{"model", m}, float64(r.retries[m].fallbacks.Load()))
	}
}

func (r *Registry) writeSources(e *expo) {
	if r.o.Spool != nil {
		st := r.o.Spool()
		gauge := func(name, help string, v float64) {
			e.family(name, "gauge", help)
			e.sample(name, nil, v)
		}
		counter := func(name, help string, v int64) {
			e.family(name, "counter", help)
			e.sample(name, nil, float64(v))
		}
		gauge("airgw_audit_spool_depth_records", "Audit records (and checkpoints) spooled but not yet in the database.", float64(st.Depth))
		gauge("airgw_audit_spool_bytes", "Spool bytes not yet drained to the database.", float64(st.Bytes))
		gauge("airgw_audit_spool_max_bytes", "audit.spool_max_size: beyond it new requests are refused.", float64(st.MaxBytes))
		gauge("airgw_audit_spool_oldest_age_seconds", "Age of the oldest record not yet in the database.", st.OldestAge.Seconds())
		b := 0.0
		if st.SinkFailing {
			b = 1
		}
		gauge("airgw_audit_database_failing", "1 while the audit database refuses writes.", b)
		counter("airgw_audit_records_stored_total", "Records (and checkpoints) stored in the database.", st.Stored)
		counter("airgw_audit_records_dead_lettered_total", "Records the database rejected, kept in the dead-letter file.", st.DeadLettered)
		counter("airgw_audit_requests_refused_total", "Requests refused because the audit spool was full.", st.Refused)
		counter("airgw_audit_spool_write_errors_total", "Failed spool writes and fsyncs.", st.WriteErrors)
		counter("airgw_audit_checkpoints_total", "Signed chain checkpoints written.", st.Checkpoints)
		gauge("airgw_audit_chain_seq", "The audit chain's last sequence number.", float64(st.Head.Seq))
	}
	if r.o.Breakers != nil {
		bs := r.o.Breakers()
		slices.SortFunc(bs, func(a, b Breaker) int { return cmp.Compare(a.Target, b.Target) })
		e.family("airgw_breaker_state", "gauge", "Circuit-breaker state per target: 1 for the current state.")
		for _, b := range bs {
			for _, st := range []string{"closed", "open", "half_open"} {
				v := 0.0
				if b.State == st {
					v = 1
				}
				e.sample("airgw_breaker_state", []string{"target", b.Target, "state", st}, v)
			}
		}
	}
	if r.o.Budgets != nil {
		bs := r.o.Budgets.Budgets()
		slices.SortFunc(bs, func(a, b Budget) int { return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Name, b.Name)) })
		e.family("airgw_budget_utilisation_ratio", "gauge", "Spend over limit for the current period, per budget.")
		for _, b := range bs {
			if b.Scope == "user" || b.LimitNanoUSD <= 0 {
				continue
			}
			e.sample("airgw_budget_utilisation_ratio", []string{"scope", b.Scope, "name", b.Name}, float64(b.SpentNanoUSD)/float64(b.LimitNanoUSD))
		}
		e.family("airgw_budget_spent_usd", "gauge", "Spend in the current period, per budget.")
		for _, b := range bs {
			if b.Scope != "user" {
				e.sample("airgw_budget_spent_usd", []string{"scope", b.Scope, "name", b.Name}, float64(b.SpentNanoUSD)/1e9)
			}
		}
	}
	if r.o.Reloads != nil {
		st := r.o.Reloads.Reloads()
		e.family("airgw_config_reloads_total", "counter", "Configuration reloads by result.")
		e.sample("airgw_config_reloads_total", []string{"result", "success"}, float64(st.Succeeded))
		e.sample("airgw_config_reloads_total", []string{"result", "failure"}, float64(st.Failed))
		e.family("airgw_config_last_reload_success_timestamp_seconds", "gauge", "When the config in force was loaded, unix seconds.")
		e.sample("airgw_config_last_reload_success_timestamp_seconds", nil, float64(st.LastSuccess.Unix()))
	}
}

// expo writes the text exposition format.
type expo struct {
	w   *bufio.Writer
	buf []byte
}

func (e *expo) family(name, typ, help string) {
	fmt.Fprintf(e.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes name{labels} v; labels alternate names and values.
func (e *expo) sample(name string, labels []string, v float64) {
	b := append(e.buf[:0], name...)
	if len(labels) > 0 {
		b = append(b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, labels[i]...)
			b = append(b, '=', '"')
			b = appendEscaped(b, labels[i+1])
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	b = append(b, '\n')
	e.buf = b
	_, _ = e.w.Write(b)
}

func (e *expo) histogram(name, help string, labels []string, h *histogram) {
	e.family(name, "histogram", help)
	e.histogramSamples(name, labels, h)
}

func (e *expo) histogramSamples(name string, labels []string, h *histogram) {
	var cum int64
	for i, bound := range h.bounds {
		cum += h.counts[i].Load()
		e.sample(name+"_bucket", append(slices.Clone(labels), "le", strconv.FormatFloat(bound, 'g', -1, 64)), float64(cum))
	}
	cum += h.counts[len(h.bounds)].Load()
	e.sample(name+"_bucket", append(slices.Clone(labels), "le", "+Inf"), float64(cum))
	e.sample(name+"_sum", labels, float64(h.sumNS.Load())/1e9)
	e.sample(name+"_count", labels, float64(cum))
}

// appendEscaped escapes a label value: backslash, double quote, newline.
func appendEscaped(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\\\"\n") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, s[i])
		}
	}
	return b
}
