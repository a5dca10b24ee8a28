package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeRun(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFigures(t *testing.T) {
	dir := t.TempDir()
	sat := func(rps, us, cores float64) string {
		return `{"mode":"closed","concurrency":64,"requests":1000,"ok":1000,"throughput_rps":` + ftoa(rps) +
			`,"latency_ms":{"p50":1},"procs":[{"name":"target","cpu_us_per_req":` + ftoa(us) + `,"cpu_util":` + ftoa(cores) +
			`},{"name":"upstream","cpu_util":0.2}],"self":{"cpu_util":0.3}}`
	}
	rate := func(p50 float64, ok int) string {
		return `{"mode":"rate","rate":500,"requests":100,"ok":` + itoa(ok) + `,"errors":{"503":` + itoa(100-ok) +
			`},"latency_ms":{"p50":` + ftoa(p50) + `},"send_lag_ms":{"p99":0.2}}`
	}
	stream := func(ttft float64) string {
		return `{"mode":"rate","rate":200,"stream":true,"requests":10,"ok":10,"latency_ms":{"p50":18},"ttft_ms":{"p50":` + ftoa(ttft) + `}}`
	}
	writeRun(t, dir, "direct-sat.json", sat(40000, 18, 0.95))
	writeRun(t, dir, "proxy-sat.json", sat(10000, 80, 0.97))
	writeRun(t, dir, "airgw-sat.json", sat(8000, 120, 0.98))
	writeRun(t, dir, "direct-rate500.json", rate(0.2, 100))
	writeRun(t, dir, "proxy-rate500.json", rate(0.4, 100))
	writeRun(t, dir, "airgw-rate500.json", rate(0.45, 99))
	writeRun(t, dir, "direct-stream.json", stream(0.2))
	writeRun(t, dir, "proxy-stream.json", stream(0.4))
	writeRun(t, dir, "airgw-stream.json", stream(0.6))
	writeRun(t, dir, "idle-airgw.kib", "20480\n")

	res, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printFigures(&b, res)
	out := b.String()
	for _, want := range []string{
		"added p50 at 500 req/s  proxy +0.200 ms, airgw +0.250 ms; airgw − proxy = +0.050 ms, airgw errors 1  [budget ≤ +0.100 ms, 0 errors: OVER]",
		"proxy 80.0, airgw 120.0 (airgw/proxy = 1.50×)  [budget ≤ 100 µs: OVER]",
		"airgw 8000/s (airgw/direct 0.20, airgw/proxy 0.80)",
		"capacity per core (1e6 / CPU µs per request): direct 55556/s, proxy 12500/s, airgw 8333/s (airgw/proxy 0.67)",
		"airgw added +0.400 ms  [budget ≤ 0.5 ms: within]",
		"airgw 20.0 MiB  [budget ≤ 30 MiB: within]",
		"saturation airgw : target 0.98 cores, load side (loadgen+upstream fake) 0.50 cores: target-bound",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printFigures output lacks %q; got:\n%s", want, out)
		}
	}

	b.Reset()
	printTable(&b, res, true)
	if got := strings.Count(b.String(), "\n"); got != 2+9 {
		t.Errorf("markdown table has %d lines, want 11 (header, rule, 9 runs):\n%s", got, b.String())
	}
}

func ftoa(f float64) string { return strings.TrimRight(strings.TrimRight(f3(f), "0"), ".") }
func itoa(i int) string     { return ftoa(float64(i)) }
