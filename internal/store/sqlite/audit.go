package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/airgw/airgw/internal/audit"
)

var (
	_ audit.Sink   = (*DB)(nil)
	_ audit.Source = (*DB)(nil)
)

const auditColumns = `request_id, start_ns, end_ns, key_id, key_name, team, end_user, purpose, tags, client_ip,
	dialect, endpoint, stream, requested_model, provider, served_model, attempts, status, error_class,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_estimated,
	cost_nano_usd, ttft_ms, latency_ms, policies, kind, change`

var insertRecord = `INSERT INTO audit_records (` + auditColumns + `) VALUES (` +
	strings.TrimSuffix(strings.Repeat("?, ", 31), ", ") + `) ON CONFLICT (request_id) DO NOTHING`

// InsertRecords implements audit.Sink. The batch is inserted in one
// transaction; a request id already stored is skipped, so a retried batch
// never duplicates. If the transaction fails, the records are inserted one
// by one so that a bad record cannot keep good ones out: records refused
// for good (no request id, a time out of range, a constraint) are reported
// in an *audit.RejectedError, and any other failure is returned as is so
// that the caller retries the batch.
func (db *DB) InsertRecords(ctx context.Context, recs []audit.Record) error {
	var (
		rows     [][]any
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
		rows = append(rows, args)
	}
	if len(rows) > 0 {
		if err := db.insertBatch(ctx, rows); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("sqlite: insert records: %w", err)
			}
			for _, args := range rows {
				if _, err := db.w.ExecContext(ctx, insertRecord, args...); err != nil {
					if !isConstraint(err) {
						return fmt.Errorf("sqlite: insert records: %w", err)
					}
					reject(args[0].(string), err)
				}
			}
		}
	}
	if rejected != nil {
		return &audit.RejectedError{IDs: rejected, Err: firstErr}
	}
	return nil
}

func (db *DB) insertBatch(ctx context.Context, rows [][]any) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insertRecord)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, args := range rows {
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return tx.Commit()
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
		r.CostNanoUSD, r.TTFTMillis, r.LatencyMillis, policies, kind, change,
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
			return fmt.Errorf("sqlite: query records: since: %w", err)
		}
		add("start_ns >= ?", n)
	}
	if !f.Until.IsZero() {
		n, err := nanos(f.Until)
		if err != nil {
			return fmt.Errorf("sqlite: query records: until: %w", err)
		}
		add("start_ns < ?", n)
	}
	for _, c := range []struct{ col, v string }{
		{"key_id", f.KeyID}, {"team", f.Team}, {"end_user", f.EndUser}, {"purpose", f.Purpose},
		{"requested_model", f.Model}, {"provider", f.Provider},
	} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	if f.Status != 0 {
		add("status = ?", f.Status)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_records`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY start_ns, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: query records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return fmt.Errorf("sqlite: query records: %w", err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: query records: %w", err)
	}
	return nil
}

func scanRecord(rows *sql.Rows) (audit.Record, error) {
	var (
		r                        audit.Record
		start, end               sql.NullInt64
		tags, attempts, policies sql.NullString
		change                   sql.NullString
	)
	err := rows.Scan(&r.RequestID, &start, &end, &r.KeyID, &r.KeyName, &r.Team, &r.EndUser, &r.Purpose, &tags, &r.ClientIP,
		&r.Dialect, &r.Endpoint, &r.Stream, &r.RequestedModel, &r.Provider, &r.ServedModel, &attempts, &r.Status, &r.ErrorClass,
		&r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheWriteTokens, &r.ReasoningTokens, &r.UsageEstimated,
		&r.CostNanoUSD, &r.TTFTMillis, &r.LatencyMillis, &policies, &r.Kind, &change)
	if err != nil {
		return r, err
	}
	r.Start, r.End = fromNanos(start), fromNanos(end)
	for _, j := range []struct {
		s   sql.NullString
		dst any
	}{{tags, &r.Tags}, {attempts, &r.Attempts}, {policies, &r.Policies}, {change, &r.Change}} {
		if j.s.Valid {
			if err := json.Unmarshal([]byte(j.s.String), j.dst); err != nil {
				return r, fmt.Errorf("record %s: %w", r.RequestID, err)
			}
		}
	}
	return r, nil
}
