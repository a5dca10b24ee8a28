package app

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/llm"
)

// TestLedgerMatchesProviderUsage is RELIABILITY.md T04 (short): over a
// mixed run (plain and streamed answers, a retry after a 503, a fallback
// to another model, streams cut mid-way upstream, clients that abort),
// every request has one record; each record whose usage the provider
// reported carries exactly that usage, and each record's cost is its
// usage times its model's price, to the nano-dollar; the sum of recorded
// costs is the sum of priced usage.
func TestLedgerMatchesProviderUsage(t *testing.T) {
	r := startRig(t, `routing: {retries: 2, backoff: {base: 1ms, max: 2ms}}
models:
  ok: {targets: [{provider: fault, model: "ok:ledger"}], @P@}
  retry: {targets: [{provider: fault, model: "fail:1000000"}], fallbacks: [ok], @P@}
  flaky: {targets: [{provider: fault, model: "flaky:30"}], @P@}
  cut: {targets: [{provider: fault, model: "cut:2"}], @P@}
  stall: {targets: [{provider: fault, model: "stall:2"}], @P@}
`)
	cfg, err := config.Parse("p.yaml", []byte(`
providers: {p: {type: demo}}
models: {m: {targets: [{provider: p, model: m}], `+price+`}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	mp := configPrice(cfg.Models[0].Price)

	type sent struct {
		id, model string
		stream    bool
	}
	var (
		mu   sync.Mutex
		reqs []sent
	)
	models := []string{"ok", "retry", "flaky", "cut", "stall"}
	// Stalled streams are aborted by their client after the first event.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range 100 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			q := req{model: models[i%len(models)], stream: i%2 == 0}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if q.model == "stall" {
				q.stream, q.onFirstEvent = true, cancel
			}
			res := r.do(ctx, q)
			mu.Lock()
			reqs = append(reqs, sent{res.id(), q.model, q.stream})
			mu.Unlock()
		})
	}
	wg.Wait()
	recs := r.records() // stops the gateway: every record is stored
	if len(recs) != 100 {
		t.Errorf("records = %d, want 100 (one per request)", len(recs))
	}
	// The fake reports 3 + words per message as prompt tokens and the
	// words of "echo: " + the message as completion tokens.
	const prompt = "resilience is a feature"
	reported := llm.Usage{InputTokens: 3 + int64(len(strings.Fields(prompt))), OutputTokens: int64(len(strings.Fields("echo: " + prompt)))}
	var sumRecorded, sumPriced int64
	var nReported, nEstimated int
	for _, s := range reqs {
		rec, ok := recs[s.id]
		if !ok {
			t.Errorf("request %s (%s) has no record", s.id, s.model)
			continue
		}
		u := llm.Usage{InputTokens: rec.InputTokens, OutputTokens: rec.OutputTokens, CacheReadTokens: rec.CacheReadTokens,
			CacheWriteTokens: rec.CacheWriteTokens, ReasoningTokens: rec.ReasoningTokens}
		if rec.CostNanoUSD != mp.Cost(u) {
			t.Errorf("record %s (%s): cost %d, want its usage %+v priced: %d", s.id, s.model, rec.CostNanoUSD, u, mp.Cost(u))
		}
		switch {
		case rec.Status == 200 && !rec.UsageEstimated:
			nReported++
			if u != reported {
				t.Errorf("record %s (%s): usage %+v, want what the provider reported %+v", s.id, s.model, u, reported)
			}
		case rec.UsageEstimated:
			nEstimated++
			if rec.CostNanoUSD == 0 {
				t.Errorf("record %s (%s): tokens were delivered but the cost is 0", s.id, s.model)
			}
		}
	}
	for _, rec := range recs {
		u := llm.Usage{InputTokens: rec.InputTokens, OutputTokens: rec.OutputTokens, CacheReadTokens: rec.CacheReadTokens,
			CacheWriteTokens: rec.CacheWriteTokens, ReasoningTokens: rec.ReasoningTokens}
		sumRecorded += rec.CostNanoUSD
		sumPriced += mp.Cost(u)
	}
	if sumRecorded != sumPriced || sumRecorded == 0 {
		t.Errorf("sum of recorded costs = %d nano-USD, sum of priced usage = %d", sumRecorded, sumPriced)
	}
	if nReported == 0 || nEstimated == 0 {
		t.Errorf("%d records with reported usage and %d estimated: the mix did not happen", nReported, nEstimated)
	}
	t.Logf("FIGURE T04 short: 100 requests (plain, streamed, retried, fallen back, cut, aborted): 100 records, %d with provider usage, %d estimated; recorded %d nano-USD = priced %d", nReported, nEstimated, sumRecorded, sumPriced)
}
