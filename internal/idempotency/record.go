package idempotency

import (
	"net/http"
	"slices"
	"strings"
)

// ReplayedHeader marks a replayed response, as Stripe and the IETF
// Idempotency-Key draft's implementations do.
const ReplayedHeader = "Idempotent-Replayed"

// OriginalRequestHeader carries, on a replay, the X-Request-Id of the
// request whose result is replayed. The replay keeps its own X-Request-Id,
// which names its own audit record.
const OriginalRequestHeader = "X-Airgw-Original-Request-Id"

// Recorder is the http.ResponseWriter that the dialect's writer writes
// through for a call with an Idempotency-Key. It passes every write on and
// records the status, the describing headers and, once a Claim arms it, up
// to MaxBody bytes of the body exactly as they went to the client.
//
// The seam is the ResponseWriter, not the gateway's Output: the stored
// bytes must be the ones sent, framing included, which only the dialect
// knows; and wrapping the Output would hide its optional capabilities
// (embeddings, token counts), which the gateway finds by type assertion.
//
// A Recorder is used by one request's goroutine only.
type Recorder struct {
	http.ResponseWriter
	limit    int
	armed    bool // recording the body
	status   int  // the final status sent; 0 until then
	header   http.Header
	body     []byte
	over     bool // the body outgrew limit and was dropped
	replayed bool
}

// NewRecorder returns a Recorder writing to w. It records the body only
// once armed by Guard.Begin.
func NewRecorder(w http.ResponseWriter) *Recorder {
	return &Recorder{ResponseWriter: w, limit: MaxBody}
}

// Replay sends a stored result instead of calling a provider (see
// WriteReplay). Nothing it writes is recorded.
func (r *Recorder) Replay(s *Stored) error {
	r.replayed = true
	return WriteReplay(r.ResponseWriter, s)
}

// Replayed reports whether Replay was called.
func (r *Recorder) Replayed() bool { return r.replayed }

// Result returns the recorded response. ok is false when nothing was
// recorded, or the body outgrew MaxBody.
func (r *Recorder) Result() (s Stored, ok bool) {
	if r.status == 0 || r.over || !r.armed || r.replayed {
		return Stored{}, false
	}
	ct := r.header.Get("Content-Type")
	return Stored{
		Status: r.status,
		Header: r.header,
		Body:   slices.Clip(r.body),
		Stream: strings.HasPrefix(strings.ToLower(ct), "text/event-stream"),
	}, true
}

// arm starts recording the body.
func (r *Recorder) arm() { r.armed = true }

// WriteHeader records the status and the describing headers as they go
// out; 1xx informational answers are passed on unrecorded.
func (r *Recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
		r.header = http.Header{}
		for k, vs := range r.ResponseWriter.Header() {
			if k = http.CanonicalHeaderKey(k); storedHeader(k) {
				r.header[k] = slices.Clone(vs)
			}
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write passes b on and records what was sent.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	if r.armed && !r.over {
		if len(r.body)+n > r.limit {
			r.over, r.body = true, nil
		} else {
			r.body = append(r.body, b[:n]...)
		}
	}
	return n, err
}

// FlushError flushes the underlying writer; http.ResponseController finds
// it here, so streams are flushed event by event as without a Recorder.
func (r *Recorder) FlushError() error {
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// WriteReplay writes s to w byte for byte: its status, its stored headers
// and its body, flushed at once for a stream. The original X-Request-Id is
// sent as OriginalRequestHeader (w keeps its own), and ReplayedHeader is
// set to "true".
func WriteReplay(w http.ResponseWriter, s *Stored) error {
	h := w.Header()
	for k, vs := range s.Header {
		if http.CanonicalHeaderKey(k) == "X-Request-Id" {
			if len(vs) > 0 {
				h.Set(OriginalRequestHeader, vs[0])
			}
			continue
		}
		h[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	h.Set(ReplayedHeader, "true")
	w.WriteHeader(s.Status)
	if _, err := w.Write(s.Body); err != nil {
		return err
	}
	if s.Stream {
		return http.NewResponseController(w).Flush()
	}
	return nil
}

// storedHeader reports whether a response header describes the answer
// itself and is therefore kept with it. Per-request state, such as rate
// limit counters, is not.
func storedHeader(k string) bool {
	switch k {
	case "Content-Type", "Content-Length", "Cache-Control", "X-Accel-Buffering",
		"Retry-After", "X-Should-Retry", "X-Request-Id":
		return true
	}
	return strings.HasPrefix(k, "X-Airgw-")
}
