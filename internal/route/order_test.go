package route

import (
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/pricing"
	"github.com/google/go-cmp/cmp"
)

func order(r *Route, lat *Latency) string {
	var names []string
	for _, t := range r.Order(lat) {
		names = append(names, t.Provider)
	}
	return strings.Join(names, ",")
}

func TestOrderDeterministicStrategies(t *testing.T) {
	price := func(in, out int64) *pricing.Price { return &pricing.Price{Input: in, Output: out} }
	lat := NewLatency()
	lat.Observe("a/m", 300*time.Millisecond)
	lat.Observe("b/m", 100*time.Millisecond)
	lat.Observe("d/m", 200*time.Millisecond)
	tests := []struct {
		name     string
		strategy Strategy
		weights  []int
		prices   []*pricing.Price
		lat      *Latency
		want     string
	}{
		{"priority_file_order", Priority, []int{1, 5, 1}, nil, nil, "a,b,c"},
		{"priority_skips_weight_0", Priority, []int{1, 0, 1}, nil, nil, "a,c"},
		{"lowest_cost", LowestCost, []int{1, 1, 1}, []*pricing.Price{price(5, 10), price(1, 2), price(3, 3)}, nil, "b,c,a"},
		{"lowest_cost_tie_by_weight", LowestCost, []int{1, 3, 2}, []*pricing.Price{price(1, 1), price(1, 1), price(1, 1)}, nil, "b,c,a"},
		{"lowest_cost_unpriced_last", LowestCost, []int{1, 1}, []*pricing.Price{nil, price(9, 9)}, nil, "b,a"},
		// c is not measured yet: it goes first, so that it gets measured.
		{"lowest_latency", LowestLatency, []int{1, 1, 1, 1}, nil, lat, "c,b,d,a"},
		{"lowest_latency_nil_tracker", LowestLatency, []int{1}, nil, nil, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := targets(tt.weights...)
			for i, p := range tt.prices {
				ts[i].Price = p
			}
			r := NewRoute("x", ts)
			r.Strategy = tt.strategy
			for range 20 { // the random tie-breaks must not change the answer
				if got := order(r, tt.lat); got != tt.want {
					t.Fatalf("Order(%s) = %s, want %s", tt.strategy, got, tt.want)
				}
			}
		})
	}
}

// TestOrderWeightedWithoutReplacement: the first target follows the weights,
// and every target appears once, so a failover goes to another one.
func TestOrderWeightedWithoutReplacement(t *testing.T) {
	r := NewRoute("x", targets(80, 20))
	first := map[string]int{}
	const n = 10_000
	for range n {
		got := order(r, nil)
		if got != "a,b" && got != "b,a" {
			t.Fatalf("Order(weighted) = %s, want both targets once", got)
		}
		first[got[:1]]++
	}
	// 80% of 10,000 draws: sigma 40; allow 5 sigma.
	if a := first["a"]; a < 7800 || a > 8200 {
		t.Errorf("first target a in %d of %d draws, want about 8000", a, n)
	}
}

func TestLatencyEWMA(t *testing.T) {
	l := NewLatency()
	if _, ok := l.Get("p/m"); ok {
		t.Fatal("Get of an unmeasured target = ok, want not measured")
	}
	l.Observe("p/m", 100*time.Millisecond)
	l.Observe("p/m", 200*time.Millisecond) // 0.2·200 + 0.8·100
	if d, _ := l.Get("p/m"); d != 120*time.Millisecond {
		t.Errorf("Get after 100ms, 200ms = %v, want 120ms", d)
	}
	var nilTracker *Latency
	nilTracker.Observe("p/m", time.Second) // no panic
	if _, ok := nilTracker.Get("p/m"); ok {
		t.Error("nil tracker Get = ok, want not measured")
	}
}

func TestKey(t *testing.T) {
	r := NewRoute("x", []Target{{Provider: "openai", Model: "gpt-4o"}})
	literal := Target{Provider: "azure", Model: "gpt-4o-prod"}
	if diff := cmp.Diff([]string{"openai/gpt-4o", "azure/gpt-4o-prod"}, []string{r.Targets[0].Key(), literal.Key()}); diff != "" {
		t.Errorf("Key() (-want +got):\n%s", diff)
	}
}

func BenchmarkOrder(b *testing.B) {
	lat := NewLatency()
	for _, s := range []string{"a/m", "b/m", "c/m"} {
		lat.Observe(s, time.Millisecond)
	}
	for _, st := range []Strategy{Weighted, Priority, LowestLatency, LowestCost} {
		b.Run(string(st), func(b *testing.B) {
			r := NewRoute("x", targets(5, 4, 3, 2, 1))
			r.Strategy = st
			b.ReportAllocs()
			for b.Loop() {
				r.Order(lat)
			}
		})
	}
}
