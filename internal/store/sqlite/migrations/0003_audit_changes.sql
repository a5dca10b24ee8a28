-- Admin changes and reloads are audit records too (DESIGN.md §5): kind
-- says which ('request', 'admin', 'reload'); change holds the actor,
-- action, target and the redacted state before and after, as JSON.
ALTER TABLE audit_records ADD COLUMN kind TEXT NOT NULL DEFAULT 'request';
ALTER TABLE audit_records ADD COLUMN change TEXT;
