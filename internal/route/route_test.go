package route

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func targets(weights ...int) []Target {
	out := make([]Target, len(weights))
	for i, w := range weights {
		out[i] = Target{Provider: string(rune('a' + i)), Model: "m", Weight: w}
	}
	return out
}

// draws is fixed so that the proportions test is deterministic in cost and
// its bound (5 standard deviations of a binomial) fails by chance less than
// once in a million runs per target.
const draws = 60_000

func TestPickProportions(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"eighty_twenty", []int{80, 20}},
		{"equal_three", []int{1, 1, 1}},
		{"with_zero", []int{3, 0, 1}},
		{"with_negative", []int{-5, 2, 2}},
		{"skewed", []int{1, 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRoute("alias", targets(tt.weights...))
			counts := make(map[string]int)
			for range draws {
				p := r.Pick()
				if p == nil {
					t.Fatalf("Pick(%v) = nil, want a target", tt.weights)
				}
				counts[p.Provider]++
			}
			total := 0
			for _, w := range tt.weights {
				total += max(w, 0)
			}
			for i, w := range tt.weights {
				name := string(rune('a' + i))
				got := counts[name]
				if w <= 0 {
					if got != 0 {
						t.Errorf("Pick(%v) chose target %d (weight %d) %d times, want 0", tt.weights, i, w, got)
					}
					continue
				}
				p := float64(w) / float64(total)
				mean := draws * p
				sd := math.Sqrt(draws * p * (1 - p))
				if math.Abs(float64(got)-mean) > 5*sd {
					t.Errorf("Pick(%v) chose target %d %d times in %d, want %.0f ± %.0f", tt.weights, i, got, draws, mean, 5*sd)
				}
			}
		})
	}
}

func TestPickReturnsTargetInRoute(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    int // index of the only possible pick; -1 for nil
	}{
		{"single", []int{5}, 0},
		{"single_weight_one", []int{1}, 0},
		{"single_zero", []int{0}, -1},
		{"all_zero", []int{0, 0, 0}, -1},
		{"all_negative", []int{-1, -2}, -1},
		{"empty", nil, -1},
		{"only_last", []int{0, 0, 4}, 2},
		{"only_first", []int{7, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRoute("alias", targets(tt.weights...))
			for range 100 {
				got := r.Pick()
				if tt.want < 0 {
					if got != nil {
						t.Fatalf("Pick(%v) = %+v, want nil", tt.weights, got)
					}
					continue
				}
				// The pointer is into the route's own targets, so that the
				// caller sees the target's price and client.
				if got != &r.Targets[tt.want] {
					t.Fatalf("Pick(%v) = %+v, want &Targets[%d]", tt.weights, got, tt.want)
				}
			}
		})
	}
}

func TestNewRouteKeepsZeroWeightTargets(t *testing.T) {
	r := NewRoute("alias", targets(1, 0))
	if got := len(r.Targets); got != 2 {
		t.Errorf("len(NewRoute(1, 0).Targets) = %d, want 2", got)
	}
	if r.Name != "alias" {
		t.Errorf("NewRoute(alias).Name = %q, want alias", r.Name)
	}
}

func TestTable(t *testing.T) {
	a := NewRoute("gpt-4o", targets(1))
	b := NewRoute("claude", targets(1))
	c := NewRoute("demo-fast", targets(1))
	tbl := NewTable(a, b, c)

	if diff := cmp.Diff([]string{"claude", "demo-fast", "gpt-4o"}, tbl.Names()); diff != "" {
		t.Errorf("Names() mismatch (-want +got):\n%s", diff)
	}
	for _, want := range []*Route{a, b, c} {
		got, ok := tbl.Lookup(want.Name)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %p, %v, want %p, true", want.Name, got, ok, want)
		}
	}
	for _, alias := range []string{"", "GPT-4O", "gpt-4", "nope"} {
		if got, ok := tbl.Lookup(alias); ok || got != nil {
			t.Errorf("Lookup(%q) = %v, %v, want nil, false", alias, got, ok)
		}
	}
}

func TestEmptyTable(t *testing.T) {
	tbl := NewTable()
	if got := tbl.Names(); len(got) != 0 {
		t.Errorf("NewTable().Names() = %v, want empty", got)
	}
	if got, ok := tbl.Lookup("x"); ok || got != nil {
		t.Errorf("NewTable().Lookup(x) = %v, %v, want nil, false", got, ok)
	}
}

func BenchmarkPick(b *testing.B) {
	for _, bc := range []struct {
		name    string
		weights []int
	}{
		{"single", []int{1}},
		{"two", []int{80, 20}},
		{"eight", []int{1, 2, 3, 4, 5, 6, 7, 8}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := NewRoute("alias", targets(bc.weights...))
			for b.Loop() {
				if r.Pick() == nil {
					b.Fatal("Pick() = nil")
				}
			}
		})
	}
}

func TestLatencyRetain(t *testing.T) {
	l := NewLatency()
	l.Observe("a/m", 10)
	l.Observe("b/m", 20)
	l.Retain(func(target string) bool { return target == "b/m" })
	if _, ok := l.Get("a/m"); ok {
		t.Error("Get(a/m) after Retain dropped it = found, want forgotten")
	}
	if d, ok := l.Get("b/m"); !ok || d != 20 {
		t.Errorf("Get(b/m) = %v %v, want 20 kept", d, ok)
	}
	var nilL *Latency
	nilL.Retain(func(string) bool { return false }) // no panic
}
