package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestUsageFromDailyTotalsIsExact: reports answered from the daily totals
// (with the records of partial days at the ends) equal those summed from
// the records, for every dimension the totals keep and ranges that start
// and end anywhere in a day, before and after retention deleted records.
func TestUsageFromDailyTotalsIsExact(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 2))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var recs []audit.Record
	for i := range 3000 {
		r := audit.Record{RequestID: fmt.Sprintf("r%d", i), Start: base.Add(time.Duration(rng.Int64N(int64(10 * 24 * time.Hour)))),
			KeyID: fmt.Sprintf("k%d", rng.IntN(5)), Team: fmt.Sprintf("t%d", rng.IntN(3)), RequestedModel: fmt.Sprintf("m%d", rng.IntN(4)),
			Provider: fmt.Sprintf("p%d", rng.IntN(2)), Purpose: []string{"", "triage", "search"}[rng.IntN(3)], Status: []int{200, 200, 429, 503}[rng.IntN(4)],
			InputTokens: rng.Int64N(1000), OutputTokens: rng.Int64N(100), CacheReadTokens: rng.Int64N(10), CostNanoUSD: rng.Int64N(1e7)}
		r.KeyName = "name-" + r.KeyID
		if i%97 == 0 {
			r.Kind = audit.KindAdmin // never counted
		}
		if i == 5 {
			r.Start = time.Time{} // no start: only in unbounded reports
		}
		recs = append(recs, r)
	}
	for i := 0; i < len(recs); i += 500 {
		if err := db.InsertRecords(ctx, recs[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	at := func(d, h int) time.Time { return base.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour) }
	filters := []audit.Filter{
		{},
		{Since: at(3, 0)},
		{Since: at(3, 7)},
		{Until: at(6, 0)},
		{Until: at(6, 13)},
		{Since: at(2, 5), Until: at(8, 19)},
		{Since: at(2, 0), Until: at(8, 0)},
		{Since: at(4, 1), Until: at(4, 23)},
		{Since: at(4, 20), Until: at(5, 3)},
		{Since: at(1, 6), Team: "t1", Model: "m2"},
		{KeyID: "k3", Purpose: "triage", Provider: "p0", Until: at(9, 9)},
	}
	groups := [][]string{nil, {audit.ByTeam, audit.ByModel}, {audit.ByKey}, {audit.ByDay, audit.ByProvider}, {audit.ByPurpose}, {audit.ByModel, audit.ByTeam, audit.ByKey}}
	check := func(when string) {
		for _, f := range filters {
			for _, g := range groups {
				q := audit.UsageQuery{Filter: f, GroupBy: g}
				want, err := db.usageRaw(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				got, err := db.Usage(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s: Usage(%+v by %v) from daily totals differs from the records (-records +totals):\n%s", when, f, g, diff)
				}
			}
		}
	}
	check("after inserts")
	if _, err := db.PurgeRecords(ctx, at(4, 12)); err != nil {
		t.Fatal(err)
	}
	check("after retention")
}
