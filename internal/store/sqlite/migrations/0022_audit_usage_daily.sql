-- Daily usage totals per key, team, requested model, provider and purpose,
-- kept up to date as request records are inserted (audit.go), so that a
-- usage report over weeks reads a few thousand rows instead of millions
-- (usage.go combines it with the records of partial days; docs/audit.md
-- has the figures). day is the UTC date of the request's start, '' when it
-- has none.
CREATE TABLE audit_usage_daily (
	day                TEXT NOT NULL,
	key_id             TEXT NOT NULL,
	team               TEXT NOT NULL,
	requested_model    TEXT NOT NULL,
	provider           TEXT NOT NULL,
	purpose            TEXT NOT NULL,
	key_name           TEXT NOT NULL DEFAULT '',
	requests           INTEGER NOT NULL,
	errors             INTEGER NOT NULL,
	input_tokens       INTEGER NOT NULL,
	output_tokens      INTEGER NOT NULL,
	cache_read_tokens  INTEGER NOT NULL,
	cache_write_tokens INTEGER NOT NULL,
	reasoning_tokens   INTEGER NOT NULL,
	cost_nano_usd      INTEGER NOT NULL,
	PRIMARY KEY (day, key_id, team, requested_model, provider, purpose)
) STRICT, WITHOUT ROWID;

INSERT INTO audit_usage_daily
	SELECT coalesce(date(start_ns / 1000000000, 'unixepoch'), ''), key_id, team, requested_model, provider, purpose, max(key_name),
		count(*), sum(status >= 400), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
		sum(reasoning_tokens), sum(cost_nano_usd)
	FROM audit_records WHERE kind = 'request'
	GROUP BY 1, key_id, team, requested_model, provider, purpose;
