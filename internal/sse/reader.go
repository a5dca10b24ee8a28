// Package sse reads and writes Server-Sent Events as specified by the WHATWG
// HTML standard (section 9.2, "Server-sent events"), the framing every LLM
// provider uses for streamed responses.
//
// The Reader is built for untrusted upstreams: line length and event size are
// bounded, a stream cut inside an event is reported as ErrTruncated rather
// than as a clean end, and the hot path reuses its buffers.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLine is the default bound, in bytes, on one line and on the data
// of one event.
const DefaultMaxLine = 4 << 20

// initialBuffer is the size a Reader's buffer starts at.
const initialBuffer = 1 << 10

// Errors returned by Reader.Next.
var (
	// ErrTruncated reports that the stream ended (io.EOF) in the middle of an
	// event: field lines were read but no blank line dispatched them. By the
	// specification the partial event is discarded; callers that expect a
	// terminator use this to tell a cut stream from a finished one.
	ErrTruncated = errors.New("sse: stream ended inside an event")
	// ErrLineTooLong reports a line longer than the Reader's limit.
	ErrLineTooLong = errors.New("sse: line too long")
	// ErrEventTooLong reports an event whose data exceeds the Reader's limit.
	ErrEventTooLong = errors.New("sse: event data too long")
)

// Event is one dispatched server-sent event.
type Event struct {
	// Name is the event type ("event:" field); empty means "message".
	Name string
	// Data is the event's data lines joined with "\n". It aliases the
	// Reader's buffer and is valid only until the next call to Next.
	Data []byte
	// ID is the last event ID seen on the stream (it persists across events,
	// as the specification requires); empty when none was sent.
	ID string
}

// Reader reads events from a byte stream. A Reader is not safe for
// concurrent use.
type Reader struct {
	r   io.Reader
	max int

	buf        []byte // buffered input; unread bytes are buf[start:end]
	start, end int
	err        error // sticky error from r
	skipLF     bool  // the previous line ended in '\r'; a leading '\n' belongs to it
	bomChecked bool

	data    []byte // data buffer of the event being built
	hasData bool
	name    []byte
	pending bool // a field line was read since the last dispatch

	lastName string // cached conversions to avoid an allocation per event
	id       string
	done     error // sticky terminal error returned by Next
}

// NewReader returns a Reader reading from r with lines and event data bounded
// by DefaultMaxLine.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxLine) }

// NewReaderSize returns a Reader whose lines and event data are bounded by
// max bytes (DefaultMaxLine when max <= 0).
func NewReaderSize(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	// The buffer starts small and doubles for longer lines: providers'
	// events are a few hundred bytes, and a gateway holds one Reader per
	// open stream (thousands of them).
	return &Reader{r: r, max: max, buf: make([]byte, min(initialBuffer, max+2))}
}

// Next returns the next event. At a clean end of stream it returns io.EOF;
// when the stream ends inside an event it returns ErrTruncated; other read
// errors are returned wrapped. After an error every later call returns the
// same error. The returned Event's Data is valid until the next call.
func (r *Reader) Next() (Event, error) {
	if r.done != nil {
		return Event{}, r.done
	}
	for {
		line, err := r.readLine()
		if err != nil {
			r.done = err
			return Event{}, err
		}
		if len(line) == 0 {
			ev, ok := r.dispatch()
			if ok {
				return ev, nil
			}
			continue
		}
		if err := r.field(line); err != nil {
			r.done = err
			return Event{}, err
		}
	}
}

// dispatch ends the current event, reporting whether there is one to return.
func (r *Reader) dispatch() (Event, bool) {
	r.pending = false
	if !r.hasData {
		r.name = r.name[:0]
		return Event{}, false
	}
	if string(r.name) != r.lastName {
		r.lastName = string(r.name)
	}
	ev := Event{Name: r.lastName, Data: r.data, ID: r.id}
	r.data = r.data[:0]
	r.hasData = false
	r.name = r.name[:0]
	return ev, true
}

// field processes one non-empty line.
func (r *Reader) field(line []byte) error {
	if line[0] == ':' {
		return nil // comment
	}
	r.pending = true
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		n := len(r.data) + len(value)
		if r.hasData {
			n++
		}
		if n > r.max {
			return ErrEventTooLong
		}
		if r.hasData {
			r.data = append(r.data, '\n')
		}
		r.data = append(r.data, value...)
		r.hasData = true
	case "event":
		r.name = append(r.name[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != r.id {
			r.id = string(value)
		}
	}
	// "retry" and unknown fields are ignored.
	return nil
}

// readLine returns the next line without its terminator. The slice aliases
// r.buf and is valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	scanned := 0 // bytes of buf[start:end] known to hold no terminator
	for {
		if r.skipLF && r.start < r.end {
			if r.buf[r.start] == '\n' {
				r.start++
			}
			r.skipLF = false
		}
		if !r.bomChecked {
			// A leading byte order mark is dropped; decide as soon as the
			// first bytes cannot be one, or the whole mark is in.
			avail := r.buf[r.start:r.end]
			if len(avail) >= len(bom) || !bytes.HasPrefix(bom, avail) || r.err != nil {
				r.bomChecked = true
				if bytes.HasPrefix(avail, bom) {
					r.start += len(bom)
				}
			}
		}
		if r.bomChecked {
			avail := r.buf[r.start:r.end]
			if i := indexEOL(avail[scanned:]); i >= 0 {
				i += scanned
				line := avail[:i]
				if avail[i] == '\r' {
					r.skipLF = true
				}
				r.start += i + 1
				if len(line) > r.max {
					return nil, ErrLineTooLong
				}
				return line, nil
			}
			scanned = len(avail)
			if scanned > r.max {
				return nil, ErrLineTooLong
			}
		}
		if r.err != nil {
			return nil, r.endError()
		}
		r.fill()
	}
}

// endError is the terminal error once the underlying reader failed, with
// the unterminated tail in buf[start:end].
func (r *Reader) endError() error {
	if r.err != io.EOF {
		return fmt.Errorf("sse: read: %w", r.err)
	}
	tail := r.buf[r.start:r.end]
	if r.pending || (len(tail) > 0 && tail[0] != ':') {
		return ErrTruncated
	}
	return io.EOF
}

// fill reads more input, compacting or growing the buffer first.
func (r *Reader) fill() {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.start, r.end = 0, n
	}
	if r.end == len(r.buf) {
		size := min(2*len(r.buf), r.max+2)
		if size <= len(r.buf) {
			// Cannot happen: readLine fails once a line exceeds max.
			r.err = ErrLineTooLong
			return
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range 100 {
		n, err := r.r.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.err = errors.New("sse: invalid Read count")
			return
		}
		r.end += n
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}

var bom = []byte("\xEF\xBB\xBF")

// indexEOL returns the index of the first '\r' or '\n' in b, or -1.
func indexEOL(b []byte) int {
	// IndexAny would decode runes; two IndexByte scans are faster on the
	// common case of '\n'-only streams.
	i := bytes.IndexByte(b, '\n')
	var j int
	if i >= 0 {
		j = bytes.IndexByte(b[:i], '\r')
	} else {
		j = bytes.IndexByte(b, '\r')
	}
	if j >= 0 {
		return j
	}
	return i
}
