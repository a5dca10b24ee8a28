-- Budget events (budget.Event): what the audit trail cannot tell about a
-- budget's period. A reset by an admin (amount_nano_usd is the spend it
-- took off) and each alert sent (threshold percent, or a refusal), so that
-- the spend rebuilt at start honours resets and a restart sends no alert
-- twice. epoch_ns is the period's last reset before the event.
CREATE TABLE budget_events (
	id              INTEGER PRIMARY KEY,
	type            TEXT NOT NULL,
	account         TEXT NOT NULL,
	period          TEXT NOT NULL,
	period_start_ns INTEGER NOT NULL,
	at_ns           INTEGER NOT NULL,
	epoch_ns        INTEGER NOT NULL DEFAULT 0,
	amount_nano_usd INTEGER NOT NULL DEFAULT 0,
	percent         INTEGER NOT NULL DEFAULT 0,
	actor           TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX budget_events_period_start ON budget_events (period_start_ns);
