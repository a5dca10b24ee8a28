package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one_value_p50", []time.Duration{7}, 50, 7},
		{"one_value_p100", []time.Duration{7}, 100, 7},
		{"hundred_p50", hundred, 50, 50 * time.Millisecond},
		{"hundred_p90", hundred, 90, 90 * time.Millisecond},
		{"hundred_p99", hundred, 99, 99 * time.Millisecond},
		{"hundred_p99.9", hundred, 99.9, 100 * time.Millisecond},
		{"hundred_p100", hundred, 100, 100 * time.Millisecond},
		{"hundred_tiny_p", hundred, 0.001, 1 * time.Millisecond},
		{"two_values_p50", []time.Duration{1, 2}, 50, 1},
		{"two_values_p51", []time.Duration{1, 2}, 51, 2},
		{"three_values_p50", []time.Duration{1, 2, 3}, 50, 2},
		{"ten_values_p99", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%s, %v) = %v, want %v", tt.name, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	// Unsorted input; summarize sorts it.
	ds := []time.Duration{
		4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond,
		1500 * time.Microsecond,
	}
	got := summarize(ds)
	want := dist{N: 5, Mean: 2.3, P50: 2, P90: 4, P99: 4, P999: 4, Max: 4}
	if got != want {
		t.Errorf("summarize(%v) = %+v, want %+v", ds, got, want)
	}
	if got := summarize(nil); got != (dist{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestBuildReportWindowAndErrors(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	measureFrom := t0.Add(time.Second)
	rs := []result{
		{scheduled: t0, latency: time.Millisecond, done: true},                                                               // warm-up: ignored
		{scheduled: measureFrom, latency: 2 * time.Millisecond, done: true},                                                  // ok
		{scheduled: measureFrom.Add(time.Millisecond), latency: time.Millisecond, done: true},                                // ok
		{scheduled: measureFrom.Add(2 * time.Millisecond), err: "503", done: true},                                           // error
		{scheduled: measureFrom.Add(3 * time.Millisecond), err: "503", done: true},                                           // error
		{scheduled: measureFrom.Add(4 * time.Millisecond), err: "timeout", done: true},                                       // error
		{scheduled: measureFrom.Add(5 * time.Millisecond)},                                                                   // never sent
		{scheduled: measureFrom.Add(6 * time.Millisecond), latency: 3 * time.Millisecond, done: true, lag: time.Millisecond}, // ok
	}
	rep := buildReport(rs, measureFrom, plan{rate: 1000, duration: time.Second}, false)
	if rep.Requests != 6 || rep.OK != 3 {
		t.Errorf("buildReport: requests, ok = %d, %d, want 6, 3", rep.Requests, rep.OK)
	}
	wantErr := map[string]int{"503": 2, "timeout": 1, "not_sent": 1}
	for k, v := range wantErr {
		if rep.Errors[k] != v {
			t.Errorf("buildReport: errors[%q] = %d, want %d", k, rep.Errors[k], v)
		}
	}
	if len(rep.Errors) != len(wantErr) {
		t.Errorf("buildReport: errors = %v, want %v", rep.Errors, wantErr)
	}
	if rep.ThroughputRPS != 3 {
		t.Errorf("buildReport: throughput = %v, want 3 (3 ok over the 1 s window)", rep.ThroughputRPS)
	}
	if rep.Latency.Max != 3 || rep.Service.Max != 2 {
		t.Errorf("buildReport: latency max, service max = %v, %v, want 3, 2", rep.Latency.Max, rep.Service.Max)
	}
}
