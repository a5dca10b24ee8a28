package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestUsageMatchesHeaders: the live state of every limit, per-model ones
// included, is what the x-ratelimit-* headers of the last request said,
// and peeking counts nothing.
func TestUsageMatchesHeaders(t *testing.T) {
	l := New(NewMemory())
	lim := Limits{RPM: 10, TPM: 1000, Concurrent: 2, Models: []ModelLimits{{Model: "gpt-*", RPM: 3}}}
	scopes := team(lim)
	first, err := admit(t, l, t0, scopes, "gpt-4o", 300)
	if err != nil {
		t.Fatal(err)
	}
	first.Done(context.Background(), 100) // finished: 100 tokens, its slot back
	at := t0.Add(1500 * time.Millisecond)
	second, err := admit(t, l, at, scopes, "gpt-4o", 200) // still in flight
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	second.SetHeaders(h)
	now := at.Add(500 * time.Millisecond)
	for range 2 { // twice: peeking must not count
		got, err := l.Usage(context.Background(), now, scopes)
		if err != nil {
			t.Fatal(err)
		}
		want := []State{
			{Scope: "team:search", Name: "teams.search.limits.rpm", Kind: KindRPM, Limit: 10, Used: 2, Remaining: 8, Reset: 59 * time.Second},
			{Scope: "team:search", Name: "teams.search.limits.tpm", Kind: KindTPM, Limit: 1000, Used: 300, Remaining: 700, Reset: 59 * time.Second},
			{Scope: "team:search", Name: "teams.search.limits.concurrent", Kind: KindConcurrent, Limit: 2, Used: 1, Remaining: 1},
			{Scope: "team:search", Name: "teams.search.limits.models.gpt-*.rpm", Model: "gpt-*", Kind: KindRPM, Limit: 3, Used: 2, Remaining: 1, Reset: 59 * time.Second},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Usage (-want +got):\n%s", diff)
		}
		// The headers pick the tightest: the model's rpm, and the tokens.
		if r := h.Get("X-Ratelimit-Remaining-Requests"); r != strconv.FormatInt(got[3].Remaining, 10) {
			t.Errorf("header remaining requests %s, Usage %d", r, got[3].Remaining)
		}
		if r := h.Get("X-Ratelimit-Remaining-Tokens"); r != strconv.FormatInt(got[1].Remaining, 10) {
			t.Errorf("header remaining tokens %s, Usage %d", r, got[1].Remaining)
		}
		if r := h.Get("X-Ratelimit-Reset-Requests"); r != FormatReset(got[3].Reset+now.Sub(at)) {
			t.Errorf("header reset %s, Usage %v half a second later", r, got[3].Reset)
		}
	}
	second.Done(context.Background(), 200)
	got, _ := l.Usage(context.Background(), now.Add(2*time.Minute), scopes)
	for _, s := range got {
		if s.Used != 0 || s.Remaining != s.Limit || s.Reset != 0 {
			t.Errorf("two minutes later: %+v, want nothing used", s)
		}
	}
}

type blindStore struct{ Store }

func TestUsageNeedsReader(t *testing.T) {
	l := New(blindStore{NewMemory()})
	if _, err := l.Usage(context.Background(), t0, team(Limits{RPM: 1})); !errors.Is(err, ErrNoReader) {
		t.Errorf("Usage over a store without Peek = %v, want ErrNoReader", err)
	}
}
