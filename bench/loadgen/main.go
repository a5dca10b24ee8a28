// Command loadgen sends OpenAI Chat Completions requests at a fixed rate
// (open loop: -rate) or from a fixed number of workers (closed loop:
// -concurrency) and reports latency percentiles, throughput, errors by
// status, time to first chunk for streams, and the CPU time and memory of
// the processes named with -pid.
//
// In open-loop mode a request's latency runs from the time it was scheduled,
// not from when it was sent, so a stalled server is charged for the requests
// it kept waiting (no coordinated omission). Every run is bounded: it ends
// after -warmup + -duration plus at most -timeout for the last requests.
//
// By default requests go through a minimal HTTP/1.1 client (raw.go) that
// costs about half of net/http's CPU per request, so that on a small machine
// the load generator runs out of CPU after the server under test, not
// before; -client std uses net/http.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// report is the JSON output of one run.
type report struct {
	Label         string         `json:"label,omitempty"`
	Mode          string         `json:"mode"` // "rate" or "closed"
	URL           string         `json:"url"`
	Stream        bool           `json:"stream"`
	Rate          float64        `json:"rate,omitempty"`
	Concurrency   int            `json:"concurrency,omitempty"`
	DurationS     float64        `json:"duration_s"`
	WarmupS       float64        `json:"warmup_s"`
	Requests      int            `json:"requests"` // measured requests sent
	OK            int            `json:"ok"`
	Errors        map[string]int `json:"errors"` // by HTTP status or error kind
	ElapsedS      float64        `json:"elapsed_s"`
	ThroughputRPS float64        `json:"throughput_rps"` // successful responses per second
	Latency       dist           `json:"latency_ms"`     // successful requests only, from the scheduled time
	Service       dist           `json:"service_ms"`     // successful requests only, from the time actually sent
	TTFT          *dist          `json:"ttft_ms,omitempty"`
	SendLag       *dist          `json:"send_lag_ms,omitempty"` // open loop: scheduled to sent
	Procs         []procUsage    `json:"procs,omitempty"`
	Self          procUsage      `json:"self"`
}

// procUsage is a process's CPU and memory over the measurement window.
type procUsage struct {
	Name        string  `json:"name"`
	PID         int     `json:"pid"`
	CPUSeconds  float64 `json:"cpu_s"`
	CPUUsPerReq float64 `json:"cpu_us_per_req"`
	CPUUtil     float64 `json:"cpu_util"` // cores busy on average
	RSSKiB      int64   `json:"rss_kib,omitempty"`
	HWMKiB      int64   `json:"hwm_kib,omitempty"`
	// PeakRSSKiB is the largest VmRSS sampled every 50 ms during the
	// measured window (the RSS while the load lasts).
	PeakRSSKiB int64  `json:"rss_peak_kib,omitempty"`
	Error      string `json:"error,omitempty"`
}

type pidFlag []namedPID

type namedPID struct {
	name string
	pid  int
}

func (p *pidFlag) String() string { return fmt.Sprint(*p) }
func (p *pidFlag) Set(v string) error {
	name, num, ok := strings.Cut(v, "=")
	if !ok {
		name, num = "pid"+v, v
	}
	pid, err := strconv.Atoi(num)
	if err != nil || pid <= 0 {
		return fmt.Errorf("want NAME=PID, got %q", v)
	}
	*p = append(*p, namedPID{name, pid})
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		url         = fs.String("url", "http://127.0.0.1:8080/v1/chat/completions", "request URL")
		key         = fs.String("key", "bench", "bearer key")
		model       = fs.String("model", "bench-model", "model in the default body")
		bodyFile    = fs.String("body", "", "file with the request body (default: a small chat request)")
		user        = fs.String("user", "", "end user id in the default body's \"user\" field (none when empty)")
		stream      = fs.Bool("stream", false, "stream (the default body asks for stream and usage); measures time to first chunk")
		rate        = fs.Float64("rate", 0, "open loop: requests per second, sent on schedule regardless of responses")
		concurrency = fs.Int("concurrency", 0, "closed loop: number of workers (used when -rate is 0; default 16)")
		n           = fs.Int("n", 0, "closed loop: stop after N measured requests (still bounded by -duration)")
		duration    = fs.Duration("duration", 10*time.Second, "measured duration")
		warmup      = fs.Duration("warmup", 0, "unmeasured load before the measured part")
		timeout     = fs.Duration("timeout", 10*time.Second, "per-request timeout")
		maxInflight = fs.Int("max-inflight", 10000, "open loop: requests in flight beyond this are dropped and counted as errors")
		label       = fs.String("label", "", "label copied into the report")
		jsonOut     = fs.String("json", "", "write the JSON report to this file (- for stdout)")
		clientKind  = fs.String("client", "raw", "HTTP client: raw (minimal HTTP/1.1, a fraction of the CPU) or std (net/http)")
		wait        = fs.String("wait", "", "only wait until GET URL answers 200 (bounded by -timeout), then exit")
		pids        pidFlag
	)
	fs.Var(&pids, "pid", "NAME=PID of a process whose CPU and RSS to sample over the measured window (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *wait != "" {
		return waitReady(*wait, *timeout, stderr)
	}
	if *rate <= 0 && *concurrency <= 0 {
		*concurrency = 16
	}
	if *duration <= 0 || *duration > time.Hour || *warmup < 0 || *warmup > time.Hour {
		fmt.Fprintln(stderr, "loadgen: -duration must be in (0, 1h] and -warmup in [0, 1h]")
		return 2
	}

	var body []byte
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
		body = b
	} else {
		body = defaultBody(*model, *user, *stream)
	}

	conns := max(*concurrency, 1024)
	tr := &http.Transport{
		Proxy:               nil, // always straight to 127.0.0.1
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	defer tr.CloseIdleConnections()
	t := &target{
		client: &http.Client{Transport: tr, Timeout: *timeout},
		url:    *url,
		header: http.Header{
			"Authorization": {"Bearer " + *key},
			"Content-Type":  {"application/json"},
			"Accept":        {"application/json, text/event-stream"},
		},
		body:   body,
		stream: *stream,
	}
	switch *clientKind {
	case "raw":
		rc, err := newRawClient(*url, t.header, body, *timeout, conns)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 2
		}
		defer rc.closeIdle()
		t.raw = rc
	case "std":
	default:
		fmt.Fprintf(stderr, "loadgen: -client must be raw or std, got %q\n", *clientKind)
		return 2
	}
	p := plan{rate: *rate, concurrency: *concurrency, n: *n, duration: *duration, warmup: *warmup, maxInflight: *maxInflight}

	// The hard bound of the run: nothing outlives it.
	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*duration+*timeout+5*time.Second)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var before []procSample
	var selfBefore time.Duration
	var sampler *peakSampler
	onStart := func() {
		selfBefore = selfCPU()
		before = make([]procSample, len(pids))
		ids := make([]int, len(pids))
		for i, np := range pids {
			before[i], _ = readProc(np.pid)
			ids[i] = np.pid
		}
		sampler = startPeakSampler(ids, 50*time.Millisecond)
	}
	var results []result
	var measureFrom time.Time
	if p.rate > 0 {
		results, measureFrom = runOpen(ctx, t, p, onStart)
	} else {
		results, measureFrom = runClosed(ctx, t, p, onStart)
	}
	endedAt := time.Now()
	selfAfter := selfCPU()
	peaks := sampler.finish()

	rep := buildReport(results, measureFrom, p, *stream)
	rep.Label, rep.URL = *label, *url
	elapsed := endedAt.Sub(measureFrom)
	if before == nil {
		// The run ended before the measured window began (interrupted).
		before = make([]procSample, len(pids))
	}
	for i, np := range pids {
		u := procUsage{Name: np.name, PID: np.pid}
		after, err := readProc(np.pid)
		if err != nil {
			u.Error = err.Error()
		} else {
			u = usage(u, after.cpu-before[i].cpu, rep.Requests, elapsed)
			u.RSSKiB, u.HWMKiB = after.rssKiB, after.hwmKiB
			if i < len(peaks) {
				u.PeakRSSKiB = max(peaks[i], after.rssKiB)
			}
		}
		rep.Procs = append(rep.Procs, u)
	}
	rep.Self = usage(procUsage{Name: "loadgen", PID: os.Getpid()}, selfAfter-selfBefore, rep.Requests, elapsed)
	if s, err := readProc(os.Getpid()); err == nil {
		rep.Self.RSSKiB, rep.Self.HWMKiB = s.rssKiB, s.hwmKiB
	}

	human := stdout
	if *jsonOut == "-" {
		human = stderr
	}
	fmt.Fprintln(human, humanLine(rep))
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		b = append(b, '\n')
		if *jsonOut == "-" {
			stdout.Write(b)
		} else if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
	}
	if ctx.Err() != nil && rep.Requests == 0 {
		return 1
	}
	return 0
}

func usage(u procUsage, cpu time.Duration, requests int, elapsed time.Duration) procUsage {
	u.CPUSeconds = round3(cpu.Seconds())
	if requests > 0 {
		u.CPUUsPerReq = round3(float64(cpu.Microseconds()) / float64(requests))
	}
	if elapsed > 0 {
		u.CPUUtil = round3(cpu.Seconds() / elapsed.Seconds())
	}
	return u
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// buildReport keeps the results of the measured window and summarises them.
func buildReport(results []result, measureFrom time.Time, p plan, stream bool) report {
	rep := report{Stream: stream, DurationS: p.duration.Seconds(), WarmupS: p.warmup.Seconds(), Errors: map[string]int{}}
	if p.rate > 0 {
		rep.Mode, rep.Rate = "rate", p.rate
	} else {
		rep.Mode, rep.Concurrency = "closed", p.concurrency
	}
	var lat, svc, ttft, lag []time.Duration
	var last time.Time
	for _, r := range results {
		if r.scheduled.Before(measureFrom) {
			continue
		}
		if !r.done {
			rep.Errors["not_sent"]++
			continue
		}
		rep.Requests++
		if p.rate > 0 {
			lag = append(lag, max(r.lag, 0))
		}
		if end := r.scheduled.Add(r.latency); end.After(last) {
			last = end
		}
		if r.err != "" {
			rep.Errors[r.err]++
			continue
		}
		rep.OK++
		lat = append(lat, r.latency)
		svc = append(svc, r.latency-max(r.lag, 0))
		if stream {
			ttft = append(ttft, r.ttft)
		}
	}
	// Throughput counts over the window the measured requests spanned: the
	// planned duration, or longer if the last responses came late.
	window := p.duration
	if w := last.Sub(measureFrom); w > window {
		window = w
	}
	if window > 0 {
		rep.ElapsedS = round3(window.Seconds())
		rep.ThroughputRPS = round3(float64(rep.OK) / window.Seconds())
	}
	rep.Latency = summarize(lat)
	rep.Service = summarize(svc)
	if stream {
		d := summarize(ttft)
		rep.TTFT = &d
	}
	if p.rate > 0 {
		d := summarize(lag)
		rep.SendLag = &d
	}
	return rep
}

func humanLine(r report) string {
	var b strings.Builder
	if r.Label != "" {
		fmt.Fprintf(&b, "%s: ", r.Label)
	}
	if r.Mode == "rate" {
		fmt.Fprintf(&b, "rate=%g/s", r.Rate)
	} else {
		fmt.Fprintf(&b, "closed c=%d", r.Concurrency)
	}
	if r.Stream {
		b.WriteString(" stream")
	}
	fmt.Fprintf(&b, " n=%d ok=%d err=%d", r.Requests, r.OK, r.Requests-r.OK)
	if len(r.Errors) > 0 {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s:%d", k, r.Errors[k])
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " tput=%.1f/s lat p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms",
		r.ThroughputRPS, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if r.TTFT != nil {
		fmt.Fprintf(&b, " ttft p50=%.3fms p99=%.3fms", r.TTFT.P50, r.TTFT.P99)
	}
	if r.SendLag != nil {
		fmt.Fprintf(&b, " sendlag p99=%.3fms", r.SendLag.P99)
	}
	b.WriteString(" cpu us/req:")
	for _, p := range r.Procs {
		fmt.Fprintf(&b, " %s=%.1f(%.2f cores)", p.Name, p.CPUUsPerReq, p.CPUUtil)
	}
	fmt.Fprintf(&b, " loadgen=%.1f(%.2f cores)", r.Self.CPUUsPerReq, r.Self.CPUUtil)
	return b.String()
}

// defaultBody is a small, realistic chat request.
func defaultBody(model, user string, stream bool) []byte {
	req := map[string]any{
		"model": model,
		"messages": []map[string]string{
			{"role": "system", "content": "You are a concise assistant."},
			{"role": "user", "content": "Say hello to the benchmark in one short sentence."},
		},
		"max_tokens":  64,
		"temperature": 0,
	}
	if user != "" {
		req["user"] = user
	}
	if stream {
		req["stream"] = true
		req["stream_options"] = map[string]bool{"include_usage": true}
	}
	b, _ := json.Marshal(req)
	return b
}

// waitReady polls url until it answers 200 or timeout passes.
func waitReady(url string, timeout time.Duration, stderr io.Writer) int {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return 0
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stderr, "loadgen: %s not ready after %v (last: %v)\n", url, timeout, errOrStatus(resp, err))
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func errOrStatus(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}
