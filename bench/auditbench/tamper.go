package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/store/sqlite"

	_ "modernc.org/sqlite"
)

// trial is one T17 tamper trial: tamper changes the database through a
// connection of its own (as someone with the file would), want is the
// problem verify must report, undo puts things back.
type trial struct {
	name   string
	tamper func(x *sql.DB) error
	undo   func(x *sql.DB) error
	kind   string
	seq    int64
}

func exec(x *sql.DB, q string, args ...any) error {
	_, err := x.Exec(q, args...)
	return err
}

func tamperTrials(ctx context.Context, db *sqlite.DB, n int) {
	x, err := sql.Open("sqlite", db.Path()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		log.Fatal(err)
	}
	defer x.Close()
	k := int64(n/2 + 17) // in the middle, between checkpoints
	var saved audit.Record
	stop := errors.New("stop")
	load := func(seq int64) audit.Record {
		var r audit.Record
		err := db.ChainRecords(ctx, "wbench", func(rec audit.Record) error {
			if rec.Seq == seq {
				r = rec
				return stop
			}
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			log.Fatal(err)
		}
		return r
	}
	const shift = 1 << 40
	trials := []trial{
		{"alter one record's cost",
			func(x *sql.DB) error {
				return exec(x, `UPDATE audit_records SET cost_nano_usd = cost_nano_usd + 1 WHERE chain = 'wbench' AND chain != '' AND seq = ?`, k)
			},
			func(x *sql.DB) error {
				return exec(x, `UPDATE audit_records SET cost_nano_usd = cost_nano_usd - 1 WHERE chain = 'wbench' AND chain != '' AND seq = ?`, k)
			},
			audit.ProblemAltered, k},
		{"delete one record",
			func(x *sql.DB) error {
				saved = load(k)
				return exec(x, `DELETE FROM audit_records WHERE chain = 'wbench' AND chain != '' AND seq = ?`, k)
			},
			func(x *sql.DB) error { return db.InsertRecords(ctx, []audit.Record{saved}) },
			audit.ProblemMissing, k},
		{"swap two records' positions",
			func(x *sql.DB) error { return swap(x, k, k+1) },
			func(x *sql.DB) error { return swap(x, k, k+1) },
			audit.ProblemAltered, k},
		{"insert one record, renumbering the rest",
			func(x *sql.DB) error {
				prev := load(k - 1)
				if err := renumber(x, k, 1, shift); err != nil {
					return err
				}
				fake := prev
				fake.RequestID, fake.CostNanoUSD, fake.Seq, fake.PrevHash = "req_inserted", 1, k, prev.Hash
				fake.Hash, _ = audit.HashOf(&fake)
				return db.InsertRecords(ctx, []audit.Record{fake})
			},
			func(x *sql.DB) error {
				if err := exec(x, `DELETE FROM audit_records WHERE request_id = 'req_inserted'`); err != nil {
					return err
				}
				return renumber(x, k+1, -1, shift)
			},
			audit.ProblemBroken, k},
		{"truncate the last 3 records",
			func(x *sql.DB) error {
				return exec(x, `DELETE FROM audit_records WHERE chain = 'wbench' AND chain != '' AND seq > ?`, n-3)
			},
			nil, // set below, with the records it deletes
			audit.ProblemTruncated, int64(n - 2)},
	}
	for _, tr := range trials {
		if tr.name == "truncate the last 3 records" {
			// Keep the records to put them back.
			var keep []audit.Record
			for s := int64(n - 2); s <= int64(n); s++ {
				keep = append(keep, load(s))
			}
			tr.undo = func(*sql.DB) error { return db.InsertRecords(ctx, keep) }
		}
		if err := tr.tamper(x); err != nil {
			log.Fatalf("%s: %v", tr.name, err)
		}
		rep, took := verify(ctx, db)
		p := rep.Chains[0].Problem
		ok := p != nil && p.Kind == tr.kind && p.Seq == tr.seq
		res := "DETECTED"
		if !ok {
			res = fmt.Sprintf("WRONG: got %+v", p)
		}
		detail := ""
		if p != nil {
			detail = p.Detail
		}
		fmt.Printf("FIGURE tamper %q in %d records: %s, first bad seq %d (%s) in %v: %s\n", tr.name, n, res, tr.seq, tr.kind, took.Round(time.Millisecond), detail)
		if err := tr.undo(x); err != nil {
			log.Fatalf("%s: undo: %v", tr.name, err)
		}
	}
	rehashTrial(ctx, db, x, k)
	rep, _ := verify(ctx, db)
	if !rep.OK {
		log.Fatalf("the chain does not verify after undoing the trials: %+v", rep.Chains[0].Problem)
	}
}

// swap exchanges the seq of two records.
func swap(x *sql.DB, a, b int64) error {
	const tmp = 1 << 41
	for _, q := range [][2]int64{{a, tmp}, {b, a}, {tmp, b}} {
		if err := exec(x, `UPDATE audit_records SET seq = ? WHERE chain = 'wbench' AND chain != '' AND seq = ?`, q[1], q[0]); err != nil {
			return err
		}
	}
	return nil
}

// renumber adds by to the seq of every record from seq from on, in two
// passes so that the unique index never sees two records at one seq.
func renumber(x *sql.DB, from, by, shift int64) error {
	if err := exec(x, `UPDATE audit_records SET seq = seq + ? WHERE chain = 'wbench' AND chain != '' AND seq >= ?`, shift, from); err != nil {
		return err
	}
	return exec(x, `UPDATE audit_records SET seq = seq - ? + ? WHERE chain = 'wbench' AND chain != '' AND seq >= ?`, shift, by, shift)
}

// rehashTrial alters record k and recomputes every hash up to the next
// checkpoint, as someone who knows the hash function would: only the
// signed checkpoint catches it.
func rehashTrial(ctx context.Context, db *sqlite.DB, x *sql.DB, k int64) {
	next := (k/10_000 + 1) * 10_000
	var recs []audit.Record
	stop := errors.New("stop")
	err := db.ChainRecords(ctx, "wbench", func(r audit.Record) error {
		if r.Seq >= k-1 && r.Seq <= next {
			recs = append(recs, r)
		}
		if r.Seq > next {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		log.Fatal(err)
	}
	orig := make([]audit.Record, len(recs))
	copy(orig, recs)
	recs[1].CostNanoUSD = 0
	for i := 1; i < len(recs); i++ {
		recs[i].PrevHash = recs[i-1].Hash
		body, _ := audit.Body(&recs[i])
		sum := sha256.Sum256(body)
		audit.Link(&recs[i], recs[i].Chain, audit.Head{Seq: recs[i].Seq - 1, Hash: recs[i-1].Hash}, &sum)
	}
	write := func(rs []audit.Record) {
		tx, err := x.Begin()
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range rs {
			if _, err := tx.Exec(`UPDATE audit_records SET cost_nano_usd = ?, prev_hash = ?, hash = ? WHERE chain = 'wbench' AND chain != '' AND seq = ?`,
				r.CostNanoUSD, r.PrevHash, r.Hash, r.Seq); err != nil {
				log.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			log.Fatal(err)
		}
	}
	write(recs[1:])
	rep, took := verify(ctx, db)
	p := rep.Chains[0].Problem
	res := "DETECTED"
	if p == nil || p.Kind != audit.ProblemCheckpoint || p.Seq != next {
		res = fmt.Sprintf("WRONG: got %+v", p)
	}
	fmt.Printf("FIGURE tamper %q: %s by the checkpoint signed at seq %d, in %v: %s\n", "alter one record and recompute the hashes after it", res, next, took.Round(time.Millisecond), p.Detail)
	write(orig[1:])
}
