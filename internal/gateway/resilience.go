package gateway

import (
	"github.com/airgw/airgw/internal/breaker"
	"github.com/airgw/airgw/internal/retry"
)

// Breakers returns the per-target circuit breakers the gateway routes
// around. Its Snapshot method is the view for the metrics endpoint and the
// admin API (state, failure run, window counts, time to the next probe,
// opens so far); States is what /readyz shows. The set outlives runtimes:
// a config reload keeps the state of targets that still exist.
func (g *Gateway) Breakers() *breaker.Set { return g.breakers }

// RetryBudget returns the budget that caps retries in flight at a share of
// the requests in flight. Its Snapshot method is the view for the metrics
// endpoint and the admin API (in flight, limit, retries denied so far).
func (g *Gateway) RetryBudget() *retry.Budget { return g.budget }
