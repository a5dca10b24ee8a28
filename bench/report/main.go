// Command report reads the loadgen JSON reports of one bench/run.sh run and
// prints the results table and the figures of DESIGN.md §8 as differences
// and ratios against the baselines measured in the same run: the fake
// provider called directly ("direct") and a bare httputil.ReverseProxy
// ("proxy").
//
// It expects files named TARGET-SCENARIO.json (SCENARIO is "sat",
// "rateN" or "stream") and optional idle-TARGET.kib files holding the idle
// RSS in KiB.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// run is the subset of a loadgen report that the figures need.
type run struct {
	Mode          string         `json:"mode"`
	Rate          float64        `json:"rate"`
	Concurrency   int            `json:"concurrency"`
	Stream        bool           `json:"stream"`
	Requests      int            `json:"requests"`
	OK            int            `json:"ok"`
	Errors        map[string]int `json:"errors"`
	ThroughputRPS float64        `json:"throughput_rps"`
	Latency       dist           `json:"latency_ms"`
	TTFT          *dist          `json:"ttft_ms"`
	SendLag       *dist          `json:"send_lag_ms"`
	Procs         []proc         `json:"procs"`
	Self          proc           `json:"self"`
}

type dist struct {
	N                        int
	Mean, P50, P90, P99, Max float64
}

type proc struct {
	Name        string  `json:"name"`
	CPUUsPerReq float64 `json:"cpu_us_per_req"`
	CPUUtil     float64 `json:"cpu_util"`
	RSSKiB      int64   `json:"rss_kib"`
	HWMKiB      int64   `json:"hwm_kib"`
	PeakRSSKiB  int64   `json:"rss_peak_kib"`
}

// rssMiB is the process's RSS during the run: the sampled peak when the
// load generator has one, else the RSS at its end.
func (p proc) rssMiB() float64 { return float64(max(p.PeakRSSKiB, p.RSSKiB)) / 1024 }

func (r *run) proc(name string) (proc, bool) {
	for _, p := range r.Procs {
		if p.Name == name {
			return p, true
		}
	}
	return proc{}, false
}

// results holds one run's files: runs[target][scenario].
type results struct {
	runs    map[string]map[string]*run
	idleKiB map[string]int64
}

var targetOrder = []string{"direct", "proxy", "airgw"}

func main() {
	dir := flag.String("dir", ".", "directory with the run's JSON reports")
	markdown := flag.Bool("markdown", false, "print the table as Markdown")
	flag.Parse()
	res, err := load(*dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
	printTable(os.Stdout, res, *markdown)
	fmt.Println()
	printFigures(os.Stdout, res)
}

func load(dir string) (*results, error) {
	res := &results{runs: map[string]map[string]*run{}, idleKiB: map[string]int64{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		target, scenario, ok := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".json"), "-")
		if !ok {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r run
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if res.runs[target] == nil {
			res.runs[target] = map[string]*run{}
		}
		res.runs[target][scenario] = &r
	}
	idle, _ := filepath.Glob(filepath.Join(dir, "idle-*.kib"))
	for _, f := range idle {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		res.idleKiB[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "idle-"), ".kib")] = n
	}
	if len(res.runs) == 0 {
		return nil, fmt.Errorf("no TARGET-SCENARIO.json files in %s", dir)
	}
	return res, nil
}

func (res *results) targets() []string {
	var ts []string
	for _, t := range targetOrder {
		if res.runs[t] != nil {
			ts = append(ts, t)
		}
	}
	var extra []string
	for t := range res.runs {
		if !slices.Contains(targetOrder, t) {
			extra = append(extra, t)
		}
	}
	sort.Strings(extra)
	return append(ts, extra...)
}

// scenarios orders saturation first, then rates ascending, then streams.
func (res *results) scenarios() []string {
	seen := map[string]bool{}
	for _, m := range res.runs {
		for s := range m {
			seen[s] = true
		}
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	rank := func(s string) float64 {
		switch {
		case s == "sat":
			return -1
		case strings.HasPrefix(s, "rate"):
			n, _ := strconv.ParseFloat(strings.TrimPrefix(s, "rate"), 64)
			return n
		default:
			return math.MaxFloat64
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if ri, rj := rank(out[i]), rank(out[j]); ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

func (res *results) get(target, scenario string) *run {
	return res.runs[target][scenario]
}

func printTable(w io.Writer, res *results, markdown bool) {
	head := []string{"target", "scenario", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "ttft p50 ms", "ttft p99 ms", "cpu µs/req", "cpu cores", "rss MiB (peak)", "loadgen cores"}
	var rows [][]string
	for _, t := range res.targets() {
		for _, s := range res.scenarios() {
			r := res.get(t, s)
			if r == nil {
				continue
			}
			p, _ := r.proc("target")
			ttft50, ttft99 := "", ""
			if r.TTFT != nil {
				ttft50, ttft99 = f3(r.TTFT.P50), f3(r.TTFT.P99)
			}
			rows = append(rows, []string{
				t, describe(s, r), strconv.Itoa(r.Requests), errString(r),
				f1(r.ThroughputRPS), f3(r.Latency.P50), f3(r.Latency.P90), f3(r.Latency.P99), f3(r.Latency.Max),
				ttft50, ttft99, f1(p.CPUUsPerReq), f2(p.CPUUtil), f1(p.rssMiB()), f2(r.Self.CPUUtil),
			})
		}
	}
	if markdown {
		fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
		fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(head)))
		for _, r := range rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
		}
		return
	}
	widths := make([]int, len(head))
	for i, h := range head {
		widths[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		for i, c := range cells {
			pad := widths[i] - len([]rune(c))
			if i < 2 {
				fmt.Fprintf(w, "%s%s  ", c, strings.Repeat(" ", pad))
			} else {
				fmt.Fprintf(w, "%s%s  ", strings.Repeat(" ", pad), c)
			}
		}
		fmt.Fprintln(w)
	}
	line(head)
	for _, r := range rows {
		line(r)
	}
}

func describe(s string, r *run) string {
	switch {
	case r.Mode == "closed":
		d := fmt.Sprintf("closed c=%d", r.Concurrency)
		if r.Stream {
			d += " stream"
		}
		return d
	case r.Stream:
		return fmt.Sprintf("stream %g/s", r.Rate)
	default:
		return fmt.Sprintf("%g/s", r.Rate)
	}
}

func errString(r *run) string {
	n := r.Requests - r.OK
	if n == 0 {
		return "0"
	}
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, r.Errors[k])
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, " "))
}

func printFigures(w io.Writer, res *results) {
	fmt.Fprintln(w, "Key figures (same run; 'added' = target minus direct-to-fake; budgets from DESIGN.md §8):")
	var rates []string
	for _, s := range res.scenarios() {
		if strings.HasPrefix(s, "rate") {
			rates = append(rates, s)
		}
	}
	for _, s := range rates {
		d, p, a := res.get("direct", s), res.get("proxy", s), res.get("airgw", s)
		if d == nil {
			continue
		}
		label := strings.TrimPrefix(s, "rate") + " req/s"
		pAdd, aAdd := "n/a", "n/a"
		if p != nil {
			pAdd = fmt.Sprintf("%+.3f ms", p.Latency.P50-d.Latency.P50)
		}
		if a != nil {
			aAdd = fmt.Sprintf("%+.3f ms", a.Latency.P50-d.Latency.P50)
		}
		fmt.Fprintf(w, "  added p50 at %-10s proxy %s, airgw %s", label, pAdd, aAdd)
		if p != nil && a != nil {
			diff := (a.Latency.P50 - d.Latency.P50) - (p.Latency.P50 - d.Latency.P50)
			errs := a.Requests - a.OK
			fmt.Fprintf(w, "; airgw − proxy = %+.3f ms, airgw errors %d  [budget ≤ +0.100 ms, 0 errors: %s]",
				diff, errs, verdict(diff <= 0.1 && errs == 0))
		}
		fmt.Fprintln(w)
	}

	ds, ps, as := res.get("direct", "sat"), res.get("proxy", "sat"), res.get("airgw", "sat")
	cpu := func(r *run) (float64, bool) {
		if r == nil {
			return 0, false
		}
		p, ok := r.proc("target")
		return p.CPUUsPerReq, ok
	}
	pc, pok := cpu(ps)
	ac, aok := cpu(as)
	dc, dok := cpu(ds)
	if dok {
		fmt.Fprintf(w, "  CPU µs/request at saturation: fake %.1f", dc)
		if pok {
			fmt.Fprintf(w, ", proxy %.1f", pc)
		}
		if aok {
			fmt.Fprintf(w, ", airgw %.1f", ac)
			if pok && pc > 0 {
				fmt.Fprintf(w, " (airgw/proxy = %.2f×)", ac/pc)
			}
			fmt.Fprintf(w, "  [budget ≤ 100 µs: %s]", verdict(ac <= 100))
		}
		fmt.Fprintln(w)
	}
	if ds != nil {
		fmt.Fprintf(w, "  throughput at saturation: direct %.0f/s", ds.ThroughputRPS)
		if ps != nil {
			fmt.Fprintf(w, ", proxy %.0f/s (proxy/direct %.2f)", ps.ThroughputRPS, ratio(ps.ThroughputRPS, ds.ThroughputRPS))
		}
		if as != nil {
			fmt.Fprintf(w, ", airgw %.0f/s (airgw/direct %.2f", as.ThroughputRPS, ratio(as.ThroughputRPS, ds.ThroughputRPS))
			if ps != nil {
				fmt.Fprintf(w, ", airgw/proxy %.2f", ratio(as.ThroughputRPS, ps.ThroughputRPS))
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintln(w)
	}

	// Throughput at saturation depends on how much CPU the process under
	// test got from a shared machine; its CPU per request does not. The
	// capacity of one full core follows from the latter.
	if dok && dc > 0 {
		fmt.Fprintf(w, "  capacity per core (1e6 / CPU µs per request): direct %.0f/s", 1e6/dc)
		if pok && pc > 0 {
			fmt.Fprintf(w, ", proxy %.0f/s", 1e6/pc)
		}
		if aok && ac > 0 {
			fmt.Fprintf(w, ", airgw %.0f/s", 1e6/ac)
			if pok && pc > 0 {
				fmt.Fprintf(w, " (airgw/proxy %.2f)", pc/ac)
			}
		}
		fmt.Fprintln(w)
	}

	dt, pt, at := res.get("direct", "stream"), res.get("proxy", "stream"), res.get("airgw", "stream")
	if dt != nil && dt.TTFT != nil {
		fmt.Fprintf(w, "  time to first chunk p50: direct %.3f ms", dt.TTFT.P50)
		if pt != nil && pt.TTFT != nil {
			fmt.Fprintf(w, ", proxy added %+.3f ms", pt.TTFT.P50-dt.TTFT.P50)
		}
		if at != nil && at.TTFT != nil {
			add := at.TTFT.P50 - dt.TTFT.P50
			fmt.Fprintf(w, ", airgw added %+.3f ms  [budget ≤ 0.5 ms: %s]", add, verdict(add <= 0.5))
		}
		fmt.Fprintln(w)
	}

	if len(res.idleKiB) > 0 {
		fmt.Fprint(w, "  idle RSS:")
		for _, t := range res.targets() {
			if kib, ok := res.idleKiB[t]; ok {
				fmt.Fprintf(w, " %s %.1f MiB", t, float64(kib)/1024)
			}
		}
		if kib, ok := res.idleKiB["airgw"]; ok {
			fmt.Fprintf(w, "  [budget ≤ 30 MiB: %s]", verdict(kib <= 30*1024))
		}
		fmt.Fprintln(w)
	}

	// Memory with many streams held open (the "streams" scenario), and
	// what overload does (the "overload" scenario: twice the target's
	// saturation throughput, open loop).
	for _, t := range []string{"proxy", "airgw"} {
		r := res.get(t, "streams")
		if r == nil {
			continue
		}
		p, _ := r.proc("target")
		fmt.Fprintf(w, "  RSS with %d streams open at once: %s %.1f MiB peak, %d complete, errors %s", r.Requests, t, p.rssMiB(), r.OK, errString(r))
		if t == "airgw" {
			fmt.Fprintf(w, "  [budget ≤ 150 MiB: %s]", verdict(p.rssMiB() <= 150 && r.OK == r.Requests))
		}
		fmt.Fprintln(w)
	}
	for _, t := range []string{"proxy", "airgw"} {
		r := res.get(t, "overload")
		if r == nil {
			continue
		}
		shed := r.Errors["503"] + r.Errors["429"]
		fmt.Fprintf(w, "  overload at %g req/s (2× saturation): %s served %.0f/s, p50 %.3f ms, p99 %.3f ms; refused with 429/503: %d of %d; errors %s",
			r.Rate, t, r.ThroughputRPS, r.Latency.P50, r.Latency.P99, shed, r.Requests, errString(r))
		if t == "airgw" {
			fmt.Fprintf(w, "  [quick answers, no seconds of queueing: %s]", verdict(r.Latency.P99 < 1000))
		}
		fmt.Fprintln(w)
	}

	// A load generator that was descheduled sent late: its latency
	// figures carry the machine's noise and the run should be repeated.
	for _, t := range res.targets() {
		for _, s := range res.scenarios() {
			if r := res.get(t, s); r != nil && r.SendLag != nil && r.SendLag.P99 > 1 {
				fmt.Fprintf(w, "  NOISY: %s %s: loadgen sent its p99 request %.3f ms late (machine busy); repeat the run\n", t, describe(s, r), r.SendLag.P99)
			}
		}
	}

	// The harness is trustworthy only if the side that generates load was
	// not the one that ran out of CPU.
	for _, t := range res.targets() {
		r := res.get(t, "sat")
		if r == nil {
			continue
		}
		side := r.Self.CPUUtil
		if up, ok := r.proc("upstream"); ok {
			side += up.CPUUtil
		}
		tp, _ := r.proc("target")
		note := "target-bound"
		if side >= 0.9 && tp.CPUUtil < 0.9 {
			note = "HARNESS-BOUND: the load side ran out of CPU first; this throughput is a floor"
		} else if tp.CPUUtil < 0.9 {
			note = "neither side saturated a core (noise or latency-bound)"
		}
		fmt.Fprintf(w, "  saturation %-6s: target %.2f cores, load side (loadgen+upstream fake) %.2f cores: %s\n", t, tp.CPUUtil, side, note)
	}
}

func verdict(ok bool) string {
	if ok {
		return "within"
	}
	return "OVER"
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
