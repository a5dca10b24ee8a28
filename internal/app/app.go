// Package app is airgw's composition root: the one place that knows the
// concrete types. It opens storage, builds the runtime from a config, wires
// the pipeline to the HTTP server, and shuts everything down in order.
// Nothing imports app but the CLI.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/admin"
	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/breaker"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/idempotency"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/metrics"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/redact"
	"github.com/airgw/airgw/internal/reload"
	"github.com/airgw/airgw/internal/retry"
	"github.com/airgw/airgw/internal/route"
	"github.com/airgw/airgw/internal/server"
	"github.com/airgw/airgw/internal/store/sqlite"
)

// Version is reported by /metrics (airgw_build_info); the CLI sets it.
var Version = "dev"

// App is an opened gateway: storage, key checking and audit writing, ready
// to serve or to answer CLI commands.
type App struct {
	// Config is the config the App was opened with; Running returns the
	// one in force after reloads.
	Config *config.Config
	Log    *slog.Logger
	// DemoAdmin lets the admin API run without a credential when it
	// listens on loopback (airgw serve --demo).
	DemoAdmin bool
	// AdminReady, if set, receives the admin listener's address once open.
	AdminReady func(addr net.Addr)
	// LogLevel, if set, is the level of Log (NewLevelLogger): a reload sets
	// it to the new log.level. Nil: the level stays as Log was built.
	LogLevel *slog.LevelVar
	// Settings is what the admin API shows of the config in force; a
	// reload stores the new config's (see adminSettings).
	Settings atomic.Pointer[admin.Settings]

	db     *sqlite.DB
	hasher *keys.Hasher

	reloadOpts ReloadOptions
	reloadMu   sync.Mutex // serializes reloads; guards live
	live       *running   // nil unless serving
	cfg        atomic.Pointer[config.Config]
}

// Open opens the storage named by cfg and loads (or creates) the HMAC
// secret that virtual keys are hashed with.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dataDir := cfg.Storage.DataDir
	if dataDir == "" {
		dataDir = filepath.Dir(cfg.Storage.SQLite)
	}
	db, err := sqlite.Open(ctx, cfg.Storage.SQLite)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", cfg.Storage.SQLite, err)
	}
	secret, err := loadSecret(ctx, cfg, dataDir, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &App{Config: cfg, Log: log, db: db, hasher: keys.NewHasher(secret)}, nil
}

// loadSecret returns the HMAC secret keys are stored under: the config's,
// or the data directory's hmac.secret, created on first run. It refuses to
// create a new one when the database already holds keys: they were hashed
// with the lost secret, and every one of them would silently stop working.
func loadSecret(ctx context.Context, cfg *config.Config, dataDir string, db *sqlite.DB) ([]byte, error) {
	if s := cfg.Auth.HMACSecret.Value(); s != "" {
		return []byte(s), nil // the loader checked its length
	}
	path := filepath.Join(dataDir, keys.SecretFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		ks, err := db.ListKeys(ctx, keys.ListFilter{IncludeRevoked: true})
		if err != nil {
			return nil, fmt.Errorf("checking for existing keys: %w", err)
		}
		if len(ks) > 0 {
			return nil, fmt.Errorf("%s is missing, but %s holds %d virtual keys hashed with it: restore the file from a backup (or set auth.hmac_secret to its content); if it is truly lost, move the database aside and re-issue every key", path, cfg.Storage.SQLite, len(ks))
		}
	}
	secret, err := keys.LoadOrCreateSecret(dataDir)
	if err != nil {
		return nil, fmt.Errorf("loading the key-hashing secret: %w", err)
	}
	return secret, nil
}

// Close closes storage.
func (a *App) Close() error { return a.db.Close() }

// Keys returns the key manager used by `airgw keys`.
func (a *App) Keys() *keys.Manager { return keys.NewManager(a.db, a.hasher, nil) }

// Records returns the audit trail for queries and exports.
func (a *App) Records() audit.Source { return a.db }

// Trail is everything that reads the audit trail: exports, the follower
// of `audit tail`, chain verification and usage reports. The admin API
// mounts the same.
type Trail interface {
	audit.Source
	audit.BodySource
	audit.Follower
	audit.ChainSource
	audit.UsageSource
}

// Trail returns the audit trail's readers.
func (a *App) Trail() Trail { return a.db }

// Serve runs the data plane until ctx is done, then drains: it stops
// accepting connections, lets requests in flight finish (bounded by
// server.shutdown_timeout) and flushes every audit record. ready, if not
// nil, receives the bound address once the listener is open.
func (a *App) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	cfg := a.Config
	rt, warns, cl, err := buildRuntime(cfg, pricing.Default(), nil)
	if err != nil {
		return err
	}
	for _, w := range warns {
		a.Log.Warn(w.Message, "at", w.Pos.String())
	}
	// The audit spool opens first: the records a previous run left (after
	// a crash or a database outage) are stored, and requests it left in
	// flight recorded as interrupted, before anything reads the database.
	// Components that rebuild state from the audit trail (budget spend)
	// must be built after this point.
	aw, err := a.openSpool(ctx)
	if err != nil {
		return err
	}
	auth := keys.NewAuthenticator(a.db, a.hasher, keys.AuthOptions{Logger: a.Log})
	// Spend is rebuilt from the audit trail before the first request:
	// every record of past requests is in the database by now.
	gov, err := a.openGovernance(ctx, cfg)
	if err != nil {
		return err
	}
	govCtx, stopGov := context.WithCancel(context.WithoutCancel(ctx))
	waitGov := gov.run(govCtx)
	defer func() { stopGov(); waitGov() }()
	breakers := breaker.NewSet(BreakerSettings(cfg), nil)
	// Idempotency-Key results live in the database; a claim counts as
	// abandoned once older than the longest request timeout plus a margin.
	// A reload sets it again from the new timeouts.
	idem := idempotency.New(a.db, idempotency.Options{Stale: idempotencyStale(cfg), Logger: a.Log})
	purgeCtx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() { defer close(purged); idem.PurgeEvery(purgeCtx, time.Hour) }()
	retained := make(chan struct{})
	go func() { defer close(retained); a.retainEvery(purgeCtx, time.Hour) }()
	defer func() { stopPurge(); <-retained }()
	defer func() { stopPurge(); <-purged }()
	tracker := reload.NewTracker(cfg.Hash(), time.Now())
	reg := metrics.New(metrics.Options{
		Spool:    aw.Stats,
		Breakers: breakerStates(breakers),
		Budgets:  budgetGauges{a},
		Reloads:  reloadGauges{tracker},
		Version:  Version,
	})
	rec := &recorder{spool: aw, metrics: reg, tracer: a.newTracer()}
	if b := cfg.Audit.Bodies; b != nil {
		rec.maxBody = int(b.MaxBytes)
	}
	if rec.tracer != nil {
		defer func() {
			tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer tcancel()
			if err := rec.tracer.Close(tctx); err != nil {
				a.Log.Warn("tracing", "err", err)
			}
		}()
	}
	budget, latency := retry.NewBudget(cfg.Routing.RetryBudget.Ratio, cfg.Routing.RetryBudget.Min), route.NewLatency()
	gwo := gateway.Options{
		Auth: auth, Audit: rec, Logger: a.Log,
		Breakers: breakers,
		Budget:   budget,
		Latency:  latency,

		Idempotency: idem,
	}
	if rec.tracer != nil {
		gwo.Tracer = rec.tracer // not a nil *Exporter in an interface
	}
	gw := gateway.New(rt, gov.options(gwo))
	a.Settings.Store(adminSettings(cfg))
	svc := &admin.Service{Keys: a.Keys(), Users: gov.users, Budgets: gov.budgets, Limiter: gov.limiter, Audit: aw,
		Settings: a.Settings.Load, Invalidate: auth.Invalidate}
	adm, err := a.startAdmin(ctx, cfg, svc)
	if err != nil {
		_ = aw.Close(context.Background())
		_ = auth.Close(context.Background())
		return err
	}
	handler := server.New(gw, server.Options{
		MaxBody:       int64(cfg.Server.MaxBody),
		MaxInFlight:   cfg.Server.MaxInFlight,
		MaxQueueDelay: time.Duration(cfg.Server.MaxQueueDelay),
		Logger:        a.Log,
		Ready: func(ctx context.Context) map[string]error {
			return map[string]error{"database": a.db.Ping(ctx), "audit_spool": spoolReady(aw)}
		},
		Breakers: breakers.States,
		Metrics:  reg,
		Config:   func() string { return tracker.Snapshot().Degraded() },
	})
	a.cfg.Store(cfg)
	a.reloadMu.Lock()
	a.live = &running{gw: gw, srv: handler, breakers: breakers, budget: budget, latency: latency,
		audit: aw, cfg: cfg, clients: cl, tracker: tracker, spend: gov.budgets, admin: adm, idem: idem}
	a.reloadMu.Unlock()
	stopReloaders := a.startReloaders(ctx, cfg)
	defer stopReloaders()
	// Requests run on base, not on ctx: a shutdown lets them finish, and
	// only once server.shutdown_timeout has passed are the ones still in
	// flight cancelled (with gateway.ErrShutdown, so that each ends with an
	// explicit error and is recorded). inflight counts the handlers, so
	// that the audit writer closes only after the last one wrote its record.
	base, endRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	defer endRequests(nil)
	var inflight sync.WaitGroup
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Done()
			handler.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: time.Duration(cfg.Server.ReadHeaderTimeout),
		IdleTimeout:       time.Duration(cfg.Server.IdleTimeout),
		// Above server.MaxHeaderBytes, so that the handler answers a
		// request a little over the limit in the API's error shape.
		MaxHeaderBytes: server.ReadHeaderBytes,
		ErrorLog:       slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return base },
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		where := ""
		if p, ok := cfg.Position("server.listen"); ok {
			where = " (" + p.String() + ")"
		}
		adm.shutdown(context.Background())
		return fmt.Errorf("listening on %s%s: %w", cfg.Server.Listen, where, err)
	}
	a.Log.Info("airgw listening", "addr", ln.Addr().String(), "models", len(rt.Routes.Names()), "config_hash", shortHash(cfg.Hash()))
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	// No reload from here on: the audit writer is about to close.
	stopReloaders()
	a.reloadMu.Lock()
	a.live = nil
	a.reloadMu.Unlock()
	drain := time.Duration(a.Running().Server.ShutdownTimeout)
	a.Log.Info("airgw shutting down", "drain_timeout", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// The requests still in flight end themselves: each tells its
		// client (an error event, or a 503 it may send again), cancels its
		// provider call and writes its record. Connections still open
		// after that (a client that stopped reading) are closed.
		a.Log.Warn("drain timeout passed: ending the requests still in flight", "drain_timeout", drain.String())
		endRequests(gateway.ErrShutdown)
		if !waitGroupFor(&inflight, 5*time.Second) {
			a.Log.Warn("requests still running 5s after they were ended; closing their connections")
		}
		_ = srv.Close()
	}
	if !waitGroupFor(&inflight, 10*time.Second) {
		a.Log.Error("requests still running 10s after their connections were closed; their audit records may be written at the next start as interrupted")
	}
	adm.shutdown(sctx)
	// Every handler has returned: each wrote its record. Store them all;
	// what the database cannot take in time stays in the spool for the
	// next start.
	actx, acancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer acancel()
	if err := aw.Close(actx); err != nil {
		a.Log.Warn("audit records not yet in the database at shutdown", "err", err)
	}
	_ = auth.Close(actx)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// waitGroupFor waits for wg at most d, and reports whether it finished.
func waitGroupFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// idempotencyStale is the age at which an Idempotency-Key claim counts as
// abandoned: the longest request timeout of cfg plus a margin, at least
// idempotency.DefaultStale.
func idempotencyStale(cfg *config.Config) time.Duration {
	longest := time.Duration(cfg.Routing.Timeout)
	for _, m := range cfg.Models {
		longest = max(longest, time.Duration(m.Timeout))
	}
	return max(idempotency.DefaultStale, longest+time.Minute)
}

// NewLogger returns the process logger configured by cfg.Log. Every
// secret given (ConfigSecrets) and anything shaped like a virtual key is
// masked in what it writes.
func NewLogger(cfg config.Log, w io.Writer, secrets ...string) *slog.Logger {
	log, _ := NewLevelLogger(cfg, w, secrets...)
	return log
}

// NewLevelLogger is NewLogger with its level in the LevelVar it returns,
// for App.LogLevel: a reload then applies a new log.level at once.
func NewLevelLogger(cfg config.Log, w io.Writer, secrets ...string) (*slog.Logger, *slog.LevelVar) {
	if w == nil {
		w = os.Stderr
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(redact.New(h, secrets)), level
}

// parseLevel reads a log.level the config loader validated; anything
// else is info.
func parseLevel(s string) slog.Level {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s))
	return level
}
