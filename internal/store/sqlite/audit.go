package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/airgw/airgw/internal/audit"
	"modernc.org/sqlite"
)

var (
	_ audit.Sink           = (*DB)(nil)
	_ audit.Source         = (*DB)(nil)
	_ audit.CheckpointSink = (*DB)(nil)
	_ audit.HeadSource     = (*DB)(nil)
	_ audit.ChainSource    = (*DB)(nil)
	_ audit.Follower       = (*DB)(nil)
	_ audit.UsageSource    = (*DB)(nil)
)

const auditColumns = `request_id, start_ns, end_ns, key_id, key_name, team, end_user, purpose, tags, client_ip,
	dialect, endpoint, stream, requested_model, provider, served_model, attempts, status, error_class,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_estimated,
	cost_nano_usd, ttft_ms, latency_ms, policies, kind, change, chain, seq, prev_hash, hash`

// insertRecord skips a record whose request id (or chain position) is
// stored already; the count of rows changed tells the two cases apart
// (an Exec: RETURNING would make each insert a query, with its rows to
// scan and close, for an id that only tags need).
var insertRecord = `INSERT INTO audit_records (` + auditColumns + `) VALUES (` +
	strings.TrimSuffix(strings.Repeat("?, ", 35), ", ") + `) ON CONFLICT DO NOTHING`

const insertTag = `INSERT OR IGNORE INTO audit_tags (tag, record_id) VALUES (?, ?)`

// addUsage adds a batch's requests of one group to their day's totals
// (migration 0022).
const addUsage = `INSERT INTO audit_usage_daily (day, key_id, team, requested_model, provider, purpose, key_name,
	requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (day, key_id, team, requested_model, provider, purpose) DO UPDATE SET
	key_name = max(key_name, excluded.key_name), requests = requests + excluded.requests, errors = errors + excluded.errors,
	input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
	cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
	reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd`

// InsertRecords implements audit.Sink. The batch is inserted in one
// transaction; a record whose request id is stored already with the same
// content is skipped, so a retried batch never duplicates. Records refused
// for good are reported in an *audit.RejectedError while the others are
// stored: no request id, a time out of range, a constraint, or a request
// id or chain position already stored with other content. Any other
// failure is returned as is, so that the caller retries the batch.
func (db *DB) InsertRecords(ctx context.Context, recs []audit.Record) error {
	var (
		rows     []row
		rejected []string
		firstErr error
	)
	reject := func(id string, err error) {
		rejected = append(rejected, id)
		if firstErr == nil {
			firstErr = err
		}
	}
	for i := range recs {
		args, err := recordArgs(&recs[i])
		if err != nil {
			reject(recs[i].RequestID, err)
			continue
		}
		rows = append(rows, row{rec: &recs[i], args: args})
	}
	if len(rows) > 0 {
		refused, err := db.insertBatch(ctx, rows)
		if err != nil {
			if ctx.Err() != nil || isTransient(err) {
				return fmt.Errorf("sqlite: insert records: %w", err)
			}
			// A record failed the batch: insert one by one so that the bad
			// record cannot keep the good ones out.
			refused = nil
			for _, r := range rows {
				ref, err := db.insertBatch(ctx, []row{r})
				if err != nil && (ctx.Err() != nil || isTransient(err)) {
					return fmt.Errorf("sqlite: insert records: %w", err)
				}
				if err != nil {
					ref = append(ref, refusal{r.rec.RequestID, err})
				}
				refused = append(refused, ref...)
			}
		}
		for _, r := range refused {
			reject(r.id, r.err)
		}
	}
	if rejected != nil {
		return &audit.RejectedError{IDs: rejected, Err: firstErr}
	}
	return nil
}

// isTransient reports a failure that a retry can cure: the database busy,
// locked, out of disk or memory, an I/O error, a lost connection. Any
// other failure of a single record is that record's fault.
func isTransient(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 5, 6, 7, 10, 13, 14, 15: // BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL
			return true
		}
		return false
	}
	// Not from SQLite itself: a closed pool, a lost connection, a deadline.
	return true
}

type row struct {
	rec  *audit.Record
	args []any
}

type refusal struct {
	id  string
	err error
}

// insertBatch inserts rows in one transaction and returns those refused
// because their request id or chain position holds another record.
func (db *DB) insertBatch(ctx context.Context, rows []row) ([]refusal, error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// Each insert into a transaction's pages already written first saves
	// them in a statement journal (about a dozen pages: the table and its
	// indexes), which spills to a temporary file past 64 KiB: two pwrite
	// calls and a third of the batch's CPU. In memory it stays bounded by
	// one statement's pages. Only for this transaction: a retention delete
	// on the same connection must not hold its journal in memory.
	if _, err := conn.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA temp_store = DEFAULT`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insertRecord)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var tagStmt *sql.Stmt
	var refused []refusal
	var usage usageTotals
	for _, r := range rows {
		res, err := stmt.ExecContext(ctx, r.args...)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			if err := conflict(ctx, tx, r.rec); err != nil {
				refused = append(refused, refusal{r.rec.RequestID, err})
			}
			continue
		}
		if rec := r.rec; rec.Kind == "" || rec.Kind == audit.KindRequest {
			usage.add(rec)
		}
		if b := r.rec.Bodies; b != nil {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO audit_bodies (request_id, created_ns, request, response, truncated) VALUES (?, ?, ?, ?, ?)`,
				r.rec.RequestID, r.rec.End.UnixNano(), b.Request, b.Response, b.Truncated); err != nil {
				return nil, err
			}
		}
		var id int64
		if len(r.rec.Tags) > 0 {
			if id, err = res.LastInsertId(); err != nil {
				return nil, err
			}
		}
		for _, tag := range r.rec.Tags {
			if tagStmt == nil {
				if tagStmt, err = tx.PrepareContext(ctx, insertTag); err != nil {
					return nil, err
				}
				defer tagStmt.Close()
			}
			if _, err := tagStmt.ExecContext(ctx, tag, id); err != nil {
				return nil, err
			}
		}
	}
	if err := usage.store(ctx, tx); err != nil {
		return nil, err
	}
	return refused, tx.Commit()
}

// usageGroup is one row of audit_usage_daily.
type usageGroup struct {
	day, keyID, team, model, provider, purpose string
}

// usageTotals sums a batch's inserted request records by day's row, so
// that a batch updates each row once (a batch of one key's traffic: one
// update instead of hundreds).
type usageTotals struct {
	order []usageGroup
	sums  map[usageGroup]*usageSum
}

type usageSum struct {
	keyName                                                string
	requests, errors, input, output, cacheRead, cacheWrite int64
	reasoning, cost                                        int64
}

func (u *usageTotals) add(rec *audit.Record) {
	g := usageGroup{usageDay(rec.Start), rec.KeyID, rec.Team, rec.RequestedModel, rec.Provider, rec.Purpose}
	s := u.sums[g]
	if s == nil {
		if u.sums == nil {
			u.sums = map[usageGroup]*usageSum{}
		}
		s = &usageSum{keyName: rec.KeyName}
		u.sums[g] = s
		u.order = append(u.order, g)
	}
	s.keyName = max(s.keyName, rec.KeyName)
	s.requests++
	s.errors += int64(btoi(rec.Status >= 400))
	s.input += rec.InputTokens
	s.output += rec.OutputTokens
	s.cacheRead += rec.CacheReadTokens
	s.cacheWrite += rec.CacheWriteTokens
	s.reasoning += rec.ReasoningTokens
	s.cost += rec.CostNanoUSD
}

// store adds the totals to audit_usage_daily, in the order the groups
// were first seen.
func (u *usageTotals) store(ctx context.Context, tx *sql.Tx) error {
	if len(u.order) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, addUsage)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, g := range u.order {
		s := u.sums[g]
		if _, err := stmt.ExecContext(ctx, g.day, g.keyID, g.team, g.model, g.provider, g.purpose, s.keyName,
			s.requests, s.errors, s.input, s.output, s.cacheRead, s.cacheWrite, s.reasoning, s.cost); err != nil {
			return err
		}
	}
	return nil
}

// conflict explains why rec was not inserted: nil when the same record is
// stored already (a retried batch), an error when another record holds its
// request id or its chain position.
func conflict(ctx context.Context, tx *sql.Tx, rec *audit.Record) error {
	var id, hash, chain string
	var seq int64
	err := tx.QueryRowContext(ctx, `SELECT request_id, hash, chain, seq FROM audit_records WHERE request_id = ?`, rec.RequestID).Scan(&id, &hash, &chain, &seq)
	switch {
	case err == nil && hash == rec.Hash && chain == rec.Chain && seq == rec.Seq:
		return nil // stored already
	case err == nil:
		return fmt.Errorf("request id %s is stored already with other content (chain %q seq %d)", rec.RequestID, chain, seq)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	err = tx.QueryRowContext(ctx, `SELECT request_id FROM audit_records WHERE chain = ? AND seq = ? AND chain != ''`, rec.Chain, rec.Seq).Scan(&id)
	if err == nil {
		return fmt.Errorf("chain %s seq %d is held by request %s already", rec.Chain, rec.Seq, id)
	}
	return fmt.Errorf("record %s was not inserted, for no reason the database gives: %w", rec.RequestID, err)
}

// recordArgs returns r's column values in auditColumns order.
func recordArgs(r *audit.Record) ([]any, error) {
	if r.RequestID == "" {
		return nil, errors.New("record without request id")
	}
	start, err := nanos(r.Start)
	if err != nil {
		return nil, fmt.Errorf("record %s: start: %w", r.RequestID, err)
	}
	end, err := nanos(r.End)
	if err != nil {
		return nil, fmt.Errorf("record %s: end: %w", r.RequestID, err)
	}
	tags, err := jsonOrNull(len(r.Tags), r.Tags)
	if err != nil {
		return nil, err
	}
	attempts, err := jsonOrNull(len(r.Attempts), r.Attempts)
	if err != nil {
		return nil, err
	}
	policies, err := jsonOrNull(len(r.Policies), r.Policies)
	if err != nil {
		return nil, err
	}
	var change any
	if r.Change != nil {
		b, err := json.Marshal(r.Change)
		if err != nil {
			return nil, fmt.Errorf("record %s: change: %w", r.RequestID, err)
		}
		change = string(b)
	}
	kind := r.Kind
	if kind == "" {
		kind = audit.KindRequest
	}
	return []any{
		r.RequestID, start, end, r.KeyID, r.KeyName, r.Team, r.EndUser, r.Purpose, tags, r.ClientIP,
		r.Dialect, r.Endpoint, r.Stream, r.RequestedModel, r.Provider, r.ServedModel, attempts, r.Status, r.ErrorClass,
		r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, r.ReasoningTokens, r.UsageEstimated,
		r.CostNanoUSD, r.TTFTMillis, r.LatencyMillis, policies, kind, change, r.Chain, r.Seq, r.PrevHash, r.Hash,
	}, nil
}

func jsonOrNull(n int, v any) (any, error) {
	if n == 0 {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// QueryRecords implements audit.Source. Rows are streamed to fn oldest
// first (by start time, then insertion order); an error from fn stops the
// query and is returned.
func (db *DB) QueryRecords(ctx context.Context, f audit.Filter, fn func(audit.Record) error) error {
	where, args, err := filterSQL(f)
	if err != nil {
		return fmt.Errorf("sqlite: query records: %w", err)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_records` + where + ` ORDER BY start_ns, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	_, err = db.scanRecords(ctx, q, args, fn)
	return err
}

// RecordsAfter implements audit.Follower: records in storage (row id)
// order after position after.
func (db *DB) RecordsAfter(ctx context.Context, after int64, f audit.Filter, fn func(audit.Record) error) (int64, error) {
	where, args, err := filterSQL(f)
	if err != nil {
		return after, fmt.Errorf("sqlite: query records: %w", err)
	}
	if where == "" {
		where = ` WHERE id > ?`
	} else {
		where += ` AND id > ?`
	}
	args = append(args, after)
	q := `SELECT ` + auditColumns + `, id FROM audit_records` + where + ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	last, err := db.scanRecords(ctx, q, args, fn)
	return max(last, after), err
}

// LastPosition implements audit.Follower.
func (db *DB) LastPosition(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM audit_records`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: last position: %w", err)
	}
	return n, nil
}

// scanRecords runs q and passes each row to fn. When q selects the row id
// after the record's columns, it returns the last one.
func (db *DB) scanRecords(ctx context.Context, q string, args []any, fn func(audit.Record) error) (int64, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: query records: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	withID := len(cols) > auditColumnCount
	var last int64
	for rows.Next() {
		rec, id, err := scanRecord(rows, withID)
		if err != nil {
			return last, fmt.Errorf("sqlite: query records: %w", err)
		}
		if err := fn(rec); err != nil {
			return last, err
		}
		last = id
	}
	if err := rows.Err(); err != nil {
		return last, fmt.Errorf("sqlite: query records: %w", err)
	}
	return last, nil
}

// auditColumnCount is the number of columns in auditColumns.
var auditColumnCount = strings.Count(auditColumns, ",") + 1

// filterSQL turns f (but its Limit) into a WHERE clause and its arguments.
func filterSQL(f audit.Filter) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		n, err := nanos(f.Since)
		if err != nil {
			return "", nil, fmt.Errorf("since: %w", err)
		}
		add("start_ns >= ?", n)
	}
	if !f.Until.IsZero() {
		n, err := nanos(f.Until)
		if err != nil {
			return "", nil, fmt.Errorf("until: %w", err)
		}
		add("start_ns < ?", n)
	}
	for _, c := range []struct{ col, v string }{
		{"key_id", f.KeyID}, {"team", f.Team}, {"end_user", f.EndUser}, {"purpose", f.Purpose},
		{"requested_model", f.Model}, {"provider", f.Provider}, {"kind", f.Kind},
	} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	// The indexes on these columns leave out empty values (migration
	// 0020): say that the query does too, so that SQLite may use them.
	if f.EndUser != "" {
		where = append(where, "end_user != ''")
	}
	if f.Purpose != "" {
		where = append(where, "purpose != ''")
	}
	if f.Status != 0 {
		add("status = ?", f.Status)
	}
	switch f.ErrorClass {
	case "":
	case audit.ErrorClassAny:
		where = append(where, "error_class != ''")
	default:
		add("error_class = ?", f.ErrorClass)
		where = append(where, "error_class != ''")
	}
	if f.Tag != "" {
		add("id IN (SELECT record_id FROM audit_tags WHERE tag = ?)", f.Tag)
	}
	if len(where) == 0 {
		return "", nil, nil
	}
	return ` WHERE ` + strings.Join(where, " AND "), args, nil
}

// scanRecord reads one row of auditColumns, followed by the row id when
// withID is set.
func scanRecord(rows *sql.Rows, withID bool) (audit.Record, int64, error) {
	var (
		r                        audit.Record
		start, end               sql.NullInt64
		tags, attempts, policies sql.NullString
		change                   sql.NullString
		id                       int64
	)
	dest := []any{&r.RequestID, &start, &end, &r.KeyID, &r.KeyName, &r.Team, &r.EndUser, &r.Purpose, &tags, &r.ClientIP,
		&r.Dialect, &r.Endpoint, &r.Stream, &r.RequestedModel, &r.Provider, &r.ServedModel, &attempts, &r.Status, &r.ErrorClass,
		&r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheWriteTokens, &r.ReasoningTokens, &r.UsageEstimated,
		&r.CostNanoUSD, &r.TTFTMillis, &r.LatencyMillis, &policies, &r.Kind, &change, &r.Chain, &r.Seq, &r.PrevHash, &r.Hash}
	if withID {
		dest = append(dest, &id)
	}
	if err := rows.Scan(dest...); err != nil {
		return r, 0, err
	}
	r.Start, r.End = fromNanos(start), fromNanos(end)
	for _, j := range []struct {
		s   sql.NullString
		dst any
	}{{tags, &r.Tags}, {attempts, &r.Attempts}, {policies, &r.Policies}, {change, &r.Change}} {
		if j.s.Valid {
			if err := json.Unmarshal([]byte(j.s.String), j.dst); err != nil {
				return r, 0, fmt.Errorf("record %s: %w", r.RequestID, err)
			}
		}
	}
	return r, id, nil
}
