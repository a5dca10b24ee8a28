package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/breaker"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/metrics"
	"github.com/airgw/airgw/internal/policy"
	"github.com/airgw/airgw/internal/reload"
	"github.com/airgw/airgw/internal/tracing"
)

// ingestTimeout bounds the wait at start for the records a previous run
// left in the spool to reach the database.
const ingestTimeout = 30 * time.Second

// openSpool opens the audit spool and stores what a previous run left in
// it, waiting up to ingestTimeout: if the database does not answer in
// time the gateway serves anyway, and those records are stored when it
// does.
func (a *App) openSpool(ctx context.Context) (*audit.Spool, error) {
	cfg := a.Config.Audit
	signer, err := a.signingKey(true)
	if err != nil {
		return nil, err
	}
	sp, err := audit.OpenSpool(a.db, audit.SpoolOptions{
		Dir:                cfg.SpoolDir,
		FsyncInterval:      time.Duration(cfg.FsyncInterval),
		MaxSize:            int64(cfg.SpoolMaxSize),
		BatchSize:          cfg.BatchSize,
		FlushInterval:      time.Duration(cfg.FlushInterval),
		Signer:             signer,
		CheckpointInterval: time.Duration(cfg.CheckpointInterval),
		Logger:             a.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the audit spool: %w", err)
	}
	ictx, cancel := context.WithTimeout(ctx, ingestTimeout)
	defer cancel()
	if err := sp.Sync(ictx); err != nil {
		a.Log.Warn("records left in the audit spool by the previous run are not all in the database yet; serving anyway, they are stored as soon as the database answers (usage and spend read from the database miss them until then)", "err", err)
	}
	a.Log.Info("audit trail ready", "chain", sp.Chain(), "head_seq", sp.Stats().Head.Seq, "spool", cfg.SpoolDir,
		"checkpoint_public_key", audit.PublicKeyString(signer))
	return sp, nil
}

// signingKey returns the checkpoint signing key: the config's, else the
// one in the data directory, created when create is set.
func (a *App) signingKey(create bool) (ed25519.PrivateKey, error) {
	if k := a.Config.Audit.SigningKey.Value(); k != "" {
		key, err := audit.ParseSigningKey(k)
		if err != nil {
			return nil, fmt.Errorf("audit.signing_key: %w", err)
		}
		return key, nil
	}
	if create {
		key, err := audit.LoadOrCreateSigningKey(a.Config.Storage.DataDir)
		if err != nil {
			return nil, fmt.Errorf("loading the audit signing key: %w", err)
		}
		return key, nil
	}
	return audit.LoadSigningKey(filepath.Join(a.Config.Storage.DataDir, audit.SigningKeyFile))
}

// TrustedKeys returns the public keys that `airgw audit verify` trusts
// for checkpoints: this gateway's own, when its key is available. None
// (and no error) when there is no key yet.
func (a *App) TrustedKeys() ([]ed25519.PublicKey, error) {
	key, err := a.signingKey(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, nil
}

// VerifyTrail checks the audit trail's chains and checkpoints (package
// audit's Verify) against trusted, or this gateway's own key when trusted
// is empty; records the database rejected are looked up in the dead-letter
// file. The CLI's `audit verify` and the admin API share it.
func (a *App) VerifyTrail(ctx context.Context, trusted []ed25519.PublicKey) (*audit.Report, error) {
	if len(trusted) == 0 {
		own, err := a.TrustedKeys()
		if err != nil {
			return nil, err
		}
		trusted = own
	}
	dead, err := audit.ReadDeadLetters(a.Config.Audit.SpoolDir)
	if err != nil {
		return nil, fmt.Errorf("audit verify: reading the dead-letter file: %w", err)
	}
	return audit.Verify(ctx, a.Trail(), audit.VerifyOptions{Trusted: trusted, DeadLetter: dead.Lookup})
}

// spoolReady fails readiness while the spool is over its size: new
// requests are refused, so a load balancer should send them elsewhere.
func spoolReady(sp *audit.Spool) error {
	st := sp.Stats()
	if st.Bytes > st.MaxBytes {
		return fmt.Errorf("audit spool full: %d bytes wait for the database (limit %d)", st.Bytes, st.MaxBytes)
	}
	return nil
}

// recorder is the gateway's audit log: the spool first (the record must
// be on disk before the response completes), then metrics and tracing,
// which read the same finished record.
type recorder struct {
	// maxBody caps each stored body (audit.bodies.max_bytes).
	maxBody int
	spool   *audit.Spool
	metrics *metrics.Registry
	tracer  *tracing.Exporter // nil when tracing is off
}

var _ gateway.AuditBeginner = (*recorder)(nil)

func (r *recorder) Begin(rec audit.Record) error { return r.spool.Begin(rec) }

func (r *recorder) Write(rec audit.Record) {
	if b := rec.Bodies; b != nil {
		req, cut1 := capBody(policy.RedactBody(b.Request), r.maxBody)
		resp, cut2 := capBody(policy.RedactBody(b.Response), r.maxBody)
		rec.Bodies = &audit.Bodies{Request: req, Response: resp, Truncated: cut1 || cut2}
	}
	start := time.Now()
	r.spool.Write(rec)
	r.metrics.ObserveAuditWrite(time.Since(start))
	r.metrics.Observe(&rec)
	if r.tracer != nil {
		r.tracer.Record(&rec)
	}
}

// capBody cuts s to at most n bytes on a rune boundary.
func capBody(s string, n int) (string, bool) {
	if n <= 0 || len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

// breakerStates adapts the breakers to the metrics' view.
func breakerStates(set *breaker.Set) func() []metrics.Breaker {
	return func() []metrics.Breaker {
		var out []metrics.Breaker
		for _, ts := range set.States() {
			out = append(out, metrics.Breaker{Target: ts.Target, State: ts.State.String()})
		}
		return out
	}
}

// newTracer starts the OTLP exporter, or returns nil when tracing is off
// (no endpoint): the recorder then never calls it.
func (a *App) newTracer() *tracing.Exporter {
	tc := a.Config.Tracing
	if tc.OTLPEndpoint == "" {
		return nil
	}
	headers := map[string]string{}
	for k, v := range tc.Headers {
		headers[k] = v.Value()
	}
	a.Log.Info("tracing: exporting spans over OTLP/HTTP", "endpoint", tc.OTLPEndpoint, "sample_ratio", tc.SampleRatio)
	return tracing.New(tracing.Options{Endpoint: tc.OTLPEndpoint, Headers: headers, ServiceName: tc.ServiceName,
		SampleRatio: tc.SampleRatio, Logger: a.Log})
}

// retainEvery deletes stored bodies and records past their retention
// (audit.bodies.retention, audit.retention) now and then every interval,
// until ctx ends.
func (a *App) retainEvery(ctx context.Context, interval time.Duration) {
	cfg := a.Config.Audit
	if cfg.Retention == 0 && cfg.Bodies == nil {
		return
	}
	for {
		now := time.Now()
		if b := cfg.Bodies; b != nil {
			if n, err := a.db.PurgeBodies(ctx, now.Add(-time.Duration(b.Retention))); err != nil {
				a.Log.Warn("audit: deleting bodies past their retention failed; retrying later", "err", err)
			} else if n > 0 {
				a.Log.Info("audit: bodies past their retention deleted", "bodies", n, "retention", b.Retention.String())
			}
		}
		if cfg.Retention > 0 {
			if n, err := a.db.PurgeRecords(ctx, now.Add(-time.Duration(cfg.Retention))); err != nil {
				a.Log.Warn("audit: deleting records past their retention failed; retrying later", "err", err)
			} else if n > 0 {
				a.Log.Info("audit: records past their retention deleted, up to a signed checkpoint", "records", n, "retention", cfg.Retention.String())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// budgetGauges shows the key, team and global budgets in force on
// /metrics; per-user budgets stay out (end users are unbounded).
type budgetGauges struct{ a *App }

func (b budgetGauges) Budgets() []metrics.Budget {
	var out []metrics.Budget
	for _, st := range b.a.BudgetSnapshot() {
		scope, name, _ := strings.Cut(st.Account, ":")
		if scope == "user" {
			continue
		}
		out = append(out, metrics.Budget{Scope: scope, Name: name, LimitNanoUSD: st.Spec.Limit, SpentNanoUSD: st.Spent})
	}
	return out
}

// reloadGauges shows configuration reloads on /metrics.
type reloadGauges struct{ t *reload.Tracker }

func (r reloadGauges) Reloads() metrics.ReloadStats {
	st := r.t.Snapshot()
	return metrics.ReloadStats{Succeeded: int64(st.Reloads - st.Failures), Failed: int64(st.Failures), LastSuccess: st.LastSuccess}
}
