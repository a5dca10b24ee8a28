package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// crash stops s the way kill -9 would, as far as the files are concerned:
// no last checkpoint, no drain, no fsync (the page cache survives a killed
// process). The goroutines are stopped so that the test can reopen.
func (s *Spool) crash() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.once.Do(func() { close(s.stop) })
	<-s.houseDone
	<-s.drainDone
	s.f.Close()
	unlockDir(s.lock)
}

func testSpool(t *testing.T, dir string, sink Sink, o SpoolOptions) *Spool {
	t.Helper()
	o.Dir = dir
	if o.Logger == nil {
		o.Logger = quiet()
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Millisecond
	}
	s, err := OpenSpool(sink, o)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	return s
}

func syncSpool(t *testing.T, s *Spool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func closeSpool(t *testing.T, s *Spool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func rec(i int) Record {
	return Record{RequestID: id(i), Start: time.Date(2026, 11, 1, 12, 0, i, 0, time.UTC), Dialect: "openai",
		Endpoint: "/v1/chat/completions", Status: 200, RequestedModel: "gpt-4o", CostNanoUSD: int64(1000 + i)}
}

func wantIDs(n int) []string {
	var out []string
	for i := range n {
		out = append(out, id(i))
	}
	return out
}

// verifyOK fails unless every chain in sink verifies.
func verifyOK(t *testing.T, sink *memSink, trusted ...ed25519.PublicKey) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), sink, VerifyOptions{Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("Verify: %+v %+v", rep, rep.Chains[0].Problem)
	}
	return rep
}

func TestSpoolStoresEveryRecordOnceInOrder(t *testing.T) {
	tests := []struct {
		name string
		o    SpoolOptions
	}{
		{"memory", SpoolOptions{}},
		{"tiny-memory-reads-files", SpoolOptions{MemoryQueue: 3, BatchSize: 2}},
		{"tiny-segments", SpoolOptions{SegmentSize: 600, BatchSize: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newMemSink()
			s := testSpool(t, t.TempDir(), sink, tt.o)
			for i := range 200 {
				s.Write(rec(i))
			}
			closeSpool(t, s)
			if diff := cmp.Diff(wantIDs(200), sink.ids()); diff != "" {
				t.Errorf("stored ids (-want +got):\n%s", diff)
			}
			rep := verifyOK(t, sink)
			if rep.Records != 200 || len(rep.Chains) != 1 || rep.Chains[0].LastSeq != 200 {
				t.Errorf("Verify = %+v, want one chain of 200", rep)
			}
			if st := s.Stats(); st.Depth != 0 || st.Stored != 200 {
				t.Errorf("Stats = %+v, want depth 0, 200 stored", st)
			}
		})
	}
}

func TestSpoolConcurrentWriters(t *testing.T) {
	sink := newMemSink()
	s := testSpool(t, t.TempDir(), sink, SpoolOptions{MemoryQueue: 16, BatchSize: 8, SegmentSize: 8 << 10})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				s.Write(rec(g*100 + i))
			}
		})
	}
	wg.Wait()
	closeSpool(t, s)
	got := sink.ids()
	if len(got) != 800 {
		t.Fatalf("stored %d records, want 800", len(got))
	}
	verifyOK(t, sink)
}

func TestSpoolCrashLosesNothingAndMarksInterrupted(t *testing.T) {
	for _, segSize := range []int64{0, 700} { // one segment; many, so that marks move across rotations
		t.Run(fmt.Sprintf("segment-%d", segSize), func(t *testing.T) {
			dir := t.TempDir()
			down := newMemSink()
			down.fail = true
			s := testSpool(t, dir, down, SpoolOptions{SegmentSize: segSize})
			for i := range 50 {
				if i%10 == 0 {
					// Begun and never finished: in flight at the crash.
					r := rec(1000 + i)
					r.KeyID, r.Team = "key_1", "search"
					if err := s.Begin(r); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Begin(rec(i)); err != nil {
					t.Fatal(err)
				}
				s.Write(rec(i))
			}
			s.crash()

			sink := newMemSink()
			s2 := testSpool(t, dir, sink, SpoolOptions{SegmentSize: segSize})
			syncSpool(t, s2)
			want := append(wantIDs(50), id(1000), id(1010), id(1020), id(1030), id(1040))
			if diff := cmp.Diff(want, sink.ids()); diff != "" {
				t.Errorf("stored ids after the crash (-want +got):\n%s", diff)
			}
			r, _ := sink.record(id(1020))
			if r.ErrorClass != ClassInterrupted || r.Status != 500 || r.KeyID != "key_1" || r.Team != "search" {
				t.Errorf("in-flight record = %+v, want interrupted with what Begin knew", r)
			}
			if r, _ := sink.record(id(3)); r.ErrorClass != "" || r.Status != 200 {
				t.Errorf("finished record = %+v, want it as written", r)
			}
			closeSpool(t, s2)
			verifyOK(t, sink)

			// A third start finds nothing to redo.
			s3 := testSpool(t, dir, sink, SpoolOptions{})
			closeSpool(t, s3)
			if n := len(sink.ids()); n != 55 {
				t.Errorf("records after a third start = %d, want 55", n)
			}
		})
	}
}

func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	down := newMemSink()
	down.fail = true
	s := testSpool(t, dir, down, SpoolOptions{})
	for i := range 10 {
		s.Write(rec(i))
	}
	s.crash()
	// The process died in the middle of writing an eleventh frame.
	segs, _ := listSegments(dir)
	path := filepath.Join(dir, segmentName(segs[len(segs)-1]))
	r := rec(10)
	sum := [32]byte{}
	Link(&r, "x", Head{}, &sum)
	frame := appendFrame(nil, frameRecord, 1, recordPrefix(nil, &r, nil), []byte(`{"request_id":"req-0010"}`))
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(frame[:len(frame)-5])
	f.Close()

	var logs bytes.Buffer
	sink := newMemSink()
	s2 := testSpool(t, dir, sink, SpoolOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s2.Write(rec(11))
	closeSpool(t, s2)
	if diff := cmp.Diff(append(wantIDs(10), id(11)), sink.ids()); diff != "" {
		t.Errorf("stored ids (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "torn frame") {
		t.Errorf("the torn frame was not logged:\n%s", logs.String())
	}
	verifyOK(t, sink)
}

func TestSpoolDatabaseOutage(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	sink.fail = true
	s := testSpool(t, dir, sink, SpoolOptions{MemoryQueue: 32, BatchSize: 16})
	for i := range 500 {
		s.Write(rec(i))
	}
	st := s.Stats()
	if st.Depth != 500 {
		t.Errorf("Stats during the outage = %+v, want depth 500", st)
	}
	// Memory holds at most MemoryQueue records plus one batch in flight.
	s.mu.Lock()
	inMemory := len(s.pending)
	s.mu.Unlock()
	if inMemory > 32 {
		t.Errorf("records held in memory during the outage = %d, want ≤ 32", inMemory)
	}
	sink.setFail(false)
	syncSpool(t, s)
	if diff := cmp.Diff(wantIDs(500), sink.ids()); diff != "" {
		t.Errorf("stored ids after the outage (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.Depth != 0 || st.Bytes > 1024 || st.OldestAge != 0 {
		t.Errorf("Stats after the outage = %+v, want an empty spool", st)
	}
	closeSpool(t, s)
	verifyOK(t, sink)
}

func TestSpoolDeadLetter(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	sink.reject[id(3)] = true
	sink.reject[id(7)] = true
	s := testSpool(t, dir, sink, SpoolOptions{BatchSize: 4})
	for i := range 10 {
		s.Write(rec(i))
	}
	closeSpool(t, s)
	want := []string{id(0), id(1), id(2), id(4), id(5), id(6), id(8), id(9)}
	if diff := cmp.Diff(want, sink.ids()); diff != "" {
		t.Errorf("stored ids (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(filepath.Join(dir, DeadLetterFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], id(3)) || !strings.Contains(lines[1], id(7)) || !strings.Contains(lines[0], "CHECK constraint failed") {
		t.Errorf("dead-letter file =\n%s\nwant the two rejected records with the reason", b)
	}
	if st := s.Stats(); st.DeadLettered != 2 || st.Stored != 8 || st.Depth != 0 {
		t.Errorf("Stats = %+v, want 2 dead-lettered, 8 stored", st)
	}
	// The chain has gaps in the database, filled by the dead-letter file.
	rep, _ := Verify(context.Background(), sink, VerifyOptions{})
	if rep.OK || rep.Chains[0].Problem.Kind != ProblemMissing || rep.Chains[0].Problem.Seq != 4 {
		t.Errorf("Verify without the dead letters = %+v, want seq 4 missing", rep.Chains[0].Problem)
	}
	dead, err := ReadDeadLetters(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, _ = Verify(context.Background(), sink, VerifyOptions{DeadLetter: dead.Lookup})
	if !rep.OK || rep.Chains[0].DeadLettered != 2 || rep.Chains[0].Records != 10 {
		t.Errorf("Verify with the dead letters = %+v, want OK, 10 records of which 2 dead-lettered", rep.Chains[0])
	}
}

func TestSpoolFullRefusesNewRequests(t *testing.T) {
	sink := newMemSink()
	sink.fail = true
	s := testSpool(t, t.TempDir(), sink, SpoolOptions{MaxSize: 2000})
	var refused int
	for i := range 30 {
		err := s.Begin(rec(i))
		if errors.Is(err, ErrSpoolFull) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
		s.Write(rec(i)) // a refused request still gets its record
	}
	if refused == 0 || refused == 30 {
		t.Errorf("refused %d of 30 requests with a 2000-byte spool, want most but not all", refused)
	}
	if st := s.Stats(); st.Refused != int64(refused) {
		t.Errorf("Stats().Refused = %d, want %d", st.Refused, refused)
	}
	sink.setFail(false)
	syncSpool(t, s)
	if err := s.Begin(rec(100)); err != nil {
		t.Errorf("Begin after the database came back = %v, want nil", err)
	}
	closeSpool(t, s)
	if n := len(sink.ids()); n != 30 {
		t.Errorf("stored %d records, want 30", n)
	}
}

func TestSpoolChainContinuesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	for run := range 3 {
		s := testSpool(t, dir, sink, SpoolOptions{Signer: key})
		for i := range 4 {
			s.Write(rec(run*4 + i))
		}
		if run == 1 {
			s.crash() // no checkpoint for this run's end
			continue
		}
		closeSpool(t, s)
	}
	rep := verifyOK(t, sink, key.Public().(ed25519.PublicKey))
	if len(rep.Chains) != 1 || rep.Chains[0].LastSeq != 12 || rep.Chains[0].Vouched != 12 || rep.Chains[0].Checkpoints != 2 {
		t.Errorf("Verify = %+v, want one chain of 12 records vouched by 2 checkpoints", rep.Chains)
	}
}

func TestSpoolDatabaseAheadOfSpool(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	s := testSpool(t, dir, sink, SpoolOptions{})
	for i := range 3 {
		s.Write(rec(i))
	}
	closeSpool(t, s)
	// The spool's files are lost (a power cut before fsync, a restore),
	// but the spool keeps its chain id in a fresh segment header.
	segs, _ := listSegments(dir)
	chain := s.Chain()
	for _, n := range segs {
		os.Remove(filepath.Join(dir, segmentName(n)))
	}
	hdr := appendFrame(nil, frameHeaderT, 1, []byte(`{"chain":"`+chain+`","index":1,"head":{"seq":1,"hash":"x"}}`))
	os.WriteFile(filepath.Join(dir, segmentName(1)), hdr, 0o600)

	s2 := testSpool(t, dir, headSink{sink}, SpoolOptions{})
	s2.Write(rec(3))
	closeSpool(t, s2)
	r, _ := sink.record(id(3))
	if r.Seq != 4 {
		t.Errorf("seq after the database's head 3 = %d, want 4", r.Seq)
	}
	verifyOK(t, sink)
}

func TestSpoolOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	s := testSpool(t, dir, newMemSink(), SpoolOptions{})
	defer closeSpool(t, s)
	if _, err := OpenSpool(newMemSink(), SpoolOptions{Dir: dir, Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "in use by another airgw process") {
		t.Errorf("second OpenSpool = %v, want it refused", err)
	}
}

func TestSpoolCloseWithDatabaseDownKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	sink.fail = true
	s := testSpool(t, dir, sink, SpoolOptions{})
	for i := range 5 {
		s.Write(rec(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); err == nil || !strings.Contains(err.Error(), "stay in the spool") {
		t.Errorf("Close with the database down = %v, want an error saying the records stay in the spool", err)
	}
	sink.setFail(false)
	s2 := testSpool(t, dir, sink, SpoolOptions{})
	closeSpool(t, s2)
	if diff := cmp.Diff(wantIDs(5), sink.ids()); diff != "" {
		t.Errorf("stored ids at the next start (-want +got):\n%s", diff)
	}
}

func BenchmarkSpoolWrite(b *testing.B) {
	s, err := OpenSpool(newMemSink(), SpoolOptions{Dir: b.TempDir(), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	r := Record{RequestID: "req_0123456789abcdef01234567", Start: time.Now(), End: time.Now(), KeyID: "key_aaaaaaaaaaaaaaaa", KeyName: "search-api",
		Team: "search", Purpose: "support", Dialect: "openai", Endpoint: "/v1/chat/completions", RequestedModel: "gpt-4o", Provider: "openai",
		ServedModel: "gpt-4o-2024-08-06", Attempts: []Attempt{{Provider: "openai", Model: "gpt-4o", Status: 200, LatencyMillis: 12}},
		Status: 200, InputTokens: 1200, OutputTokens: 300, CostNanoUSD: 6_000_000, LatencyMillis: 15}
	b.ReportAllocs()
	for b.Loop() {
		s.Begin(r)
		s.Write(r)
	}
}
