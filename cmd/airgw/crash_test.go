package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/faulttest"
)

// The test in this file runs the built binary, as an operator would.

// buildBinary builds cmd/airgw into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	bin := filepath.Join(t.TempDir(), "airgw")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// gateway is one run of `airgw serve`.
type gateway struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

func startGateway(t *testing.T, bin, cfg string, logs io.Writer) *gateway {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gateway{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logs, sc.Text())
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "airgw listening" {
				addr <- line.Addr
			}
		}
		g.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		g.base = "http://" + a + "/v1"
	case err := <-g.done:
		t.Fatalf("airgw serve exited before listening: %v", err)
	case <-time.After(60 * time.Second): // a hang guard
		cmd.Process.Kill()
		t.Fatal("airgw serve did not listen within 60s")
	}
	return g
}

// outcome is what the client saw of one request.
type outcome struct {
	id        string // X-Request-Id; empty when no response header arrived
	completed bool   // the whole response arrived: a record must exist
}

// load sends requests from workers until ctx ends, half of them streamed
// and a quarter slow enough to be in flight when the gateway dies.
func load(ctx context.Context, base, key string, workers int, seed uint64) []outcome {
	var (
		mu  sync.Mutex
		out []outcome
		wg  sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for ctx.Err() == nil {
				stream := rng.IntN(2) == 0
				model := "fast"
				if rng.IntN(4) == 0 {
					model = "slow"
				}
				o := send(ctx, client, base, key, model, stream)
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func send(ctx context.Context, client *http.Client, base, key, model string, stream bool) outcome {
	body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"count the records"}]}`, model, stream)
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "POST", base+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Airgw-Purpose", "t13")
	resp, err := client.Do(req)
	if err != nil {
		return outcome{}
	}
	defer resp.Body.Close()
	o := outcome{id: resp.Header.Get("X-Request-Id")}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return o
	}
	if stream {
		o.completed = bytes.HasSuffix(bytes.TrimSpace(b), []byte("data: [DONE]"))
	} else {
		var c struct{ Choices []json.RawMessage }
		o.completed = json.Unmarshal(b, &c) == nil && len(c.Choices) == 1
	}
	return o
}

// TestKill9LosesNoRecord is RELIABILITY.md T13: the built binary under
// load is killed with SIGKILL several times and restarted; every request
// whose response the client received in full has exactly one record, with
// its real status; requests cut by a kill that reached a provider are
// recorded as interrupted; no request id is recorded twice; the hash chain
// verifies across the crashes. The short version runs 3 kills; bench/audit
// runs more (AIRGW_T13_KILLS, AIRGW_T13_WORKERS, AIRGW_T13_RUN_MS).
func TestKill9LosesNoRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	kills := envInt("AIRGW_T13_KILLS", 3)
	workers := envInt("AIRGW_T13_WORKERS", 6)
	runMS := envInt("AIRGW_T13_RUN_MS", 1200)

	bin := buildBinary(t)
	fake := faulttest.NewServer(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "airgw.yaml")
	os.WriteFile(cfg, []byte(`
server: {listen: "127.0.0.1:0", shutdown_timeout: 20s}
storage: {sqlite: "`+filepath.ToSlash(dir)+`/airgw.db"}
log: {format: json, level: info}
audit: {flush_interval: 20ms, fsync_interval: 10ms}
providers:
  fake: {type: openai, base_url: "`+fake.URL()+`", api_key: "`+faulttest.Key+`", allow_private_network: true}
models:
  fast: {targets: [{provider: fake, model: ok}], price: {input_per_mtok: 1, output_per_mtok: 2}}
  slow: {targets: [{provider: fake, model: "slowbody:300ms"}], price: {input_per_mtok: 1, output_per_mtok: 2}}
`), 0o600)
	out, err := exec.Command(bin, "keys", "create", "--name", "t13", "--json", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	var created struct{ Key string }
	if err := json.Unmarshal(out, &created); err != nil {
		t.Fatalf("keys create output %q: %v", out, err)
	}
	var logs bytes.Buffer
	defer func() {
		if t.Failed() {
			t.Logf("gateway logs:\n%s", logs.String())
		}
	}()

	var outcomes []outcome
	rng := rand.New(rand.NewPCG(13, 13))
	for k := range kills {
		g := startGateway(t, bin, cfg, &logs)
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan []outcome, 1)
		go func() { res <- load(ctx, g.base, created.Key, workers, uint64(k)) }()
		time.Sleep(time.Duration(runMS/2+rng.IntN(runMS)) * time.Millisecond) // the gateway's lifetime: load, not a timing assertion
		g.cmd.Process.Signal(syscall.SIGKILL)
		<-g.done
		cancel()
		outcomes = append(outcomes, <-res...)
	}
	// A last, clean run: it ingests what the killed runs left, and stops
	// with SIGTERM, storing everything.
	g := startGateway(t, bin, cfg, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	outcomes = append(outcomes, load(ctx, g.base, created.Key, workers, 99)...)
	cancel()
	g.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-g.done; err != nil {
		t.Fatalf("airgw serve after SIGTERM: %v", err)
	}

	out, err = exec.Command(bin, "audit", "export", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("audit export: %v", err)
	}
	type rec struct {
		RequestID  string `json:"request_id"`
		Status     int    `json:"status"`
		ErrorClass string `json:"error_class"`
	}
	records := map[string]rec{}
	dups := 0
	for line := range bytes.SplitSeq(bytes.TrimSpace(out), []byte("\n")) {
		var r rec
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		if _, ok := records[r.RequestID]; ok {
			dups++
		}
		records[r.RequestID] = r
	}
	var completed, missing, wrong, interrupted, cut int
	byID := map[string]outcome{}
	for _, o := range outcomes {
		if o.id != "" {
			byID[o.id] = o
		}
		if !o.completed {
			cut++
			continue
		}
		completed++
		r, ok := records[o.id]
		switch {
		case !ok:
			missing++
			t.Errorf("completed request %s has no record", o.id)
		case r.Status != 200 || r.ErrorClass != "":
			wrong++
			t.Errorf("completed request %s recorded as %d %s, want 200", o.id, r.Status, r.ErrorClass)
		}
	}
	for id, r := range records {
		if r.ErrorClass != "interrupted" {
			continue
		}
		interrupted++
		if byID[id].completed {
			t.Errorf("request %s completed but is recorded as interrupted", id)
		}
	}
	if dups > 0 {
		t.Errorf("%d request ids recorded twice", dups)
	}
	if interrupted == 0 {
		t.Errorf("no interrupted record after %d kills with slow requests in flight", kills)
	}
	if v, err := exec.Command(bin, "audit", "verify", "--config", cfg).CombinedOutput(); err != nil {
		t.Errorf("audit verify after %d kills: %v\n%s", kills, err, v)
	}
	t.Logf("FIGURE T13: %d SIGKILLs, %d workers: %d responses completed, %d missing records, %d wrong, %d duplicated; %d requests cut by the kills, %d recorded as interrupted; %d records in all; chain verifies",
		kills, workers, completed, missing, wrong, dups, cut, interrupted, len(records))
}
