// Package tracing exports OpenTelemetry spans for airgw's requests over
// OTLP/HTTP with the JSON encoding: one server span per request and one
// client span per upstream attempt, with the GenAI semantic-convention
// attributes (gen_ai.*).
//
// Spans are built from the finished audit record, which already holds
// every attempt's target, status, start and duration, so tracing adds no
// code to the request path: when it is off (the default) the gateway does
// not call it at all. A client's W3C traceparent makes the request span a
// child of the caller's span.
//
// It is written by hand rather than with the OpenTelemetry SDK, whose OTLP
// exporter brings gRPC and protobuf: airgw emits a fixed, small set of
// spans, and the JSON encoding is part of the OTLP specification.
package tracing

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

// Options configures an Exporter.
type Options struct {
	// Endpoint is the collector's base URL; spans go to Endpoint/v1/traces.
	Endpoint string
	// Headers are sent with every export.
	Headers map[string]string
	// ServiceName is the service.name resource attribute. Default airgw.
	ServiceName string
	// SampleRatio is the fraction of requests without a sampled parent
	// that are traced, 0 to 1; a caller's traceparent decides for its own
	// requests.
	SampleRatio float64
	// Interval is the longest spans wait before export. Default 2s.
	Interval time.Duration
	// QueueSize bounds the requests waiting for export; beyond it spans
	// are dropped and counted (tracing never slows requests). Default 4096.
	QueueSize int
	// Client sends the exports; nil means a client with a 10s timeout.
	Client *http.Client
	// Logger receives export failures, once per outage.
	Logger *slog.Logger
}

// Exporter turns finished records into spans and exports them in batches
// from one goroutine. It is safe for concurrent use.
type Exporter struct {
	o     Options
	url   string
	log   *slog.Logger
	queue chan *audit.Record
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	exported, dropped, failed atomic.Int64
	failing                   bool // goroutine only
}

// New starts an Exporter; Close flushes and stops it.
func New(o Options) *Exporter {
	if o.ServiceName == "" {
		o.ServiceName = "airgw"
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	e := &Exporter{o: o, url: strings.TrimSuffix(o.Endpoint, "/") + "/v1/traces", log: o.Logger,
		queue: make(chan *audit.Record, o.QueueSize), stop: make(chan struct{}), done: make(chan struct{})}
	go e.run()
	return e
}

// Record queues rec's spans for export, if the request is sampled. It
// never blocks.
func (e *Exporter) Record(rec *audit.Record) {
	if rec.Kind != "" && rec.Kind != audit.KindRequest {
		return
	}
	if rec.TraceID != "" {
		// Start decided when the request began.
		if !rec.Sampled {
			return
		}
	} else if !e.sampled(rec.TraceParent) {
		return
	}
	c := *rec
	c.Attempts = append([]audit.Attempt(nil), rec.Attempts...)
	select {
	case e.queue <- &c:
	default:
		e.dropped.Add(1)
	}
}

// Start implements the gateway's Tracer: the trace context of a request
// that starts now, continuing the client's traceparent when it sent a
// valid one. The sampling decision is taken here, once, so that the
// traceparent sent upstream carries the flag of the spans exported.
func (e *Exporter) Start(parent string) (traceID, spanID string, sampled bool) {
	var tid [16]byte
	if tp, ok := parseTraceParent(parent); ok {
		tid, sampled = tp.traceID, tp.sampled
	} else {
		randomID(tid[:])
		sampled = sample(e.o.SampleRatio)
	}
	return hex.EncodeToString(tid[:]), e.SpanID(), sampled
}

// SpanID implements the gateway's Tracer: a new random span id.
func (e *Exporter) SpanID() string {
	var id [8]byte
	randomID(id[:])
	return hex.EncodeToString(id[:])
}

// sampled decides for a record that Start did not see.
func (e *Exporter) sampled(parent string) bool {
	if tp, ok := parseTraceParent(parent); ok {
		return tp.sampled
	}
	return sample(e.o.SampleRatio)
}

func sample(ratio float64) bool { return ratio >= 1 || ratio > 0 && rand.Float64() < ratio }

// Stats counts the spans exported, the requests dropped because the queue
// was full, and the spans whose export failed.
func (e *Exporter) Stats() (exported, dropped, failed int64) {
	return e.exported.Load(), e.dropped.Load(), e.failed.Load()
}

// Close exports what is queued, waiting until ctx ends at most.
func (e *Exporter) Close(ctx context.Context) error {
	e.once.Do(func() { close(e.stop) })
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tracing: spans not exported at shutdown: %w", ctx.Err())
	}
}

func (e *Exporter) run() {
	defer close(e.done)
	t := time.NewTicker(e.o.Interval)
	defer t.Stop()
	var batch []*audit.Record
	for {
		select {
		case rec := <-e.queue:
			batch = append(batch, rec)
			if len(batch) < 256 {
				continue
			}
		case <-t.C:
		case <-e.stop:
			for len(e.queue) > 0 {
				batch = append(batch, <-e.queue)
			}
			e.export(batch)
			return
		}
		e.export(batch)
		batch = batch[:0]
	}
}

func (e *Exporter) export(recs []*audit.Record) {
	if len(recs) == 0 {
		return
	}
	var spans []span
	for _, r := range recs {
		spans = append(spans, spansOf(r)...)
	}
	body, err := json.Marshal(request(e.o.ServiceName, spans))
	if err != nil {
		e.failed.Add(int64(len(spans)))
		return
	}
	err = e.post(body)
	if err != nil {
		e.failed.Add(int64(len(spans)))
		if !e.failing {
			e.log.Warn("tracing: export to the OTLP collector failed; spans are dropped until it answers", "endpoint", e.o.Endpoint, "err", err)
			e.failing = true
		}
		return
	}
	if e.failing {
		e.log.Info("tracing: OTLP collector answering again", "endpoint", e.o.Endpoint)
		e.failing = false
	}
	e.exported.Add(int64(len(spans)))
}

func (e *Exporter) post(body []byte) error {
	req, err := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range e.o.Headers {
		req.Header.Set(k, v)
	}
	resp, err := e.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("collector answered %s", resp.Status)
	}
	return nil
}

// traceParent is a parsed W3C traceparent header.
type traceParent struct {
	traceID [16]byte
	spanID  [8]byte
	sampled bool
}

// parseTraceParent reads "00-<trace id>-<parent id>-<flags>".
func parseTraceParent(s string) (traceParent, bool) {
	var tp traceParent
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' || s[:2] == "ff" {
		return tp, false
	}
	if _, err := hex.Decode(tp.traceID[:], []byte(s[3:35])); err != nil || tp.traceID == [16]byte{} {
		return tp, false
	}
	if _, err := hex.Decode(tp.spanID[:], []byte(s[36:52])); err != nil || tp.spanID == [8]byte{} {
		return tp, false
	}
	var flags [1]byte
	if _, err := hex.Decode(flags[:], []byte(s[53:55])); err != nil {
		return tp, false
	}
	tp.sampled = flags[0]&1 == 1
	return tp, true
}

func randomID(b []byte) {
	for i := 0; i < len(b); i += 8 {
		var x [8]byte
		binary.LittleEndian.PutUint64(x[:], rand.Uint64())
		copy(b[i:], x[:])
	}
}
