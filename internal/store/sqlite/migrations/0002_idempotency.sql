-- Idempotency-Key results (DESIGN.md §3; package idempotency). One row per
-- (scope, key): scope is the virtual key's id. state is 'pending' while the
-- first request runs, 'done' once its final answer is stored. Times are
-- unix nanoseconds; header is a JSON object of header name → values; body
-- holds the response bytes as sent (at most 8 MiB).
CREATE TABLE idempotency_keys (
	scope       TEXT NOT NULL,
	"key"       TEXT NOT NULL,
	body_sha256 BLOB NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('pending', 'done')),
	status      INTEGER NOT NULL DEFAULT 0,
	header      TEXT NOT NULL DEFAULT '{}',
	body        BLOB,
	stream      INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (scope, "key")
) STRICT;

-- Purge deletes by expiry.
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
