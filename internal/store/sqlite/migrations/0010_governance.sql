-- Governance (docs/governance.md). Keys carry their own settings (budget,
-- limits, end-user defaults, allowed source ranges) as JSON, and rotation:
-- family is the id of the first key of a rotation chain ('' for the key's
-- own id), rotated_to the id of the key that replaced this one.
ALTER TABLE keys ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE keys ADD COLUMN rotated_to TEXT NOT NULL DEFAULT '';
ALTER TABLE keys ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- End users, created on first use. owner is 'team:<name>' or
-- 'key:<family>'; settings holds an admin's overrides of the defaults.
CREATE TABLE end_users (
	owner      TEXT NOT NULL,
	id         TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	settings   TEXT NOT NULL DEFAULT '{}',
	PRIMARY KEY (owner, id)
) STRICT;
