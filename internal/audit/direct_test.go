package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// uniqueSink is a headSink that refuses a record at a (chain, seq) already
// taken, as the SQLite store's unique index does; before, when set, runs
// once before the next insert (another writer getting there first).
type uniqueSink struct {
	headSink
	before func()
}

func (u *uniqueSink) InsertRecords(ctx context.Context, recs []Record) error {
	if f := u.before; f != nil {
		u.before = nil
		f()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	for _, r := range recs {
		if u.reject[r.RequestID] {
			return &RejectedError{IDs: []string{r.RequestID}, Err: errors.New("CHECK constraint failed")}
		}
		for _, have := range u.recs {
			if r.Chain != "" && have.Chain == r.Chain && have.Seq == r.Seq && have.RequestID != r.RequestID {
				return &RejectedError{IDs: []string{r.RequestID}, Err: errors.New("UNIQUE constraint failed: audit_records.chain, audit_records.seq")}
			}
		}
		if _, dup := u.byID[r.RequestID]; !dup {
			u.byID[r.RequestID] = len(u.recs)
			u.recs = append(u.recs, r)
		}
	}
	return nil
}

func adminRecord(id string) Record {
	t := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	return Record{Kind: KindAdmin, RequestID: id, Start: t, End: t, Dialect: "admin", Endpoint: "key.create", Status: 200,
		Change: &Change{Actor: "cli:test", Action: "key.create", Target: "key:" + id}}
}

// TestDirectWriterNeverForks has a second writer store a record between
// the first writer's reading of the chain head and its insert: the first
// record is refused at the taken position and linked again after it, so
// the chain verifies, with every record vouched by a checkpoint.
func TestDirectWriterNeverForks(t *testing.T) {
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(nil)
	db := &uniqueSink{headSink: headSink{newMemSink()}}
	a := &DirectWriter{DB: db, Signer: key}
	b := &DirectWriter{DB: db, Signer: key}
	db.before = func() {
		if err := b.Write(ctx, adminRecord("adm_b")); err != nil {
			t.Errorf("b.Write: %v", err)
		}
	}
	if err := a.Write(ctx, adminRecord("adm_a")); err != nil {
		t.Fatalf("a.Write: %v", err)
	}
	got := map[string]int64{}
	for _, r := range db.recs {
		got[r.RequestID] = r.Seq
	}
	if got["adm_b"] != 1 || got["adm_a"] != 2 || len(got) != 2 {
		t.Errorf("stored seqs = %v, want adm_b at 1, adm_a at 2", got)
	}
	rep, err := Verify(ctx, db.memSink, VerifyOptions{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Chains) != 1 || rep.Chains[0].Chain != CLIChain || rep.Chains[0].Vouched != 2 {
		t.Errorf("Verify = %+v, want chain %s ok, vouched to 2", rep, CLIChain)
	}
}

// TestDirectWriterConcurrent appends from many writers at once: one chain,
// no gap, no fork.
func TestDirectWriterConcurrent(t *testing.T) {
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(nil)
	db := &uniqueSink{headSink: headSink{newMemSink()}}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			dw := &DirectWriter{DB: db, Signer: key}
			for i := range each {
				if err := dw.Write(ctx, adminRecord(fmt.Sprintf("adm_%d_%d", w, i))); err != nil {
					t.Errorf("Write: %v", err)
				}
			}
		})
	}
	wg.Wait()
	rep, err := Verify(ctx, db.memSink, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Records != writers*each || rep.Chains[0].LastSeq != writers*each {
		t.Errorf("Verify = %+v, want %d records in one good chain", rep.Chains, writers*each)
	}
}

// TestDirectWriterRefused returns the database's refusal of a record for
// another reason than a taken position, without looping.
func TestDirectWriterRefused(t *testing.T) {
	db := &uniqueSink{headSink: headSink{newMemSink()}}
	db.reject["adm_bad"] = true
	err := (&DirectWriter{DB: db}).Write(context.Background(), adminRecord("adm_bad"))
	if err == nil || db.calls != 1 {
		t.Errorf("Write(refused record) = %v after %d inserts, want an error after 1", err, db.calls)
	}
}
