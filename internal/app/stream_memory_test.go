package app

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStreamMemory measures what one open stream costs in memory: N
// streams held open at once (each has its first event, the upstream holds
// the rest), through nothing (the client straight to the upstream), a bare
// httputil.ReverseProxy, and airgw as served with every feature on
// (benchConfig), all in this process and this run. The differences are
// the proxy's and airgw's cost per stream. It runs only when asked:
//
//	AIRGW_STREAM_MEMORY=2000 go test -run StreamMemory -v ./internal/app/
//
// With AIRGW_STREAM_MEMORY_PROMPT=<bytes>, the prompt is that long (the
// bench's is about 80 bytes). With AIRGW_STREAM_MEMORY_PROFILE=dir, it
// writes a heap profile and a goroutine dump of each target with the
// streams open (dir/heap-<target>.out, dir/goroutine-<target>.txt).
func TestStreamMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AIRGW_STREAM_MEMORY"))
	if n <= 0 {
		t.Skip("set AIRGW_STREAM_MEMORY=<streams> to run")
	}
	if os.Getenv("AIRGW_STREAM_MEMORY_PROFILE") != "" {
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 4 << 10 // fine enough to attribute a few hundred bytes per stream
	}
	release := make(chan struct{})
	var mu sync.Mutex
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf [4096]byte
		for {
			if _, err := r.Body.Read(buf[:]); err != nil {
				break
			}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		chunk := func(delta string) {
			fmt.Fprintf(w, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":%s,"finish_reason":null}]}`+"\n\n", delta)
			f.Flush()
		}
		chunk(`{"role":"assistant","content":""}`)
		mu.Lock()
		rel := release
		mu.Unlock()
		select {
		case <-rel:
		case <-r.Context().Done():
			return
		}
		for i := range 19 {
			chunk(`{"content":"word` + strconv.Itoa(i) + ` "}`)
		}
		fmt.Fprint(w, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":19,"total_tokens":31}}`+"\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	up.Start()
	defer up.Close()
	body := strings.Replace(benchBody, `"model"`, `"stream":true,"stream_options":{"include_usage":true},"model"`, 1)
	if p, _ := strconv.Atoi(os.Getenv("AIRGW_STREAM_MEMORY_PROMPT")); p > 0 {
		// A longer conversation: the system message padded to p bytes.
		body = strings.Replace(body, "You are a concise assistant.", strings.Repeat("You are a concise assistant. ", p/29+1)[:p], 1)
	}

	targets := []struct {
		name string
		url  func(tb testing.TB) (url, key string)
	}{
		{"direct", func(testing.TB) (string, string) { return up.URL, "" }},
		{"proxy", func(tb testing.TB) (string, string) { return proxyTo(tb, up.URL), "" }},
		{"airgw", func(tb testing.TB) (string, string) { return serveBench(tb, up.URL) }},
	}
	var base memFigures
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			url, key := tg.url(t)
			mu.Lock()
			release = make(chan struct{})
			rel := release
			mu.Unlock()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}}
			defer c.CloseIdleConnections()
			var opened, done sync.WaitGroup
			errs := make(chan error, n)
			done.Add(n)
			// Opened 100 at a time, as bench/run.sh opens its streams
			// over seconds: a burst of thousands at once trips airgw's
			// admission control (server.max_queue_delay).
			for i := range n {
				if i%100 == 0 {
					opened.Wait()
					opened.Add(min(100, n-i))
				}
				go func() {
					defer done.Done()
					once := sync.OnceFunc(opened.Done)
					defer once()
					req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+key)
					req.Header.Set("Content-Type", "application/json")
					resp, err := c.Do(req)
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					sc := bufio.NewScanner(resp.Body)
					var last string
					for sc.Scan() {
						if l := sc.Text(); l != "" {
							last = l
							once()
						}
					}
					if last != "data: [DONE]" {
						errs <- fmt.Errorf("status %d, stream ended with %q", resp.StatusCode, last)
					}
				}()
			}
			opened.Wait()
			time.Sleep(200 * time.Millisecond) // let the stragglers' first writes settle
			m := measure()
			if dir := os.Getenv("AIRGW_STREAM_MEMORY_PROFILE"); dir != "" {
				f, err := os.Create(filepath.Join(dir, "heap-"+tg.name+".out"))
				if err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
				if f, err := os.Create(filepath.Join(dir, "goroutine-"+tg.name+".txt")); err == nil {
					_ = pprof.Lookup("goroutine").WriteTo(f, 1)
					f.Close()
				}
			}
			mu.Lock()
			close(rel)
			mu.Unlock()
			done.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if tg.name == "direct" {
				base = m
			}
			d := m.sub(base)
			t.Logf("%s: %d streams: heap in use %d B/stream (live objects %d), stacks %d B/stream, %.1f goroutines/stream over direct (heap %d MiB, stacks %d MiB, %d goroutines)",
				tg.name, n, d.heap/int64(n), d.alloc/int64(n), d.stack/int64(n), float64(d.goroutines)/float64(n), m.heap>>20, m.stack>>20, m.goroutines)
		})
	}
}

type memFigures struct{ heap, alloc, stack, goroutines int64 }

func measure() memFigures {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{int64(ms.HeapInuse), int64(ms.HeapAlloc), int64(ms.StackInuse), int64(runtime.NumGoroutine())}
}

func (m memFigures) sub(o memFigures) memFigures {
	return memFigures{m.heap - o.heap, m.alloc - o.alloc, m.stack - o.stack, m.goroutines - o.goroutines}
}
