package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/store/sqlite"
)

// benchQuery times the export filters and usage reports that docs/audit.md
// shows, on n records over 90 days (200 keys, 20 teams, 5,000 users, 10
// models, 5 providers, 30 purposes, 50 tags, 2% errors).
func benchQuery(ctx context.Context, db *sqlite.DB, n int, mix string) {
	now := time.Now().UTC()
	if last, err := db.LastPosition(ctx); err != nil || last < int64(n) {
		generateSQL(db, n, now, mix)
	}
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

// generateSQL inserts n unchained records over the 90 days before end
// inside SQLite (a recursive CTE), much faster than through the Go
// driver, for the query figures, which do not depend on the chain.
//
// With mix "apps", each key (an application) uses 2 models, 2 purposes and
// 2 providers, as applications do; with "random", every record draws its
// model, purpose and provider at random, the worst case for the daily
// totals (nearly every record is a combination of its own).
func generateSQL(db *sqlite.DB, n int, end time.Time, mix string) {
	spread, sp := 2, 1 // apps
	if mix == "random" {
		spread, sp = 1<<30, 0
	}
	x, err := sql.Open("sqlite", db.Path()+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		log.Fatal(err)
	}
	defer x.Close()
	start := end.Add(-90 * 24 * time.Hour).UnixNano()
	step := (90 * 24 * time.Hour).Nanoseconds() / int64(n)
	t0 := time.Now()
	const chunk = 500_000
	for from := 0; from < n; from += chunk {
		to := min(n, from+chunk)
		// The random draws are columns of the recursive CTE, so that each is
		// drawn once per record (SQLite would draw again at each use of a
		// subquery's column).
		_, err := x.Exec(`WITH RECURSIVE c(i, k, t, e, r1, r2, r3) AS (
				SELECT ?, abs(random()) % 200, abs(random()) % 50, abs(random()) % 50, abs(random()), abs(random()), abs(random())
				UNION ALL SELECT i + 1, abs(random()) % 200, abs(random()) % 50, abs(random()) % 50, abs(random()), abs(random()), abs(random())
				FROM c WHERE i + 1 < ?)
			INSERT INTO audit_records (request_id, start_ns, end_ns, key_id, key_name, team, end_user, purpose, tags, client_ip,
				dialect, endpoint, stream, requested_model, provider, served_model, attempts, status, error_class,
				input_tokens, output_tokens, cost_nano_usd, latency_ms, ttft_ms, kind)
			SELECT printf('req_%024x', i), ? + i * ?, ? + i * ? + 900000000,
				printf('key_%016d', k), printf('app-%d', k), printf('team-%02d', k % 20),
				printf('user-%d', abs(random()) % 5000), printf('purpose-%02d', (k * sp + r1 % spread) % 30),
				json_array(printf('tag-%02d', t)), '10.0.0.1', 'openai', '/v1/chat/completions', abs(random()) % 2,
				json_extract('["gpt-4o","gpt-4o-mini","claude-sonnet","claude-haiku","gemini-pro","gemini-flash","llama-local","o3","embed-small","mistral-large"]', printf('$[%d]', (k * sp + r2 % spread) % 10)),
				json_extract('["openai","azure-eu","anthropic","bedrock-us","gemini"]', printf('$[%d]', (k * sp + r3 % spread) % 5)),
				'upstream-model', '[{"provider":"openai","model":"upstream-model","status":200,"latency_ms":100}]',
				CASE WHEN e = 0 THEN 503 ELSE 200 END,
				CASE WHEN e = 0 THEN json_extract('["provider_timeout","provider_unavailable","rate_limited","budget_exceeded","stream_interrupted"]', printf('$[%d]', abs(random()) % 5)) ELSE '' END,
				abs(random()) % 4000, abs(random()) % 800, abs(random()) % 20000000, abs(random()) % 5000, abs(random()) % 800, 'request'
			FROM (SELECT c.*, ? AS spread, ? AS sp FROM c)`,
			from, to, start, step, start, step, spread, sp)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("generated %d records (%.0f/s)", to, float64(to)/time.Since(t0).Seconds())
	}
	if _, err := x.Exec(`INSERT INTO audit_tags (tag, record_id) SELECT j.value, r.id FROM audit_records r, json_each(r.tags) j`); err != nil {
		log.Fatal(err)
	}
	// The daily totals that inserts through the store keep (migration 0022).
	if _, err := x.Exec(`DELETE FROM audit_usage_daily`); err != nil {
		log.Fatal(err)
	}
	if _, err := x.Exec(`INSERT INTO audit_usage_daily
		SELECT coalesce(date(start_ns / 1000000000, 'unixepoch'), ''), key_id, team, requested_model, provider, purpose, max(key_name),
			count(*), sum(status >= 400), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
			sum(reasoning_tokens), sum(cost_nano_usd)
		FROM audit_records WHERE kind = 'request' GROUP BY 1, key_id, team, requested_model, provider, purpose`); err != nil {
		log.Fatal(err)
	}
	if _, err := x.Exec(`ANALYZE`); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("FIGURE generate (SQL, mix %s): %d records with every index in %v: %.0f records/s\n", mix, n, time.Since(t0).Round(time.Second), float64(n)/time.Since(t0).Seconds())
}
