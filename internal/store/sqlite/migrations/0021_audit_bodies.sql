-- Prompt and response bodies, stored only for the keys and teams that
-- audit.bodies names, PII-redacted, and deleted after audit.bodies.retention
-- (created_ns is unix nanoseconds). Kept apart from audit_records so that
-- deleting them leaves the records, and their hash chain, intact.
CREATE TABLE audit_bodies (
	request_id TEXT PRIMARY KEY,
	created_ns INTEGER NOT NULL,
	request    TEXT NOT NULL,
	response   TEXT NOT NULL,
	truncated  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX audit_bodies_created ON audit_bodies (created_ns);
