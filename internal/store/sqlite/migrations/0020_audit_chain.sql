-- The audit trail's hash chain (package audit, chain.go): each record
-- written by a gateway's spool carries its chain (the writer's id), its
-- position in it (seq, from 1), the hash of the record before it and its
-- own. Records written outside a spool have chain ''.
ALTER TABLE audit_records ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_records ADD COLUMN seq INTEGER NOT NULL DEFAULT 0 CHECK (seq >= 0);
ALTER TABLE audit_records ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '' CHECK (length(prev_hash) IN (0, 64));
ALTER TABLE audit_records ADD COLUMN hash TEXT NOT NULL DEFAULT '' CHECK (length(hash) IN (0, 64));

-- One record per position in a chain; verification reads chains in order.
CREATE UNIQUE INDEX audit_records_chain_seq ON audit_records (chain, seq) WHERE chain != '';

-- Signed checkpoints of chain heads (audit.Checkpoint). time_ns is unix
-- nanoseconds; public_key and signature are standard base64.
CREATE TABLE audit_checkpoints (
	chain      TEXT NOT NULL,
	seq        INTEGER NOT NULL,
	hash       TEXT NOT NULL,
	time_ns    INTEGER NOT NULL,
	public_key TEXT NOT NULL,
	signature  TEXT NOT NULL,
	PRIMARY KEY (chain, seq)
) STRICT;

-- Tags, one row per (tag, record), so that a tag filter or a usage report
-- by tag uses an index instead of reading every record's JSON.
CREATE TABLE audit_tags (
	tag       TEXT NOT NULL,
	record_id INTEGER NOT NULL REFERENCES audit_records (id) ON DELETE CASCADE,
	PRIMARY KEY (tag, record_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX audit_tags_record ON audit_tags (record_id);

-- Indexes for the export filters and usage reports (docs/audit.md has the
-- figures at 10 million records): each filter column with the start time,
-- so that "this team, last 30 days" reads only its rows.
CREATE INDEX audit_records_team ON audit_records (team, start_ns);
CREATE INDEX audit_records_user ON audit_records (end_user, start_ns) WHERE end_user != '';
CREATE INDEX audit_records_model ON audit_records (requested_model, start_ns);
CREATE INDEX audit_records_provider ON audit_records (provider, start_ns);
CREATE INDEX audit_records_purpose ON audit_records (purpose, start_ns) WHERE purpose != '';
CREATE INDEX audit_records_error ON audit_records (error_class, start_ns) WHERE error_class != '';

-- Existing tags.
INSERT INTO audit_tags (tag, record_id)
	SELECT DISTINCT j.value, r.id FROM audit_records r, json_each(r.tags) j WHERE r.tags IS NOT NULL;
