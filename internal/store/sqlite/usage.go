package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/airgw/airgw/internal/audit"
)

// dimensionSQL is the expression each usage dimension groups by.
var dimensionSQL = map[string]string{
	audit.ByKey:      "r.key_id",
	audit.ByTeam:     "r.team",
	audit.ByUser:     "r.end_user",
	audit.ByModel:    "r.requested_model",
	audit.ByProvider: "r.provider",
	audit.ByPurpose:  "r.purpose",
	audit.ByTag:      "coalesce(t.tag, '')",
	audit.ByDay:      "coalesce(date(r.start_ns / 1000000000, 'unixepoch'), '')",
}

// usageRaw answers q with one GROUP BY query over the request records that
// match its filter.
func (db *DB) usageRaw(ctx context.Context, q audit.UsageQuery) ([]audit.UsageRow, error) {
	var dims []string
	for _, d := range q.GroupBy {
		if _, ok := dimensionSQL[d]; !ok {
			return nil, fmt.Errorf("sqlite: usage: unknown dimension %q: use %s", d, strings.Join(audit.Dimensions, ", "))
		}
		if slices.Contains(dims, dimensionSQL[d]) {
			return nil, fmt.Errorf("sqlite: usage: dimension %q given twice", d)
		}
		dims = append(dims, dimensionSQL[d])
	}
	f := q.Filter
	f.Limit, f.Kind = 0, audit.KindRequest
	where, args, err := filterSQL(f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	byKey := slices.Contains(q.GroupBy, audit.ByKey)
	cols := slices.Clone(dims)
	if byKey {
		cols = append(cols, "max(r.key_name)")
	}
	sums := []string{"count(*)", "sum(r.status >= 400)", "sum(r.input_tokens)", "sum(r.output_tokens)",
		"sum(r.cache_read_tokens)", "sum(r.cache_write_tokens)", "sum(r.reasoning_tokens)", "sum(r.cost_nano_usd)"}
	costCol := len(cols) + len(sums)
	query := `SELECT ` + strings.Join(append(cols, sums...), ", ") + ` FROM audit_records r`
	if slices.Contains(q.GroupBy, audit.ByTag) {
		// A record with several tags counts once per tag.
		query += ` LEFT JOIN audit_tags t ON t.record_id = r.id`
	}
	query += where
	if len(dims) > 0 {
		order := []string{strconv.Itoa(costCol) + " DESC"}
		for i := range dims {
			order = append(order, strconv.Itoa(i+1))
		}
		query += ` GROUP BY ` + strings.Join(dims, ", ") + ` ORDER BY ` + strings.Join(order, ", ")
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	defer rows.Close()
	var out []audit.UsageRow
	for rows.Next() {
		var u audit.UsageRow
		vals := make([]string, len(dims))
		dest := make([]any, 0, len(cols)+len(sums))
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if byKey {
			dest = append(dest, &u.KeyName)
		}
		var errs, in, outTok, cr, cw, rs, cost nullInt
		dest = append(dest, &u.Requests, &errs, &in, &outTok, &cr, &cw, &rs, &cost)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqlite: usage: %w", err)
		}
		if len(dims) == 0 && u.Requests == 0 {
			return nil, rows.Err() // no record: no total row
		}
		u.Errors, u.InputTokens, u.OutputTokens = int64(errs), int64(in), int64(outTok)
		u.CacheReadTokens, u.CacheWriteTokens, u.ReasoningTokens, u.CostNanoUSD = int64(cr), int64(cw), int64(rs), int64(cost)
		u.Group = make(map[string]string, len(dims))
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

// nullInt scans an integer that SUM returns as NULL over no rows.
type nullInt int64

func (n *nullInt) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n = 0
	case int64:
		*n = nullInt(x)
	default:
		return fmt.Errorf("unexpected %T in a sum", v)
	}
	return nil
}
