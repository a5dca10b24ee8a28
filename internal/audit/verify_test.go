package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32))

// GenerateChain builds a chain of n records, with a signed checkpoint
// every cpEvery records and at the end, the way a Spool would.
func generateChain(n, cpEvery int) ([]Record, []Checkpoint) {
	var (
		recs []Record
		cps  []Checkpoint
		head Head
	)
	for i := range n {
		r := rec(i)
		r.Tags = []string{"t" + fmt.Sprint(i%3)}
		body, _ := Body(&r)
		sum := sha256.Sum256(body)
		head = Link(&r, "wtest", head, &sum)
		recs = append(recs, r)
		if (i+1)%cpEvery == 0 || i == n-1 {
			cp := Checkpoint{Chain: "wtest", Seq: head.Seq, Hash: head.Hash, Time: r.Start}
			cp.Sign(testKey)
			cps = append(cps, cp)
		}
	}
	return recs, cps
}

func sinkOf(recs []Record, cps []Checkpoint) *memSink {
	m := newMemSink()
	for _, r := range recs {
		m.byID[r.RequestID] = len(m.recs)
		m.recs = append(m.recs, r)
	}
	m.cps = cps
	return m
}

// rehash recomputes the hashes of recs[from:] as someone who rewrites the
// database would.
func rehash(recs []Record, from int) {
	for i := from; i < len(recs); i++ {
		if i > 0 {
			recs[i].PrevHash = recs[i-1].Hash
		}
		recs[i].Hash, _ = HashOf(&recs[i])
	}
}

// TestVerifyTamperTrials is RELIABILITY.md T17 on a generated chain: one
// record altered, deleted, inserted or moved is detected, and the first
// bad record is named.
func TestVerifyTamperTrials(t *testing.T) {
	const n = 2000
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	tests := []struct {
		name    string
		tamper  func(recs []Record, cps []Checkpoint) ([]Record, []Checkpoint)
		kind    string
		seq     int64
		request string
	}{
		{"none", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) { return r, c }, "", 0, ""},
		{"alter-cost", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			r[700].CostNanoUSD = 1
			return r, c
		}, ProblemAltered, 701, id(700)},
		{"alter-tags", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			r[5].Tags = nil
			return r, c
		}, ProblemAltered, 6, id(5)},
		{"alter-first", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			r[0].Team = "someone-else"
			return r, c
		}, ProblemAltered, 1, id(0)},
		{"delete", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			return append(r[:1234:1234], r[1235:]...), c
		}, ProblemMissing, 1235, ""},
		{"delete-first", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			return r[1:], c
		}, ProblemMissing, 1, ""},
		{"truncate-before-last-checkpoint", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			return r[:n-3], c
		}, ProblemTruncated, n - 2, ""},
		{"insert-with-renumbering", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			fake := rec(99999)
			fake.Seq, fake.Chain, fake.PrevHash = 901, "wtest", r[899].Hash
			fake.Hash, _ = HashOf(&fake)
			out := append(append(append([]Record{}, r[:900]...), fake), r[900:]...)
			for i := 901; i < len(out); i++ {
				out[i].Seq++
			}
			return out, c
		}, ProblemBroken, 901, id(99999)},
		{"insert-duplicate-seq", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			fake := r[300]
			fake.RequestID = "req-fake"
			return append(append(append([]Record{}, r[:301]...), fake), r[301:]...), c
		}, ProblemDuplicate, 301, "req-fake"},
		{"swap-two", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			r[400].Seq, r[401].Seq = r[401].Seq, r[400].Seq
			return r, c
		}, ProblemAltered, 401, id(401)},
		{"swap-contents", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			a, b := r[400], r[401]
			r[400], r[401] = b, a
			r[400].Seq, r[401].Seq = a.Seq, b.Seq
			r[400].PrevHash, r[401].PrevHash = a.PrevHash, b.PrevHash
			r[400].Hash, r[401].Hash = a.Hash, b.Hash
			return r, c
		}, ProblemAltered, 401, id(401)},
		{"rewrite-and-rehash", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			r[1500].CostNanoUSD = 0
			rehash(r, 1500)
			return r, c
		}, ProblemCheckpoint, 1600, id(1599)},
		{"rewrite-after-last-checkpoint-with-forged-one", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			r[1950].CostNanoUSD = 0
			rehash(r, 1950)
			last := &c[len(c)-1]
			last.Hash = r[n-1].Hash
			last.Sign(other) // the attacker's own key
			return r, c
		}, ProblemBadSigature, n, ""},
		{"checkpoint-edited", func(r []Record, c []Checkpoint) ([]Record, []Checkpoint) {
			c[3].Seq++
			return r, c
		}, ProblemBadSigature, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, cps := generateChain(n, 100)
			recs, cps = tt.tamper(recs, cps)
			rep, err := Verify(context.Background(), sinkOf(recs, cps), VerifyOptions{Trusted: []ed25519.PublicKey{testKey.Public().(ed25519.PublicKey)}})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Chains) != 1 {
				t.Fatalf("chains = %d, want 1", len(rep.Chains))
			}
			p := rep.Chains[0].Problem
			if tt.kind == "" {
				if p != nil || !rep.OK || rep.Chains[0].Vouched != n {
					t.Fatalf("Verify(untouched) = %+v, problem %+v, want OK and vouched to %d", rep, p, n)
				}
				return
			}
			if p == nil || rep.OK {
				t.Fatalf("Verify(%s) found nothing", tt.name)
			}
			if p.Kind != tt.kind || p.Seq != tt.seq || p.RequestID != tt.request {
				t.Errorf("Verify(%s) = {%s seq %d %q}, want {%s seq %d %q}\n%s", tt.name, p.Kind, p.Seq, p.RequestID, tt.kind, tt.seq, tt.request, p.Detail)
			}
		})
	}
}

func TestVerifyPrunedStartIsVouched(t *testing.T) {
	recs, cps := generateChain(300, 100)
	// Retention removed records 1..100; the checkpoint at 100 vouches for
	// the cut.
	rep, err := Verify(context.Background(), sinkOf(recs[100:], cps), VerifyOptions{Trusted: []ed25519.PublicKey{testKey.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Chains[0].FirstSeq != 101 {
		t.Errorf("Verify(pruned at a checkpoint) = %+v %+v, want OK from seq 101", rep, rep.Chains[0].Problem)
	}
	// Without trusted keys, signatures are checked against their own keys.
	rep, _ = Verify(context.Background(), sinkOf(recs, cps), VerifyOptions{})
	if !rep.OK || rep.Trusted {
		t.Errorf("Verify(no trusted keys) = %+v, want OK and Trusted false", rep)
	}
}

func TestVerifyUnchainedCounted(t *testing.T) {
	recs, cps := generateChain(10, 100)
	recs = append(recs, rec(500))
	rep, _ := Verify(context.Background(), sinkOf(recs, cps), VerifyOptions{})
	if !rep.OK || rep.Unchained != 1 || rep.Records != 10 {
		t.Errorf("Verify = %+v, want OK, 10 chained and 1 unchained", rep)
	}
}

func TestBodyRoundTripsThroughJSON(t *testing.T) {
	r := rec(1)
	r.Start = r.Start.In(time.FixedZone("CET", 3600))
	r.Change = &Change{Actor: "cli:ops", Action: "key.create", Target: "key:k1", Before: json.RawMessage(`null`), After: json.RawMessage(`{ "name" : "<a&b>" }`)}
	r.Tags = []string{}
	h1, _ := HashOf(&r)
	b, _ := json.Marshal(&r)
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if h2, _ := HashOf(&back); h1 != h2 {
		t.Errorf("hash changed through a JSON round trip: %s != %s", h1, h2)
	}
}

func BenchmarkHashOf(b *testing.B) {
	recs, _ := generateChain(1, 1)
	r := recs[0]
	r.Attempts = []Attempt{{Provider: "openai", Model: "gpt-4o", Status: 200, LatencyMillis: 12}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashOf(&r); err != nil {
			b.Fatal(err)
		}
	}
}
