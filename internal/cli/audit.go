package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/airgw/airgw/internal/app"
	"github.com/airgw/airgw/internal/audit"
)

func (e *env) audit(args []string) error {
	if len(args) == 0 {
		return usagef("audit: missing subcommand: export")
	}
	switch args[0] {
	case "export":
		return e.auditExport(args[1:])
	}
	return usagef("audit: unknown subcommand %q: use export", args[0])
}

func (e *env) auditExport(args []string) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	format := fs.String("format", "jsonl", "output format: jsonl")
	since := fs.String("since", "", "only records that started at or after this: a time like 2026-01-02T15:04:05Z, or an age like 24h or 30d")
	until := fs.String("until", "", "only records that started before this (same forms as --since)")
	limit := fs.Int("limit", 0, "at most this many records (default: all)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "jsonl" {
		return usagef("audit export: --format %q is not supported yet; use jsonl", *format)
	}
	now := time.Now()
	var f audit.Filter
	var err error
	if f.Since, err = parseSince(*since, now); err != nil {
		return usagef("audit export: --since: %v", err)
	}
	if f.Until, err = parseSince(*until, now); err != nil {
		return usagef("audit export: --until: %v", err)
	}
	if *limit < 0 {
		return usagef("audit export: --limit must not be negative")
	}
	f.Limit = *limit
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		bw := bufio.NewWriter(e.stdout)
		enc := json.NewEncoder(bw)
		err := a.Records().QueryRecords(ctx, f, func(r audit.Record) error { return enc.Encode(r) })
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		return err
	})
}

// parseSince accepts an RFC 3339 time, a date (2026-01-02), or an age
// (24h, 30d) counted back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if len(s) > 1 && s[len(s)-1] == 'd' {
		var n int
		if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && n > 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a time like 2026-01-02T15:04:05Z, a date like 2026-01-02, or an age like 24h or 30d", s)
}
