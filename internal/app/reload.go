package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/breaker"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/idempotency"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/redact"
	"github.com/airgw/airgw/internal/reload"
	"github.com/airgw/airgw/internal/retry"
	"github.com/airgw/airgw/internal/route"
	"github.com/airgw/airgw/internal/server"
)

// ReloadOptions says where a serving App reloads its config from and what
// triggers a reload. Set them with SetReload before Serve.
type ReloadOptions struct {
	// Path is the config file; empty for a config with no file (the
	// demo). It is shown by the admin API and watched when Watch is set.
	Path string
	// Load loads and validates the config again exactly as at startup:
	// the loader of `airgw check`, with the same command-line overrides.
	// Nil means config.Load(Path).
	Load func() (*config.Config, error)
	// Signals delivers the signals that trigger a reload (SIGHUP); nil
	// means none.
	Signals <-chan os.Signal
	// Watch polls Path, and the file: secrets the config reads, for
	// changes (reload.Watcher), with WatchInterval (default 1s) and
	// WatchDebounce (default 500ms).
	Watch                        bool
	WatchInterval, WatchDebounce time.Duration
}

// SetReload configures reloading; call it before Serve.
func (a *App) SetReload(o ReloadOptions) {
	if o.Load == nil {
		path := o.Path
		o.Load = func() (*config.Config, error) { return config.Load(path) }
	}
	a.reloadOpts = o
}

// running is the part of a serving App that a reload changes, or that
// changes with it. It is guarded by App.reloadMu, except cfg (also in
// App.cfg for readers).
type running struct {
	gw       *gateway.Gateway
	srv      *server.Server
	breakers *breaker.Set
	budget   *retry.Budget
	latency  *route.Latency
	audit    gateway.AuditLog
	cfg      *config.Config // the config in force; startup-only settings as started
	clients  *clients
	tracker  *reload.Tracker
	// spend holds the budgets' spend, which a reload keeps; it learns the
	// new config's budgets for its snapshot.
	spend *budget.Tracker
	// admin is the admin listener (nil when not started), whose
	// credentials a reload swaps; idem's stale bound follows the
	// timeouts.
	admin *adminServer
	idem  *idempotency.Guard
}

// errNotServing is returned by Reload before Serve started or after it ended.
var errNotServing = errors.New("airgw is not serving: a reload applies only to a running gateway")

// Reload loads the config again and puts it in force: it validates it with
// the same loader as `airgw check`, builds a complete new runtime (provider
// clients whose settings did not change are reused), and swaps it in
// atomically. Requests in flight finish on the runtime they started with.
// Breaker and latency state carries over for targets that still exist on
// an unchanged provider. Settings read only at startup (listeners,
// storage, …) keep their running values and are reported in
// Result.RestartRequired. If anything fails, nothing changes: the old
// runtime keeps serving, and the problems are in the Result, the error,
// the log, Status and /readyz. Reloads are serialized; trigger says what
// started this one (reload.TriggerSignal, …) and becomes the actor of its
// audit record.
func (a *App) Reload(ctx context.Context, trigger string) (reload.Result, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	r := a.live
	start := time.Now()
	res := reload.Result{Trigger: trigger, At: start.UTC()}
	if r == nil {
		res.Errors = []string{errNotServing.Error()}
		return res, errNotServing
	}
	res.HashBefore = r.cfg.Hash()
	fail := func(err error) (reload.Result, error) {
		res.Errors = reload.Problems(err)
		res.Millis = time.Since(start).Milliseconds()
		r.tracker.Record(res)
		a.Log.Error("config reload failed; the previous config keeps serving", "trigger", trigger, "sha256", shortHash(res.HashBefore), "problems", len(res.Errors))
		for _, p := range res.Errors {
			a.Log.Error("config reload problem", "problem", p)
		}
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if a.reloadOpts.Load == nil {
		return fail(errors.New("this process has no config file to reload from (SetReload was not called)"))
	}
	next, err := a.reloadOpts.Load()
	if err != nil {
		return fail(err)
	}
	for _, c := range config.Diff(r.cfg, next) {
		if c.Restart {
			res.RestartRequired = append(res.RestartRequired, c)
		} else {
			res.Applied = append(res.Applied, c)
		}
	}
	eff := next.WithStartupSettings(r.cfg)
	rt, warns, cl, err := buildRuntime(eff, pricing.Default(), r.clients)
	if err != nil {
		return fail(err)
	}
	for _, w := range warns {
		res.Warnings = append(res.Warnings, w.String())
	}

	r.gw.Swap(rt)
	r.breakers.Configure(BreakerSettings(eff))
	r.budget.SetLimits(eff.Routing.RetryBudget.Ratio, eff.Routing.RetryBudget.Min)
	r.srv.SetMaxBody(int64(eff.Server.MaxBody))
	r.srv.SetMaxInFlight(eff.Server.MaxInFlight)
	r.srv.SetMaxQueueDelay(time.Duration(eff.Server.MaxQueueDelay))
	r.idem.SetStale(idempotencyStale(eff))
	if a.LogLevel != nil {
		a.LogLevel.Set(parseLevel(eff.Log.Level))
	}
	if rh, ok := a.Log.Handler().(*redact.Handler); ok {
		rh.AddSecrets(ConfigSecrets(eff)) // rotated keys are masked too
	}
	res.Warnings = append(res.Warnings, a.reloadAdmin(r, eff)...)
	keep := keptTargets(rt, cl)
	r.breakers.Retain(keep)
	r.latency.Retain(keep)
	r.cfg, r.clients = eff, cl
	a.cfg.Store(eff)
	a.Settings.Store(adminSettings(eff))
	if r.spend != nil {
		r.spend.Define(configBudgets(eff))
	}

	res.OK, res.HashAfter = true, next.Hash()
	res.Changed = len(res.Applied) > 0 || res.HashAfter != res.HashBefore
	res.Millis = time.Since(start).Milliseconds()
	r.tracker.Record(res)
	a.logReload(res)
	if res.Changed {
		a.auditReload(r.audit, res, start)
	}
	return res, nil
}

// reloadAdmin puts eff's admin credentials in force: the admin server
// swaps them atomically, so an admin request authenticated before keeps
// its principal, and the next one is checked against the new set.
func (a *App) reloadAdmin(r *running, eff *config.Config) []string {
	if r.admin == nil {
		if eff.Admin.HasAdminCredential() {
			return []string{"admin credentials configured, but the admin API was not started (no credential at startup): it starts at the next restart"}
		}
		return nil
	}
	if r.admin.open {
		return nil // demo mode on loopback: no credential to swap
	}
	r.admin.api.SetCredentials(adminCredentials(eff))
	return nil
}

// keptTargets returns the targets whose breaker and latency state carries
// over: those of rt on a provider whose client was reused. A target whose
// provider changed (another URL, a rotated key) starts fresh: what was
// learnt about it described something else.
func keptTargets(rt *gateway.Runtime, cl *clients) func(string) bool {
	keep := map[string]bool{}
	for _, name := range rt.Routes.Names() {
		r, _ := rt.Routes.Lookup(name)
		for i := range r.Targets {
			if t := &r.Targets[i]; cl.reused(t.Provider) {
				keep[t.Key()] = true
			}
		}
	}
	return func(target string) bool { return keep[target] }
}

func (a *App) logReload(res reload.Result) {
	if !res.Changed {
		a.Log.Info("config reloaded: no changes", "trigger", res.Trigger, "sha256", shortHash(res.HashAfter))
	} else {
		a.Log.Info("config reloaded", "trigger", res.Trigger, "sha256_before", shortHash(res.HashBefore), "sha256", shortHash(res.HashAfter), "changes", len(res.Applied), "duration_ms", res.Millis)
	}
	for _, c := range res.Applied {
		a.Log.Info("config change applied", "change", c.String())
	}
	for _, c := range res.RestartRequired {
		a.Log.Warn("config change needs a restart; the running value stays until then", "change", c.String())
	}
	for _, w := range res.Warnings {
		a.Log.Warn(w)
	}
}

// auditReload writes the audit record of a reload that changed something:
// who or what triggered it, the config hash before and after, and what
// changed (values as the effective config shows them: no secret).
func (a *App) auditReload(w gateway.AuditLog, res reload.Result, start time.Time) {
	before, _ := json.Marshal(map[string]any{"sha256": res.HashBefore})
	after, _ := json.Marshal(map[string]any{"sha256": res.HashAfter, "applied": res.Applied, "restart_required": res.RestartRequired})
	var id [12]byte
	_, _ = rand.Read(id[:])
	w.Write(audit.Record{
		Kind:      audit.KindReload,
		RequestID: "reload_" + hex.EncodeToString(id[:]),
		Start:     start.UTC(),
		End:       start.Add(time.Duration(res.Millis) * time.Millisecond).UTC(),
		Status:    http.StatusOK,
		Change: &audit.Change{
			Actor:  res.Trigger,
			Action: "config.reload",
			Target: "config",
			Before: before,
			After:  after,
		},
	})
}

// ReloadStatus returns the reload state of the serving gateway, for a
// metrics collector (last reload successful and its time, config hash) and
// the admin API. Before Serve it reports the config the App was opened
// with, as loaded and never reloaded.
func (a *App) ReloadStatus() reload.Status {
	a.reloadMu.Lock()
	r := a.live
	a.reloadMu.Unlock()
	if r == nil {
		return reload.Status{SHA256: a.Running().Hash(), LastOK: true}
	}
	return r.tracker.Snapshot()
}

// Running returns the config in force: the last one successfully reloaded,
// with the startup-only settings the process started with. It is the
// config the App was opened with until the first reload.
func (a *App) Running() *config.Config {
	if c := a.cfg.Load(); c != nil {
		return c
	}
	return a.Config
}

// ConfigSnapshot is what GET /admin/v1/config shows: the effective config
// in force, secrets redacted, with its hash and the reload status.
func (a *App) ConfigSnapshot() reload.Snapshot {
	st := a.ReloadStatus()
	path := a.reloadOpts.Path
	if abs, err := filepath.Abs(path); path != "" && err == nil {
		path = abs
	}
	return reload.Snapshot{
		SHA256:   st.SHA256,
		Path:     path,
		LoadedAt: st.LoadedAt,
		Config:   a.Running().Effective(),
		Reload:   st,
	}
}

// ReloadHandler is POST /admin/v1/reload for the admin API, which must
// allow it to the admin role only; actor names the caller for the audit
// record, such as "admin-key:<name>" (nil: reload.TriggerAdmin).
func (a *App) ReloadHandler(actor func(*http.Request) string) http.HandlerFunc {
	return reload.Handler(a, actor)
}

// ConfigHandler is GET /admin/v1/config for the admin API.
func (a *App) ConfigHandler() http.HandlerFunc { return reload.ConfigHandler(a.ConfigSnapshot) }

// startReloaders starts the SIGHUP loop and the file watcher, if set up,
// and returns a function that stops them and waits for them to end.
func (a *App) startReloaders(ctx context.Context, loaded *config.Config) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	o := a.reloadOpts
	if o.Signals != nil {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-o.Signals:
					_, _ = a.Reload(ctx, reload.TriggerSignal)
				}
			}
		})
	}
	if o.Watch && o.Path != "" {
		w := &reload.Watcher{
			Paths:    func() []string { return append([]string{o.Path}, a.Running().SecretFiles()...) },
			Interval: o.WatchInterval,
			Debounce: o.WatchDebounce,
			Known:    map[string]string{o.Path: loaded.Hash()},
			OnChange: func(ctx context.Context, changed []string) {
				a.Log.Info("config file changed", "files", changed)
				_, _ = a.Reload(ctx, reload.TriggerFile)
			},
		}
		wg.Go(func() { w.Run(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}
