package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/users"
)

// governance is the state of rate limits, budgets and end users. It
// outlives runtimes: a config reload swaps the gateway's Runtime (the
// limits and budgets it defines) but keeps these counters, which are keyed
// by stable account names, so a reload never resets them.
type governance struct {
	counters *ratelimit.Memory
	limiter  *ratelimit.Limiter
	budgets  *budget.Tracker
	users    *users.Registry
	notifier *webhookNotifier // nil without alerts.webhook
}

// openGovernance builds the governance state and rebuilds spend from the
// audit trail. The ledger must be complete: every audit record of past
// requests in the database (a durable audit spool is drained first).
func (a *App) openGovernance(ctx context.Context, cfg *config.Config) (*governance, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", cfg.Timezone, err)
	}
	g := &governance{counters: ratelimit.NewMemory()}
	g.limiter = ratelimit.New(g.counters)
	var n budget.Notifier
	if w := cfg.Alerts.Webhook; w != nil {
		g.notifier = newWebhookNotifier(w, a.Log)
		n = g.notifier
	}
	g.budgets = budget.NewTracker(budget.Options{Location: loc, Notifier: n, Logger: a.Log, Journal: a.db})
	ks, err := a.db.ListKeys(ctx, keys.ListFilter{IncludeRevoked: true})
	if err != nil {
		return nil, fmt.Errorf("listing keys for the spend rebuild: %w", err)
	}
	family := make(map[string]string, len(ks))
	known := configBudgets(cfg)
	for i := range ks {
		k := &ks[i]
		family[k.ID] = k.FamilyID()
		if k.Budget != nil && k.RevokedAt.IsZero() {
			known = append(known, budget.Budget{Account: "key:" + k.FamilyID(), Owner: "key `" + k.Name + "`", Path: "keys." + k.Name + ".budget", Spec: *k.Budget})
		}
	}
	accounts := func(s budget.Spend) []string {
		fam, ok := family[s.KeyID]
		if !ok {
			fam = s.KeyID
		}
		return gateway.Accounts(s.Team, fam, s.EndUser)
	}
	start := time.Now()
	if err := g.budgets.Load(ctx, a.db, start, accounts, known); err != nil {
		return nil, err
	}
	a.Log.Info("spend rebuilt from the audit trail", "took", time.Since(start).Round(time.Millisecond).String(), "budgets", len(known))
	g.users = users.New(a.db, users.Options{Logger: a.Log})
	if err := g.users.Load(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// run saves new end users every second, forgets idle rate-limit counters
// every minute, journals and delivers alerts, until ctx is done; it returns once
// every goroutine has stopped (new users saved, alerts delivered or given
// up).
func (g *governance) run(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { g.users.Run(ctx, time.Second) })
	wg.Go(func() { g.budgets.Run(ctx) })
	wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				g.counters.Sweep(now)
			}
		}
	})
	if g.notifier != nil {
		wg.Go(func() { g.notifier.run(ctx) })
	}
	return wg.Wait
}

// options returns the gateway options that carry the governance state.
func (g *governance) options(o gateway.Options) gateway.Options {
	o.Limiter, o.Budgets, o.Users = g.limiter, g.budgets, g.users
	return o
}

// BudgetSnapshot returns every known budget's limit, spend and reservations
// in its current period, for a metrics collector; nil when not serving.
func (a *App) BudgetSnapshot() []budget.Status {
	a.reloadMu.Lock()
	r := a.live
	a.reloadMu.Unlock()
	if r == nil || r.spend == nil {
		return nil
	}
	return r.spend.Snapshot(time.Now())
}
