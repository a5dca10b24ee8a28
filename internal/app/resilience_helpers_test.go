package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/faulttest"
	"github.com/airgw/airgw/internal/keys"
)

// startYAML starts airgw on 127.0.0.1:0 with the real handler and the given
// config, in which @DIR@ stands for a temporary data directory. It creates
// two keys: "app" (no team: every model) and "narrow" (model "narrow-only").
// The gateway stops, flushing its audit records, when the test ends.
func startYAML(t *testing.T, yaml string) *liveGateway {
	t.Helper()
	dir := t.TempDir()
	yaml = strings.ReplaceAll(yaml, "@DIR@", filepath.ToSlash(dir))
	cfg, err := config.Parse("resilience.yaml", []byte(yaml), os.LookupEnv)
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, yaml)
	}
	a, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return serveLive(t, a, []keys.CreateOptions{{Name: "app"}, {Name: "narrow", Models: []string{"narrow-only"}}})
}

// faultHead is the start of every resilience config: one provider of type
// openai in front of the fault server, and short audit batching.
const faultHead = `
server: {listen: "127.0.0.1:0", max_body: 64KiB, shutdown_timeout: 5s}
storage: {sqlite: "@DIR@/airgw.db"}
log: {level: error}
audit: {flush_interval: 5ms, batch_size: 256}
providers:
  fault: {type: openai, base_url: "@FAULT_URL@", api_key: "@FAULT_KEY@", allow_private_network: true}
`

// price is the explicit price written as @P@ in the test configs.
const price = `price: {input_per_mtok: 1, output_per_mtok: 2}`

// rig is a live airgw in front of a fault server.
type rig struct {
	*liveGateway
	fault *faulttest.Server
	http  *http.Client
}

// startRig starts a fault server and airgw with faultHead followed by body
// (more providers, routing, models), where @FAULT_URL@ is the fault
// server's base URL and @P@ an explicit price.
func startRig(t *testing.T, body string) *rig {
	t.Helper()
	fault := faulttest.NewServer(t)
	yaml := strings.NewReplacer("@FAULT_URL@", fault.URL(), "@FAULT_KEY@", faulttest.Key, "@P@", price).Replace(faultHead + body)
	g := startYAML(t, yaml)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &rig{liveGateway: g, fault: fault, http: &http.Client{Transport: tr}}
}

// closedURL returns a base URL on 127.0.0.1 where nothing listens: a dial
// there is refused before any byte is sent.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/v1"
}

// result is one answer of the gateway.
type result struct {
	status int
	header http.Header
	body   []byte
	events []string // the data of each SSE event, when the answer streamed
	took   time.Duration
	err    error // the transport's, when there was no complete answer
}

// id is the answer's request id.
func (r *result) id() string { return r.header.Get("X-Request-Id") }

// code is the error code of a JSON error body, or "".
func (r *result) code() string {
	var env struct {
		Error struct {
			Code      string `json:"code"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(r.body, &env) != nil {
		return ""
	}
	return env.Error.Code
}

// attempts is the X-Airgw-Attempts header as a number (-1 when absent).
func (r *result) attempts() int {
	n, err := strconv.Atoi(r.header.Get("X-Airgw-Attempts"))
	if err != nil {
		return -1
	}
	return n
}

// req describes one chat request to the gateway.
type req struct {
	model  string
	stream bool
	key    string            // default: the "app" key
	header map[string]string // extra headers
	body   string            // raw body; default one user message
	// onFirstEvent, when set for a stream, is called once the first event
	// arrived; the rest of the body is still read.
	onFirstEvent func()
}

// do sends q with ctx and reads the whole answer.
func (r *rig) do(ctx context.Context, q req) result {
	body := q.body
	if body == "" {
		body = `{"model":` + strconv.Quote(q.model) + `,"messages":[{"role":"user","content":"resilience is a feature"}]`
		if q.stream {
			body += `,"stream":true`
		}
		body += `}`
	}
	key := q.key
	if key == "" {
		key = r.keys["app"]
	}
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/chat/completions", strings.NewReader(body))
	hr.Header.Set("Authorization", "Bearer "+key)
	hr.Header.Set("Content-Type", "application/json")
	for k, v := range q.header {
		hr.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := r.http.Do(hr)
	if err != nil {
		return result{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode, header: resp.Header}
	if q.onFirstEvent != nil {
		// Read up to the end of the first event, then let the caller act.
		var buf bytes.Buffer
		one := make([]byte, 1)
		for !bytes.HasSuffix(buf.Bytes(), []byte("\n\n")) {
			if _, err := resp.Body.Read(one); err != nil {
				res.err = err
				break
			}
			buf.WriteByte(one[0])
		}
		q.onFirstEvent()
		rest, err := io.ReadAll(resp.Body)
		res.body = append(buf.Bytes(), rest...)
		if res.err == nil {
			res.err = err
		}
	} else {
		res.body, res.err = io.ReadAll(resp.Body)
	}
	res.took = time.Since(start)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, ev := range strings.Split(string(res.body), "\n\n") {
			if d, ok := strings.CutPrefix(strings.TrimSpace(ev), "data: "); ok {
				res.events = append(res.events, d)
			}
		}
	}
	return res
}

// many sends n requests made by mk with at most conc in flight and returns
// the answers in order.
func (r *rig) many(n, conc int, mk func(i int) req) []result {
	out := make([]result, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = r.do(context.Background(), mk(i))
		}()
	}
	wg.Wait()
	return out
}

// liveRecords returns the audit records written so far, by request id,
// without stopping the gateway.
func (r *rig) liveRecords() map[string]audit.Record {
	r.t.Helper()
	out := map[string]audit.Record{}
	err := r.app.Records().QueryRecords(context.Background(), audit.Filter{}, func(rec audit.Record) error {
		out[rec.RequestID] = rec
		return nil
	})
	if err != nil {
		r.t.Fatalf("QueryRecords: %v", err)
	}
	return out
}

// waitRecord polls the audit trail for id's record, for at most d.
func (r *rig) waitRecord(id string, d time.Duration) (audit.Record, bool) {
	deadline := time.Now().Add(d)
	for {
		if rec, ok := r.liveRecords()[id]; ok {
			return rec, true
		}
		if time.Now().After(deadline) {
			return audit.Record{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readyz returns the gateway's readiness report.
func (r *rig) readyz() (status string, degraded map[string]string) {
	r.t.Helper()
	resp, err := r.http.Get(strings.TrimSuffix(r.base, "/v1") + "/readyz")
	if err != nil {
		r.t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	var rep struct {
		Status   string            `json:"status"`
		Degraded map[string]string `json:"degraded_targets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		r.t.Fatalf("GET /readyz: %v", err)
	}
	return rep.Status, rep.Degraded
}

// attemptModels lists the upstream models of a record's attempts, with
// their error classes ("" for success), as "model" or "model=class".
func attemptModels(rec audit.Record) []string {
	var out []string
	for _, a := range rec.Attempts {
		s := a.Model
		if a.ErrorClass != "" {
			s += "=" + a.ErrorClass
		}
		out = append(out, s)
	}
	return out
}

// retriesIn counts the attempts of a record that went to a target it had
// already tried (retry passes), and those that went to a new one
// (failovers).
func retriesIn(rec audit.Record) (retries, failovers int) {
	seen := map[string]bool{}
	for i, a := range rec.Attempts {
		k := a.Provider + "/" + a.Model
		switch {
		case seen[k]:
			retries++
		case i > 0:
			failovers++
		}
		seen[k] = true
	}
	return retries, failovers
}

// endsWithError reports whether SSE events end with an error event and
// carry no [DONE], returning the error's code.
func endsWithError(events []string) (code string, ok bool) {
	if len(events) == 0 {
		return "", false
	}
	for _, ev := range events {
		if ev == "[DONE]" {
			return "", false
		}
	}
	var env struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(events[len(events)-1]), &env) != nil || env.Error == nil {
		return "", false
	}
	return env.Error.Code, true
}
