package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"slices"
	"strconv"
	"time"

	"github.com/airgw/airgw/internal/app"
	"github.com/airgw/airgw/internal/audit"
)

// usageReport is the JSON form of `airgw usage`.
type usageReport struct {
	GroupBy []string         `json:"group_by"`
	Since   *time.Time       `json:"since,omitempty"`
	Until   *time.Time       `json:"until,omitempty"`
	Rows    []audit.UsageRow `json:"rows"`
}

func (e *env) usage(args []string) error {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	by := fs.String("by", "", "group by these dimensions, comma-separated: key, team, user, model, provider, purpose, tag, day (default: one total)")
	format := fs.String("format", "table", "output format: table, json or csv")
	asJSON := fs.Bool("json", false, "same as --format json")
	filter := filterFlags(fs, "limit", "kind")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *asJSON {
		*format = "json"
	}
	if !slices.Contains([]string{"table", "json", "csv"}, *format) {
		return usagef("usage: --format %q: use table, json or csv", *format)
	}
	groupBy, err := audit.ParseGroupBy(*by)
	if err != nil {
		return usagef("usage: --by: %v", err)
	}
	f, err := filter(time.Now())
	if err != nil {
		return err
	}
	return e.withApp(&cf, func(ctx context.Context, a *app.App) error {
		rows, err := a.Trail().Usage(ctx, audit.UsageQuery{Filter: f, GroupBy: groupBy})
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			rep := usageReport{GroupBy: groupBy, Rows: rows}
			if rep.GroupBy == nil {
				rep.GroupBy = []string{}
			}
			if rep.Rows == nil {
				rep.Rows = []audit.UsageRow{}
			}
			if !f.Since.IsZero() {
				rep.Since = &f.Since
			}
			if !f.Until.IsZero() {
				rep.Until = &f.Until
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		case "csv":
			return writeUsageCSV(e, rows, groupBy)
		}
		return audit.WriteUsageTable(e.stdout, rows, groupBy)
	})
}

func writeUsageCSV(e *env, rows []audit.UsageRow, by []string) error {
	w := csv.NewWriter(e.stdout)
	head := append(slices.Clone(by), "key_name", "requests", "errors", "input_tokens", "output_tokens",
		"cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_nano_usd", "cost_usd")
	if err := w.Write(head); err != nil {
		return err
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, r := range rows {
		var rec []string
		for _, d := range by {
			rec = append(rec, r.Group[d])
		}
		rec = append(rec, r.KeyName, i(r.Requests), i(r.Errors), i(r.InputTokens), i(r.OutputTokens),
			i(r.CacheReadTokens), i(r.CacheWriteTokens), i(r.ReasoningTokens), i(r.CostNanoUSD), audit.FormatUSD(r.CostNanoUSD))
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
