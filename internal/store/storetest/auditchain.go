package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/google/go-cmp/cmp"
)

var signer = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))

// chained returns recs linked into chain after head, as a spool would.
func chained(chain string, head audit.Head, recs ...audit.Record) ([]audit.Record, audit.Head) {
	for i := range recs {
		body, err := audit.Body(&recs[i])
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		head = audit.Link(&recs[i], chain, head, &sum)
	}
	return recs, head
}

func testChain(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := context.Background()

	t.Run("HashSurvivesRoundTrip", func(t *testing.T) {
		s := newStore(t)
		full := fullRecord("c1", base)
		full.Change = &audit.Change{Actor: "cli:ops", Action: "key.create", Target: "key:k1",
			Before: json.RawMessage(`null`), After: json.RawMessage(`{"name": "a<b>&c", "n": 1.50}`)}
		full.Start = full.Start.In(time.FixedZone("CET", 3600))
		minimal := audit.Record{RequestID: "c2", Start: base, Status: 401}
		recs, head := chained("w1", audit.Head{}, full, minimal)
		if err := s.InsertRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
		for _, r := range query(t, s, audit.Filter{}) {
			if got, _ := audit.HashOf(&r); got != r.Hash || r.Hash == "" {
				t.Errorf("record %s: hash of the stored record = %s, stored hash %s: the store changed a hashed field", r.RequestID, got, r.Hash)
			}
		}
		got, err := s.ChainHead(ctx, "w1")
		if err != nil || got != head {
			t.Errorf("ChainHead = %+v, %v, want %+v", got, err, head)
		}
		if got, err := s.ChainHead(ctx, "nobody"); err != nil || got != (audit.Head{}) {
			t.Errorf("ChainHead(unknown chain) = %+v, %v, want zero", got, err)
		}
	})

	t.Run("VerifyAndCheckpoints", func(t *testing.T) {
		s := newStore(t)
		var head audit.Head
		var cps []audit.Checkpoint
		for batch := range 3 {
			var recs []audit.Record
			for i := range 5 {
				recs = append(recs, fullRecord(fmt.Sprintf("v%d-%d", batch, i), base.Add(time.Duration(batch*5+i)*time.Second)))
			}
			// A second chain interleaved, and an unchained record.
			other, _ := chained("w2", audit.Head{Seq: int64(batch)}, fullRecord(fmt.Sprintf("o%d", batch), base))
			if batch > 0 {
				other[0].PrevHash = ""
			}
			recs, head = chained("w1", head, recs...)
			cp := audit.Checkpoint{Chain: "w1", Seq: head.Seq, Hash: head.Hash, Time: base.Add(time.Duration(batch) * time.Minute)}
			cp.Sign(signer)
			cps = append(cps, cp)
			if err := s.InsertRecords(ctx, append(recs, fullRecord(fmt.Sprintf("u%d", batch), base))); err != nil {
				t.Fatal(err)
			}
			if err := s.InsertCheckpoints(ctx, []audit.Checkpoint{cp, cp}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Checkpoints(ctx, "w1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cps, got); diff != "" {
			t.Errorf("Checkpoints (-want +got):\n%s", diff)
		}
		rep, err := audit.Verify(ctx, s, audit.VerifyOptions{Trusted: []ed25519.PublicKey{signer.Public().(ed25519.PublicKey)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Chains) != 1 || rep.Chains[0].Chain != "w1" || !rep.OK || rep.Chains[0].Vouched != 15 || rep.Unchained != 3 {
			t.Errorf("Verify = %+v, want chain w1 OK and vouched to 15, 3 unchained", rep)
		}
	})

	t.Run("ConflictsAreRejectedNotDropped", func(t *testing.T) {
		s := newStore(t)
		recs, head := chained("w1", audit.Head{}, fullRecord("a", base), fullRecord("b", base))
		if err := s.InsertRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
		sameID := fullRecord("a", base)
		sameID.CostNanoUSD = 1 // another record under a stored request id
		sameSeq, _ := chained("w1", audit.Head{Seq: 1, Hash: recs[0].Hash}, fullRecord("c", base))
		badHash := fullRecord("d", base)
		badHash.Chain, badHash.Seq, badHash.Hash = "w9", 1, "not-a-hash" // a CHECK constraint
		next, _ := chained("w1", head, fullRecord("e", base))
		err := s.InsertRecords(ctx, append([]audit.Record{recs[0], sameID, sameSeq[0], badHash}, next...))
		var rej *audit.RejectedError
		if !errors.As(err, &rej) {
			t.Fatalf("InsertRecords(conflicting records) = %v, want *audit.RejectedError", err)
		}
		if diff := cmp.Diff([]string{"a", "c", "d"}, rej.IDs); diff != "" {
			t.Errorf("rejected ids (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"a", "b", "e"}, ids(query(t, s, audit.Filter{}))); diff != "" {
			t.Errorf("stored ids (-want +got):\n%s", diff)
		}
		if r := query(t, s, audit.Filter{})[0]; r.CostNanoUSD != recs[0].CostNanoUSD {
			t.Errorf("the first record's cost = %d, want it untouched", r.CostNanoUSD)
		}
	})
}

func testFollow(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := context.Background()
	s := newStore(t)
	follow := func(after int64, f audit.Filter) ([]string, int64) {
		var got []string
		pos, err := s.RecordsAfter(ctx, after, f, func(r audit.Record) error {
			got = append(got, r.RequestID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, pos
	}
	got, pos := follow(0, audit.Filter{})
	if len(got) != 0 || pos != 0 {
		t.Errorf("RecordsAfter(empty) = %v at %d, want nothing at 0", got, pos)
	}
	// Stored order, not start order: a long stream stored after a later,
	// shorter request.
	if err := s.InsertRecords(ctx, []audit.Record{fullRecord("late", base.Add(time.Hour)), fullRecord("early", base)}); err != nil {
		t.Fatal(err)
	}
	got, pos = follow(0, audit.Filter{})
	if diff := cmp.Diff([]string{"late", "early"}, got); diff != "" {
		t.Errorf("RecordsAfter(0) (-want +got):\n%s", diff)
	}
	if last, err := s.LastPosition(ctx); err != nil || last != pos {
		t.Errorf("LastPosition = %d, %v, want %d", last, err, pos)
	}
	other := fullRecord("other-team", base)
	other.Team = "ads"
	if err := s.InsertRecords(ctx, []audit.Record{fullRecord("third", base), other}); err != nil {
		t.Fatal(err)
	}
	got, pos2 := follow(pos, audit.Filter{Team: "ads"})
	if diff := cmp.Diff([]string{"other-team"}, got); diff != "" || pos2 <= pos {
		t.Errorf("RecordsAfter(%d, team ads) = %v at %d, want [other-team] further on", pos, got, pos2)
	}
	if got, pos3 := follow(pos2, audit.Filter{}); len(got) != 0 || pos3 != pos2 {
		t.Errorf("RecordsAfter(the end) = %v at %d, want nothing at %d", got, pos3, pos2)
	}
}

func testUsage(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := context.Background()
	s := newStore(t)
	mk := func(id, key, team, model, user string, day int, cost int64, status int, tags ...string) audit.Record {
		r := audit.Record{RequestID: id, Start: base.Add(time.Duration(day) * 24 * time.Hour), KeyID: key, KeyName: "name-" + key,
			Team: team, RequestedModel: model, Provider: "p-" + model, EndUser: user, Purpose: "triage", Tags: tags,
			Status: status, InputTokens: cost * 10, OutputTokens: cost, CostNanoUSD: cost}
		return r
	}
	admin := mk("adm", "k1", "search", "", "", 0, 999, 200)
	admin.Kind = audit.KindAdmin // never counted
	recs := []audit.Record{
		mk("1", "k1", "search", "gpt-4o", "u1", 0, 100, 200, "eu", "beta"),
		mk("2", "k1", "search", "gpt-4o", "u2", 0, 50, 200, "eu"),
		mk("3", "k2", "search", "claude", "u1", 1, 30, 429),
		mk("4", "k3", "ads", "gpt-4o", "", 1, 7, 200, "beta"),
		mk("5", "k3", "ads", "gpt-4o", "", 2, 0, 500),
		admin,
	}
	if err := s.InsertRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Group             string
		Key               string
		Requests, Errors  int64
		In, Out, CostNano int64
	}
	flat := func(rows []audit.UsageRow, by []string) []row {
		var out []row
		for _, u := range rows {
			var parts []string
			for _, d := range by {
				parts = append(parts, u.Group[d])
			}
			out = append(out, row{strings.Join(parts, "/"), u.KeyName, u.Requests, u.Errors, u.InputTokens, u.OutputTokens, u.CostNanoUSD})
		}
		return out
	}
	tests := []struct {
		name string
		q    audit.UsageQuery
		want []row
	}{
		{"total", audit.UsageQuery{}, []row{{"", "", 5, 2, 1870, 187, 187}}},
		{"team-model", audit.UsageQuery{GroupBy: []string{audit.ByTeam, audit.ByModel}}, []row{
			{"search/gpt-4o", "", 2, 0, 1500, 150, 150},
			{"search/claude", "", 1, 1, 300, 30, 30},
			{"ads/gpt-4o", "", 2, 1, 70, 7, 7},
		}},
		{"key", audit.UsageQuery{GroupBy: []string{audit.ByKey}}, []row{
			{"k1", "name-k1", 2, 0, 1500, 150, 150},
			{"k2", "name-k2", 1, 1, 300, 30, 30},
			{"k3", "name-k3", 2, 1, 70, 7, 7},
		}},
		{"tag-counts-each", audit.UsageQuery{GroupBy: []string{audit.ByTag}}, []row{
			{"eu", "", 2, 0, 1500, 150, 150},
			{"beta", "", 2, 0, 1070, 107, 107},
			{"", "", 2, 2, 300, 30, 30},
		}},
		{"day", audit.UsageQuery{GroupBy: []string{audit.ByDay}}, []row{
			{"2026-11-01", "", 2, 0, 1500, 150, 150},
			{"2026-11-02", "", 2, 1, 370, 37, 37},
			{"2026-11-03", "", 1, 1, 0, 0, 0},
		}},
		{"filtered-user", audit.UsageQuery{Filter: audit.Filter{EndUser: "u1"}, GroupBy: []string{audit.ByUser, audit.ByProvider}}, []row{
			{"u1/p-gpt-4o", "", 1, 0, 1000, 100, 100},
			{"u1/p-claude", "", 1, 1, 300, 30, 30},
		}},
		{"since-and-tag", audit.UsageQuery{Filter: audit.Filter{Since: base.Add(24 * time.Hour), Tag: "beta"}, GroupBy: []string{audit.ByPurpose}}, []row{
			{"triage", "", 1, 0, 70, 7, 7},
		}},
		{"nothing", audit.UsageQuery{Filter: audit.Filter{Team: "nobody"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Usage(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, flat(got, tt.q.GroupBy)); diff != "" {
				t.Errorf("Usage(%s) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
	if _, err := s.Usage(ctx, audit.UsageQuery{GroupBy: []string{"colour"}}); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("Usage(unknown dimension) = %v, want an error naming it", err)
	}
}

func testRetention(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := context.Background()
	t.Run("Bodies", func(t *testing.T) {
		s := newStore(t)
		r := fullRecord("with-bodies", base)
		r.Bodies = &audit.Bodies{Request: `{"messages":[{"content":"hi [REDACTED_EMAIL]"}]}`, Response: "hello", Truncated: true}
		recs, _ := chained("w1", audit.Head{}, r, fullRecord("without", base))
		if err := s.InsertRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
		got, err := s.RecordBodies(ctx, "with-bodies")
		if err != nil || got == nil || *got != *r.Bodies {
			t.Errorf("RecordBodies = %+v, %v, want %+v", got, err, r.Bodies)
		}
		if got, err := s.RecordBodies(ctx, "without"); got != nil || err != nil {
			t.Errorf("RecordBodies(a record without) = %+v, %v, want nil", got, err)
		}
		// Deleted after their retention; the record stays and verifies.
		if n, err := s.PurgeBodies(ctx, r.End.Add(time.Second)); err != nil || n != 1 {
			t.Errorf("PurgeBodies = %d, %v, want 1", n, err)
		}
		if got, _ := s.RecordBodies(ctx, "with-bodies"); got != nil {
			t.Errorf("bodies still there after PurgeBodies: %+v", got)
		}
		if rep, err := audit.Verify(ctx, s, audit.VerifyOptions{}); err != nil || !rep.OK || rep.Records != 2 {
			t.Errorf("Verify after purging bodies = %+v, %v, want 2 records OK", rep, err)
		}
	})
	t.Run("Records", func(t *testing.T) {
		s := newStore(t)
		var recs []audit.Record
		for i := range 30 {
			recs = append(recs, fullRecord(fmt.Sprintf("r%02d", i), base.Add(time.Duration(i)*time.Minute)))
		}
		recs, _ = chained("w1", audit.Head{}, recs...)
		old := fullRecord("unchained-old", base)
		newer := fullRecord("unchained-new", base.Add(time.Hour))
		if err := s.InsertRecords(ctx, append(recs, old, newer)); err != nil {
			t.Fatal(err)
		}
		var cps []audit.Checkpoint
		for _, i := range []int{9, 19, 29} {
			cp := audit.Checkpoint{Chain: "w1", Seq: recs[i].Seq, Hash: recs[i].Hash, Time: recs[i].Start}
			cp.Sign(signer)
			cps = append(cps, cp)
		}
		if err := s.InsertCheckpoints(ctx, cps); err != nil {
			t.Fatal(err)
		}
		// Cut-off at minute 25: the last checkpoint before it is seq 20.
		n, err := s.PurgeRecords(ctx, base.Add(25*time.Minute))
		if err != nil || n != 21 {
			t.Errorf("PurgeRecords = %d, %v, want 21 (seq 1 to 20 and the old unchained record)", n, err)
		}
		got := ids(query(t, s, audit.Filter{}))
		if len(got) != 11 || got[0] != "r20" || got[10] != "unchained-new" {
			t.Errorf("records left = %v, want r20..r29 and unchained-new", got)
		}
		rep, err := audit.Verify(ctx, s, audit.VerifyOptions{Trusted: []ed25519.PublicKey{signer.Public().(ed25519.PublicKey)}})
		if err != nil || !rep.OK || rep.Chains[0].FirstSeq != 21 {
			t.Errorf("Verify after PurgeRecords = %+v, %v, want OK from seq 21 (vouched by the checkpoint at 20)", rep, err)
		}
	})
}
