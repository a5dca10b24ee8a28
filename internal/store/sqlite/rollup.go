package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

// The daily usage totals (migration 0022). A report whose dimensions and
// filters the totals keep (everything but the end user, tags, status and
// error class) is answered from them for the whole UTC days of its range,
// and from the records for the partial days at its ends; the sums are the
// same to the nano-dollar.

// rollupColumn is the column of audit_usage_daily for each dimension it
// keeps.
var rollupColumn = map[string]string{
	audit.ByKey:      "key_id",
	audit.ByTeam:     "team",
	audit.ByModel:    "requested_model",
	audit.ByProvider: "provider",
	audit.ByPurpose:  "purpose",
	audit.ByDay:      "day",
}

func usageDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Usage implements audit.UsageSource.
func (db *DB) Usage(ctx context.Context, q audit.UsageQuery) ([]audit.UsageRow, error) {
	f := q.Filter
	usable := f.EndUser == "" && f.Tag == "" && f.Status == 0 && f.ErrorClass == "" && (f.Kind == "" || f.Kind == audit.KindRequest)
	for _, d := range q.GroupBy {
		_, ok := rollupColumn[d]
		usable = usable && ok
	}
	if !usable {
		return db.usageRaw(ctx, q)
	}
	// Whole days: [from, to). A bound that is not a midnight leaves a
	// partial day, read from the records.
	day := 24 * time.Hour
	var from, to time.Time
	if !f.Since.IsZero() {
		from = f.Since.UTC().Truncate(day)
		if from.Before(f.Since) {
			from = from.Add(day)
		}
	}
	if !f.Until.IsZero() {
		to = f.Until.UTC().Truncate(day)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return db.usageRaw(ctx, q) // within a day or two partial ones
	}
	var parts [][]audit.UsageRow
	if !f.Since.IsZero() && f.Since.Before(from) {
		head := q
		head.Since, head.Until = f.Since, from
		rows, err := db.usageRaw(ctx, head)
		if err != nil {
			return nil, err
		}
		parts = append(parts, rows)
	}
	if !f.Until.IsZero() && to.Before(f.Until) {
		tail := q
		tail.Since, tail.Until = to, f.Until
		rows, err := db.usageRaw(ctx, tail)
		if err != nil {
			return nil, err
		}
		parts = append(parts, rows)
	}
	rows, err := db.usageDaily(ctx, q, from, to)
	if err != nil {
		return nil, err
	}
	parts = append(parts, rows)
	return mergeUsage(parts, q.GroupBy), nil
}

// usageDaily sums the daily totals of the days in [from, to) (unbounded
// where zero) that match q.
func (db *DB) usageDaily(ctx context.Context, q audit.UsageQuery, from, to time.Time) ([]audit.UsageRow, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !from.IsZero() || !to.IsZero() {
		where = append(where, "day != ''") // records without a start match no range
	}
	if !from.IsZero() {
		add("day >= ?", usageDay(from))
	}
	if !to.IsZero() {
		add("day < ?", usageDay(to))
	}
	f := q.Filter
	for _, c := range []struct{ col, v string }{
		{"key_id", f.KeyID}, {"team", f.Team}, {"requested_model", f.Model}, {"provider", f.Provider}, {"purpose", f.Purpose},
	} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	var dims []string
	for _, d := range q.GroupBy {
		dims = append(dims, rollupColumn[d])
	}
	cols := append(slices.Clone(dims), "max(key_name)", "sum(requests)", "sum(errors)", "sum(input_tokens)", "sum(output_tokens)",
		"sum(cache_read_tokens)", "sum(cache_write_tokens)", "sum(reasoning_tokens)", "sum(cost_nano_usd)")
	query := `SELECT ` + strings.Join(cols, ", ") + ` FROM audit_usage_daily`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	if len(dims) > 0 {
		query += ` GROUP BY ` + strings.Join(dims, ", ")
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	defer rows.Close()
	var out []audit.UsageRow
	for rows.Next() {
		vals := make([]string, len(dims))
		var keyName nullString
		var n [8]nullInt
		dest := make([]any, 0, len(cols))
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		dest = append(dest, &keyName)
		for i := range n {
			dest = append(dest, &n[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqlite: usage: %w", err)
		}
		if n[0] == 0 {
			continue // no day matched (a total over nothing)
		}
		u := audit.UsageRow{Group: make(map[string]string, len(dims)), Requests: int64(n[0]), Errors: int64(n[1]),
			InputTokens: int64(n[2]), OutputTokens: int64(n[3]), CacheReadTokens: int64(n[4]), CacheWriteTokens: int64(n[5]),
			ReasoningTokens: int64(n[6]), CostNanoUSD: int64(n[7])}
		if slices.Contains(q.GroupBy, audit.ByKey) {
			u.KeyName = string(keyName)
		}
		for i, d := range q.GroupBy {
			u.Group[d] = vals[i]
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	return out, nil
}

// mergeUsage sums rows of the same group from several parts and orders
// them as UsageSource says: cost first, highest first, then group values.
func mergeUsage(parts [][]audit.UsageRow, by []string) []audit.UsageRow {
	index := map[string]int{}
	var out []audit.UsageRow
	for _, rows := range parts {
		for _, r := range rows {
			var k strings.Builder
			for _, d := range by {
				k.WriteString(r.Group[d])
				k.WriteByte(0)
			}
			i, ok := index[k.String()]
			if !ok {
				index[k.String()] = len(out)
				out = append(out, r)
				continue
			}
			m := &out[i]
			m.KeyName = max(m.KeyName, r.KeyName)
			m.Requests += r.Requests
			m.Errors += r.Errors
			m.InputTokens += r.InputTokens
			m.OutputTokens += r.OutputTokens
			m.CacheReadTokens += r.CacheReadTokens
			m.CacheWriteTokens += r.CacheWriteTokens
			m.ReasoningTokens += r.ReasoningTokens
			m.CostNanoUSD += r.CostNanoUSD
		}
	}
	slices.SortFunc(out, func(a, b audit.UsageRow) int {
		if c := cmp.Compare(b.CostNanoUSD, a.CostNanoUSD); c != 0 {
			return c
		}
		for _, d := range by {
			if c := cmp.Compare(a.Group[d], b.Group[d]); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

// nullString scans a text that max() returns as NULL over no rows.
type nullString string

func (n *nullString) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n = ""
	case string:
		*n = nullString(x)
	case []byte:
		*n = nullString(x)
	default:
		return fmt.Errorf("unexpected %T in a key name", v)
	}
	return nil
}
