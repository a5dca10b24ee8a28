package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/store/sqlite"
)

// benchQuery times the export filters and usage reports that docs/audit.md
// shows, on n records over 90 days (200 keys, 20 teams, 5,000 users, 10
// models, 5 providers, 30 purposes, 50 tags, 2% errors).
func benchQuery(ctx context.Context, db *sqlite.DB, n int) {
	now := time.Now().UTC()
	ensure(ctx, db, n, now)
	day := 24 * time.Hour
	exports := []struct {
		name string
		f    audit.Filter
	}{
		{"one key, last 7 days", audit.Filter{KeyID: "key_0000000000000042", Since: now.Add(-7 * day)}},
		{"one team, last 30 days", audit.Filter{Team: "team-03", Since: now.Add(-30 * day)}},
		{"one end user, all time", audit.Filter{EndUser: "user-1234"}},
		{"one model, last 24 hours", audit.Filter{Model: "claude-haiku", Since: now.Add(-day)}},
		{"one purpose and provider, last 30 days", audit.Filter{Purpose: "purpose-07", Provider: "anthropic", Since: now.Add(-30 * day)}},
		{"one tag, last 7 days", audit.Filter{Tag: "tag-11", Since: now.Add(-7 * day)}},
		{"every failed request, last 30 days", audit.Filter{ErrorClass: audit.ErrorClassAny, Since: now.Add(-30 * day)}},
		{"one error class, all time", audit.Filter{ErrorClass: "provider_timeout"}},
		{"one hour, everything", audit.Filter{Since: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour)}},
	}
	for _, e := range exports {
		t0 := time.Now()
		count := 0
		if err := db.QueryRecords(ctx, e.f, func(audit.Record) error { count++; return nil }); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("FIGURE export at %d records: %-40s %8d records in %v\n", n, e.name, count, time.Since(t0).Round(time.Millisecond))
	}
	reports := []struct {
		name string
		q    audit.UsageQuery
	}{
		{"--by team,model --since 30d", audit.UsageQuery{Filter: audit.Filter{Since: now.Add(-30 * day)}, GroupBy: []string{audit.ByTeam, audit.ByModel}}},
		{"--by key --since 7d", audit.UsageQuery{Filter: audit.Filter{Since: now.Add(-7 * day)}, GroupBy: []string{audit.ByKey}}},
		{"--by day --team team-03 --since 90d", audit.UsageQuery{Filter: audit.Filter{Team: "team-03", Since: now.Add(-90 * day)}, GroupBy: []string{audit.ByDay}}},
		{"--by purpose --since 30d", audit.UsageQuery{Filter: audit.Filter{Since: now.Add(-30 * day)}, GroupBy: []string{audit.ByPurpose}}},
		{"--by tag --since 7d", audit.UsageQuery{Filter: audit.Filter{Since: now.Add(-7 * day)}, GroupBy: []string{audit.ByTag}}},
		{"--by user --team team-03 --since 30d", audit.UsageQuery{Filter: audit.Filter{Team: "team-03", Since: now.Add(-30 * day)}, GroupBy: []string{audit.ByUser}}},
		{"--since 24h (total)", audit.UsageQuery{Filter: audit.Filter{Since: now.Add(-day)}}},
	}
	for _, r := range reports {
		t0 := time.Now()
		rows, err := db.Usage(ctx, r.q)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("FIGURE usage at %d records: %-40s %8d rows in %v\n", n, r.name, len(rows), time.Since(t0).Round(time.Millisecond))
	}
	t0 := time.Now()
	pos, err := db.LastPosition(ctx)
	if err != nil {
		log.Fatal(err)
	}
	count := 0
	if _, err := db.RecordsAfter(ctx, pos-20, audit.Filter{}, func(audit.Record) error { count++; return nil }); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("FIGURE tail at %d records: last %d records in %v\n", n, count, time.Since(t0).Round(time.Millisecond))
	if info, err := statSize(db.Path()); err == nil {
		fmt.Printf("FIGURE database size at %d records: %.1f GiB (%d bytes per record)\n", n, float64(info)/(1<<30), info/int64(n))
	}
}
