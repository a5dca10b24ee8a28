package sse

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// ErrBadName reports an event name that would break the framing (it holds a
// line terminator).
var ErrBadName = errors.New("sse: event name contains a line break")

// AppendEvent appends the encoding of one event to dst and returns the
// extended slice: an "event:" line when name is not empty, one "data:" line
// per line of data (split at "\n", "\r\n" or "\r", so that data can never
// end the event early), and the blank line that dispatches it. Empty data
// is encoded as one empty "data:" line, which a reader dispatches as an
// event with empty data. name must not contain a line break (WriteEvent
// checks; AppendEvent, on the hot path, does not).
func AppendEvent(dst []byte, name string, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := indexEOL(data)
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			dst = append(dst, '\n')
			break
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(dst, '\n')
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// WriteEvent writes one event to w in a single Write call (see AppendEvent
// for the encoding). It does not flush; call Flush after the events that
// should reach the client now.
func WriteEvent(w io.Writer, name string, data []byte) error {
	if strings.ContainsAny(name, "\r\n") {
		return ErrBadName
	}
	bp := bufPool.Get().(*[]byte)
	b := AppendEvent((*bp)[:0], name, data)
	_, err := w.Write(b)
	if cap(b) <= 64<<10 { // do not pin huge buffers in the pool
		*bp = b
		bufPool.Put(bp)
	}
	if err != nil {
		return fmt.Errorf("sse: write event: %w", err)
	}
	return nil
}

// WriteComment writes a comment line (": text") followed by a blank line;
// readers ignore it. Servers send one periodically to keep idle connections
// from being closed by proxies. Line breaks in text are replaced by spaces.
func WriteComment(w io.Writer, text string) error {
	text = strings.NewReplacer("\r", " ", "\n", " ").Replace(text)
	if _, err := io.WriteString(w, ": "+text+"\n\n"); err != nil {
		return fmt.Errorf("sse: write comment: %w", err)
	}
	return nil
}

// Flush sends buffered response data to the client. It uses
// http.ResponseController, so it also works through wrappers that implement
// Unwrap, and falls back to http.Flusher. It returns an error when w cannot
// flush (http.ErrNotSupported) or the connection failed.
func Flush(w io.Writer) error {
	if rw, ok := w.(http.ResponseWriter); ok {
		err := http.NewResponseController(rw).Flush()
		if err != nil {
			return fmt.Errorf("sse: flush: %w", err)
		}
		return nil
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
		return nil
	}
	return fmt.Errorf("sse: flush: %w", http.ErrNotSupported)
}

// SetHeaders sets the response headers of an event stream on h:
// Content-Type text/event-stream, Cache-Control no-cache, and
// X-Accel-Buffering no (so that nginx-style proxies do not buffer events).
func SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}
