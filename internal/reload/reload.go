// Package reload holds the parts of airgw's configuration reload that do
// not depend on the running gateway: the outcome of one reload (Result),
// the state that metrics, /readyz and the admin API read (Status, Tracker),
// the admin API handlers for POST /admin/v1/reload and GET
// /admin/v1/config, the file watcher that notices a changed config, and the
// client that reads a running gateway's effective config for
// `airgw check --against running`.
//
// The reload itself (load, validate, build, swap) lives in the composition
// root, internal/app, which implements Reloader.
package reload

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airgw/airgw/internal/config"
)

// Triggers name what started a reload, in Result.Trigger and as the actor
// of its audit record. An admin API call is named by the caller (see
// Handler), such as "admin-key:<name>", or TriggerAdmin.
const (
	TriggerSignal = "signal:SIGHUP"
	TriggerFile   = "file-watch"
	TriggerAdmin  = "admin-api"
)

// Reloader reloads the configuration: it loads and validates the file with
// the same loader as `airgw check`, builds a complete new runtime and swaps
// it in, or changes nothing when any of that fails. The error is non-nil
// exactly when Result.OK is false. Reloads are serialized.
type Reloader interface {
	Reload(ctx context.Context, trigger string) (Result, error)
}

// Result is the outcome of one reload.
type Result struct {
	// Trigger is what started the reload (TriggerSignal, TriggerFile,
	// the admin API's caller).
	Trigger string `json:"trigger"`
	// At is when the reload started; Millis how long it took.
	At     time.Time `json:"at"`
	Millis int64     `json:"duration_ms"`
	// OK is true when the new config is in force (or was identical).
	OK bool `json:"ok"`
	// Changed is true when the new config differs from the running one
	// and was swapped in.
	Changed bool `json:"changed"`
	// HashBefore and HashAfter are the SHA-256 of the config file's bytes
	// before and after (as `airgw check` prints it); HashAfter is empty
	// when the reload failed.
	HashBefore string `json:"sha256_before"`
	HashAfter  string `json:"sha256_after,omitempty"`
	// Applied lists what changed and is now in force.
	Applied []config.Change `json:"applied,omitempty"`
	// RestartRequired lists changes to settings that are read only at
	// startup: they were not applied, and the old values stay until a
	// restart.
	RestartRequired []config.Change `json:"restart_required,omitempty"`
	// Errors lists why the reload failed, one problem per entry, each
	// FILE:LINE:COL: PATH: MESSAGE when it concerns a place in the file.
	Errors []string `json:"errors,omitempty"`
	// Warnings are problems that do not stop the config from serving,
	// such as a model without a price.
	Warnings []string `json:"warnings,omitempty"`
}

// Problems splits err into one line per problem: a config error lists
// every problem with its position.
func Problems(err error) []string {
	if err == nil {
		return nil
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		out := make([]string, len(ce.Problems))
		for i, p := range ce.Problems {
			out[i] = p.String()
		}
		return out
	}
	return strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
}

// Status is the reload state of a running gateway, for metrics
// (last reload successful, its time), /readyz and the admin API. It is a
// copy: changing it changes nothing.
type Status struct {
	// SHA256 is the hash of the config file in force; LoadedAt when it
	// was put in force (at startup or by the last reload that changed it).
	SHA256   string    `json:"sha256"`
	LoadedAt time.Time `json:"loaded_at"`
	// LastAttempt is when the last reload started (zero before the
	// first); LastSuccess when the last successful load started: the
	// startup load counts, as Prometheus counts it for its
	// config_last_reload_success_timestamp_seconds.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastOK is false when the last reload failed: the gateway serves the
	// previous config, and LastErrors says why.
	LastOK     bool     `json:"last_ok"`
	LastErrors []string `json:"last_errors,omitempty"`
	// LastTrigger is what started the last reload.
	LastTrigger string `json:"last_trigger,omitempty"`
	// Reloads and Failures count reload attempts since startup, and those
	// that failed.
	Reloads  uint64 `json:"reloads"`
	Failures uint64 `json:"failures"`
	// PendingRestart lists settings changed in the file that take effect
	// only after a restart.
	PendingRestart []config.Change `json:"pending_restart,omitempty"`
}

// Tracker keeps the Status of a running gateway. It is safe for concurrent
// use.
type Tracker struct {
	mu sync.Mutex
	st Status
}

// NewTracker returns a tracker for a gateway that started with the config
// whose file hash is sha256, at the time at.
func NewTracker(sha256 string, at time.Time) *Tracker {
	return &Tracker{st: Status{SHA256: sha256, LoadedAt: at, LastSuccess: at, LastOK: true}}
}

// Record notes the outcome of a reload.
func (t *Tracker) Record(r Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Reloads++
	t.st.LastAttempt, t.st.LastTrigger, t.st.LastOK = r.At, r.Trigger, r.OK
	if !r.OK {
		t.st.Failures++
		t.st.LastErrors = slices.Clone(r.Errors)
		return
	}
	t.st.LastErrors = nil
	t.st.LastSuccess = r.At
	t.st.PendingRestart = slices.Clone(r.RestartRequired)
	if r.Changed {
		t.st.SHA256, t.st.LoadedAt = r.HashAfter, r.At.Add(time.Duration(r.Millis)*time.Millisecond)
	}
}

// Snapshot returns the current status.
func (t *Tracker) Snapshot() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	st.LastErrors = slices.Clone(st.LastErrors)
	st.PendingRestart = slices.Clone(st.PendingRestart)
	return st
}

// Degraded summarizes a failed last reload for the unauthenticated
// /readyz: when the reload failed, where each problem is (file:line:col
// and the setting), without the messages, which can quote values from
// the file. It returns "" when the last reload succeeded.
func (s Status) Degraded() string {
	if s.LastOK {
		return ""
	}
	where := make([]string, 0, len(s.LastErrors))
	for _, e := range s.LastErrors {
		where = append(where, location(e))
	}
	return "the config reload at " + s.LastAttempt.UTC().Format(time.RFC3339) +
		" failed; still serving sha256 " + shortHash(s.SHA256) + "; problems at " + strings.Join(where, ", ") +
		"; the messages are in the log and in GET /admin/v1/config"
}

// location cuts a problem line "FILE:LINE:COL: PATH: MESSAGE" down to
// "FILE:LINE:COL (PATH)".
func location(problem string) string {
	parts := strings.SplitN(problem, ": ", 3)
	switch {
	case len(parts) == 3 && !strings.Contains(parts[1], " "):
		return parts[0] + " (" + parts[1] + ")"
	case len(parts) >= 2 && strings.Count(parts[0], ":") >= 1 && !strings.Contains(parts[0], " "):
		return parts[0]
	}
	return "(see the log)"
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
