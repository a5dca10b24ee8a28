package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// drain stores spooled records in the Sink until Close.
func (s *Spool) drain() {
	defer close(s.drainDone)
	defer func() {
		if s.cursor != nil {
			s.cursor.Close()
		}
	}()
	timer := time.NewTimer(s.o.FlushInterval)
	defer timer.Stop()
	for {
		stopping := false
		select {
		case <-s.kick:
		case <-timer.C:
		case <-s.stop:
			stopping = true
		case <-s.ctx.Done():
			return
		}
		s.drainAll()
		if stopping || s.ctx.Err() != nil {
			return // after stop no record can be added: drainAll took them all
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(s.o.FlushInterval)
	}
}

// drainAll stores everything queued so far.
func (s *Spool) drainAll() {
	for s.ctx.Err() == nil {
		s.mu.Lock()
		if s.spilled {
			// Records were appended that memory did not keep: read the files
			// from the drain position to here. Everything appended after
			// this moment is queued in memory again.
			to := s.cur
			var keep []item
			for _, it := range s.pending {
				if it.memOnly {
					keep = append(keep, it)
				}
			}
			s.pending = s.pending[:0]
			s.spilled = false
			s.mu.Unlock()
			if len(keep) > 0 && !s.store(keep) {
				return
			}
			s.dmu.Lock()
			from := s.drained
			s.dmu.Unlock()
			if !s.drainFiles(from, to) {
				return
			}
			continue
		}
		if len(s.pending) == 0 {
			s.mu.Unlock()
			return
		}
		batch := s.pending
		s.pending = make([]item, 0, min(len(batch), s.o.MemoryQueue))
		s.mu.Unlock()
		if !s.store(batch) {
			return
		}
	}
}

// drainFiles reads the frames between from and to back from the segment
// files and stores their records and checkpoints. It returns false when
// Close abandoned the drain.
func (s *Spool) drainFiles(from, to pos) bool {
	defer s.fileAt.Store(0)
	batch := make([]item, 0, s.o.BatchSize)
	g := from.g
	errAbandon := errors.New("abandoned")
	errLimit := errors.New("limit")
	for seg := from.seg; seg <= to.seg; seg++ {
		start := int64(0)
		if seg == from.seg {
			start = from.off
		}
		chain := s.chain
		_, torn, err := scanSegment(s.dir, seg, start, func(f *frame, end int64) error {
			if seg == to.seg && end > to.off {
				return errLimit
			}
			g += f.size
			p := pos{seg: seg, off: end, g: g}
			switch f.typ {
			case frameHeaderT:
				var h segHeader
				if json.Unmarshal(f.payload, &h) == nil && h.Chain != "" {
					chain = h.Chain
				}
				return nil
			case frameRecord:
				rec, err := f.record()
				if err != nil {
					s.deadFrame(f, err)
					return nil
				}
				rec.Chain = chain
				batch = append(batch, item{rec: rec, at: f.at, end: p})
			case frameCheckpoint:
				var cp Checkpoint
				if err := json.Unmarshal(f.payload, &cp); err != nil {
					s.log.Error("audit spool: a checkpoint frame cannot be read; skipped", "segment", segmentName(seg), "err", err)
					return nil
				}
				batch = append(batch, item{cp: &cp, at: f.at, end: p})
			default:
				return nil
			}
			if len(batch) >= s.o.BatchSize {
				s.fileAt.Store(batch[0].at)
				if !s.store(batch) {
					return errAbandon
				}
				batch = batch[:0]
			}
			return nil
		})
		switch {
		case errors.Is(err, errAbandon):
			return false
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil && !errors.Is(err, errLimit):
			s.log.Error("audit spool: cannot read a segment back; its remaining records stay in the spool until the next start", "segment", segmentName(seg), "err", err)
		case torn && seg != to.seg:
			s.log.Warn("audit spool: a segment ends with a torn frame; reading on from the next segment", "segment", segmentName(seg))
		}
	}
	if len(batch) > 0 {
		s.fileAt.Store(batch[0].at)
		return s.store(batch)
	}
	return true
}

// store hands items to the Sink in batches, retrying until each batch is
// stored or Close abandons the drain (false). Records the Sink rejects go
// to the dead-letter file.
func (s *Spool) store(items []item) bool {
	for len(items) > 0 {
		n := min(len(items), s.o.BatchSize)
		chunk := items[:n]
		s.inflightAt.Store(chunk[0].at)
		ok := s.storeChunk(chunk)
		s.inflightAt.Store(0)
		if !ok {
			return false
		}
		items = items[n:]
	}
	return true
}

func (s *Spool) storeChunk(chunk []item) bool {
	var (
		recs []Record
		cps  []Checkpoint
	)
	for i := range chunk {
		if chunk[i].cp != nil {
			cps = append(cps, *chunk[i].cp)
		} else {
			recs = append(recs, chunk[i].rec)
		}
	}
	if len(recs) > 0 && !s.retry("records", len(recs), func(ctx context.Context) error {
		err := s.sink.InsertRecords(ctx, recs)
		var rej *RejectedError
		if errors.As(err, &rej) {
			return s.deadLetter(recs, rej)
		}
		if err == nil {
			s.stored.Add(int64(len(recs)))
		}
		return err
	}) {
		return false
	}
	if cs, ok := s.sink.(CheckpointSink); ok && len(cps) > 0 && !s.retry("checkpoints", len(cps), func(ctx context.Context) error {
		return cs.InsertCheckpoints(ctx, cps)
	}) {
		return false
	}
	var last pos
	found := false
	for i := range chunk {
		if !chunk[i].memOnly {
			last, found = chunk[i].end, true
		}
	}
	s.stored.Add(int64(len(cps)))
	if found {
		s.advance(last)
	}
	return true
}

// retry runs insert until it succeeds or Close abandons the drain, with
// capped exponential backoff, logging once per outage.
func (s *Spool) retry(what string, n int, insert func(ctx context.Context) error) bool {
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(s.ctx, s.o.InsertTimeout)
		err := insert(ctx)
		cancel()
		if err == nil {
			if s.failing.CompareAndSwap(true, false) {
				s.log.Info("audit database recovered; spooled records are being stored", "spool_bytes", s.undrained())
			}
			return true
		}
		if s.ctx.Err() != nil {
			return false
		}
		if s.failing.CompareAndSwap(false, true) {
			s.log.Error("audit database write failed; records wait in the spool and are retried", "what", what, "batch", n, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, s.o.MaxBackoff)
	}
}

// advance moves the drain position to p and wakes Sync.
func (s *Spool) advance(p pos) {
	s.dmu.Lock()
	if s.drained.before(p) {
		s.drained = p
	}
	close(s.progress)
	s.progress = make(chan struct{})
	s.dmu.Unlock()
	s.writeCursor(p)
	s.removeDrained(p)
}

// deadLetterLine is one line of the dead-letter file.
type deadLetterLine struct {
	RejectedAt time.Time       `json:"rejected_at"`
	Reason     string          `json:"reason"`
	Record     *Record         `json:"record,omitempty"`
	Raw        json.RawMessage `json:"raw,omitempty"`
}

// deadLetter writes the records rej names to the dead-letter file and
// counts the batch as handled: the stored ones as stored.
func (s *Spool) deadLetter(recs []Record, rej *RejectedError) error {
	bad := make(map[string]bool, len(rej.IDs))
	for _, id := range rej.IDs {
		bad[id] = true
	}
	var lines []deadLetterLine
	now := s.o.Now().UTC()
	for i := range recs {
		if bad[recs[i].RequestID] {
			lines = append(lines, deadLetterLine{RejectedAt: now, Reason: rej.Err.Error(), Record: &recs[i]})
		}
	}
	if err := s.appendDeadLetters(lines); err != nil {
		return fmt.Errorf("writing rejected records to %s: %w", DeadLetterFile, err)
	}
	s.stored.Add(int64(len(recs) - len(lines)))
	s.dead.Add(int64(len(lines)))
	s.log.Error("the database rejected audit records; they are kept in the dead-letter file",
		"request_ids", rej.IDs, "reason", rej.Err, "file", filepath.Join(s.dir, DeadLetterFile))
	return nil
}

// deadFrame dead-letters a record frame whose content cannot be decoded.
func (s *Spool) deadFrame(f *frame, err error) {
	line := deadLetterLine{RejectedAt: s.o.Now().UTC(), Reason: "unreadable spool frame: " + err.Error()}
	if json.Valid(f.payload) {
		line.Raw = f.payload
	} else {
		line.Raw, _ = json.Marshal(f.payload) // base64
	}
	if werr := s.appendDeadLetters([]deadLetterLine{line}); werr != nil {
		s.log.Error("audit spool: an unreadable frame could not be dead-lettered", "err", werr)
	}
	s.dead.Add(1)
}

func (s *Spool) appendDeadLetters(lines []deadLetterLine) error {
	var b []byte
	for i := range lines {
		j, err := json.Marshal(&lines[i])
		if err != nil {
			return err
		}
		b = append(append(b, j...), '\n')
	}
	f, err := os.OpenFile(filepath.Join(s.dir, DeadLetterFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// housekeep fsyncs appended frames every FsyncInterval, raises size alerts
// and signs checkpoints, until Close.
func (s *Spool) housekeep() {
	defer close(s.houseDone)
	fsyncT := time.NewTicker(s.o.FsyncInterval)
	defer fsyncT.Stop()
	var cpC <-chan time.Time
	if s.o.Signer != nil {
		cpT := time.NewTicker(s.o.CheckpointInterval)
		defer cpT.Stop()
		cpC = cpT.C
	}
	for {
		select {
		case <-fsyncT.C:
			s.fsync()
			s.alert()
		case <-cpC:
			s.checkpoint()
		case <-s.stop:
			return
		}
	}
}

// fsync makes appended frames durable.
func (s *Spool) fsync() {
	s.mu.Lock()
	f, dirty := s.f, s.dirty
	s.dirty = false
	s.mu.Unlock()
	if !dirty {
		return
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		s.writeErrs.Add(1)
		s.log.Error("audit spool fsync failed: records appended since the last fsync would not survive a power cut", "err", err)
	}
}

// alert logs when the bytes waiting for the database cross 50%, 80% and
// 100% of MaxSize, and when they fall back under 50%.
func (s *Spool) alert() {
	pct := int(s.undrained() * 100 / s.o.MaxSize)
	level := 0
	for _, l := range []int{50, 80, 100} {
		if pct >= l {
			level = l
		}
	}
	switch {
	case level > s.alertLevel:
		msg := "audit spool is filling up: the database is not keeping up"
		if level == 100 {
			msg = "audit spool is full: new requests are refused until the database stores what waits"
		}
		s.log.Error(msg, "percent", pct, "max_size", humanSize(s.o.MaxSize), "oldest_age", s.Stats().OldestAge.Round(time.Second).String())
	case level < s.alertLevel && level == 0:
		s.log.Info("audit spool back under 50% of its size", "percent", pct)
	}
	s.alertLevel = level
}

// checkpoint signs the chain head, if it moved since the last one.
func (s *Spool) checkpoint() {
	s.mu.Lock()
	head, last := s.head, s.cpSeq
	s.mu.Unlock()
	if head.Seq == 0 || head.Seq == last {
		return
	}
	cp := Checkpoint{Chain: s.chain, Seq: head.Seq, Hash: head.Hash, Time: s.o.Now().UTC()}
	cp.Sign(s.o.Signer)
	payload, _ := json.Marshal(&cp)
	at := s.o.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.cpSeq >= cp.Seq {
		return
	}
	end, err := s.append(appendFrame(s.buf[:0], frameCheckpoint, at, payload))
	if err != nil {
		s.log.Error("audit checkpoint could not be written", "err", err)
		return
	}
	s.cpSeq = cp.Seq
	s.cps.Add(1)
	s.enqueue(item{cp: &cp, at: at, end: end})
	// The log is a second, independent witness of the chain.
	s.log.Info("audit checkpoint", "chain", cp.Chain, "seq", cp.Seq, "hash", cp.Hash, "public_key", cp.PublicKey)
}

// DeadLetters are the records of a dead-letter file, by chain and Seq.
type DeadLetters map[string]map[int64]Record

// Lookup is a VerifyOptions.DeadLetter.
func (d DeadLetters) Lookup(chain string, seq int64) (Record, bool) {
	r, ok := d[chain][seq]
	return r, ok
}

// ReadDeadLetters reads the dead-letter file of the spool directory dir;
// a missing file holds none. Lines that hold no chained record (an
// unreadable frame) are skipped.
func ReadDeadLetters(dir string) (DeadLetters, error) {
	b, err := os.ReadFile(filepath.Join(dir, DeadLetterFile))
	if errors.Is(err, fs.ErrNotExist) {
		return DeadLetters{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := DeadLetters{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		var l deadLetterLine
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &l) != nil || l.Record == nil || l.Record.Chain == "" {
			continue
		}
		if out[l.Record.Chain] == nil {
			out[l.Record.Chain] = map[int64]Record{}
		}
		out[l.Record.Chain][l.Record.Seq] = *l.Record
	}
	return out, nil
}
