package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for SpoolOptions.
const (
	DefaultFsyncInterval      = 100 * time.Millisecond
	DefaultSpoolMaxSize       = 1 << 30
	DefaultSegmentSize        = 64 << 20
	DefaultMemoryQueue        = 4096
	DefaultCheckpointInterval = time.Minute
	// Draining into the database: the most records per insert, the
	// longest a record waits in a partial batch, the bound on one insert,
	// and the cap of the wait between retries of a failed batch.
	DefaultBatchSize     = 64
	DefaultFlushInterval = time.Second
	DefaultInsertTimeout = 10 * time.Second
	DefaultMaxBackoff    = 30 * time.Second
)

// SpoolOptions configures a Spool. Zero fields take the defaults.
type SpoolOptions struct {
	// Dir is the spool directory, created (0700) if needed. Required.
	Dir string
	// FsyncInterval is how often appended frames are fsynced. A process
	// crash (kill -9) loses nothing that was appended; a power loss can
	// lose what was appended in the last FsyncInterval. Default 100ms.
	FsyncInterval time.Duration
	// MaxSize bounds the bytes waiting for the database: beyond it, Begin
	// refuses new requests with ErrSpoolFull. Default 1 GiB.
	MaxSize int64
	// SegmentSize is the size at which a new segment file is started.
	// Default 64 MiB.
	SegmentSize int64
	// MemoryQueue is how many records are handed to the database from
	// memory; beyond it the drain reads them back from the files, so
	// memory stays bounded however long the database is away. Default 4096.
	MemoryQueue int
	// BatchSize, FlushInterval, InsertTimeout and MaxBackoff shape the
	// drain to the Sink, as for Writer.
	BatchSize     int
	FlushInterval time.Duration
	InsertTimeout time.Duration
	MaxBackoff    time.Duration
	// Signer signs a checkpoint of the chain head every CheckpointInterval
	// (default 1m) when records were added, and at Close. Nil: no
	// checkpoints.
	Signer             ed25519.PrivateKey
	CheckpointInterval time.Duration
	// RecoverTimeout bounds the question asked of the Sink at Open about
	// its chain head. Default 5s.
	RecoverTimeout time.Duration
	// Logger receives the spool's events; nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

func (o *SpoolOptions) defaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.FsyncInterval, DefaultFsyncInterval)
	def(&o.FlushInterval, DefaultFlushInterval)
	def(&o.InsertTimeout, DefaultInsertTimeout)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.CheckpointInterval, DefaultCheckpointInterval)
	def(&o.RecoverTimeout, 5*time.Second)
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultSpoolMaxSize
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.MemoryQueue <= 0 {
		o.MemoryQueue = DefaultMemoryQueue
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// HeadSource is implemented by a Sink that can say where a chain ends in
// the database. At Open, a database ahead of the spool (its last frames
// lost to a power cut after they were stored) moves the chain head forward
// so that Seq values are never reused.
type HeadSource interface {
	ChainHead(ctx context.Context, chain string) (Head, error)
}

// ErrSpoolFull is returned by Begin while the spool holds more than its
// MaxSize waiting for the database.
var ErrSpoolFull = errors.New("audit: spool full")

// pos is a position in the spool: a segment, an offset in it, and the
// offset counted over every segment since Open (for sizes).
type pos struct{ seg, off, g int64 }

func (p pos) before(q pos) bool { return p.seg < q.seg || p.seg == q.seg && p.off < q.off }

// item is a record or checkpoint on its way to the database.
type item struct {
	rec Record
	cp  *Checkpoint
	at  int64 // unix nanoseconds appended
	end pos   // just past its frame
	// memOnly marks a record whose frame could not be written: memory
	// holds its only copy.
	memOnly bool
}

// Spool is the durable audit writer (DESIGN.md §5). Write appends the
// record to a local append-only file with one write(2) — in the kernel's
// page cache, so a kill -9 of the process loses nothing — before the
// response completes, and links it into the writer's hash chain. A
// background goroutine fsyncs appended frames every FsyncInterval, another
// drains records to the Sink in batches, by request id, exactly once. The
// database is never on the request path: while it is down or slow the
// records wait on disk (bounded by MaxSize) and memory stays bounded. A
// record the Sink rejects goes to dead-letter.jsonl in the spool directory.
//
// Begin marks a request in flight; a request begun but never written (the
// process died) gets a record with error class "interrupted" at the next
// Open.
//
// A Spool is safe for concurrent use. One process owns a spool directory
// at a time (a lock file enforces it).
type Spool struct {
	o     SpoolOptions
	sink  Sink
	log   *slog.Logger
	dir   string
	lock  *os.File
	chain string

	mu       sync.Mutex
	f        *os.File
	cur      pos   // the end of the active segment
	lastItem pos   // just past the last record or checkpoint frame
	head     Head  // the chain's last record
	cpSeq    int64 // the Seq of the last checkpoint
	open     map[string][]byte
	pending  []item
	spilled  bool // items were not queued in memory: the drain reads the files
	closed   bool
	dirty    bool
	buf      []byte

	syncMu sync.Mutex // held while fsyncing, so that rotation cannot close the file under it
	cursor *os.File   // the drain position hint; drain goroutine only

	// drained is the position up to which everything is stored; dmu
	// guards it and progress, closed and replaced at each advance.
	dmu      sync.Mutex
	drained  pos
	progress chan struct{}

	inflightAt atomic.Int64 // time appended of the oldest record being stored; 0 when none
	fileAt     atomic.Int64 // same, for records read back from the files
	failing    atomic.Bool
	appended   atomic.Int64
	stored     atomic.Int64
	dead       atomic.Int64
	refused    atomic.Int64
	writeErrs  atomic.Int64
	dropped    atomic.Int64
	cps        atomic.Int64
	alertLevel int // percent of MaxSize last alerted; housekeeping goroutine only

	kick      chan struct{}
	stop      chan struct{} // closed by Close: drain what is left and exit
	ctx       context.Context
	cancel    context.CancelFunc // abandons the drain when Close gives up
	drainDone chan struct{}
	houseDone chan struct{}
	once      sync.Once
}

var _ Recorder = (*Spool)(nil)

// OpenSpool opens (or creates) the spool in o.Dir for sink: it takes the
// directory's lock, reads what earlier processes left (records not yet in
// the database, requests left in flight, the chain head), writes an
// "interrupted" record for each request that was in flight, and starts
// draining. Records left by earlier processes reach the Sink first; Sync
// waits for them.
func OpenSpool(sink Sink, o SpoolOptions) (*Spool, error) {
	if o.Dir == "" {
		return nil, errors.New("audit: spool: no directory")
	}
	o.defaults()
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Spool{
		o: o, sink: sink, log: o.Logger, dir: o.Dir, lock: lock,
		open: map[string][]byte{}, progress: make(chan struct{}),
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
		ctx: ctx, cancel: cancel, drainDone: make(chan struct{}), houseDone: make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		cancel()
		unlockDir(lock)
		return nil, err
	}
	go s.drain()
	go s.housekeep()
	return s, nil
}

// newChainID returns a fresh writer id: "w" and 16 hex digits.
func newChainID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "w" + hex.EncodeToString(b[:])
}

// Chain is the id of this spool's hash chain.
func (s *Spool) Chain() string { return s.chain }

// Begin records that a request is in flight, from what is known before
// its first upstream attempt. It returns ErrSpoolFull (wrapped, with the
// sizes) while the spool is over MaxSize: the caller refuses the request.
func (s *Spool) Begin(rec Record) error {
	if over := s.undrained(); over > s.o.MaxSize {
		s.refused.Add(1)
		return fmt.Errorf("%w: %s of records wait for the database, over audit.spool_max_size (%s)", ErrSpoolFull, humanSize(over), humanSize(s.o.MaxSize))
	}
	m := markOf(&rec)
	body, ok := appendMark(make([]byte, 0, 384), m)
	var err error
	if !ok {
		body, err = json.Marshal(m)
	}
	if err != nil {
		return fmt.Errorf("audit: spool: encoding request %s: %w", rec.RequestID, err)
	}
	at := s.o.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("audit: spool closed")
	}
	s.buf = appendFrame(s.buf[:0], frameBegin, at, beginPrefix(nil, rec.RequestID), body)
	// Marked open before the append, so that a rotation it causes carries
	// the mark into the new segment.
	s.open[rec.RequestID] = append([]byte(nil), s.buf...)
	if _, err := s.append(s.buf); err != nil {
		delete(s.open, rec.RequestID)
		return err
	}
	return nil
}

// Write appends rec to the spool, links it into the chain and queues it
// for the database. It returns once the record is in the kernel's hands
// (a few microseconds); it never waits for the database. A Write after
// Close is a bug: the record is dropped and logged, and if the request was
// begun it is recorded as interrupted at the next start.
func (s *Spool) Write(rec Record) {
	if rec.Kind == "" {
		rec.Kind = KindRequest
	}
	rec.Start, rec.End = rec.Start.UTC(), rec.End.UTC()
	body, err := Body(&rec)
	if err != nil {
		// Record has no field that can fail to encode; keep it anyway.
		s.log.Error("audit record cannot be encoded", "request_id", rec.RequestID, "err", err)
		body = []byte("{}")
	}
	sum := sha256.Sum256(body)
	var bodies []byte
	if rec.Bodies != nil {
		bodies, _ = json.Marshal(rec.Bodies)
	}
	at := s.o.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(1)
		s.log.Error("audit record written after the spool closed; dropped", "request_id", rec.RequestID)
		return
	}
	s.head = Link(&rec, s.chain, s.head, &sum)
	// No longer open, before the append: a rotation it causes must not
	// carry the mark past the record.
	delete(s.open, rec.RequestID)
	s.buf = appendFrame(s.buf[:0], frameRecord, at, recordPrefix(nil, &rec, bodies), body)
	end, err := s.append(s.buf)
	if err != nil {
		s.writeErrs.Add(1)
		s.log.Error("audit spool write failed; the record goes to the database from memory only", "request_id", rec.RequestID, "err", err)
		// Not on disk: memory is its only copy, so queue it whatever the
		// queue's length, and the drain keeps it when it reads the files.
		s.pending = append(s.pending, item{rec: rec, at: at, end: s.cur, memOnly: true})
		s.lastItem = s.cur
	} else {
		s.enqueue(item{rec: rec, at: at, end: end})
	}
	s.appended.Add(1)
}

// enqueue queues it for the drain, or notes that the drain must read the
// files; s.mu is held.
func (s *Spool) enqueue(it item) {
	s.lastItem = it.end
	if !s.spilled && len(s.pending) < s.o.MemoryQueue {
		s.pending = append(s.pending, it)
	} else {
		s.spilled = true
	}
	if len(s.pending) >= s.o.BatchSize || s.spilled {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// append writes one frame to the active segment, rotating it when full,
// and returns the position just past the frame; s.mu is held. On a failed
// write the segment is cut back to its last whole frame so that later
// frames stay readable.
func (s *Spool) append(fr []byte) (pos, error) {
	n, err := s.f.Write(fr)
	if err != nil {
		if n > 0 {
			if terr := s.f.Truncate(s.cur.off); terr != nil {
				// The torn frame stays: start a new segment so that what
				// follows is readable.
				_ = s.rotate()
			} else {
				_, _ = s.f.Seek(s.cur.off, 0)
			}
		}
		return s.cur, fmt.Errorf("audit: spool: %w", err)
	}
	s.cur.off += int64(n)
	s.cur.g += int64(n)
	s.dirty = true
	end := s.cur
	if s.cur.off >= s.o.SegmentSize {
		if err := s.rotate(); err != nil {
			s.log.Error("audit spool cannot start a new segment; appending to the full one", "err", err)
		}
	}
	return end, nil
}

// rotate starts segment cur.seg+1: its header carries the chain head, and
// the requests still in flight are marked again in it, so that older
// segments can be deleted once drained. s.mu is held.
func (s *Spool) rotate() error {
	next := s.cur.seg + 1
	f, err := os.OpenFile(filepath.Join(s.dir, segmentName(next)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	hdr, _ := json.Marshal(segHeader{Chain: s.chain, Index: next, Head: s.head})
	b := appendFrame(nil, frameHeaderT, s.o.Now().UnixNano(), hdr)
	for _, fr := range s.open {
		b = append(b, fr...)
	}
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("audit: spool: %w", err)
	}
	syncDir(s.dir)
	s.syncMu.Lock()
	old := s.f
	_ = old.Sync()
	old.Close()
	s.f = f
	s.syncMu.Unlock()
	s.cur = pos{seg: next, off: int64(len(b)), g: s.cur.g + int64(len(b))}
	s.dirty = false
	return nil
}

// undrained is the number of spool bytes not yet stored.
func (s *Spool) undrained() int64 {
	s.mu.Lock()
	g := s.cur.g
	s.mu.Unlock()
	s.dmu.Lock()
	d := s.drained.g
	s.dmu.Unlock()
	return max(0, g-d)
}

// Sync waits until every record written before it was called is stored
// (or dead-lettered), or ctx ends. The application calls it at start,
// before reading the database, so that records left by a previous process
// are counted.
func (s *Spool) Sync(ctx context.Context) error {
	s.mu.Lock()
	target := s.lastItem
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	for {
		s.dmu.Lock()
		done, ch := !s.drained.before(target), s.progress
		s.dmu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("audit: spool: %d records still wait for the database: %w", s.Stats().Depth, ctx.Err())
		}
	}
}

// SpoolStats describes a Spool's state, for metrics and readiness.
type SpoolStats struct {
	Chain string
	Head  Head
	// Depth is the number of records and checkpoints appended but not yet
	// stored; Bytes their size on disk (with in-flight marks); OldestAge
	// the age of the oldest of them.
	Depth     int64
	Bytes     int64
	MaxBytes  int64
	OldestAge time.Duration
	// SinkFailing is true while the database refuses writes.
	SinkFailing bool
	// Counters since Open.
	Appended, Stored, DeadLettered, Refused, WriteErrors, Dropped, Checkpoints int64
}

// Stats returns the spool's state.
func (s *Spool) Stats() SpoolStats {
	s.mu.Lock()
	head := s.head
	var pendingAt int64
	if len(s.pending) > 0 {
		pendingAt = s.pending[0].at
	}
	s.mu.Unlock()
	oldest := s.inflightAt.Load()
	if oldest == 0 {
		oldest = s.fileAt.Load()
	}
	if oldest == 0 {
		oldest = pendingAt
	}
	st := SpoolStats{
		Chain: s.chain, Head: head,
		Bytes: s.undrained(), MaxBytes: s.o.MaxSize,
		SinkFailing: s.failing.Load(),
		Appended:    s.appended.Load(), Stored: s.stored.Load(), DeadLettered: s.dead.Load(),
		Refused: s.refused.Load(), WriteErrors: s.writeErrs.Load(), Dropped: s.dropped.Load(),
		Checkpoints: s.cps.Load(),
	}
	st.Depth = max(0, st.Appended+st.Checkpoints-st.Stored-st.DeadLettered)
	if oldest > 0 && st.Depth > 0 {
		st.OldestAge = max(0, s.o.Now().Sub(time.Unix(0, oldest)))
	}
	return st
}

// Close stops accepting records, signs a last checkpoint, fsyncs, and
// stores what is left in the database. If ctx ends first, the rest stays
// in the spool, safe on disk, and is stored at the next start: Close then
// says how many records wait. Close may be called more than once.
func (s *Spool) Close(ctx context.Context) error {
	s.once.Do(func() {
		if s.o.Signer != nil {
			s.checkpoint()
		}
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		<-s.houseDone
		s.syncMu.Lock()
		if err := s.f.Sync(); err != nil {
			s.log.Error("audit spool fsync failed at close", "err", err)
		}
		s.syncMu.Unlock()
	})
	var err error
	select {
	case <-s.drainDone:
	case <-ctx.Done():
		s.cancel()
		<-s.drainDone
		if n := s.Stats().Depth; n > 0 {
			err = fmt.Errorf("audit: %d records not yet in the database stay in the spool %s and will be stored at the next start: %w", n, s.dir, ctx.Err())
		}
	}
	s.mu.Lock()
	if s.f != nil {
		s.f.Close()
		s.f = nil
		unlockDir(s.lock)
	}
	s.mu.Unlock()
	return err
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
