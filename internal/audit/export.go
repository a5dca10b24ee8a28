package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// This file holds what the CLI and the admin API share to query the trail:
// filter parsing from named parameters, and the export formats.

// FilterParams names the parameters ParseFilter reads, with what each one
// means; the CLI's flags and the admin API's query parameters use these
// names.
var FilterParams = []struct{ Name, Help string }{
	{"since", "records that started at or after this: a time like 2026-01-02T15:04:05Z, a date like 2026-01-02, or an age like 24h or 30d"},
	{"until", "records that started before this (same forms as since)"},
	{"key", "the virtual key's id"},
	{"team", "the key's team"},
	{"user", "the end user"},
	{"model", "the requested model"},
	{"provider", "the provider that served it"},
	{"purpose", "the request's purpose"},
	{"tag", "records carrying this tag"},
	{"status", "the final HTTP status, like 429"},
	{"error_class", `the error class, like provider_timeout; "any" for every failed request`},
	{"kind", "request, admin or reload"},
	{"limit", "at most this many records"},
}

// ParseFilter builds a Filter from named parameters (FilterParams); get
// returns "" for a parameter not given. Ages in since and until count back
// from now. The error names the parameter and the form it wants.
func ParseFilter(get func(name string) string, now time.Time) (Filter, error) {
	var f Filter
	var err error
	if f.Since, err = ParseTime(get("since"), now); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = ParseTime(get("until"), now); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, fmt.Errorf("until (%s) must be after since (%s)", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	f.KeyID, f.Team, f.EndUser, f.Model = get("key"), get("team"), get("user"), get("model")
	f.Provider, f.Purpose, f.Tag, f.ErrorClass = get("provider"), get("purpose"), get("tag"), get("error_class")
	if k := get("kind"); k != "" {
		if k != KindRequest && k != KindAdmin && k != KindReload {
			return f, fmt.Errorf("kind: %q: want request, admin or reload", k)
		}
		f.Kind = k
	}
	if s := get("status"); s != "" {
		if f.Status, err = strconv.Atoi(s); err != nil || f.Status < 100 || f.Status > 599 {
			return f, fmt.Errorf("status: %q: want an HTTP status like 429", s)
		}
	}
	if s := get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 0 {
			return f, fmt.Errorf("limit: %q: want a number of records, 0 for all", s)
		}
	}
	return f, nil
}

// ParseTime accepts an RFC 3339 time, a date (2026-01-02, UTC midnight),
// or an age (24h, 30d) counted back from now; "" is the zero time.
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a time like 2026-01-02T15:04:05Z, a date like 2026-01-02, or an age like 24h or 30d", s)
}

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// Exporter writes records in one format. Call Close to flush.
type Exporter struct {
	bw  *bufio.Writer
	enc *json.Encoder
	csv *csv.Writer
	row []string
}

// NewExporter returns an Exporter of format (FormatJSONL or FormatCSV) to
// w; a CSV export starts with its header line.
func NewExporter(w io.Writer, format string) (*Exporter, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch format {
	case FormatJSONL:
		return &Exporter{bw: bw, enc: json.NewEncoder(bw)}, nil
	case FormatCSV:
		e := &Exporter{bw: bw, csv: csv.NewWriter(bw)}
		return e, e.csv.Write(CSVColumns)
	}
	return nil, fmt.Errorf("format %q: want jsonl or csv", format)
}

// CSVColumns is the header of a CSV export.
var CSVColumns = []string{"request_id", "kind", "start", "end", "key_id", "key_name", "team", "end_user", "purpose", "tags",
	"client_ip", "dialect", "endpoint", "stream", "requested_model", "provider", "served_model", "attempts", "status", "error_class",
	"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "usage_estimated",
	"cost_nano_usd", "cost_usd", "ttft_ms", "latency_ms", "change_actor", "change_action", "change_target", "chain", "seq", "hash"}

// Write writes one record.
func (e *Exporter) Write(r Record) error {
	if e.enc != nil {
		return e.enc.Encode(r)
	}
	var actor, action, target string
	if r.Change != nil {
		actor, action, target = r.Change.Actor, r.Change.Action, r.Change.Target
	}
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	e.row = append(e.row[:0], cell(r.RequestID), r.Kind, csvTime(r.Start), csvTime(r.End), cell(r.KeyID), cell(r.KeyName),
		cell(r.Team), cell(r.EndUser), cell(r.Purpose), cell(strings.Join(r.Tags, ";")), cell(r.ClientIP), r.Dialect, r.Endpoint,
		strconv.FormatBool(r.Stream), cell(r.RequestedModel), cell(r.Provider), cell(r.ServedModel), strconv.Itoa(len(r.Attempts)),
		strconv.Itoa(r.Status), r.ErrorClass, i64(r.InputTokens), i64(r.OutputTokens), i64(r.CacheReadTokens), i64(r.CacheWriteTokens),
		i64(r.ReasoningTokens), strconv.FormatBool(r.UsageEstimated), i64(r.CostNanoUSD), FormatUSD(r.CostNanoUSD),
		i64(r.TTFTMillis), i64(r.LatencyMillis), cell(actor), cell(action), cell(target), r.Chain, i64(r.Seq), r.Hash)
	return e.csv.Write(e.row)
}

// Close flushes what is buffered.
func (e *Exporter) Close() error {
	if e.csv != nil {
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return err
		}
	}
	return e.bw.Flush()
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// cell defuses a value that a spreadsheet would run as a formula (client
// supplied text such as a purpose or a user can start with "=").
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// FormatUSD writes nano-dollars as dollars with up to nine decimals and at
// least two: 6512500 → "0.0065125".
func FormatUSD(nano int64) string {
	sign := ""
	if nano < 0 {
		sign, nano = "-", -nano
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nano%1e9), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return fmt.Sprintf("%s%d.%s", sign, nano/1e9, frac)
}
