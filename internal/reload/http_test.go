package reload

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/config"
)

// fakeReloader answers Reload with a fixed result and records triggers.
type fakeReloader struct {
	res      Result
	err      error
	triggers []string
	ctxErr   error
}

func (f *fakeReloader) Reload(ctx context.Context, trigger string) (Result, error) {
	f.triggers = append(f.triggers, trigger)
	f.ctxErr = ctx.Err()
	r := f.res
	r.Trigger = trigger
	return r, f.err
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name        string
		res         Result
		err         error
		actor       func(*http.Request) string
		wantStatus  int
		wantTrigger string
	}{
		{"applied", Result{OK: true, Changed: true, HashBefore: "a", HashAfter: "b"}, nil, nil, 200, "admin-api"},
		{"unchanged", Result{OK: true}, nil, func(*http.Request) string { return "admin-key:ops" }, 200, "admin-key:ops"},
		{"refused", Result{Errors: []string{"airgw.yaml:3:5: models.x.targets: expected a list, got a string"}}, errors.New("invalid"), nil, 422, "admin-api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeReloader{res: tt.res, err: tt.err}
			rec := httptest.NewRecorder()
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the caller already hung up: the reload still runs to its end
			Handler(f, tt.actor)(rec, httptest.NewRequestWithContext(ctx, "POST", "/admin/v1/reload", nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if len(f.triggers) != 1 || f.triggers[0] != tt.wantTrigger {
				t.Errorf("triggers = %v, want [%s]", f.triggers, tt.wantTrigger)
			}
			if f.ctxErr != nil {
				t.Errorf("Reload ran with a cancelled context: %v", f.ctxErr)
			}
			var got Result
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body is not a Result: %v\n%s", err, rec.Body)
			}
			if got.OK != tt.res.OK || strings.Join(got.Errors, "\n") != strings.Join(tt.res.Errors, "\n") {
				t.Errorf("body = %+v, want %+v", got, tt.res)
			}
		})
	}
}

func TestFetch(t *testing.T) {
	cfg, err := config.Parse("a.yaml", []byte(`
providers:
  openai: {type: openai, api_key: "${KEY}"}
models:
  gpt-4o:
    targets: [{provider: openai, model: gpt-4o, weight: 3}]
routing: {retry_budget: {ratio: 0.25}}
`), func(string) (string, bool) { return "sk-canary-fetch-0123456789", true })
	if err != nil {
		t.Fatal(err)
	}
	snap := Snapshot{SHA256: cfg.Hash(), Path: "/etc/airgw/airgw.yaml", LoadedAt: time.Unix(1700000000, 0).UTC(), Config: cfg.Effective()}
	handler := ConfigHandler(func() Snapshot { return snap })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer adm-key" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Path != ConfigPath {
			http.NotFound(w, r)
			return
		}
		handler(w, r)
	}))
	defer srv.Close()

	got, err := Fetch(context.Background(), srv.Client(), srv.URL+"/", "adm-key")
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got.SHA256 != cfg.Hash() || got.Path != snap.Path || !got.LoadedAt.Equal(snap.LoadedAt) {
		t.Errorf("Fetch = %s %s %v, want %s %s %v", got.SHA256, got.Path, got.LoadedAt, cfg.Hash(), snap.Path, snap.LoadedAt)
	}
	if changes := config.DiffRunning(got.Config, cfg); len(changes) != 0 {
		t.Errorf("DiffRunning(fetched, same config) = %v, want none", changes)
	}

	for _, tt := range []struct {
		name, url, key, want string
	}{
		{"wrong-key", srv.URL, "nope", "the admin key was refused; set AIRGW_ADMIN_KEY"},
		{"not-airgw", srv.URL + "/elsewhere", "adm-key", "404 Not Found"},
		{"nothing-listening", "http://127.0.0.1:1", "adm-key", "is airgw serving its admin API there"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Fetch(context.Background(), srv.Client(), tt.url, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Fetch(%s) error = %v, want one containing %q", tt.url, err, tt.want)
			}
		})
	}
}

func TestTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := NewTracker("aaaa", t0)
	if st := tr.Snapshot(); !st.LastOK || st.Degraded() != "" || st.SHA256 != "aaaa" {
		t.Fatalf("fresh status = %+v, want ok with hash aaaa", st)
	}
	tr.Record(Result{Trigger: TriggerFile, At: t0.Add(time.Minute), Errors: []string{
		"airgw.yaml:12:7: models.gpt-4o.targets[0].provider: unknown provider \"opena\"; did you mean openai?",
		"config: open airgw.yaml: permission denied",
	}})
	st := tr.Snapshot()
	if st.LastOK || st.Failures != 1 || st.Reloads != 1 || st.SHA256 != "aaaa" || !st.LastSuccess.Equal(t0) {
		t.Errorf("after a failure: %+v, want not ok, 1 failure, hash and last success (the startup load) kept", st)
	}
	want := "the config reload at 2026-01-02T03:05:05Z failed; still serving sha256 aaaa; problems at airgw.yaml:12:7 (models.gpt-4o.targets[0].provider), (see the log); the messages are in the log and in GET /admin/v1/config"
	if got := st.Degraded(); got != want {
		t.Errorf("Degraded() =\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(st.Degraded(), "opena") {
		t.Errorf("Degraded() quotes a value from the file: %s", st.Degraded())
	}
	tr.Record(Result{Trigger: TriggerSignal, At: t0.Add(2 * time.Minute), OK: true, Changed: true, HashAfter: "bbbb", Millis: 3,
		RestartRequired: []config.Change{{Path: "server.listen", Op: config.Changed, Restart: true}}})
	st = tr.Snapshot()
	if !st.LastOK || st.SHA256 != "bbbb" || st.LastErrors != nil || len(st.PendingRestart) != 1 || !st.LastSuccess.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after a success: %+v", st)
	}
}
