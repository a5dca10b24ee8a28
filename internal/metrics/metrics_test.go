package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

func record(model, provider, team string, status int, class string) audit.Record {
	return audit.Record{Kind: audit.KindRequest, RequestedModel: model, Provider: provider, Team: team, Status: status, ErrorClass: class,
		KeyID: "key_secretish", Purpose: "sk-proj-LOOKSLIKEAKEY", EndUser: "alice@example.com", Tags: []string{"t"},
		InputTokens: 100, OutputTokens: 20, CacheReadTokens: 50, CostNanoUSD: 1_500_000, LatencyMillis: 120, TTFTMillis: 40, Stream: true,
		Attempts: []audit.Attempt{{Provider: provider, Model: "m", Status: status, ErrorClass: class}}}
}

// scrape writes r and checks the text is well formed: every sample line
// parses, its family was announced, no series repeats, and histogram
// buckets are cumulative up to +Inf = count. It returns sample → value.
func scrape(t *testing.T, r *Registry) map[string]float64 {
	t.Helper()
	var b bytes.Buffer
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	sampleRE := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)$`)
	types := map[string]string{}
	out := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			if _, dup := types[name]; dup {
				t.Errorf("family %s announced twice", name)
			}
			types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("malformed sample line %q", line)
			continue
		}
		fam := m[1]
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(fam, suf); ok && types[base] == "histogram" {
				fam = base
			}
		}
		if types[fam] == "" {
			t.Errorf("sample %q before its # TYPE", line)
		}
		v, err := strconv.ParseFloat(m[len(m)-1], 64)
		if err != nil {
			t.Errorf("sample %q: value: %v", line, err)
		}
		key := strings.TrimSuffix(line, " "+m[len(m)-1])
		if _, dup := out[key]; dup {
			t.Errorf("series %s written twice", key)
		}
		out[key] = v
	}
	return out
}

func TestObserveAndExpose(t *testing.T) {
	r := New(Options{Version: "v1.2.3"})
	r.Observe(ptr(record("gpt-4o", "openai", "search", 200, "")))
	r.Observe(ptr(record("gpt-4o", "openai", "search", 200, "")))
	failed := record("gpt-4o", "openai", "search", 503, "provider_unavailable")
	failed.Attempts = []audit.Attempt{
		{Provider: "openai", Model: "gpt-4o", Status: 503, ErrorClass: "provider_unavailable"},
		{Provider: "openai", Model: "gpt-4o", Status: 503, ErrorClass: "provider_unavailable"},
	}
	r.Observe(&failed)
	fellBack := record("gpt-4o", "anthropic", "search", 200, "")
	fellBack.Attempts = []audit.Attempt{{Provider: "openai", Model: "gpt-4o", Status: 429, ErrorClass: "provider_rate_limited"}, {Provider: "anthropic", Model: "claude", Status: 200}}
	r.Observe(&fellBack)
	unknown := record("no-such-model", "", "", 404, "model_not_found")
	unknown.Attempts = nil
	r.Observe(&unknown)
	admin := record("gpt-4o", "openai", "search", 200, "")
	admin.Kind = audit.KindAdmin
	r.Observe(&admin) // not a request: not counted
	r.ObserveAuditWrite(3 * time.Microsecond)

	got := scrape(t, r)
	const sel = `model="gpt-4o",provider="openai",team="search"`
	want := map[string]float64{
		`airgw_requests_total{` + sel + `,status="200"}`:                                       2,
		`airgw_requests_total{` + sel + `,status="503"}`:                                       1,
		`airgw_requests_total{model="-",provider="",team="",status="404"}`:                     1,
		`airgw_tokens_total{` + sel + `,status="200",type="input"}`:                            200,
		`airgw_tokens_total{` + sel + `,status="200",type="cache_read"}`:                       100,
		`airgw_cost_usd_total{` + sel + `,status="200"}`:                                       0.003,
		`airgw_request_duration_seconds_bucket{model="gpt-4o",provider="openai",le="0.1"}`:     0,
		`airgw_request_duration_seconds_bucket{model="gpt-4o",provider="openai",le="0.25"}`:    3,
		`airgw_request_duration_seconds_count{model="gpt-4o",provider="openai"}`:               3,
		`airgw_time_to_first_token_seconds_bucket{model="gpt-4o",provider="openai",le="0.05"}`: 3,
		`airgw_errors_total{error_class="provider_unavailable",provider="openai"}`:             1,
		`airgw_errors_total{error_class="model_not_found",provider=""}`:                        1,
		`airgw_upstream_attempts_total{provider="openai",error_class="provider_unavailable"}`:  2,
		`airgw_upstream_attempts_total{provider="openai",error_class="provider_rate_limited"}`: 1,
		`airgw_upstream_attempts_total{provider="anthropic",error_class=""}`:                   1,
		`airgw_retries_total{model="gpt-4o"}`:                                                  2,
		`airgw_fallbacks_total{model="gpt-4o"}`:                                                1,
		`airgw_audit_write_seconds_bucket{le="5e-06"}`:                                         1,
		`airgw_build_info{version="v1.2.3"}`:                                                   1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || fmt.Sprint(g) != fmt.Sprint(v) {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	var text bytes.Buffer
	r.Write(&text)
	for _, secret := range []string{"key_secretish", "sk-proj-LOOKSLIKEAKEY", "alice@example.com", "no-such-model"} {
		if strings.Contains(text.String(), secret) {
			t.Errorf("/metrics contains %q: a key id, purpose, end user or client-chosen model is never a label", secret)
		}
	}
}

func TestLabelValuesAreBounded(t *testing.T) {
	r := New(Options{})
	for i := range MaxLabelValues + 100 {
		r.Observe(ptr(record(fmt.Sprintf("model-%d", i), "openai", "t", 200, "")))
	}
	got := scrape(t, r)
	if v := got[`airgw_requests_total{model="other",provider="openai",team="t",status="200"}`]; v != 100 {
		t.Errorf("requests of models past the bound = %v, want 100 counted as other", v)
	}
	n := 0
	for k := range got {
		if strings.HasPrefix(k, "airgw_requests_total{") {
			n++
		}
	}
	if n != MaxLabelValues+1 {
		t.Errorf("airgw_requests_total series = %d, want %d", n, MaxLabelValues+1)
	}
}

type fakeBudgets []Budget

func (f fakeBudgets) Budgets() []Budget { return f }

type fakeReloads ReloadStats

func (f fakeReloads) Reloads() ReloadStats { return ReloadStats(f) }

func TestSources(t *testing.T) {
	r := New(Options{
		Spool: func() audit.SpoolStats {
			return audit.SpoolStats{Depth: 12, Bytes: 4096, MaxBytes: 1 << 30, OldestAge: 90 * time.Second, SinkFailing: true, DeadLettered: 2, Refused: 3, Head: audit.Head{Seq: 77}}
		},
		Breakers: func() []Breaker { return []Breaker{{"openai/gpt-4o", "open"}, {"anthropic/claude", "closed"}} },
		Budgets: fakeBudgets{{Scope: "team", Name: "search", LimitNanoUSD: 500e9, SpentNanoUSD: 125e9},
			{Scope: "user", Name: "alice@example.com", LimitNanoUSD: 1e9, SpentNanoUSD: 1e9}},
		Reloads: fakeReloads{Succeeded: 4, Failed: 1, LastSuccess: time.Unix(1_800_000_000, 0)},
	})
	got := scrape(t, r)
	want := map[string]float64{
		`airgw_audit_spool_depth_records`:                               12,
		`airgw_audit_spool_bytes`:                                       4096,
		`airgw_audit_spool_oldest_age_seconds`:                          90,
		`airgw_audit_database_failing`:                                  1,
		`airgw_audit_records_dead_lettered_total`:                       2,
		`airgw_audit_requests_refused_total`:                            3,
		`airgw_audit_chain_seq`:                                         77,
		`airgw_breaker_state{target="openai/gpt-4o",state="open"}`:      1,
		`airgw_breaker_state{target="openai/gpt-4o",state="closed"}`:    0,
		`airgw_breaker_state{target="anthropic/claude",state="closed"}`: 1,
		`airgw_budget_utilisation_ratio{scope="team",name="search"}`:    0.25,
		`airgw_budget_spent_usd{scope="team",name="search"}`:            125,
		`airgw_config_reloads_total{result="failure"}`:                  1,
		`airgw_config_last_reload_success_timestamp_seconds`:            1.8e9,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if strings.Contains(k, "alice") {
			t.Errorf("per-user budget exported: %s", k)
		}
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestLabelEscaping(t *testing.T) {
	r := New(Options{Breakers: func() []Breaker { return []Breaker{{"a\"b\\c\nd", "open"}} }})
	got := scrape(t, r)
	if got[`airgw_breaker_state{target="a\"b\\c\nd",state="open"}`] != 1 {
		t.Errorf("escaped label not found in %v", got)
	}
}

func TestConcurrentObserveAndScrape(t *testing.T) {
	r := New(Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				r.Observe(ptr(record(fmt.Sprintf("m%d", i%7), "p", fmt.Sprint(g), 200, "")))
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			r.Write(&bytes.Buffer{})
		}
	})
	wg.Wait()
	var total float64
	for k, v := range scrape(t, r) {
		if strings.HasPrefix(k, "airgw_requests_total") {
			total += v
		}
	}
	if total != 2000 {
		t.Errorf("requests counted = %v, want 2000", total)
	}
}

func ptr[T any](v T) *T { return &v }

// BenchmarkObserve is the per-request cost of metrics (DESIGN.md §8 leaves
// a few hundred nanoseconds for them).
func BenchmarkObserve(b *testing.B) {
	r := New(Options{})
	rec := record("gpt-4o", "openai", "search", 200, "")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(&rec)
		}
	})
}

// TestDashboardUsesRealMetrics keeps deploy/grafana/airgw.json in step
// with the metrics: every airgw_ name it queries is one that /metrics
// serves.
func TestDashboardUsesRealMetrics(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/airgw.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	r := New(Options{Spool: func() audit.SpoolStats { return audit.SpoolStats{} }, Breakers: func() []Breaker { return nil },
		Budgets: fakeBudgets{}, Reloads: fakeReloads{}})
	r.Observe(ptr(record("m", "p", "t", 200, "")))
	var text bytes.Buffer
	r.Write(&text)
	name := regexp.MustCompile(`airgw_[a-z_]+`)
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				n++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !strings.Contains(text.String(), "# TYPE "+base+" ") {
					t.Errorf("panel %q queries %s, which /metrics does not serve", p.Title, m)
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("the dashboard queries %d metrics; the check proves little", n)
	}
}
