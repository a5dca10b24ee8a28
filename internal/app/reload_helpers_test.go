package app

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/faulttest"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
)

// reloadRig is a live airgw whose config is a file that the test rewrites
// and reloads, in front of two fault servers, a and b. Its keys: "app"
// (team apps) and "narrow" (team narrow).
type reloadRig struct {
	*rig
	a, b *faulttest.Server
	path string
	hup  chan os.Signal
	repl *strings.Replacer
	logs *syncBuffer // the gateway's log, at debug level
}

// startReloadRig starts airgw with yaml, in which @A@ and @B@ stand for the
// fault servers' base URLs, @KEY@ for their API key and @DIR@ for a
// temporary data directory. With watch, the file watcher polls every 10ms.
func startReloadRig(t *testing.T, yaml string, watch bool) *reloadRig {
	t.Helper()
	a, b := faulttest.NewServer(t), faulttest.NewServer(t)
	dir := t.TempDir()
	r := &reloadRig{a: a, b: b, path: filepath.Join(dir, "reload.yaml"), hup: make(chan os.Signal, 1), logs: &syncBuffer{},
		repl: strings.NewReplacer("@DIR@", filepath.ToSlash(dir), "@A@", a.URL(), "@B@", b.URL(), "@KEY@", faulttest.Key)}
	r.write(t, yaml)
	cfg, err := config.Load(r.path)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	ap, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ap.SetReload(ReloadOptions{Path: r.path, Signals: r.hup, Watch: watch, WatchInterval: 10 * time.Millisecond, WatchDebounce: 30 * time.Millisecond})
	g := serveLive(t, ap, []keys.CreateOptions{{Name: "app", Team: "apps"}, {Name: "narrow", Team: "narrow"}})
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	r.rig = &rig{liveGateway: g, fault: a, http: &http.Client{Transport: tr}}
	return r
}

// write replaces the config file by a rename, as editors and deploy tools
// do, so that a reader never sees half a file.
func (r *reloadRig) write(t *testing.T, yaml string) {
	t.Helper()
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(r.repl.Replace(yaml)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		t.Fatal(err)
	}
}

// waitReloads waits until the gateway has attempted n reloads, for at most
// 10 s.
func (r *reloadRig) waitReloads(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.app.ReloadStatus().Reloads < n {
		if time.Now().After(deadline) {
			t.Fatalf("reloads = %d after 10s, want %d", r.app.ReloadStatus().Reloads, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// loadResult is one request of the background load, with when it was sent
// and when its answer was complete.
type loadResult struct {
	result
	stream     bool
	start, end time.Time
}

// load sends requests for model without pause from conc goroutines,
// alternating streaming and not, until stop is called; stop returns every
// answer.
func (r *reloadRig) load(model string, conc int) (stop func() []loadResult) {
	var (
		mu   sync.Mutex
		out  []loadResult
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	for w := range conc {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				stream := (i+w)%2 == 0
				start := time.Now()
				res := r.do(context.Background(), req{model: model, stream: stream})
				lr := loadResult{result: res, stream: stream, start: start, end: time.Now()}
				mu.Lock()
				out = append(out, lr)
				mu.Unlock()
			}
		})
	}
	return func() []loadResult {
		close(done)
		wg.Wait()
		return out
	}
}

// failed says what is wrong with a load answer, or "" if it is a complete
// success: 200, and for a stream every event up to [DONE].
func (l *loadResult) failed() string {
	switch {
	case l.err != nil:
		return "transport error: " + l.err.Error()
	case l.status != http.StatusOK:
		return "status " + http.StatusText(l.status) + ": " + string(l.body)
	case l.stream && (len(l.events) == 0 || l.events[len(l.events)-1] != "[DONE]"):
		return "stream did not end with [DONE]: " + string(l.body)
	}
	return ""
}

// cost is the exact cost of usage at a config price in USD per million
// tokens (input, output).
func cost(in, out int64, inPerM, outPerM int64) int64 {
	p := pricing.Price{Input: inPerM * 1_000_000, Output: outPerM * 1_000_000}
	return p.Cost(llm.Usage{InputTokens: in, OutputTokens: out})
}
