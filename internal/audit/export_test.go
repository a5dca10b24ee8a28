package audit

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"24h", now.Add(-24 * time.Hour), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"30d", now.Add(-30 * 24 * time.Hour), true},
		{"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), true},
		{"2026-01-02T15:04:05Z", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), true},
		{"0d", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"0s", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"d", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v, want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseFilter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		params map[string]string
		want   Filter
		err    string
	}{
		{"empty", nil, Filter{}, ""},
		{"all", map[string]string{"since": "30d", "until": "2026-11-25", "key": "key_1", "team": "search", "user": "u1",
			"model": "gpt-4o", "provider": "openai", "purpose": "triage", "tag": "eu", "status": "429", "error_class": "any", "kind": "request", "limit": "5"},
			Filter{Since: now.Add(-30 * 24 * time.Hour), Until: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), KeyID: "key_1", Team: "search",
				EndUser: "u1", Model: "gpt-4o", Provider: "openai", Purpose: "triage", Tag: "eu", Status: 429, ErrorClass: "any", Kind: "request", Limit: 5}, ""},
		{"bad-status", map[string]string{"status": "99"}, Filter{}, "status"},
		{"bad-kind", map[string]string{"kind": "requests"}, Filter{}, "kind"},
		{"bad-limit", map[string]string{"limit": "-1"}, Filter{}, "limit"},
		{"until-before-since", map[string]string{"since": "1h", "until": "2h"}, Filter{}, "must be after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFilter(func(n string) string { return tt.params[n] }, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseFilter = %v, want an error about %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFilter (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExporterCSV(t *testing.T) {
	var b bytes.Buffer
	ex, err := NewExporter(&b, FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	r := rec(1)
	r.Purpose, r.Tags, r.CostNanoUSD = "=HYPERLINK(\"x\")", []string{"a", "b"}, 6_512_500
	if err := ex.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[1]) != len(CSVColumns) {
		t.Fatalf("CSV = %q, want a header and one row of %d columns", rows, len(CSVColumns))
	}
	got := map[string]string{}
	for i, c := range CSVColumns {
		got[c] = rows[1][i]
	}
	for col, want := range map[string]string{"request_id": id(1), "purpose": `'=HYPERLINK("x")`, "tags": "a;b",
		"cost_nano_usd": "6512500", "cost_usd": "0.0065125", "start": "2026-11-01T12:00:01Z", "end": ""} {
		if got[col] != want {
			t.Errorf("CSV column %s = %q, want %q", col, got[col], want)
		}
	}
}

func TestFormatUSD(t *testing.T) {
	for nano, want := range map[int64]string{0: "0.00", 1: "0.000000001", 6_512_500: "0.0065125", 12_340_000_000: "12.34", -5e8: "-0.50"} {
		if got := FormatUSD(nano); got != want {
			t.Errorf("FormatUSD(%d) = %q, want %q", nano, got, want)
		}
	}
}

func TestWriteUsageTable(t *testing.T) {
	var b bytes.Buffer
	rows := []UsageRow{
		{Group: map[string]string{ByTeam: "search", ByModel: "gpt-4o"}, Requests: 2, InputTokens: 10, OutputTokens: 5, CostNanoUSD: 1_500_000_000},
		{Group: map[string]string{ByTeam: "", ByModel: "claude"}, Requests: 1, Errors: 1, CostNanoUSD: 250_000_000},
	}
	if err := WriteUsageTable(&b, rows, []string{ByTeam, ByModel}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	want := [][]string{
		{"team", "model", "requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "cost_usd"},
		{"search", "gpt-4o", "2", "0", "10", "5", "0", "1.50"},
		{"-", "claude", "1", "1", "0", "0", "0", "0.25"},
		{"total", "3", "1", "10", "5", "0", "1.75"},
	}
	var got [][]string
	for _, l := range lines {
		got = append(got, strings.Fields(l))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("table (-want +got):\n%s\n%s", diff, b.String())
	}
}
