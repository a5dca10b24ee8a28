package audit

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// cursorFile holds the drain's position as a hint: it is written after
// each stored batch without fsync. A lost or stale cursor only makes the
// next start offer the Sink records it already has, which it skips by
// request id.
const cursorFile = "cursor"

// DeadLetterFile is the file, in the spool directory, that receives the
// records the database rejected, one JSON object per line.
const DeadLetterFile = "dead-letter.jsonl"

// recover reads the segments earlier processes left, opens a new segment,
// and records the requests they left in flight as interrupted. It runs
// before the goroutines start.
func (s *Spool) recover() error {
	segs, err := listSegments(s.dir)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	// The drain starts at the cursor when it names a segment still
	// present, else at the oldest segment.
	var startSeg, startOff int64
	if len(segs) > 0 {
		startSeg = segs[0]
	}
	if cur, ok := readCursor(s.dir); ok && slices.Contains(segs, cur.seg) {
		startSeg, startOff = cur.seg, cur.off
	}
	var (
		head       Head
		g          int64
		start      pos // where the drain begins
		lastItem   pos
		backlog    int64 // records not yet stored
		backlogCPs int64
		order      []string
		open       = map[string]*frame{}
	)
	for _, n := range segs {
		segStart := g
		end, torn, err := scanSegment(s.dir, n, 0, func(f *frame, end int64) error {
			p := pos{seg: n, off: end, g: segStart + end}
			undrained := n > startSeg || n == startSeg && end > startOff
			switch f.typ {
			case frameHeaderT:
				var h segHeader
				if err := json.Unmarshal(f.payload, &h); err != nil {
					return fmt.Errorf("segment %d header: %w", n, err)
				}
				if s.chain == "" {
					s.chain = h.Chain
				}
				if h.Head.Seq > head.Seq {
					head = h.Head
				}
			case frameBegin:
				if id, ok := f.requestID(); ok {
					if _, seen := open[id]; !seen {
						order = append(order, id)
					}
					fc := *f
					open[id] = &fc
				}
			case frameRecord:
				id, rest, ok := readShort(f.payload)
				if !ok || len(rest) < 8 {
					return nil
				}
				delete(open, id)
				seq := int64(binary.LittleEndian.Uint64(rest))
				_, rest, _ = readShort(rest[8:])
				hash, _, _ := readShort(rest)
				if seq > head.Seq {
					head = Head{Seq: seq, Hash: hash}
				}
				if undrained {
					backlog++
					lastItem = p
				}
			case frameCheckpoint:
				if undrained {
					backlogCPs++
					lastItem = p
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("audit: spool: reading %s: %w", segmentName(n), err)
		}
		if torn {
			s.log.Warn("audit spool segment ends with a torn frame (the process died while writing it, before the request it belonged to completed); the rest of that segment is ignored",
				"segment", segmentName(n), "valid_bytes", end)
		}
		if n == startSeg {
			off := min(startOff, end)
			start = pos{seg: n, off: off, g: segStart + off}
		}
		g += end
	}
	if s.chain == "" {
		s.chain = newChainID()
	}
	s.dbHead(&head)

	next := int64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	f, err := os.OpenFile(filepath.Join(s.dir, segmentName(next)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	hdr, _ := json.Marshal(segHeader{Chain: s.chain, Index: next, Head: head})
	b := appendFrame(nil, frameHeaderT, s.o.Now().UnixNano(), hdr)
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: spool: %w", err)
	}
	syncDir(s.dir)
	s.f, s.head = f, head
	s.cur = pos{seg: next, off: int64(len(b)), g: g + int64(len(b))}
	if len(segs) == 0 {
		start = pos{seg: next, off: 0, g: g}
	}
	s.drained, s.lastItem = start, lastItem
	s.appended.Store(backlog)
	s.cps.Store(backlogCPs)
	s.spilled = true // the drain starts by reading the files from start

	var interrupted int
	for _, id := range order {
		fr, ok := open[id]
		if !ok {
			continue
		}
		rec, err := fr.begin()
		if err != nil {
			s.log.Error("audit spool: an in-flight mark cannot be read; its request is not recorded", "request_id", id, "err", err)
			continue
		}
		rec.Kind = KindRequest
		rec.Status, rec.ErrorClass = 500, ClassInterrupted
		// When it ended is unknown: the process died.
		rec.End, rec.LatencyMillis = time.Time{}, 0
		s.Write(rec)
		interrupted++
	}
	if interrupted > 0 {
		s.log.Warn("requests were in flight when the gateway stopped; recorded as interrupted", "requests", interrupted, "chain", s.chain)
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
	}
	if backlog > 0 {
		s.log.Info("audit spool holds records from a previous run; storing them", "records", backlog, "bytes", s.cur.g-start.g)
	}
	return nil
}

// dbHead moves head forward to the Sink's chain head when the database is
// ahead of the spool.
func (s *Spool) dbHead(head *Head) {
	hs, ok := s.sink.(HeadSource)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.RecoverTimeout)
	defer cancel()
	h, err := hs.ChainHead(ctx, s.chain)
	if err != nil {
		s.log.Warn("audit: cannot ask the database where the chain ends; continuing from the spool's head", "chain", s.chain, "err", err)
		return
	}
	if h.Seq > head.Seq {
		s.log.Warn("the database holds more of the audit chain than the spool (the spool's last frames were lost, e.g. to a power cut after they were stored); continuing from the database's head",
			"chain", s.chain, "spool_seq", head.Seq, "database_seq", h.Seq)
		*head = h
	}
}

// readCursor reads the drain position hint.
func readCursor(dir string) (pos, bool) {
	b, err := os.ReadFile(filepath.Join(dir, cursorFile))
	if err != nil || len(b) != 20 {
		return pos{}, false
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return pos{}, false
	}
	return pos{seg: int64(binary.LittleEndian.Uint64(b)), off: int64(binary.LittleEndian.Uint64(b[8:]))}, true
}

// writeCursor writes the drain position hint, without fsync.
func (s *Spool) writeCursor(p pos) {
	var b [20]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(p.seg))
	binary.LittleEndian.PutUint64(b[8:], uint64(p.off))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	if s.cursor == nil {
		f, err := os.OpenFile(filepath.Join(s.dir, cursorFile), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return
		}
		s.cursor = f
	}
	_, _ = s.cursor.WriteAt(b[:], 0)
}

// removeDrained deletes the segments wholly before the drain position
// (never the active one), once the Sink says stored records are durable.
func (s *Spool) removeDrained(p pos) {
	segs, err := listSegments(s.dir)
	if err != nil || len(segs) == 0 || segs[0] >= p.seg {
		return
	}
	if d, ok := s.sink.(interface{ SyncRecords(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(s.ctx, s.o.InsertTimeout)
		err := d.SyncRecords(ctx)
		cancel()
		if err != nil {
			s.log.Warn("audit: the database cannot confirm stored records are durable; keeping their spool segments", "err", err)
			return
		}
	}
	for _, n := range segs {
		if n >= p.seg {
			break
		}
		if err := os.Remove(filepath.Join(s.dir, segmentName(n))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("audit: cannot remove a drained spool segment", "segment", segmentName(n), "err", err)
		}
	}
}

// Backlog counts the records and checkpoints in the spool at dir that the
// database does not hold yet, as far as the drain's cursor knows. It takes
// no lock and reads a running gateway's spool safely; the count can be
// slightly high (the cursor is written after each stored batch).
func Backlog(dir string) (int64, error) {
	segs, err := listSegments(dir)
	if errors.Is(err, fs.ErrNotExist) || len(segs) == 0 {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	startSeg, startOff := segs[0], int64(0)
	if cur, ok := readCursor(dir); ok && slices.Contains(segs, cur.seg) {
		startSeg, startOff = cur.seg, cur.off
	}
	var n int64
	for _, seg := range segs {
		if seg < startSeg {
			continue
		}
		from := int64(0)
		if seg == startSeg {
			from = startOff
		}
		_, _, err := scanSegment(dir, seg, from, func(f *frame, _ int64) error {
			if f.typ == frameRecord || f.typ == frameCheckpoint {
				n++
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
	}
	return n, nil
}
