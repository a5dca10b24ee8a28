package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder is what the request path needs from the audit trail. Writer
// implements it; a durable spool writer can replace Writer behind it.
type Recorder interface {
	Write(Record)
}

var _ Recorder = (*Writer)(nil)

// RejectedError is returned by a Sink that stored every record of a batch
// except those listed, which it refused permanently (a retry cannot help).
type RejectedError struct {
	IDs []string // request ids of the refused records
	Err error    // why; the first failure if there were several
}

// Error lists the rejected request ids and the reason.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("audit: %d records rejected (%v): %v", len(e.IDs), e.IDs, e.Err)
}

// Unwrap returns the reason the records were rejected.
func (e *RejectedError) Unwrap() error { return e.Err }

// Defaults for WriterOptions.
const (
	DefaultBatchSize     = 256
	DefaultFlushInterval = time.Second
	DefaultQueueSize     = 8192
	DefaultInsertTimeout = 10 * time.Second
	DefaultMaxBackoff    = 30 * time.Second
)

// WriterOptions configures a Writer. Zero fields take the defaults.
type WriterOptions struct {
	// BatchSize is the most records given to one InsertRecords call.
	// Default 256.
	BatchSize int
	// FlushInterval is the longest a record waits in a partial batch.
	// Default 1s.
	FlushInterval time.Duration
	// QueueSize is how many records may wait for the background goroutine
	// before Write blocks. Default 8192.
	QueueSize int
	// InsertTimeout bounds one InsertRecords call. Default 10s.
	InsertTimeout time.Duration
	// MaxBackoff caps the wait between retries of a failed batch; the wait
	// starts at 100ms and doubles. Default 30s.
	MaxBackoff time.Duration
	// Logger receives sink failures; nil means slog.Default().
	Logger *slog.Logger
}

// Stats counts a Writer's work since it started.
type Stats struct {
	Queued        int   // records accepted by Write and not yet stored
	Written       int64 // records the sink accepted
	FailedBatches int64 // InsertRecords calls that failed (each retry counts)
	Rejected      int64 // records the sink refused permanently
	Dropped       int64 // records written after Close finished
}

// Writer takes audit records off the request path and stores them in
// batches from one background goroutine.
//
// Write never touches the database. If the queue is full, because the sink
// is slow or failing, Write blocks until there is room: records are never
// dropped to keep latency down, so a sink outage longer than the queue can
// absorb slows requests rather than losing their records (DESIGN.md §5). A
// failed batch is retried with capped exponential backoff until it is
// stored; Sinks deduplicate by request id, so retries never duplicate. The
// Sink must not keep the slice it is given.
//
// A Writer is safe for concurrent use.
type Writer struct {
	sink Sink
	o    WriterOptions
	log  *slog.Logger

	queue chan Record
	// mu guards closed; writers counts Writes between their closed check
	// and their send, so that Close can wait for them before draining.
	mu      sync.RWMutex
	closed  bool
	writers sync.WaitGroup
	stop    chan struct{} // closed once no Write can still send: drain and exit
	done    chan struct{} // closed when the goroutine has exited
	// ctx is cancelled when Close gives up, to abandon a retrying batch.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	// failing is set while the sink fails; it is used by the background
	// goroutine only, to log once per state change.
	failing bool

	inFlight      atomic.Int64 // records taken from the queue, not yet stored
	written       atomic.Int64
	failedBatches atomic.Int64
	rejected      atomic.Int64
	dropped       atomic.Int64
}

// NewWriter returns a Writer storing records in sink and starts its
// background goroutine; Close stops it.
func NewWriter(sink Sink, o WriterOptions) *Writer {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.InsertTimeout <= 0 {
		o.InsertTimeout = DefaultInsertTimeout
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		sink:   sink,
		o:      o,
		log:    o.Logger,
		queue:  make(chan Record, o.QueueSize),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	go w.run()
	return w
}

// Write queues rec for storage. It blocks while the queue is full (see
// Writer). A Write that starts after Close has been called is a bug: the
// record is dropped, logged and counted in Stats.Dropped.
func (w *Writer) Write(rec Record) {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		w.dropped.Add(1)
		w.log.Error("audit record written after the writer closed; dropped", "request_id", rec.RequestID)
		return
	}
	w.writers.Add(1)
	w.mu.RUnlock()
	defer w.writers.Done()
	select {
	case w.queue <- rec:
	case <-w.done:
		// Close gave up and the goroutine is gone.
		w.dropped.Add(1)
		w.log.Error("audit writer abandoned by Close; record dropped", "request_id", rec.RequestID)
	}
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Queued:        len(w.queue) + int(w.inFlight.Load()),
		Written:       w.written.Load(),
		FailedBatches: w.failedBatches.Load(),
		Rejected:      w.rejected.Load(),
		Dropped:       w.dropped.Load(),
	}
}

// Close stores every queued record and stops the Writer. If ctx ends
// first, it abandons the rest and returns an error wrapping ctx.Err() that
// says how many records were not stored. Close may be called more than once.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		// Writes already past the closed check are still sending, perhaps
		// blocked on a full queue that the goroutine keeps draining.
		go func() {
			w.writers.Wait()
			close(w.stop)
		}()
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	w.cancel()
	<-w.done
	if n := w.Stats().Queued; n > 0 {
		return fmt.Errorf("audit: close: %d records not stored: %w", n, ctx.Err())
	}
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	defer w.cancel()
	timer := time.NewTimer(w.o.FlushInterval)
	timer.Stop()
	var batch []Record
	add := func(rec Record) {
		if len(batch) == 0 {
			timer.Reset(w.o.FlushInterval)
		}
		batch = append(batch, rec)
		w.inFlight.Add(1)
		if len(batch) >= w.o.BatchSize {
			timer.Stop()
			w.flush(batch)
			batch = nil
		}
	}
	for {
		select {
		case rec := <-w.queue:
			add(rec)
		case <-timer.C:
			if len(batch) > 0 {
				w.flush(batch)
				batch = nil
			}
		case <-w.ctx.Done():
			return // abandoned by Close
		case <-w.stop:
			// No Write can send any more: store what is queued and exit.
			for len(w.queue) > 0 && w.ctx.Err() == nil {
				add(<-w.queue)
			}
			if len(batch) > 0 && w.ctx.Err() == nil {
				w.flush(batch)
			}
			return
		}
		if w.ctx.Err() != nil {
			return
		}
	}
}

// flush stores batch, retrying until it succeeds or the Writer is abandoned.
func (w *Writer) flush(batch []Record) {
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(w.ctx, w.o.InsertTimeout)
		err := w.sink.InsertRecords(ctx, batch)
		cancel()
		var rej *RejectedError
		switch {
		case err == nil:
			w.done1(len(batch), 0)
			if w.failing {
				w.log.Info("audit sink recovered", "records", len(batch))
				w.failing = false
			}
			return
		case errors.As(err, &rej):
			w.done1(len(batch), len(rej.IDs))
			w.log.Error("audit sink rejected records permanently", "request_ids", rej.IDs, "err", rej.Err)
			return
		}
		w.failedBatches.Add(1)
		if w.ctx.Err() != nil {
			return // abandoned by Close; the records stay counted as queued
		}
		if !w.failing {
			w.log.Error("audit sink failed; holding the batch and retrying", "records", len(batch), "err", err)
			w.failing = true
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, w.o.MaxBackoff)
	}
}

// done1 accounts for a finished batch of n records, rejected of them refused.
func (w *Writer) done1(n, rejected int) {
	w.inFlight.Add(-int64(n))
	w.written.Add(int64(n - rejected))
	w.rejected.Add(int64(rejected))
}
