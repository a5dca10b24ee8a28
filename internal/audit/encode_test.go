package audit

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestAppendMatchesMarshal: appendRecord and appendMark write json.Marshal's
// bytes (the hash chain covers them), or decline.
func TestAppendMatchesMarshal(t *testing.T) {
	strs := []string{"", "a", "req_0123", "<b>&amp;\"q\"\\", "é ü", "\u2028\u2029", "\xff\xfe", "tab\there\n", "\x00", "sk-ok_1.2:3/4"}
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string { return strs[rng.IntN(len(strs))] }
	num := func() int64 { return []int64{0, 1, -1, 42, 1 << 40, -1 << 62}[rng.IntN(6)] }
	tm := func() time.Time {
		return []time.Time{{}, time.Unix(1700000000, 123456789).UTC(), time.Unix(1700000000, 0).UTC(),
			time.Date(2026, 12, 6, 3, 4, 5, 100, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 5*3600+1800)),
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))}[rng.IntN(8)]
	}
	for i := range 20000 {
		r := Record{Kind: str(), RequestID: str(), Start: tm(), End: tm(), KeyID: str(), KeyName: str(), Team: str(),
			EndUser: str(), Purpose: str(), ClientIP: str(), Dialect: str(), Endpoint: str(), Stream: rng.IntN(2) == 0,
			RequestedModel: str(), Provider: str(), ServedModel: str(), Status: int(num()), ErrorClass: str(),
			InputTokens: num(), OutputTokens: num(), CacheReadTokens: num(), CacheWriteTokens: num(), ReasoningTokens: num(),
			UsageEstimated: rng.IntN(2) == 0, CostNanoUSD: num(), TTFTMillis: num(), LatencyMillis: num(),
			Chain: str(), Seq: num(), PrevHash: str(), Hash: str(), TraceParent: str()}
		switch rng.IntN(3) {
		case 1:
			r.Tags = []string{}
		case 2:
			r.Tags = []string{str(), str()}
		}
		for range rng.IntN(3) {
			r.Attempts = append(r.Attempts, Attempt{StartMillis: num(), Provider: str(), Model: str(), Status: int(num()), ErrorClass: str(), LatencyMillis: num()})
		}
		for range rng.IntN(3) {
			r.Policies = append(r.Policies, Decision{Policy: str(), Action: str(), Detail: str()})
		}
		if rng.IntN(10) == 0 {
			r.Change = &Change{Actor: "a", Action: "b", Target: "c", Before: json.RawMessage(`{ "x" : 1 }`)}
		}
		if rng.IntN(10) == 0 {
			r.Bodies = &Bodies{Request: str()}
		}
		want, wantErr := json.Marshal(&r)
		got, ok := appendRecord([]byte("prefix"), &r)
		if ok && (wantErr != nil || string(got) != "prefix"+string(want)) {
			t.Fatalf("record %d: appendRecord = %s\nwant json.Marshal = %s (err %v)", i, got, want, wantErr)
		}
		if !ok && wantErr == nil && r.Change == nil && r.Bodies == nil && r.Start.Year() >= 0 && r.Start.Year() < 10000 && r.End.Year() >= 0 && r.End.Year() < 10000 {
			if _, off := r.Start.Zone(); off == 0 {
				t.Errorf("record %d: appendRecord declined a record json.Marshal encodes: %+v", i, r)
			}
		}
		m := markOf(&r)
		wantM, wantErr := json.Marshal(m)
		gotM, ok := appendMark(nil, m)
		if ok && (wantErr != nil || string(gotM) != string(wantM)) {
			t.Fatalf("mark %d: appendMark = %s\nwant json.Marshal = %s (err %v)", i, gotM, wantM, wantErr)
		}
	}
}

// FuzzAppendString: appendString quotes as json.Marshal does.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\u2028", "\xff", strings.Repeat("é", 3)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func BenchmarkBody(b *testing.B) {
	r := Record{Kind: KindRequest, RequestID: "req_0192a3b4c5d6e7f8a9b0c1d2", Start: time.Unix(1700000000, 123456789).UTC(),
		End: time.Unix(1700000000, 987654321).UTC(), KeyID: "key_0123456789abcdef", KeyName: "bench", Team: "bench", EndUser: "bench-user",
		ClientIP: "127.0.0.1", Dialect: "openai", Endpoint: "/v1/chat/completions", RequestedModel: "bench-model", Provider: "fake",
		ServedModel: "bench-model", Attempts: []Attempt{{Provider: "fake", Model: "bench-model", Status: 200, LatencyMillis: 1}},
		Status: 200, InputTokens: 12, OutputTokens: 9, CostNanoUSD: 30000, TTFTMillis: 1, LatencyMillis: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Body(&r); err != nil {
			b.Fatal(err)
		}
	}
}
