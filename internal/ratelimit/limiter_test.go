package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func team(l Limits) []Scope {
	return []Scope{{Key: "team:search", Owner: "team `search`", Path: "teams.search.limits", Limits: &l}}
}

func admit(t *testing.T, l *Limiter, now time.Time, scopes []Scope, model string, tokens int64) (*Ticket, *llm.Error) {
	t.Helper()
	tk, err := l.Admit(context.Background(), now, scopes, model, tokens)
	if err == nil {
		return tk, nil
	}
	var le *llm.Error
	if !errors.As(err, &le) {
		t.Fatalf("Admit = %v, want an *llm.Error", err)
	}
	return tk, le
}

// TestWindowNeverOverAdmits (T09 and T10, single node): with arrivals at
// random times, the requests (and tokens) admitted in every interval of a
// window's length never exceed the limit; a steady load at 90% of the
// limit is never refused.
func TestWindowNeverOverAdmits(t *testing.T) {
	for _, kind := range []Kind{KindRPM, KindTPM} {
		t.Run(kind.String(), func(t *testing.T) {
			l := New(NewMemory())
			lim := Limits{RPM: 100}
			if kind == KindTPM {
				lim = Limits{TPM: 10_000}
			}
			limit := int64(lim.RPM + lim.TPM)
			rng := rand.New(rand.NewPCG(1, 2))
			type hit struct {
				at  time.Time
				amt int64
			}
			var admitted []hit
			now := t0
			for range 20_000 {
				now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
				amt := int64(1)
				if kind == KindTPM {
					amt = int64(1 + rng.IntN(400))
				}
				tk, err := admit(t, l, now, team(lim), "m", amt)
				if err == nil {
					admitted = append(admitted, hit{now, amt})
					tk.Done(context.Background(), amt)
				}
			}
			// Every window starting at an admission holds at most limit.
			j, sum := 0, int64(0)
			for i := range admitted {
				for j < len(admitted) && admitted[j].at.Sub(admitted[i].at) < time.Minute {
					sum += admitted[j].amt
					j++
				}
				if sum > limit {
					t.Fatalf("%d admitted in the minute from %v, limit %d", sum, admitted[i].at, limit)
				}
				sum -= admitted[i].amt
			}
			if len(admitted) < 1000 {
				t.Errorf("only %d admitted: the limiter refuses too much", len(admitted))
			}
		})
	}
	t.Run("steady-90-percent", func(t *testing.T) {
		l := New(NewMemory())
		now := t0
		for i := range 10_000 { // 90 per minute against 100
			now = now.Add(time.Minute / 90)
			if _, err := admit(t, l, now, team(Limits{RPM: 100}), "m", 1); err != nil {
				t.Fatalf("request %d at 90%% of the limit refused: %v", i, err)
			}
		}
	})
}

// TestConcurrentAdmissionIsExact: 200 requests released together against
// a limit of 50 admit exactly 50, whatever the interleaving.
func TestConcurrentAdmissionIsExact(t *testing.T) {
	l := New(NewMemory())
	scopes := append(team(Limits{RPM: 50}), Scope{Key: "key:k1", Owner: "key `a`", Path: "keys.a.limits", Limits: &Limits{Concurrent: 500}})
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 200 {
		wg.Go(func() {
			<-start
			if tk, err := l.Admit(context.Background(), t0, scopes, "m", 1); err == nil {
				ok.Add(1)
				tk.Done(context.Background(), 1)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 50 {
		t.Errorf("admitted %d of 200 against rpm 50, want exactly 50", ok.Load())
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		before int   // requests admitted first, at t0
		tokens int64 // of the refused request
		model  string
		// want
		limit   string
		wait    time.Duration
		message string
	}{
		{"rpm", Limits{RPM: 2}, 2, 1, "m", "teams.search.limits.rpm", 61 * time.Second,
			"team `search` has made its 2 requests per minute (`teams.search.limits.rpm`); retry after 61s"},
		{"rpd", Limits{RPD: 1}, 1, 1, "m", "teams.search.limits.rpd", 24*time.Hour + 5*time.Minute,
			"requests per 24 hours (`teams.search.limits.rpd`); retry after 86700s"},
		{"tpm", Limits{TPM: 1000}, 1, 900, "m", "teams.search.limits.tpm", 61 * time.Second,
			"needs about 900 tokens (prompt estimate plus max_tokens) and team `search` has 500 of its 1000 tokens per minute left"},
		{"tpm-too-big", Limits{TPM: 1000}, 0, 1001, "m", "teams.search.limits.tpm", 0,
			"more than the 1000 tokens per minute that team `search` allows"},
		{"concurrent", Limits{Concurrent: 1}, 1, 1, "m", "teams.search.limits.concurrent", time.Second,
			"already has 1 requests in flight, its limit `teams.search.limits.concurrent`"},
		{"model", Limits{RPM: 100, Models: []ModelLimits{{Model: "gpt-*", RPM: 1}}}, 1, 1, "gpt-4o", "teams.search.limits.models.gpt-*.rpm", 61 * time.Second,
			"team `search` for model `gpt-4o` has made its 1 requests per minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(NewMemory())
			for range tt.before {
				if _, err := admit(t, l, t0, team(tt.limits), tt.model, 500); err != nil {
					t.Fatalf("setup request refused: %v", err)
				}
			}
			tk, err := admit(t, l, t0, team(tt.limits), tt.model, tt.tokens)
			if err == nil {
				t.Fatal("Admit = nil, want a refusal")
			}
			if err.Code != llm.CodeRateLimited || err.Policy != tt.limit || err.RetryAfter != tt.wait || !strings.Contains(err.Message, tt.message) {
				t.Errorf("Admit = {%s %q wait %v: %s}, want {rate_limited %q wait %v: …%s…}", err.Code, err.Policy, err.RetryAfter, err.Message, tt.limit, tt.wait, tt.message)
			}
			if err.Status() != http.StatusTooManyRequests {
				t.Errorf("status = %d, want 429", err.Status())
			}
			if tk == nil {
				t.Error("Admit returned no ticket with its refusal; the 429 needs its x-ratelimit headers")
			}
		})
	}
}

// TestTokensCorrected (T10): tokens are admitted on the estimate and then
// corrected to the actual usage, which frees (or takes) room at once.
func TestTokensCorrected(t *testing.T) {
	l := New(NewMemory())
	lim := team(Limits{TPM: 1000, Concurrent: 1})
	tk, err := admit(t, l, t0, lim, "m", 900)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admit(t, l, t0.Add(time.Second), lim, "m", 200); err == nil {
		t.Fatal("second request admitted while the first held 900 of 1000 tokens and the only slot")
	}
	tk.Done(context.Background(), 150) // the answer was short
	tk.Done(context.Background(), 150) // idempotent
	tk2, err := admit(t, l, t0.Add(2*time.Second), lim, "m", 800)
	if err != nil {
		t.Fatalf("after correcting to 150, a request of 800 was refused: %v", err)
	}
	h := http.Header{}
	tk2.SetHeaders(h)
	want := map[string]string{"X-Ratelimit-Limit-Tokens": "1000", "X-Ratelimit-Remaining-Tokens": "50", "X-Ratelimit-Reset-Tokens": "59s"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestHeadersPickTightest(t *testing.T) {
	l := New(NewMemory())
	scopes := []Scope{
		{Key: "global", Owner: "this gateway", Path: "limits", Limits: &Limits{RPM: 1000}},
		{Key: "team:search", Owner: "team `search`", Path: "teams.search.limits", Limits: &Limits{RPM: 10, RPD: 5000}},
	}
	tk, err := admit(t, l, t0.Add(300*time.Millisecond), scopes, "m", 1)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	tk.SetHeaders(h)
	if h.Get("X-Ratelimit-Limit-Requests") != "10" || h.Get("X-Ratelimit-Remaining-Requests") != "9" || h.Get("X-Ratelimit-Reset-Requests") != "1m1s" {
		t.Errorf("headers = %v, want the team's rpm: limit 10, remaining 9, reset 1m1s", h)
	}
	if h.Get("X-Ratelimit-Limit-Tokens") != "" {
		t.Errorf("token headers set without a token limit: %v", h)
	}
}

func TestNoLimitsNoTicket(t *testing.T) {
	l := New(NewMemory())
	tk, err := l.Admit(context.Background(), t0, []Scope{{Key: "team:x"}, {Key: "key:y", Limits: &Limits{}}}, "m", 5)
	if tk != nil || err != nil {
		t.Errorf("Admit without limits = %v, %v; want nil, nil", tk, err)
	}
	tk.Done(context.Background(), 5) // a nil ticket is fine
	tk.SetHeaders(http.Header{})
}

// TestSweepKeepsCounts: Sweep forgets only counters that count nothing,
// and a counter swept while a request looks it up is never lost.
func TestSweepKeepsCounts(t *testing.T) {
	m := NewMemory()
	l := New(m)
	lim := team(Limits{RPM: 2, Concurrent: 5})
	tk, _ := admit(t, l, t0, lim, "m", 1)
	if n := m.Sweep(t0.Add(10 * time.Second)); n != 0 {
		t.Errorf("Sweep removed %d counters in use", n)
	}
	tk.Done(context.Background(), 1)
	tk, err := admit(t, l, t0.Add(20*time.Second), lim, "m", 1)
	if err != nil {
		t.Fatal(err)
	}
	tk.Done(context.Background(), 1)
	if _, err := admit(t, l, t0.Add(30*time.Second), lim, "m", 1); err == nil {
		t.Error("third request in a minute admitted against rpm 2 after a sweep")
	}
	if n := m.Sweep(t0.Add(5 * time.Minute)); n != 2 || m.Len() != 0 {
		t.Errorf("Sweep after the window = %d removed, %d left; want 2, 0", n, m.Len())
	}
}

func BenchmarkAdmit(b *testing.B) {
	l := New(NewMemory())
	scopes := []Scope{
		{Key: "team:search", Path: "teams.search.limits", Limits: &Limits{RPM: 1 << 30, TPM: 1 << 30}},
		{Key: "key:k", Path: "k", Limits: &Limits{Concurrent: 1 << 20}},
	}
	ctx := context.Background()
	now := t0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		tk, err := l.Admit(ctx, now, scopes, "m", 100)
		if err != nil {
			b.Fatal(err)
		}
		tk.Done(ctx, 90)
	}
}

func BenchmarkSetHeaders(b *testing.B) {
	l := New(NewMemory())
	scopes := []Scope{{Key: "team:search", Path: "teams.search.limits", Limits: &Limits{RPM: 1 << 30, TPM: 1 << 30}}}
	tk, err := l.Admit(context.Background(), t0, scopes, "m", 100)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		tk.SetHeaders(http.Header{})
	}
}
