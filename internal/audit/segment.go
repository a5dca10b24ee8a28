package audit

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The spool is a directory of append-only segment files, seg-<n>.log, each
// a sequence of frames:
//
//	u32 length of payload, little endian
//	u32 CRC-32C of the type, time and payload
//	u8  type
//	i64 time appended, unix nanoseconds
//	payload
//
// A frame torn by a crash fails its CRC (or is short) and ends the reading
// of its segment: nothing after it was ever acknowledged, because a
// process appends to one segment only and a new process starts a new one.

const frameHeader = 4 + 4 + 1 + 8

// Frame types.
const (
	frameHeaderT    = 'H' // segment header: the writer's chain and its head
	frameBegin      = 'B' // a request reached its first upstream attempt
	frameRecord     = 'R' // a finished record, chained
	frameCheckpoint = 'C' // a signed checkpoint
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxFrame bounds a frame's payload so that a corrupt length cannot make
// a reader allocate gigabytes.
const maxFrame = 64 << 20

// errTorn reports a frame cut short or corrupted.
var errTorn = errors.New("audit: spool: torn or corrupt frame")

// segHeader is the payload of a segment's first frame.
type segHeader struct {
	Chain string `json:"chain"`
	Index int64  `json:"index"`
	Head  Head   `json:"head"`
}

// appendFrame appends one frame to b.
func appendFrame(b []byte, typ byte, at int64, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, 0) // CRC, filled below
	b = append(b, typ)
	b = binary.LittleEndian.AppendUint64(b, uint64(at))
	for _, p := range payload {
		b = append(b, p...)
	}
	crc := crc32.Checksum(b[start+8:], castagnoli)
	binary.LittleEndian.PutUint32(b[start+4:], crc)
	return b
}

// recordPrefix encodes the fixed part of a record frame's payload: the
// request id, Seq, PrevHash, Hash and the JSON of the record's Bodies
// (empty without); the record's Body follows it.
func recordPrefix(b []byte, r *Record, bodies []byte) []byte {
	b = appendShort(b, r.RequestID)
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Seq))
	b = appendShort(b, r.PrevHash)
	b = appendShort(b, r.Hash)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(bodies)))
	return append(b, bodies...)
}

// beginPrefix encodes the request id before a begin frame's JSON.
func beginPrefix(b []byte, id string) []byte { return appendShort(b, id) }

func appendShort(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func readShort(p []byte) (string, []byte, bool) {
	if len(p) < 2 {
		return "", nil, false
	}
	n := int(binary.LittleEndian.Uint16(p))
	if len(p) < 2+n {
		return "", nil, false
	}
	return string(p[2 : 2+n]), p[2+n:], true
}

// frame is one decoded frame.
type frame struct {
	typ     byte
	at      int64
	payload []byte
	size    int64 // bytes on disk, header included
}

// readFrame reads the next frame; io.EOF at a clean end, errTorn for a
// partial or corrupt one.
func readFrame(r *bufio.Reader) (frame, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return frame{}, io.EOF
		}
		return frame{}, errTorn
	}
	n := binary.LittleEndian.Uint32(h[0:])
	if n > maxFrame {
		return frame{}, errTorn
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return frame{}, errTorn
	}
	crc := crc32.Update(crc32.Checksum(h[8:], castagnoli), castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(h[4:]) {
		return frame{}, errTorn
	}
	return frame{typ: h[8], at: int64(binary.LittleEndian.Uint64(h[9:])), payload: payload, size: int64(frameHeader + n)}, nil
}

// requestID returns the request id at the start of a begin or record
// frame's payload.
func (f *frame) requestID() (string, bool) {
	id, _, ok := readShort(f.payload)
	return id, ok
}

// record decodes a record frame.
func (f *frame) record() (Record, error) {
	id, p, ok := readShort(f.payload)
	if !ok || len(p) < 8 {
		return Record{}, errTorn
	}
	seq := int64(binary.LittleEndian.Uint64(p))
	prev, p, ok1 := readShort(p[8:])
	hash, p, ok2 := readShort(p)
	if !ok1 || !ok2 || len(p) < 4 {
		return Record{}, errTorn
	}
	n := int(binary.LittleEndian.Uint32(p))
	if len(p) < 4+n {
		return Record{}, errTorn
	}
	bodies, body := p[4:4+n], p[4+n:]
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return Record{}, fmt.Errorf("audit: spool: record %s: %w", id, err)
	}
	if n > 0 {
		r.Bodies = new(Bodies)
		if err := json.Unmarshal(bodies, r.Bodies); err != nil {
			return Record{}, fmt.Errorf("audit: spool: record %s: bodies: %w", id, err)
		}
	}
	r.Seq, r.PrevHash, r.Hash = seq, prev, hash
	return r, nil
}

// begin decodes a begin frame into the partial record it holds.
func (f *frame) begin() (Record, error) {
	id, body, ok := readShort(f.payload)
	if !ok {
		return Record{}, errTorn
	}
	var m mark
	if err := json.Unmarshal(body, &m); err != nil {
		return Record{}, fmt.Errorf("audit: spool: begin %s: %w", id, err)
	}
	r := m.record()
	r.RequestID = id
	return r, nil
}

// mark is what an in-flight mark keeps of a request: what is known before
// its first upstream attempt, and no more (it is written on every request,
// so it is kept small and quick to encode).
type mark struct {
	Start          time.Time `json:"s"`
	KeyID          string    `json:"k,omitempty"`
	KeyName        string    `json:"kn,omitempty"`
	Team           string    `json:"t,omitempty"`
	EndUser        string    `json:"u,omitempty"`
	Purpose        string    `json:"p,omitempty"`
	Tags           []string  `json:"tg,omitempty"`
	ClientIP       string    `json:"ip,omitempty"`
	Dialect        string    `json:"d,omitempty"`
	Endpoint       string    `json:"e,omitempty"`
	Stream         bool      `json:"st,omitempty"`
	RequestedModel string    `json:"m,omitempty"`
	Provider       string    `json:"pr,omitempty"`
	ServedModel    string    `json:"sm,omitempty"`
}

func markOf(r *Record) *mark {
	return &mark{Start: r.Start.UTC(), KeyID: r.KeyID, KeyName: r.KeyName, Team: r.Team, EndUser: r.EndUser, Purpose: r.Purpose,
		Tags: r.Tags, ClientIP: r.ClientIP, Dialect: r.Dialect, Endpoint: r.Endpoint, Stream: r.Stream,
		RequestedModel: r.RequestedModel, Provider: r.Provider, ServedModel: r.ServedModel}
}

func (m *mark) record() Record {
	return Record{Start: m.Start, KeyID: m.KeyID, KeyName: m.KeyName, Team: m.Team, EndUser: m.EndUser, Purpose: m.Purpose,
		Tags: m.Tags, ClientIP: m.ClientIP, Dialect: m.Dialect, Endpoint: m.Endpoint, Stream: m.Stream,
		RequestedModel: m.RequestedModel, Provider: m.Provider, ServedModel: m.ServedModel}
}

// segmentName is the file name of segment n.
func segmentName(n int64) string { return fmt.Sprintf("seg-%020d.log", n) }

// listSegments returns the segment indexes in dir, in order.
func listSegments(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "seg-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, "seg-"), ".log"), 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// scanSegment calls fn for each whole frame of segment n, with the offset
// just past it, and returns the offset where reading stopped and whether a
// torn frame stopped it.
func scanSegment(dir string, n, from int64, fn func(f *frame, end int64) error) (int64, bool, error) {
	file, err := os.Open(filepath.Join(dir, segmentName(n)))
	if err != nil {
		return 0, false, err
	}
	defer file.Close()
	if _, err := file.Seek(from, io.SeekStart); err != nil {
		return 0, false, err
	}
	r := bufio.NewReaderSize(file, 256<<10)
	off := from
	for {
		f, err := readFrame(r)
		if err == io.EOF {
			return off, false, nil
		}
		if err != nil {
			return off, true, nil
		}
		off += f.size
		if err := fn(&f, off); err != nil {
			return off, false, err
		}
	}
}
