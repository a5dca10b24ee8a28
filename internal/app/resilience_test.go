package app

// End-to-end tests of airgw's resilience rules (DESIGN.md §3, RELIABILITY.md
// T08 and T19–T23): each injects the fault with internal/faulttest behind
// the real handler on 127.0.0.1:0 and checks the client's answer, the
// X-Airgw-* headers, the audit record's attempts and the upstream's own
// count of calls. Lines logged as "FIGURE" are the measured figures quoted
// in docs/reliability.md.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/faulttest"
)

// TestResilienceFailureClasses checks each upstream row of the DESIGN §3
// table: the status and code the client gets, Retry-After and
// x-should-retry, whether airgw retried the same target (X-Airgw-Attempts
// with retries: 1 and a single target), whether it failed over to a second
// target, the X-Airgw-Provider and X-Airgw-Model headers, and the attempts
// in the audit record.
func TestResilienceFailureClasses(t *testing.T) {
	untrusted := faulttest.NewUntrustedTLSServer(t)
	resetter := faulttest.NewResetListener(t)
	r := startRig(t, `  refused: {type: openai, base_url: "`+closedURL(t)+`", api_key: sk-refused-000000, allow_private_network: true}
  untrusted: {type: openai, base_url: "`+untrusted.URL()+`", api_key: "@FAULT_KEY@", allow_private_network: true}
  tlsreset: {type: openai, base_url: "`+resetter.HTTPSURL()+`", api_key: "@FAULT_KEY@", allow_private_network: true}
  slowprov: {type: openai, base_url: "@FAULT_URL@", api_key: "@FAULT_KEY@", allow_private_network: true, timeout: 300ms}
routing: {retries: 1, timeout: 10s, backoff: {base: 1ms, max: 5ms}, breaker: {consecutive_failures: 1000}}
models:
`+classModels())
	ids := make([][2]string, len(classRows)) // request ids: alone, with failover
	t.Run("rows", func(t *testing.T) {
		for i, tt := range classRows {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				alone := r.do(context.Background(), req{model: tt.name})
				ids[i][0] = alone.id()
				if alone.status != tt.status || alone.code() != tt.code {
					t.Errorf("%s alone = %d %s, want %d %s", tt.name, alone.status, alone.body, tt.status, tt.code)
				}
				if got := alone.attempts(); got != tt.attempts {
					t.Errorf("%s alone X-Airgw-Attempts = %d, want %d (retried: %v)", tt.name, got, tt.attempts, tt.attempts > 1)
				}
				if p, m := alone.header.Get("X-Airgw-Provider"), alone.header.Get("X-Airgw-Model"); p != tt.provider || m != tt.model {
					t.Errorf("%s alone X-Airgw-Provider/Model = %s/%s, want the failed target %s/%s", tt.name, p, m, tt.provider, tt.model)
				}
				if got := alone.header.Get("Retry-After"); got != tt.retryAfter {
					t.Errorf("%s alone Retry-After = %q, want %q", tt.name, got, tt.retryAfter)
				}
				if got := alone.header.Get("X-Should-Retry") == "false"; got != tt.noClientRetry {
					t.Errorf("%s alone X-Should-Retry: false = %v, want %v", tt.name, got, tt.noClientRetry)
				}
				if !strings.HasPrefix(alone.header.Get("Content-Type"), "application/json") {
					t.Errorf("%s alone Content-Type = %q, want a JSON error", tt.name, alone.header.Get("Content-Type"))
				}
				backup := "ok:" + tt.name
				fo := r.do(context.Background(), req{model: tt.name + "-fo"})
				ids[i][1] = fo.id()
				if tt.failover {
					if fo.status != 200 || fo.header.Get("X-Airgw-Provider") != "fault" || fo.header.Get("X-Airgw-Model") != backup || fo.attempts() != 2 {
						t.Errorf("%s-fo = %d by %s/%s attempts %d, want 200 by fault/%s after 2 attempts", tt.name, fo.status,
							fo.header.Get("X-Airgw-Provider"), fo.header.Get("X-Airgw-Model"), fo.attempts(), backup)
					}
				} else {
					if fo.status != tt.status || fo.attempts() != 1 || r.fault.Calls(backup) != 0 {
						t.Errorf("%s-fo = %d attempts %d, %s called %d times, want %d after 1 attempt and no failover", tt.name, fo.status, fo.attempts(), backup, r.fault.Calls(backup), tt.status)
					}
				}
			})
		}
	})
	recs := r.records()
	for i, tt := range classRows {
		failed := tt.model + "=" + tt.code
		var want []string
		for range tt.attempts {
			want = append(want, failed)
		}
		if diff := cmp.Diff(want, attemptModels(recs[ids[i][0]])); diff != "" {
			t.Errorf("%s alone: record attempts (-want +got):\n%s", tt.name, diff)
		}
		want = []string{failed}
		if tt.failover {
			want = append(want, "ok:"+tt.name)
		}
		if diff := cmp.Diff(want, attemptModels(recs[ids[i][1]])); diff != "" {
			t.Errorf("%s-fo: record attempts (-want +got):\n%s", tt.name, diff)
		}
		if rec := recs[ids[i][0]]; rec.Status != tt.status || rec.ErrorClass != tt.code || rec.Provider != tt.provider || rec.ServedModel != tt.model {
			t.Errorf("%s alone: record = %d %s by %s/%s, want %d %s by %s/%s", tt.name, rec.Status, rec.ErrorClass, rec.Provider, rec.ServedModel, tt.status, tt.code, tt.provider, tt.model)
		}
	}
	if n := untrusted.Total(); n != 0 {
		t.Errorf("requests that reached the untrusted TLS server = %d, want 0", n)
	}
	if n := resetter.Conns(); n != 3 {
		t.Errorf("connections to the resetting listener = %d, want 3 (alone: the first attempt and its retry, as nothing was sent; -fo: one, then failover)", n)
	}
}

// classRows are the upstream failures of DESIGN §3, each served alone
// (alias <name>) and with a healthy second target (alias <name>-fo).
var classRows = []struct {
	name, provider, model string
	status                int
	code                  string
	attempts              int // with retries: 1 and one target
	failover              bool
	retryAfter            string
	noClientRetry         bool
}{
	{"rate_limited", "fault", "429:1", 429, "provider_rate_limited", 2, true, "1", false},
	{"unavailable_503", "fault", "status:503", 503, "provider_unavailable", 2, true, "", false},
	{"unavailable_500", "fault", "status:500", 503, "provider_unavailable", 2, true, "", false},
	{"unavailable_529", "fault", "status:529", 503, "provider_unavailable", 2, true, "", false},
	{"unavailable_refused", "refused", "ok:refused", 503, "provider_unavailable", 2, true, "", false},
	// A reset during the TLS handshake: not a byte of the request left.
	{"unavailable_reset_before_send", "tlsreset", "ok:tlsreset", 503, "provider_unavailable", 2, true, "", false},
	// A certificate airgw does not trust: nothing was sent, another target
	// may serve, but only an operator can fix this one.
	{"tls_untrusted", "untrusted", "ok:tls", 503, "provider_unavailable", 1, true, "", true},
	{"unavailable_reset_after_send", "fault", "reset", 503, "provider_unavailable", 1, false, "", false},
	{"timeout_after_send", "slowprov", "hang", 504, "provider_timeout", 1, false, "", false},
	{"auth_failed_401", "fault", "status:401", 502, "provider_auth_failed", 1, true, "", true},
	{"auth_failed_403", "fault", "status:403", 502, "provider_auth_failed", 1, true, "", true},
	{"context_length", "fault", "context", 400, "context_length_exceeded", 1, false, "", true},
	{"content_filtered", "fault", "filter", 400, "content_filtered", 1, false, "", true},
	{"upstream_invalid", "fault", "status:400", 400, "upstream_invalid_request", 1, false, "", true},
	// A 200 whose body is not JSON was processed (and billed) upstream:
	// resending it executes it twice.
	{"malformed_200", "fault", "malformed", 502, "provider_error", 1, false, "", false},
}

func classModels() string {
	var b strings.Builder
	for _, tt := range classRows {
		fmt.Fprintf(&b, "  %s: {targets: [{provider: %s, model: %q}], @P@}\n", tt.name, tt.provider, tt.model)
		fmt.Fprintf(&b, "  %s-fo: {strategy: priority, targets: [{provider: %s, model: %q}, {provider: fault, model: \"ok:%s\"}], @P@}\n", tt.name, tt.provider, tt.model, tt.name)
	}
	return strings.ReplaceAll(b.String(), "@P@", price)
}

// TestResilienceRefusedBeforeUpstream checks the rows of DESIGN §3 that
// airgw answers itself: the right status and code, x-should-retry: false,
// and no upstream call.
func TestResilienceRefusedBeforeUpstream(t *testing.T) {
	r := startRig(t, `  compat: {type: openai_compatible, base_url: "@FAULT_URL@", api_key: "@FAULT_KEY@", allow_private_network: true}
routing: {retries: 2}
models:
  ok: {targets: [{provider: fault, model: ok}], @P@}
  narrow-only: {targets: [{provider: fault, model: ok}], @P@}
  unpriced: {targets: [{provider: compat, model: "ok:unpriced"}]}
`)
	big := `{"model":"ok","messages":[{"role":"user","content":"` + strings.Repeat("x", 70<<10) + `"}]}`
	tests := []struct {
		name   string
		q      req
		status int
		code   string
	}{
		{"invalid_request", req{body: `{"model":"ok","messages":"hi"}`}, 400, "invalid_request"},
		{"payload_too_large", req{body: big}, 413, "payload_too_large"},
		{"authentication_failed", req{model: "ok", key: "sk-airgw-notarealkeynotarealkeynotarealk000000"}, 401, "authentication_failed"},
		{"model_not_allowed", req{model: "ok", key: "narrow"}, 403, "model_not_allowed"},
		{"model_unpriced", req{model: "unpriced"}, 403, "model_unpriced"},
		// DESIGN §3 lists an unknown model under invalid_request (400);
		// airgw answers 404 model_not_found, as OpenAI itself does.
		{"unknown_model", req{model: "gpt-7"}, 404, "model_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.q.key == "narrow" {
				tt.q.key = r.keys["narrow"]
			}
			res := r.do(context.Background(), tt.q)
			if res.status != tt.status || res.code() != tt.code {
				t.Errorf("%s = %d %s, want %d %s", tt.name, res.status, res.body, tt.status, tt.code)
			}
			if res.header.Get("X-Should-Retry") != "false" {
				t.Errorf("%s X-Should-Retry = %q, want false", tt.name, res.header.Get("X-Should-Retry"))
			}
		})
	}
	if n := r.fault.Total(); n != 0 {
		t.Errorf("upstream calls = %d, want 0", n)
	}
}

// TestResilienceT08NoReplay: a connection reset after the request body was
// sent may follow an execution upstream, so without an Idempotency-Key the
// request is never sent again: not retried, not failed over.
func TestResilienceT08NoReplay(t *testing.T) {
	r := startRig(t, `routing: {retries: 2, timeout: 10s, backoff: {base: 1ms, max: 5ms}, breaker: {consecutive_failures: 1000}}
models:
  once: {strategy: priority, targets: [{provider: fault, model: reset}, {provider: fault, model: "ok:never"}], @P@}
  idem: {targets: [{provider: fault, model: "reset-first:1"}], @P@}
`)
	const n = 40
	res := r.many(n, 8, func(i int) req { return req{model: "once", stream: i%2 == 1} })
	for i, res := range res {
		if res.err != nil || res.status < 500 || res.code() != "provider_unavailable" || res.attempts() != 1 {
			t.Errorf("request %d = %d %s (err %v) attempts %d, want a 503 provider_unavailable JSON error after 1 attempt", i, res.status, res.body, res.err, res.attempts())
		}
	}
	if got, want := r.fault.Calls("reset"), n; got != want {
		t.Errorf("upstream executions of %d requests = %d, want %d (0 duplicates)", n, got, want)
	}
	if got := r.fault.Calls("ok:never"); got != 0 {
		t.Errorf("failovers after a reset = %d, want 0", got)
	}
	t.Logf("FIGURE T08: %d requests reset after the body was sent: %d upstream executions, %d duplicates, %d failovers", n, r.fault.Calls("reset"), r.fault.Calls("reset")-n, r.fault.Calls("ok:never"))

	t.Run("with_idempotency_key", func(t *testing.T) {
		res := r.do(context.Background(), req{model: "idem", header: map[string]string{"Idempotency-Key": "t08-resend-allowed"}})
		if res.status == 200 && r.fault.Calls("reset-first:1") == 2 {
			return
		}
		t.Errorf("with Idempotency-Key = %d %s after %d calls, want 200 after 2", res.status, res.body, r.fault.Calls("reset-first:1"))
	})
}

// TestResilienceT19FlakyPrimary: 30% of the primary's calls fail fast with
// 503 and a fallback model is configured: clients see (almost) no errors,
// and retries stay within 20% of the requests.
func TestResilienceT19FlakyPrimary(t *testing.T) {
	r := startRig(t, `routing: {retries: 2, timeout: 10s, backoff: {base: 1ms, max: 5ms}}
models:
  primary: {targets: [{provider: fault, model: "flaky:30"}], fallbacks: [backup], @P@}
  backup: {targets: [{provider: fault, model: "ok:backup"}], @P@}
`)
	const n, conc = 600, 16
	res := r.many(n, conc, func(i int) req { return req{model: "primary", stream: i%3 == 0} })
	failed := 0
	for _, res := range res {
		if res.err != nil || res.status != 200 {
			failed++
		}
	}
	recs := r.records()
	var retries, failovers, attempts int
	for _, res := range res {
		rec := recs[res.id()]
		rr, fo := retriesIn(rec)
		retries, failovers, attempts = retries+rr, failovers+fo, attempts+len(rec.Attempts)
	}
	if failed > 1 {
		t.Errorf("client-visible errors = %d of %d, want ≤ 1 (0.1%%)", failed, n)
	}
	if retries > n/5 {
		t.Errorf("retries = %d of %d requests, want ≤ 20%%", retries, n)
	}
	if got := r.fault.Calls("flaky:30") + r.fault.Calls("ok:backup"); got != attempts {
		t.Errorf("upstream calls = %d, audit attempts = %d, want equal", got, attempts)
	}
	t.Logf("FIGURE T19: %d requests (concurrency %d, 1/3 streamed), primary 30%% 503: client errors %d (%.2f%%), retries %d (%.1f%%), failovers %d (%.1f%%), upstream calls per request %.3f",
		n, conc, failed, 100*float64(failed)/n, retries, 100*float64(retries)/n, failovers, 100*float64(failovers)/n, float64(attempts)/n)
}

// TestResilienceT20Breaker: the breaker opens after 5 consecutive failures,
// the dead target gets no traffic while open, a probe goes through after
// the cooldown and its success closes the breaker.
func TestResilienceT20Breaker(t *testing.T) {
	r := startRig(t, `routing: {retries: 0, timeout: 10s, breaker: {consecutive_failures: 5, cooldown: 1s}}
models:
  t20: {strategy: priority, targets: [{provider: fault, model: "fail:5"}, {provider: fault, model: "ok:t20"}], @P@}
`)
	served := func(i int, wantModel string, wantAttempts int) {
		t.Helper()
		res := r.do(context.Background(), req{model: "t20"})
		if res.status != 200 || res.header.Get("X-Airgw-Model") != wantModel || res.attempts() != wantAttempts || res.header.Get("X-Airgw-Provider") != "fault" {
			t.Errorf("request %d = %d by %s/%s after %d attempts, want 200 by fault/%s after %d", i, res.status,
				res.header.Get("X-Airgw-Provider"), res.header.Get("X-Airgw-Model"), res.attempts(), wantModel, wantAttempts)
		}
	}
	for i := range 5 {
		served(i, "ok:t20", 2) // fail:5 answers 503, failover
	}
	opened := time.Now()
	if n := r.fault.Calls("fail:5"); n != 5 {
		t.Fatalf("calls to the failing target = %d, want 5", n)
	}
	if status, deg := r.readyz(); status != "degraded" || deg["fault/fail:5"] != "open" {
		t.Errorf("/readyz = %s %v, want degraded with fault/fail:5 open", status, deg)
	}
	for i := range 10 {
		served(5+i, "ok:t20", 1) // skipped while open
	}
	if n := r.fault.Calls("fail:5"); n != 5 {
		t.Errorf("calls to the open target = %d, want 5 (0 while open)", n-5)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, deg := r.readyz(); deg["fault/fail:5"] == "half_open" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("breaker not half-open 10s after opening with a 1s cooldown")
		}
		time.Sleep(20 * time.Millisecond)
	}
	served(15, "fail:5", 1) // the probe, which now succeeds
	recovered := time.Since(opened)
	if status, deg := r.readyz(); status != "ready" || len(deg) != 0 {
		t.Errorf("/readyz after the probe = %s %v, want ready with no degraded targets", status, deg)
	}
	served(16, "fail:5", 1)
	t.Logf("FIGURE T20: opened after 5 consecutive failures, 0 calls while open (10 requests), recovered %v after opening (cooldown 1s)", recovered.Round(time.Millisecond))
}

// TestResilienceT21AllDown: when every target is down, breakers open and
// requests stop reaching the providers; the 503s carry Retry-After and
// x-should-retry: false.
func TestResilienceT21AllDown(t *testing.T) {
	r := startRig(t, `routing: {retries: 2, timeout: 10s, backoff: {base: 1ms, max: 5ms}, breaker: {consecutive_failures: 5, cooldown: 30s}}
models:
  down: {targets: [{provider: fault, model: "status:503"}, {provider: fault, model: "status:502"}], fallbacks: [down2], @P@}
  down2: {targets: [{provider: fault, model: "status:500"}], @P@}
`)
	const n = 60
	openAt, withRetryAfter, with503 := -1, 0, 0
	var afterOpenCalls int
	for i := range n {
		before := r.fault.Total()
		res := r.do(context.Background(), req{model: "down", stream: i%2 == 1})
		if res.status != 503 || res.code() != "provider_unavailable" {
			t.Errorf("request %d = %d %s, want 503 provider_unavailable", i, res.status, res.body)
		}
		with503++
		if res.header.Get("Retry-After") != "" {
			withRetryAfter++
		}
		if openAt < 0 && r.fault.Total() == before {
			openAt = i
		}
		if openAt >= 0 {
			afterOpenCalls += r.fault.Total() - before
			if ra := res.header.Get("Retry-After"); ra == "" || ra == "0" || res.header.Get("X-Should-Retry") != "false" {
				t.Errorf("request %d with every breaker open: Retry-After %q, X-Should-Retry %q, want a wait and false", i, ra, res.header.Get("X-Should-Retry"))
			}
		}
	}
	if openAt < 0 {
		t.Fatalf("the breakers never opened in %d requests (%d upstream calls)", n, r.fault.Total())
	}
	after := float64(afterOpenCalls) / float64(n-openAt)
	if after > 1.2 {
		t.Errorf("attempts per request once breakers are open = %.2f, want ≤ 1.2", after)
	}
	t.Logf("FIGURE T21: 3 targets down, retries 2: breakers open after request %d; upstream calls per request %.2f over %d requests, %.2f once open; %d of %d 503s carry Retry-After",
		openAt, float64(r.fault.Total())/n, n, after, withRetryAfter, with503)
}

// TestResilienceT22MidStreamCut: a stream cut after its first bytes ends
// with an explicit error event, never [DONE], and is never retried or
// failed over.
func TestResilienceT22MidStreamCut(t *testing.T) {
	// A breaker that never opens keeps every request on the cutting target.
	r := startRig(t, `routing: {retries: 2, timeout: 10s, backoff: {base: 1ms, max: 5ms}, breaker: {consecutive_failures: 1000}}
models:
  cut: {strategy: priority, targets: [{provider: fault, model: "cut:3"}, {provider: fault, model: "ok:cut-backup"}], @P@}
`)
	const n = 60
	res := r.many(n, 8, func(int) req { return req{model: "cut", stream: true} })
	cleanEnds := 0
	for i, res := range res {
		code, ok := endsWithError(res.events)
		if !ok || code != "stream_interrupted" || res.status != 200 || len(res.events) < 2 {
			cleanEnds++
			t.Errorf("stream %d = %d events %q, want data chunks then a stream_interrupted error event and no [DONE]", i, res.status, res.events)
		}
	}
	if got := r.fault.Calls("cut:3"); got != n {
		t.Errorf("upstream calls = %d for %d streams, want %d (0 retries after the first byte)", got, n, n)
	}
	if got := r.fault.Calls("ok:cut-backup"); got != 0 {
		t.Errorf("failovers after the first byte = %d, want 0", got)
	}
	recs := r.records()
	for i, res := range res {
		rec := recs[res.id()]
		if rec.Status != 502 || rec.ErrorClass != "stream_interrupted" || len(rec.Attempts) != 1 || !rec.UsageEstimated {
			t.Errorf("stream %d record = status %d class %q attempts %v estimated %v, want 502 stream_interrupted after 1 attempt, usage estimated", i, rec.Status, rec.ErrorClass, attemptModels(rec), rec.UsageEstimated)
		}
	}
	t.Logf("FIGURE T22: %d streams cut after 3 chunks: %d ended with an error event (%d clean ends), %d upstream calls (0 retries, 0 failovers)", n, n-cleanEnds, cleanEnds, r.fault.Calls("cut:3"))
}

// TestResilienceT23ErrorsBeforeStream: an upstream failure before the first
// chunk gives a streaming client the right status class and a JSON error,
// never a 200 with an empty body.
func TestResilienceT23ErrorsBeforeStream(t *testing.T) {
	r := startRig(t, `routing: {retries: 0, timeout: 10s, breaker: {consecutive_failures: 1000}}
models:
  s500: {targets: [{provider: fault, model: "status:500"}], @P@}
  s429: {targets: [{provider: fault, model: "429:1"}], @P@}
  reset: {targets: [{provider: fault, model: reset}], @P@}
  malformed: {targets: [{provider: fault, model: malformed}], @P@}
  hang: {first_token_timeout: 200ms, targets: [{provider: fault, model: hang}], @P@}
`)
	tests := []struct {
		model  string
		status int
		code   string
	}{
		{"s500", 503, "provider_unavailable"},
		{"s429", 429, "provider_rate_limited"},
		{"reset", 503, "provider_unavailable"},
		{"malformed", 502, "stream_interrupted"},
		{"hang", 504, "provider_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			t.Parallel()
			res := r.do(context.Background(), req{model: tt.model, stream: true})
			if res.status != tt.status || res.code() != tt.code || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
				t.Errorf("stream %s = %d %q %s, want %d JSON %s", tt.model, res.status, res.header.Get("Content-Type"), res.body, tt.status, tt.code)
			}
			var env struct {
				Error struct {
					RequestID string `json:"request_id"`
				}
			}
			if json.Unmarshal(res.body, &env) != nil || env.Error.RequestID != res.id() {
				t.Errorf("stream %s error body = %s, want request_id %s", tt.model, res.body, res.id())
			}
			if res.attempts() != 1 {
				t.Errorf("stream %s X-Airgw-Attempts = %d, want 1", tt.model, res.attempts())
			}
		})
	}
}
