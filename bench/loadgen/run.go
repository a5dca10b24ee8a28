package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// result is the outcome of one request.
type result struct {
	scheduled time.Time     // when it was due (open loop) or sent (closed loop)
	lag       time.Duration // from scheduled to actually sent
	latency   time.Duration // from scheduled to the last byte
	ttft      time.Duration // from scheduled to the first SSE data event
	err       string        // "" on success, else an HTTP status or error kind
	done      bool          // false if never sent
}

// target is what every request is sent to.
type target struct {
	client *http.Client
	url    string
	header http.Header // shared read-only by all requests
	body   []byte
	stream bool
	raw    *rawClient // if set, used instead of client
}

var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// do sends one request and reads the whole response.
func (t *target) do(ctx context.Context, scheduled time.Time) result {
	if t.raw != nil {
		return t.raw.do(scheduled, t.stream)
	}
	r := result{scheduled: scheduled, done: true}
	sent := time.Now()
	r.lag = sent.Sub(scheduled)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		r.err = "request"
		return r
	}
	req.Header = t.header
	resp, err := t.client.Do(req)
	if err != nil {
		r.err = errKind(err)
		r.latency = time.Since(scheduled)
		return r
	}
	defer resp.Body.Close()
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(resp.Body)
	defer func() { br.Reset(nil); bufPool.Put(br) }()

	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, br)
		r.err = strconv.Itoa(resp.StatusCode)
		r.latency = time.Since(scheduled)
		return r
	}
	readBody(br, t.stream, &r)
	return r
}

// readBody reads a 200 response's body from br, filling in r's latency,
// time to first SSE data event (stream) and error.
func readBody(br *bufio.Reader, stream bool, r *result) {
	if !stream {
		_, err := io.Copy(io.Discard, br)
		r.latency = time.Since(r.scheduled)
		if err != nil {
			r.err = errKind(err)
		}
		return
	}
	var gotData, gotDone bool
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("data:")) {
			if !gotData {
				gotData = true
				r.ttft = time.Since(r.scheduled)
			}
			data := bytes.TrimSpace(line[5:])
			switch {
			case bytes.Equal(data, []byte("[DONE]")):
				gotDone = true
			case bytes.HasPrefix(data, []byte(`{"error"`)):
				r.err = "stream_error"
			}
		} else if bytes.HasPrefix(line, []byte("event: error")) {
			r.err = "stream_error"
		}
		if err == bufio.ErrBufferFull {
			continue // a long line; its prefix has been looked at
		}
		if err != nil {
			r.latency = time.Since(r.scheduled)
			if err != io.EOF {
				r.err = errKind(err)
			} else if !gotDone && r.err == "" {
				r.err = "stream_incomplete"
			}
			return
		}
	}
}

// errKind names a transport error for the error table.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected_eof"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "conn_" + oe.Op
	}
	return "transport"
}

// plan is one load run.
type plan struct {
	rate        float64       // open loop if > 0
	concurrency int           // closed loop workers
	n           int           // closed loop: stop after n measured requests (0: no limit)
	duration    time.Duration // measured part
	warmup      time.Duration // unmeasured part before it
	maxInflight int           // open loop: requests beyond this are dropped and counted
}

// runOpen runs the fixed-rate plan. The measurement window starts at the
// returned time; results due before it are warm-up.
func runOpen(ctx context.Context, t *target, p plan, onStart func()) ([]result, time.Time) {
	s := newSchedule(p.rate, p.warmup+p.duration)
	results := make([]result, s.n)
	start := time.Now().Add(5 * time.Millisecond)
	measureFrom := start.Add(p.warmup)
	startOnce := startWatcher(measureFrom, onStart)
	var inflight atomic.Int64
	var wg sync.WaitGroup
	// The launcher sleeps in nanosleep on its own thread (see realClock),
	// and a blocking system call keeps its P. A second P lets the requests
	// and the network poller run meanwhile, even when the process is
	// pinned to one CPU (the threads then share it; the sleeping one uses
	// none of it).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	launch(ctx, s, start, realClock{}, func(i int, at time.Time) {
		startOnce()
		if inflight.Load() >= int64(p.maxInflight) {
			results[i] = result{scheduled: at, done: true, err: "dropped_inflight_limit"}
			return
		}
		inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = t.do(ctx, at)
			inflight.Add(-1)
		}()
	})
	wg.Wait()
	return results, measureFrom
}

// runClosed runs p.concurrency workers, each sending its next request as
// soon as the previous one ends, until the duration or p.n is reached.
func runClosed(ctx context.Context, t *target, p plan, onStart func()) ([]result, time.Time) {
	start := time.Now()
	measureFrom := start.Add(p.warmup)
	end := measureFrom.Add(p.duration)
	startOnce := startWatcher(measureFrom, onStart)
	var tickets atomic.Int64
	per := make([][]result, p.concurrency)
	var wg sync.WaitGroup
	for w := range per {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(end) {
					return
				}
				measured := !now.Before(measureFrom)
				if measured {
					startOnce()
					if p.n > 0 && tickets.Add(1) > int64(p.n) {
						return
					}
				}
				r := t.do(ctx, now)
				if measured {
					per[w] = append(per[w], r)
				}
			}
		}()
	}
	wg.Wait()
	var all []result
	for _, rs := range per {
		all = append(all, rs...)
	}
	return all, measureFrom
}

// startWatcher returns a function that, called at any time, runs onStart
// once as soon as measureFrom is reached; a timer makes sure it runs even
// if nobody calls.
func startWatcher(measureFrom time.Time, onStart func()) func() {
	var once sync.Once
	fire := func() { once.Do(onStart) }
	time.AfterFunc(time.Until(measureFrom), fire)
	return func() {
		if !time.Now().Before(measureFrom) {
			fire()
		}
	}
}
