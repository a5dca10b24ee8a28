package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/idempotency"
	"github.com/google/go-cmp/cmp"
)

// idemTTL and idemStale are the retention and the stale bound the
// idempotency suite runs with.
const (
	idemTTL   = 24 * time.Hour
	idemStale = 10 * time.Minute
)

func fingerprint(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// sampleResult is a stored response with every feature a store must keep:
// several header values, a binary body, the stream flag.
func sampleResult() idempotency.Stored {
	body := []byte("data: {\"x\":1}\n\ndata: [DONE]\n\n")
	for i := range 256 {
		body = append(body, byte(i))
	}
	return idempotency.Stored{
		Status: 200,
		Header: http.Header{
			"Content-Type":     {"text/event-stream; charset=utf-8"},
			"X-Airgw-Provider": {"fake"},
			"X-Request-Id":     {"req_0123"},
			"X-Airgw-Tags":     {"a", "b"},
		},
		Body:   body,
		Stream: true,
	}
}

// idemStep is one call in a scenario: begin (checking its outcome),
// complete (with sampleResult) or release.
type idemStep struct {
	op         string
	at         time.Duration // after base
	scope, key string
	body       string // fingerprinted
	want       idempotency.Outcome
}

// TestIdempotencyStore runs the idempotency.Store conformance suite.
// newStore must return an empty store; it is called once per subtest.
func TestIdempotencyStore(t *testing.T, newStore func(t *testing.T) idempotency.Store) {
	ctx := context.Background()
	begin := func(at time.Duration, scope, key, body string, want idempotency.Outcome) idemStep {
		return idemStep{op: "begin", at: at, scope: scope, key: key, body: body, want: want}
	}
	complete := func(scope, key string) idemStep { return idemStep{op: "complete", scope: scope, key: key} }
	release := func(scope, key string) idemStep { return idemStep{op: "release", scope: scope, key: key} }
	const (
		P = idempotency.Proceed
		R = idempotency.Replay
		F = idempotency.InFlight
		M = idempotency.Mismatch
	)
	for _, tc := range []struct {
		name  string
		steps []idemStep
	}{
		{"ProceedThenReplay", []idemStep{begin(0, "k1", "a", "x", P), complete("k1", "a"), begin(time.Minute, "k1", "a", "x", R), begin(time.Hour, "k1", "a", "x", R)}},
		{"InFlightDuplicate", []idemStep{begin(0, "k1", "a", "x", P), begin(time.Second, "k1", "a", "x", F)}},
		{"MismatchWhileInFlight", []idemStep{begin(0, "k1", "a", "x", P), begin(time.Second, "k1", "a", "y", M)}},
		{"MismatchAfterDone", []idemStep{begin(0, "k1", "a", "x", P), complete("k1", "a"), begin(time.Second, "k1", "a", "y", M), begin(2*time.Second, "k1", "a", "x", R)}},
		{"ReleaseLetsRetryProceed", []idemStep{begin(0, "k1", "a", "x", P), release("k1", "a"), begin(time.Second, "k1", "a", "x", P), begin(2*time.Second, "k1", "a", "x", F)}},
		{"ReleaseAfterReleaseOrWithoutClaim", []idemStep{release("k1", "a"), begin(0, "k1", "a", "x", P), release("k1", "a"), release("k1", "a"), begin(time.Second, "k1", "a", "y", P)}},
		{"ReleaseKeepsStoredResult", []idemStep{begin(0, "k1", "a", "x", P), complete("k1", "a"), release("k1", "a"), begin(time.Second, "k1", "a", "x", R)}},
		{"ScopedPerVirtualKey", []idemStep{begin(0, "k1", "a", "x", P), begin(0, "k2", "a", "y", P), complete("k1", "a"), begin(time.Second, "k2", "a", "y", F), begin(time.Second, "k1", "a", "x", R)}},
		{"KeysAreCaseSensitive", []idemStep{begin(0, "k1", "a", "x", P), begin(0, "k1", "A", "y", P)}},
		{"ExpiredResultIsReplaced", []idemStep{begin(0, "k1", "a", "x", P), complete("k1", "a"), begin(idemTTL-1, "k1", "a", "y", M), begin(idemTTL, "k1", "a", "y", P), begin(idemTTL+time.Second, "k1", "a", "y", F)}},
		{"ExpiredClaimIsReplaced", []idemStep{begin(0, "k1", "a", "x", P), begin(idemTTL, "k1", "a", "y", P)}},
		{"StaleClaimIsTakenOver", []idemStep{begin(0, "k1", "a", "x", P), begin(idemStale-1, "k1", "a", "x", F), begin(idemStale, "k1", "a", "x", P), begin(idemStale+time.Second, "k1", "a", "x", F)}},
		{"StaleClaimStillChecksBody", []idemStep{begin(0, "k1", "a", "x", P), begin(idemStale, "k1", "a", "y", M)}},
		{"DoneIsNeverStale", []idemStep{begin(0, "k1", "a", "x", P), complete("k1", "a"), begin(idemStale*10, "k1", "a", "x", R)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			want := sampleResult()
			for i, st := range tc.steps {
				switch st.op {
				case "begin":
					got, stored, err := s.Begin(ctx, st.scope, st.key, fingerprint(st.body), base.Add(st.at), idemTTL, idemStale)
					if err != nil {
						t.Fatalf("step %d: Begin(%s, %s, %s) error: %v", i, st.scope, st.key, st.body, err)
					}
					if got != st.want {
						t.Fatalf("step %d: Begin(%s, %s, %s) at +%v = %v, want %v", i, st.scope, st.key, st.body, st.at, got, st.want)
					}
					if got == idempotency.Replay {
						if stored == nil {
							t.Fatalf("step %d: Begin = Replay with no result", i)
						}
						if diff := cmp.Diff(want, *stored); diff != "" {
							t.Errorf("step %d: replayed result (-want +got):\n%s", i, diff)
						}
					} else if stored != nil {
						t.Errorf("step %d: Begin = %v with a result %+v, want none", i, got, stored)
					}
				case "complete":
					if err := s.Complete(ctx, st.scope, st.key, sampleResult()); err != nil {
						t.Fatalf("step %d: Complete(%s, %s): %v", i, st.scope, st.key, err)
					}
				case "release":
					if err := s.Release(ctx, st.scope, st.key); err != nil {
						t.Fatalf("step %d: Release(%s, %s): %v", i, st.scope, st.key, err)
					}
				}
			}
		})
	}

	t.Run("CompleteWithoutClaim", func(t *testing.T) {
		s := newStore(t)
		if err := s.Complete(ctx, "k1", "nope", sampleResult()); !errors.Is(err, idempotency.ErrNotClaimed) {
			t.Errorf("Complete(unclaimed) = %v, want ErrNotClaimed", err)
		}
	})

	t.Run("EmptyAndErrorResults", func(t *testing.T) {
		s := newStore(t)
		for _, st := range []idempotency.Stored{
			{Status: 400, Header: http.Header{"Content-Type": {"application/json"}, "X-Should-Retry": {"false"}}, Body: []byte(`{"error":{}}`)},
			{Status: 200, Header: http.Header{}, Body: []byte{}},
		} {
			key := "k-" + http.StatusText(st.Status)
			if out, _, err := s.Begin(ctx, "k1", key, fingerprint("x"), base, idemTTL, idemStale); err != nil || out != idempotency.Proceed {
				t.Fatalf("Begin = %v, %v; want Proceed", out, err)
			}
			if err := s.Complete(ctx, "k1", key, st); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			out, got, err := s.Begin(ctx, "k1", key, fingerprint("x"), base.Add(time.Second), idemTTL, idemStale)
			if err != nil || out != idempotency.Replay || got == nil {
				t.Fatalf("Begin = %v, %v, %v; want Replay", out, got, err)
			}
			if got.Status != st.Status || string(got.Body) != string(st.Body) || len(got.Body) != len(st.Body) ||
				!cmp.Equal(st.Header, got.Header) || got.Stream {
				t.Errorf("replayed %+v, want %+v", got, st)
			}
		}
	})

	t.Run("ConcurrentBegin", func(t *testing.T) {
		s := newStore(t)
		const n = 50
		var wg sync.WaitGroup
		outs := make(chan idempotency.Outcome, n)
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				out, _, err := s.Begin(ctx, "k1", "race", fingerprint("x"), base, idemTTL, idemStale)
				if err != nil {
					errs <- err
					return
				}
				outs <- out
			})
		}
		wg.Wait()
		close(outs)
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Begin: %v", err)
		}
		count := map[idempotency.Outcome]int{}
		for o := range outs {
			count[o]++
		}
		if count[idempotency.Proceed] != 1 || count[idempotency.InFlight] != n-1 {
			t.Errorf("%d concurrent Begins = %v, want exactly 1 proceed and %d in flight", n, count, n-1)
		}
	})

	t.Run("Purge", func(t *testing.T) {
		s := newStore(t)
		p, ok := s.(idempotency.Purger)
		if !ok {
			t.Skip("store is not an idempotency.Purger")
		}
		for i, key := range []string{"old1", "old2", "new"} {
			at := base
			if key == "new" {
				at = base.Add(time.Hour)
			}
			if out, _, err := s.Begin(ctx, "k1", key, fingerprint("x"), at, idemTTL, idemStale); err != nil || out != idempotency.Proceed {
				t.Fatalf("Begin #%d = %v, %v", i, out, err)
			}
		}
		if err := s.Complete(ctx, "k1", "old1", sampleResult()); err != nil {
			t.Fatal(err)
		}
		n, err := p.Purge(ctx, base.Add(idemTTL))
		if err != nil || n != 2 {
			t.Errorf("Purge = %d, %v; want 2 rows", n, err)
		}
		if err := s.Complete(ctx, "k1", "old1", sampleResult()); !errors.Is(err, idempotency.ErrNotClaimed) {
			t.Errorf("Complete(purged) = %v, want ErrNotClaimed", err)
		}
		if out, _, err := s.Begin(ctx, "k1", "new", fingerprint("y"), base.Add(idemTTL), idemTTL, idemStale); err != nil || out != idempotency.Mismatch {
			t.Errorf("Begin(unexpired key, other body) after Purge = %v, %v; want Mismatch (the row is kept)", out, err)
		}
	})
}
