package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/reload"
)

// reloadV1 is the config the reload-under-load test starts with. "chat"
// carries the background load; "held" answers a stream only after 1.5 s,
// so that a request can be in flight across a reload.
const reloadV1 = `
server: {listen: "127.0.0.1:0", max_body: 64KiB, shutdown_timeout: 5s}
storage: {sqlite: "@DIR@/airgw.db"}
log: {level: error}
audit: {flush_interval: 5ms, batch_size: 256}
routing: {retries: 0}
providers:
  a: {type: openai, base_url: "@A@", api_key: "@KEY@", allow_private_network: true}
  b: {type: openai, base_url: "@B@", api_key: "@KEY@", allow_private_network: true}
models:
  chat:
    targets: [{provider: a, model: "ok:chat"}]
    price: {input_per_mtok: 1, output_per_mtok: 2}
  held:
    targets: [{provider: a, model: "slowfirst:1500ms"}]
    price: {input_per_mtok: 1, output_per_mtok: 2}
  down:
    targets: [{provider: a, model: "status:503"}]
    price: {input_per_mtok: 1, output_per_mtok: 2}
  backup:
    targets: [{provider: b, model: "ok:backup"}]
    price: {input_per_mtok: 1, output_per_mtok: 2}
  extra:
    targets: [{provider: a, model: "ok:extra"}]
    price: {input_per_mtok: 1, output_per_mtok: 2}
teams:
  apps: {}  # every model
  narrow: {models: [chat]}
`

// reloadStep is one config change of the reload-under-load test.
type reloadStep struct {
	name string
	edit func(string) string
	// trigger reloads; it returns once the reload is done.
	trigger func(t *testing.T, r *reloadRig) reload.Result
	// before and after check behaviour just before and just after.
	before, after func(t *testing.T, r *reloadRig)
}

func bySignal(t *testing.T, r *reloadRig) reload.Result {
	n := r.app.ReloadStatus().Reloads
	r.hup <- syscall.SIGHUP
	r.waitReloads(t, n+1)
	st := r.app.ReloadStatus()
	return reload.Result{Trigger: st.LastTrigger, OK: st.LastOK, Errors: st.LastErrors}
}

func byAdminAPI(t *testing.T, r *reloadRig) reload.Result {
	rec := httptest.NewRecorder()
	r.app.ReloadHandler(func(*http.Request) string { return "admin-key:ops" })(rec, httptest.NewRequest(http.MethodPost, "/admin/v1/reload", nil))
	var res reload.Result
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("POST /admin/v1/reload body: %v\n%s", err, rec.Body)
	}
	if want := map[bool]int{true: 200, false: 422}[res.OK]; rec.Code != want {
		t.Errorf("POST /admin/v1/reload = %d with ok=%v, want %d", rec.Code, res.OK, want)
	}
	return res
}

func byCall(t *testing.T, r *reloadRig) reload.Result {
	res, _ := r.app.Reload(context.Background(), "test")
	return res
}

// expect checks one request's answer.
func (r *reloadRig) expect(t *testing.T, q req, status int, provider string) result {
	t.Helper()
	res := r.do(context.Background(), q)
	if res.err != nil || res.status != status || (provider != "" && res.header.Get("X-Airgw-Provider") != provider) {
		t.Errorf("%s (key %s) = %d provider %q err %v %s, want %d provider %q", q.model, q.key, res.status, res.header.Get("X-Airgw-Provider"), res.err, res.body, status, provider)
	}
	return res
}

// TestReloadUnderLoad changes the config of a gateway under continuous
// load, streaming and not: a model's target moves to another provider, a
// fallback is added, a model is removed, a price and a team's allow-list
// change, an invalid config is refused and a restart-only setting is
// reported. Every request of the load succeeds; a stream in flight
// finishes on its old target at its old price; new requests see the new
// config; each request is charged the price in force when it started.
func TestReloadUnderLoad(t *testing.T) {
	r := startReloadRig(t, reloadV1, false)
	yaml := reloadV1
	stop := r.load("chat", 4)

	// A stream in flight across the first reload.
	held := make(chan result, 1)
	go func() { held <- r.do(context.Background(), req{model: "held", stream: true}) }()
	for deadline := time.Now().Add(10 * time.Second); r.a.Calls("slowfirst:1500ms") == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held stream never reached provider a")
		}
	}

	windows := map[string][2]time.Time{} // step → when its reload ran
	steps := []reloadStep{{
		name: "target-moved-to-another-provider",
		edit: func(s string) string {
			s = strings.Replace(s, `{provider: a, model: "ok:chat"}`, `{provider: b, model: "ok:chat"}`, 1)
			return strings.Replace(s, "targets: [{provider: a, model: \"slowfirst:1500ms\"}]\n    price: {input_per_mtok: 1, output_per_mtok: 2}",
				"targets: [{provider: b, model: \"ok:held\"}]\n    price: {input_per_mtok: 5, output_per_mtok: 10}", 1)
		},
		trigger: bySignal,
		after: func(t *testing.T, r *reloadRig) {
			r.expect(t, req{model: "chat"}, 200, "b")
			r.expect(t, req{model: "held", stream: true}, 200, "b")
		},
	}, {
		name: "fallback-added",
		edit: func(s string) string {
			return strings.Replace(s, `model: "status:503"}]`, `model: "status:503"}]`+"\n    fallbacks: [backup]", 1)
		},
		trigger: byAdminAPI,
		before:  func(t *testing.T, r *reloadRig) { r.expect(t, req{model: "down"}, 503, "") },
		after:   func(t *testing.T, r *reloadRig) { r.expect(t, req{model: "down"}, 200, "b") },
	}, {
		name: "model-removed",
		edit: func(s string) string {
			return strings.Replace(s, "  extra:\n    targets: [{provider: a, model: \"ok:extra\"}]\n    price: {input_per_mtok: 1, output_per_mtok: 2}\n", "", 1)
		},
		trigger: byCall,
		before:  func(t *testing.T, r *reloadRig) { r.expect(t, req{model: "extra"}, 200, "a") },
		after: func(t *testing.T, r *reloadRig) {
			if res := r.expect(t, req{model: "extra"}, 404, ""); res.code() != "model_not_found" {
				t.Errorf("extra after removal: code %q, want model_not_found", res.code())
			}
		},
	}, {
		name: "price-changed",
		edit: func(s string) string {
			return strings.Replace(s, "ok:chat\"}]\n    price: {input_per_mtok: 1, output_per_mtok: 2}", "ok:chat\"}]\n    price: {input_per_mtok: 3, output_per_mtok: 4}", 1)
		},
		trigger: byCall,
	}, {
		name: "team-allow-list-changed",
		edit: func(s string) string {
			return strings.Replace(s, "narrow: {models: [chat]}", "narrow: {models: [chat, backup]}", 1)
		},
		trigger: bySignal,
		before: func(t *testing.T, r *reloadRig) {
			if res := r.expect(t, req{model: "backup", key: r.keys["narrow"]}, 403, ""); res.code() != "model_not_allowed" {
				t.Errorf("backup for team narrow: code %q, want model_not_allowed", res.code())
			}
		},
		after: func(t *testing.T, r *reloadRig) { r.expect(t, req{model: "backup", key: r.keys["narrow"]}, 200, "b") },
	}}
	for _, st := range steps {
		if st.before != nil {
			st.before(t, r)
		}
		yaml = st.edit(yaml)
		r.write(t, yaml)
		begin := time.Now()
		res := st.trigger(t, r)
		windows[st.name] = [2]time.Time{begin, time.Now()}
		if !res.OK {
			t.Fatalf("step %s: reload failed: %v", st.name, res.Errors)
		}
		if st.after != nil {
			st.after(t, r)
		}
	}

	// The stream that was in flight during the first reload finished on
	// provider a, completely.
	h := <-held
	if h.err != nil || h.status != 200 || h.header.Get("X-Airgw-Provider") != "a" || len(h.events) == 0 || h.events[len(h.events)-1] != "[DONE]" {
		t.Errorf("held stream = %d provider %q err %v events %d, want a complete 200 stream from provider a", h.status, h.header.Get("X-Airgw-Provider"), h.err, len(h.events))
	}

	// An invalid config changes nothing, and says what is wrong and where.
	good := yaml
	bad := strings.Replace(yaml, "{provider: b, model: \"ok:chat\"}", "{provider: c, model: \"ok:chat\"}", 1)
	bad = strings.Replace(bad, "shutdown_timeout: 5s", "shutdown_timeout: 5", 1)
	r.write(t, bad)
	res := byAdminAPI(t, r)
	if res.OK || len(res.Errors) != 2 {
		t.Fatalf("reload of an invalid config = ok %v errors %v, want 2 errors", res.OK, res.Errors)
	}
	for i, want := range []string{`reload.yaml:2:68: server.shutdown_timeout: expected a duration like 30s, got "5": a number needs a unit`, `reload.yaml:12:26: models.chat.targets[0].provider: unknown provider "c"`} {
		if !strings.Contains(res.Errors[i], want) {
			t.Errorf("reload error %d = %q, want it to contain %q", i, res.Errors[i], want)
		}
	}
	r.expect(t, req{model: "chat"}, 200, "b")
	if status, _ := r.readyzConfig(t); !strings.Contains(status, "reload.yaml:12:26 (models.chat.targets[0].provider)") {
		t.Errorf("GET /readyz config = %q, want the failed reload's positions", status)
	}
	if snap := r.app.ConfigSnapshot(); snap.Reload.LastOK || len(snap.Reload.LastErrors) != 2 || snap.SHA256 != windowsHash(t, r) {
		t.Errorf("config snapshot after a failed reload = %+v, want the errors and the previous hash", snap.Reload)
	}

	// A restart-only setting is reported with its line, never applied.
	r.write(t, strings.Replace(good, `listen: "127.0.0.1:0"`, `listen: "127.0.0.1:1"`, 1))
	res = byCall(t, r)
	if !res.OK || len(res.RestartRequired) != 1 || res.RestartRequired[0].Path != "server.listen" || !strings.HasSuffix(res.RestartRequired[0].At, "reload.yaml:2:18") {
		t.Errorf("reload changing server.listen = ok %v restart %+v, want server.listen at reload.yaml:2:18", res.OK, res.RestartRequired)
	}
	if got := r.app.Running().Server.Listen; got != "127.0.0.1:0" {
		t.Errorf("running server.listen = %s, want the startup value 127.0.0.1:0", got)
	}
	if status, _ := r.readyzConfig(t); status != "" {
		t.Errorf("GET /readyz config after a good reload = %q, want none", status)
	}
	r.expect(t, req{model: "chat"}, 200, "b")

	load := stop()
	recs := r.records()

	// Every request of the load succeeded, went to the target and was
	// charged the price in force when it started.
	moved, repriced := windows["target-moved-to-another-provider"], windows["price-changed"]
	var streams, plain int
	for i := range load {
		l := &load[i]
		if why := l.failed(); why != "" {
			t.Errorf("load request %s (stream %v) failed: %s", l.id(), l.stream, why)
			continue
		}
		if l.stream {
			streams++
		} else {
			plain++
		}
		prov := l.header.Get("X-Airgw-Provider")
		switch {
		case l.end.Before(moved[0]) && prov != "a", l.start.After(moved[1]) && prov != "b":
			t.Errorf("load request %s (sent %v, done %v) served by %q across the target move at %v–%v", l.id(), l.start, l.end, prov, moved[0], moved[1])
		}
		rec, ok := recs[l.id()]
		if !ok {
			t.Errorf("load request %s has no audit record", l.id())
			continue
		}
		oldCost, newCost := cost(rec.InputTokens, rec.OutputTokens, 1, 2), cost(rec.InputTokens, rec.OutputTokens, 3, 4)
		switch {
		case rec.InputTokens == 0 || rec.OutputTokens == 0 || rec.UsageEstimated:
			t.Errorf("load request %s: usage %d/%d estimated %v, want the provider's", l.id(), rec.InputTokens, rec.OutputTokens, rec.UsageEstimated)
		case l.end.Before(repriced[0]) && rec.CostNanoUSD != oldCost,
			l.start.After(repriced[1]) && rec.CostNanoUSD != newCost,
			rec.CostNanoUSD != oldCost && rec.CostNanoUSD != newCost:
			t.Errorf("load request %s (sent %v, done %v): cost %d, want %d before the price change at %v–%v and %d after", l.id(), l.start, l.end, rec.CostNanoUSD, oldCost, repriced[0], repriced[1], newCost)
		}
	}
	if streams < 10 || plain < 10 {
		t.Errorf("load: %d streams and %d plain requests, want at least 10 of each", streams, plain)
	}
	t.Logf("load: %d streaming and %d non-streaming requests across %d reloads, all successful", streams, plain, len(steps)+2)

	// The held stream was charged at the price of its start.
	if rec := recs[h.id()]; rec.CostNanoUSD != cost(rec.InputTokens, rec.OutputTokens, 1, 2) || rec.OutputTokens == 0 {
		t.Errorf("held stream cost %d for %d/%d tokens, want %d at the old price", rec.CostNanoUSD, rec.InputTokens, rec.OutputTokens, cost(rec.InputTokens, rec.OutputTokens, 1, 2))
	}

	// One audit record per reload that changed something, naming its
	// trigger and the hashes; none for the refused one.
	var reloads []audit.Record
	for _, rec := range recs {
		if rec.Kind == audit.KindReload {
			reloads = append(reloads, rec)
		}
	}
	if len(reloads) != len(steps)+1 {
		t.Errorf("reload audit records = %d, want %d (one per successful reload)", len(reloads), len(steps)+1)
	}
	actors := map[string]int{}
	for _, rec := range reloads {
		c := rec.Change
		if c == nil || c.Action != "config.reload" || c.Target != "config" || !strings.Contains(string(c.Before), `"sha256"`) || !strings.Contains(string(c.After), `"applied"`) {
			t.Errorf("reload record %s change = %+v", rec.RequestID, c)
			continue
		}
		actors[c.Actor]++
	}
	if actors[reload.TriggerSignal] != 2 || actors["admin-key:ops"] != 1 || actors["test"] != 3 {
		t.Errorf("reload record actors = %v, want 2 signal:SIGHUP, 1 admin-key:ops, 3 test", actors)
	}
}

// windowsHash is the hash of the config in force.
func windowsHash(t *testing.T, r *reloadRig) string {
	t.Helper()
	return r.app.Running().Hash()
}

// readyzConfig returns the config detail of GET /readyz and its status.
func (r *reloadRig) readyzConfig(t *testing.T) (detail, status string) {
	t.Helper()
	resp, err := r.http.Get(strings.TrimSuffix(r.base, "/v1") + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	var rep struct {
		Status string `json:"status"`
		Config string `json:"config"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Errorf("GET /readyz = %d, want 200: a failed reload leaves the gateway serving", resp.StatusCode)
	}
	return rep.Config, rep.Status
}

// reloadSmall is a config with one model on provider a, for the tests
// below.
const reloadSmall = `
server: {listen: "127.0.0.1:0", shutdown_timeout: 5s}
storage: {sqlite: "@DIR@/airgw.db"}
log: {level: error}
audit: {flush_interval: 5ms}
routing: {retries: 0}
providers:
  a: {type: openai, base_url: "@A@", api_key: "@KEY@", allow_private_network: true}
  b: {type: openai, base_url: "@B@", api_key: "@KEY@", allow_private_network: true}
models:
  chat:
    targets: [{provider: a, model: "ok:chat"}]
    price: {input_per_mtok: 1, output_per_mtok: 2}
teams:
  apps: {}
  narrow: {models: [chat]}
`

// TestReloadFileRename: replacing the config file by a rename, as editors
// and ConfigMap updates do, triggers exactly one reload; so does a broken
// file, which changes nothing; so does a new value in a file: secret.
func TestReloadFileRename(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "c.key")
	if err := os.WriteFile(keyFile, []byte("sk-canary-file-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withC := strings.Replace(reloadSmall, "models:\n", "  c: {type: openai, base_url: \"@B@\", api_key: \"file:"+filepath.ToSlash(keyFile)+"\", allow_private_network: true}\nmodels:\n", 1)
	r := startReloadRig(t, withC, true)
	time.Sleep(100 * time.Millisecond) // ten polls of the unchanged file
	if n := r.app.ReloadStatus().Reloads; n != 0 {
		t.Fatalf("reloads before any change = %d, want 0", n)
	}
	moved := strings.Replace(withC, "{provider: a,", "{provider: b,", 1)
	r.write(t, moved)
	r.waitReloads(t, 1)
	time.Sleep(300 * time.Millisecond) // thirty more polls
	st := r.app.ReloadStatus()
	if st.Reloads != 1 || !st.LastOK || st.LastTrigger != reload.TriggerFile {
		t.Errorf("after one rename: reloads %d ok %v trigger %q, want exactly 1 successful file-watch reload", st.Reloads, st.LastOK, st.LastTrigger)
	}
	r.expect(t, req{model: "chat"}, 200, "b")

	r.write(t, moved+"nonsense: true\n")
	r.waitReloads(t, 2)
	time.Sleep(300 * time.Millisecond)
	st = r.app.ReloadStatus()
	if st.Reloads != 2 || st.LastOK || len(st.LastErrors) != 1 || !strings.Contains(st.LastErrors[0], `reload.yaml:18:1: nonsense: unknown field "nonsense"`) {
		t.Errorf("after a broken file: reloads %d ok %v errors %v, want 1 more, failed, naming reload.yaml:18:1", st.Reloads, st.LastOK, st.LastErrors)
	}
	r.expect(t, req{model: "chat"}, 200, "b")

	// A rotated credential in a file: secret is a change like any other.
	r.write(t, moved)
	r.waitReloads(t, 3)
	if err := os.WriteFile(keyFile+".tmp", []byte("sk-canary-file-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keyFile+".tmp", keyFile); err != nil {
		t.Fatal(err)
	}
	r.waitReloads(t, 4)
	time.Sleep(300 * time.Millisecond)
	st = r.app.ReloadStatus()
	want := `providers.c.api_key: \"[redacted: file:` + filepath.ToSlash(keyFile) + `]\" → \"[redacted: file:` + filepath.ToSlash(keyFile) + `]\" (the value changed; it is not shown)`
	if st.Reloads != 4 || !st.LastOK || !strings.Contains(r.logs.String(), want) {
		t.Errorf("after rotating the key file: reloads %d ok %v, want 4, ok, and a log line with %s", st.Reloads, st.LastOK, want)
	}
	if strings.Contains(r.logs.String(), "sk-canary-file") {
		t.Error("the log shows the key file's content")
	}
}

// TestReloadRace reloads every few milliseconds, alternating two configs
// that move a model between providers and change its price, under load,
// for the race detector: a reload 1 ms after the last one ended, for at
// least 1 s and 20 reloads.
// Every request succeeds.
func TestReloadRace(t *testing.T) {
	r := startReloadRig(t, reloadSmall, false)
	configs := []string{reloadSmall, strings.NewReplacer("{provider: a,", "{provider: b,", "input_per_mtok: 1", "input_per_mtok: 3").Replace(reloadSmall)}
	stop := r.load("chat", 4)
	// At least 1 s and 20 reloads, however slow the machine (20 s at most).
	start := time.Now()
	var reloads int
	for i := 1; (time.Since(start) < time.Second || reloads < 20) && time.Since(start) < 20*time.Second; i++ {
		r.write(t, configs[i%2])
		if res, err := r.app.Reload(context.Background(), "test"); err != nil || !res.OK || !res.Changed {
			t.Fatalf("reload %d: ok %v changed %v err %v", i, res.OK, res.Changed, err)
		}
		reloads++
		time.Sleep(time.Millisecond)
	}
	load := stop()
	var failed int
	for i := range load {
		if why := load[i].failed(); why != "" {
			failed++
			if failed <= 5 {
				t.Errorf("load request %s failed: %s", load[i].id(), why)
			}
		}
	}
	// The floors only check that reloads and requests overlapped; the loop
	// above runs until there were enough reloads, whatever the machine.
	if failed > 0 || reloads < 20 || len(load) < 20 {
		t.Errorf("%d reloads under %d requests: %d failed; want ≥ 20 reloads, ≥ 20 requests and none failed", reloads, len(load), failed)
	}
	t.Logf("%d reloads under %d requests, 0 failed", reloads, len(load))
}

// TestReloadKeepsClientsAndBreakers: a provider whose settings did not
// change keeps its client (and its connection pool) and the breaker state
// of its targets; a changed provider gets a new client and fresh state;
// a removed target's state is dropped.
func TestReloadKeepsClientsAndBreakers(t *testing.T) {
	withOther := func(targets string) string {
		return strings.Replace(reloadSmall, "teams:", "  other:\n    targets: ["+targets+"]\n    price: {input_per_mtok: 1, output_per_mtok: 2}\nteams:", 1)
	}
	r := startReloadRig(t, withOther(`{provider: b, model: "ok:other"}, {provider: a, model: "ok:gone"}`), false)
	clientOf := func(provider string) any {
		rt := r.app.live.gw.Runtime()
		for _, name := range rt.Routes.Names() {
			rr, _ := rt.Routes.Lookup(name)
			for _, tg := range rr.Targets {
				if tg.Provider == provider {
					return tg.Client
				}
			}
		}
		t.Fatalf("no target on provider %s", provider)
		return nil
	}
	a0, b0 := clientOf("a"), clientOf("b")
	br := r.app.live.breakers
	for _, target := range []string{"a/ok:chat", "b/ok:other", "a/ok:gone"} {
		for range 5 {
			br.Get(target).Record(false)
		}
	}
	r.app.live.latency.Observe("a/ok:chat", time.Second)

	// b's connect timeout changes; a's target ok:gone goes.
	r.write(t, strings.Replace(withOther(`{provider: b, model: "ok:other"}`), `allow_private_network: true}
models:`, `allow_private_network: true, connect_timeout: 3s}
models:`, 1))
	if res := byCall(t, r); !res.OK {
		t.Fatalf("reload: %v", res.Errors)
	}
	if clientOf("a") != a0 {
		t.Error("provider a, unchanged, got a new client: its connection pool was lost")
	}
	if clientOf("b") == b0 {
		t.Error("provider b, changed, kept its old client")
	}
	got := map[string]string{}
	for _, s := range br.States() {
		got[s.Target] = s.State.String()
	}
	if len(got) != 1 || got["a/ok:chat"] != "open" {
		t.Errorf("breakers after reload = %v, want only a/ok:chat, still open", got)
	}
	if _, ok := r.app.live.latency.Get("a/ok:chat"); !ok {
		t.Error("latency of a/ok:chat, unchanged, was forgotten")
	}
}

// TestReloadNeverShowsSecrets rotates an inline provider key and a key in
// an environment variable, and breaks the config, then looks for the
// secret values everywhere a reload reports: the log, the admin API's
// answers, /readyz and the audit trail (RELIABILITY.md T32).
func TestReloadNeverShowsSecrets(t *testing.T) {
	t.Setenv("AIRGW_RELOAD_CANARY", "sk-canary-env-0123456789")
	withKeys := func(inline string) string {
		return strings.Replace(reloadSmall, "models:\n", "  c: {type: openai, base_url: \"@B@\", api_key: \""+inline+"\", allow_private_network: true, headers: {X-Env: \"${AIRGW_RELOAD_CANARY}\"}}\nmodels:\n", 1)
	}
	r := startReloadRig(t, withKeys("sk-canary-inline-0000000001"), false)
	var shown []string
	reloadAndShow := func() reload.Result {
		rec := httptest.NewRecorder()
		r.app.ReloadHandler(nil)(rec, httptest.NewRequest(http.MethodPost, "/admin/v1/reload", nil))
		shown = append(shown, rec.Body.String())
		rec = httptest.NewRecorder()
		r.app.ConfigHandler()(rec, httptest.NewRequest(http.MethodGet, "/admin/v1/config", nil))
		shown = append(shown, rec.Body.String())
		detail, _ := r.readyzConfig(t)
		shown = append(shown, detail)
		var res reload.Result
		_ = json.Unmarshal([]byte(shown[len(shown)-3]), &res)
		return res
	}

	r.write(t, withKeys("sk-canary-inline-0000000002"))
	t.Setenv("AIRGW_RELOAD_CANARY", "sk-canary-env-9876543210")
	res := reloadAndShow()
	notes := 0
	for _, c := range res.Applied {
		if c.Note != "" {
			notes++
		}
	}
	if !res.OK || notes != 2 {
		t.Errorf("reload rotating two secrets = ok %v applied %v, want 2 changes noting a changed value", res.OK, res.Applied)
	}
	r.write(t, withKeys("sk-canary-inline-0000000003")+"nonsense: 1\n")
	if res := reloadAndShow(); res.OK {
		t.Errorf("reload of a broken config succeeded")
	}
	recs := r.records()
	for _, rec := range recs {
		data, _ := json.Marshal(rec)
		shown = append(shown, string(data))
	}
	shown = append(shown, r.logs.String())
	for _, s := range shown {
		for _, secret := range []string{"sk-canary-inline-0000000001", "sk-canary-inline-0000000002", "sk-canary-inline-0000000003", "sk-canary-env-0123456789", "sk-canary-env-9876543210"} {
			if strings.Contains(s, secret) {
				t.Errorf("a reload showed the secret %s:\n%s", secret, s)
			}
		}
	}
}
