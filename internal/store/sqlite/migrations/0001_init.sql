-- Virtual keys. Only the HMAC of a key is stored (hash); times are unix
-- nanoseconds, NULL when unset.
CREATE TABLE keys (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	team         TEXT NOT NULL DEFAULT '',
	models       TEXT NOT NULL DEFAULT '[]',
	hash         BLOB NOT NULL UNIQUE,
	prefix       TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER,
	revoked_at   INTEGER,
	last_used_at INTEGER,
	metadata     TEXT NOT NULL DEFAULT '{}'
) STRICT;

-- At most one active key per name; revoked keys keep theirs.
CREATE UNIQUE INDEX keys_active_name ON keys (name) WHERE revoked_at IS NULL;
CREATE INDEX keys_team ON keys (team, created_at);

-- One row per request (DESIGN.md §5). Times are unix nanoseconds; money is
-- integer nano-dollars; lists are JSON.
CREATE TABLE audit_records (
	id                 INTEGER PRIMARY KEY,
	request_id         TEXT NOT NULL UNIQUE,
	start_ns           INTEGER,
	end_ns             INTEGER,
	key_id             TEXT NOT NULL DEFAULT '',
	key_name           TEXT NOT NULL DEFAULT '',
	team               TEXT NOT NULL DEFAULT '',
	end_user           TEXT NOT NULL DEFAULT '',
	purpose            TEXT NOT NULL DEFAULT '',
	tags               TEXT,
	client_ip          TEXT NOT NULL DEFAULT '',
	dialect            TEXT NOT NULL DEFAULT '',
	endpoint           TEXT NOT NULL DEFAULT '',
	stream             INTEGER NOT NULL DEFAULT 0,
	requested_model    TEXT NOT NULL DEFAULT '',
	provider           TEXT NOT NULL DEFAULT '',
	served_model       TEXT NOT NULL DEFAULT '',
	attempts           TEXT,
	status             INTEGER NOT NULL DEFAULT 0,
	error_class        TEXT NOT NULL DEFAULT '',
	input_tokens       INTEGER NOT NULL DEFAULT 0,
	output_tokens      INTEGER NOT NULL DEFAULT 0,
	cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
	cache_write_tokens INTEGER NOT NULL DEFAULT 0,
	reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
	usage_estimated    INTEGER NOT NULL DEFAULT 0,
	cost_nano_usd      INTEGER NOT NULL DEFAULT 0,
	ttft_ms            INTEGER NOT NULL DEFAULT 0,
	latency_ms         INTEGER NOT NULL DEFAULT 0,
	policies           TEXT
) STRICT;

CREATE INDEX audit_records_start ON audit_records (start_ns);
CREATE INDEX audit_records_key ON audit_records (key_id, start_ns);
