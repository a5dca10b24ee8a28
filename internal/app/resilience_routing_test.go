package app

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestResilienceContextFallback: a context_length_exceeded refusal goes to
// the configured context_fallback, and only there: ordinary fallbacks do
// not apply to it.
func TestResilienceContextFallback(t *testing.T) {
	r := startRig(t, `routing: {retries: 2, timeout: 10s}
models:
  small: {targets: [{provider: fault, model: context}], context_fallback: big, @P@}
  small-plain: {targets: [{provider: fault, model: "context"}], fallbacks: [big], @P@}
  big: {targets: [{provider: fault, model: "ok:big"}], @P@}
`)
	res := r.do(context.Background(), req{model: "small"})
	if res.status != 200 || res.header.Get("X-Airgw-Model") != "ok:big" || res.attempts() != 2 {
		t.Errorf("small = %d by %s after %d attempts, want 200 by ok:big after 2", res.status, res.header.Get("X-Airgw-Model"), res.attempts())
	}
	plain := r.do(context.Background(), req{model: "small-plain"})
	if plain.status != 400 || plain.code() != "context_length_exceeded" || plain.attempts() != 1 {
		t.Errorf("small-plain = %d %s after %d attempts, want 400 context_length_exceeded after 1 (fallbacks are not for this)", plain.status, plain.body, plain.attempts())
	}
	if n := r.fault.Calls("ok:big"); n != 1 {
		t.Errorf("calls to big = %d, want 1", n)
	}
	recs := r.records()
	if diff := cmp.Diff([]string{"context=context_length_exceeded", "ok:big"}, attemptModels(recs[res.id()])); diff != "" {
		t.Errorf("small record attempts (-want +got):\n%s", diff)
	}
}

// TestResilienceMetadataRule: routing.rules send requests by purpose or tag
// to another alias.
func TestResilienceMetadataRule(t *testing.T) {
	r := startRig(t, `routing:
  rules:
    - {purpose: batch, use: cheap}
    - {tag: eu, model: main, use: eu}
models:
  main: {targets: [{provider: fault, model: "ok:main"}], @P@}
  cheap: {targets: [{provider: fault, model: "ok:cheap"}], @P@}
  eu: {targets: [{provider: fault, model: "ok:eu"}], @P@}
`)
	tests := []struct {
		name string
		q    req
		want string
	}{
		{"no_metadata", req{model: "main"}, "ok:main"},
		{"purpose_header", req{model: "main", header: map[string]string{"X-Airgw-Purpose": "batch"}}, "ok:cheap"},
		{"purpose_in_body", req{body: `{"model":"main","messages":[{"role":"user","content":"x"}],"metadata":{"purpose":"batch"},"store":true}`}, "ok:cheap"},
		{"other_purpose", req{model: "main", header: map[string]string{"X-Airgw-Purpose": "chat"}}, "ok:main"},
		{"tag", req{model: "main", header: map[string]string{"X-Airgw-Tags": "us,eu"}}, "ok:eu"},
		{"tag_other_model", req{model: "cheap", header: map[string]string{"X-Airgw-Tags": "eu"}}, "ok:cheap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.do(context.Background(), tt.q)
			if got := res.header.Get("X-Airgw-Model"); res.status != 200 || got != tt.want {
				t.Errorf("%s = %d served by %q, want 200 by %q", tt.name, res.status, got, tt.want)
			}
		})
	}
}

// TestResilienceStrategies checks the target order of each strategy.
func TestResilienceStrategies(t *testing.T) {
	r := startRig(t, `routing: {retries: 0, timeout: 10s}
models:
  prio: {strategy: priority, targets: [{provider: fault, model: "ok:p1"}, {provider: fault, model: "ok:p2"}], @P@}
  prio-down: {strategy: priority, targets: [{provider: fault, model: "status:503"}, {provider: fault, model: "ok:p3"}, {provider: fault, model: "ok:p4"}], @P@}
  cost: {strategy: lowest_cost, targets: [{provider: fault, model: gpt-4o}, {provider: fault, model: gpt-4o-mini}]}
  weighted: {targets: [{provider: fault, model: "ok:w80", weight: 80}, {provider: fault, model: "ok:w20", weight: 20}], @P@}
`+"  # weighted is the default strategy\n")
	count := func(model string, n int) map[string]int {
		got := map[string]int{}
		for _, res := range r.many(n, 8, func(int) req { return req{model: model} }) {
			got[fmt.Sprintf("%d %s", res.status, res.header.Get("X-Airgw-Model"))]++
		}
		return got
	}
	for _, tt := range []struct {
		model string
		n     int
		want  map[string]int
	}{
		{"prio", 20, map[string]int{"200 ok:p1": 20}},
		{"prio-down", 20, map[string]int{"200 ok:p3": 20}},
		{"cost", 20, map[string]int{"200 gpt-4o-mini": 20}},
	} {
		if diff := cmp.Diff(tt.want, count(tt.model, tt.n)); diff != "" {
			t.Errorf("%s: served by (-want +got):\n%s", tt.model, diff)
		}
	}
	const n = 400
	got := count("weighted", n)
	// 80/20 over 400: mean 320, sigma 8; allow 5 sigma.
	if w := got["200 ok:w80"]; w < 280 || w > 360 || got["200 ok:w80"]+got["200 ok:w20"] != n {
		t.Errorf("weighted 80/20 over %d = %v, want ok:w80 in [280, 360]", n, got)
	}
	t.Logf("FIGURE strategies: weighted 80/20 over %d requests gave %d/%d", n, got["200 ok:w80"], got["200 ok:w20"])
}
