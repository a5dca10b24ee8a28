package audit

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// ParseGroupBy reads a comma-separated list of usage dimensions
// ("team,model"), refusing unknown or repeated ones.
func ParseGroupBy(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for d := range strings.SplitSeq(s, ",") {
		d = strings.TrimSpace(d)
		if !slices.Contains(Dimensions, d) {
			return nil, fmt.Errorf("unknown dimension %q: use %s", d, strings.Join(Dimensions, ", "))
		}
		if slices.Contains(out, d) {
			return nil, fmt.Errorf("dimension %q given twice", d)
		}
		out = append(out, d)
	}
	return out, nil
}

// WriteUsageTable writes rows as an aligned text table with a total line;
// by is the query's GroupBy.
func WriteUsageTable(w io.Writer, rows []UsageRow, by []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var head []string
	for _, d := range by {
		head = append(head, d)
		if d == ByKey {
			head = append(head, "key_name")
		}
	}
	head = append(head, "requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "cost_usd")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	var total UsageRow
	for _, r := range rows {
		var cols []string
		for _, d := range by {
			v := r.Group[d]
			if v == "" {
				v = "-"
			}
			cols = append(cols, v)
			if d == ByKey {
				cols = append(cols, r.KeyName)
			}
		}
		cols = append(cols, counts(r)...)
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
		total.Requests += r.Requests
		total.Errors += r.Errors
		total.InputTokens += r.InputTokens
		total.OutputTokens += r.OutputTokens
		total.CacheReadTokens += r.CacheReadTokens
		total.CostNanoUSD += r.CostNanoUSD
	}
	if len(by) > 0 && !slices.Contains(by, ByTag) { // tag rows overlap: their sum is not a total
		cols := []string{"total"}
		for range len(head) - 7 {
			cols = append(cols, "")
		}
		fmt.Fprintln(tw, strings.Join(append(cols, counts(total)...), "\t")+"\t")
	}
	return tw.Flush()
}

func counts(r UsageRow) []string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []string{i(r.Requests), i(r.Errors), i(r.InputTokens), i(r.OutputTokens), i(r.CacheReadTokens), FormatUSD(r.CostNanoUSD)}
}
