// Package route resolves a model alias to the upstream targets that can serve
// it and picks one. A Table is immutable once built and safe for concurrent
// use; a config reload builds a new one.
package route

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
)

// Target is one upstream that can serve a model alias: a configured provider,
// the model name it knows, and that model's price.
type Target struct {
	Provider     string // provider name in the config
	ProviderType string // openai, openai_compatible, demo, …
	Client       llm.Provider
	Model        string // upstream model name
	Weight       int    // relative share of traffic; 0 receives none

	// Price is nil when neither the catalog nor the config prices Model:
	// such a target is refused (model_unpriced), never served for free.
	Price *pricing.Price
	// PriceHint says where the operator can set a price, for the error
	// message (e.g. "models.gpt-4o.price in airgw.yaml:31").
	PriceHint string

	// FirstTokenTimeout and IdleTimeout, when positive, override the
	// route's for this target (set per provider in the config).
	FirstTokenTimeout, IdleTimeout time.Duration

	key string // Provider/Model, computed once by NewRoute
}

// Route is a model alias and its targets.
type Route struct {
	Name     string
	Targets  []Target
	Strategy Strategy // empty means Weighted
	// Fallbacks are aliases whose targets are tried, in order, when every
	// target of this route failed with a retryable error. They are not
	// followed transitively.
	Fallbacks []string
	// ContextFallback is the alias tried when a target refuses the prompt
	// as too long; empty means none.
	ContextFallback string
	// Timeout, FirstTokenTimeout and IdleTimeout override the runtime's
	// defaults when positive.
	Timeout, FirstTokenTimeout, IdleTimeout time.Duration

	total int // sum of weights
}

// NewRoute returns a route; targets with weight 0 are kept (they may serve
// later as fallbacks) but never picked by weight.
func NewRoute(name string, targets []Target) *Route {
	r := &Route{Name: name, Targets: targets}
	for i := range targets {
		t := &targets[i]
		t.key = t.Provider + "/" + t.Model
		r.total += max(t.Weight, 0)
	}
	return r
}

// Pick chooses a target at random in proportion to the weights. It returns
// nil when no target has weight.
func (r *Route) Pick() *Target {
	if r.total <= 0 {
		return nil
	}
	if len(r.Targets) == 1 {
		return &r.Targets[0]
	}
	n := rand.IntN(r.total)
	for i := range r.Targets {
		w := max(r.Targets[i].Weight, 0)
		if n < w {
			return &r.Targets[i]
		}
		n -= w
	}
	return &r.Targets[len(r.Targets)-1]
}

// Table maps model aliases to routes.
type Table struct {
	routes map[string]*Route
	names  []string // sorted
}

// NewTable returns a table of routes keyed by name.
func NewTable(routes ...*Route) *Table {
	t := &Table{routes: make(map[string]*Route, len(routes))}
	for _, r := range routes {
		t.routes[r.Name] = r
		t.names = append(t.names, r.Name)
	}
	slices.Sort(t.names)
	return t
}

// Lookup returns the route for alias.
func (t *Table) Lookup(alias string) (*Route, bool) {
	r, ok := t.routes[alias]
	return r, ok
}

// Names returns the aliases in sorted order. The slice must not be modified.
func (t *Table) Names() []string { return t.names }
