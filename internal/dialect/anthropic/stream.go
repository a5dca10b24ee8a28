package anthropic

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/sse"
)

// Writer writes a chat response, stream or error to an Anthropic client; it
// implements the gateway's Output. It is used by one request's goroutine
// only.
//
// A stream whose events carry an Anthropic-native encoding is relayed event
// by event as the provider sent it. A stream of neutral events (from any
// other provider) is re-encoded as Anthropic's event sequence: message_start,
// then for each content block content_block_start, its deltas and
// content_block_stop, with one ping after the first block starts, and at the
// end message_delta (stop reason and usage) and message_stop. Only choice 0
// is encoded; Anthropic has no notion of several choices.
type Writer struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	requestID string
	written   bool
	streaming bool
	buf       []byte
	st        streamState
}

// blockKind is the kind of the content block a neutral stream has open.
type blockKind uint8

const (
	blockNone blockKind = iota
	blockText
	blockThinking
	blockToolUse
	// blockWhole is a block complete in its start event (redacted_thinking),
	// open only until the stop that follows.
	blockWhole
)

// streamState is the progress of one stream through Anthropic's sequence.
type streamState struct {
	native  bool // events are relayed in Anthropic's own encoding
	started bool // message_start sent
	pinged  bool
	ended   bool // message_stop sent (natively or by EndStream)

	// Neutral streams.
	open      blockKind
	index     int // Anthropic index of the open block
	next      int // index of the next block
	signed    bool
	toolBlock map[int]toolBlock // by neutral tool-call index
	toolCalls int               // tool_use blocks started
	finish    llm.FinishReason
	stopSeq   string
	usage     *llm.Usage

	// Native streams.
	nativeOpen  map[int]bool // blocks started and not stopped
	nativeDelta bool         // message_delta relayed
}

// toolBlock is the tool_use block a neutral tool call is streamed into.
type toolBlock struct {
	index int    // Anthropic block index
	id    string // the tool_use id sent
}

// NewWriter returns a Writer for one request; requestID is echoed in every
// error body and names messages whose upstream gave no id.
func NewWriter(w http.ResponseWriter, requestID string) *Writer {
	return &Writer{w: w, rc: http.NewResponseController(w), requestID: requestID}
}

// Header returns the response headers, to be set before the first write.
func (w *Writer) Header() http.Header { return w.w.Header() }

// Written reports whether any part of the response has been sent.
func (w *Writer) Written() bool { return w.written }

// SetWriteDeadline bounds the writes still to come; the zero time removes
// the bound. The gateway uses it so that a client that stopped reading
// cannot hold a request past its deadline.
func (w *Writer) SetWriteDeadline(t time.Time) error { return w.rc.SetWriteDeadline(t) }

// WriteResponse writes a complete message. A response that an Anthropic
// provider produced is sent as the provider encoded it; any other is
// encoded from the neutral response (see EncodeResponse): content parts
// before tool calls, tool-call arguments that are not a JSON object as {},
// the upstream id kept even when it is not "msg_…", and reasoning-token
// counts dropped (Anthropic does not report them apart).
func (w *Writer) WriteResponse(resp *llm.Response) error {
	body, err := EncodeResponse(resp, w.requestID)
	if err != nil {
		return err
	}
	h := w.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.written = true
	w.w.WriteHeader(http.StatusOK)
	_, err = w.w.Write(body)
	return err
}

// WriteEvent writes one stream event, sending the SSE headers first, and
// flushes what it wrote.
func (w *Writer) WriteEvent(ev *llm.Event) error {
	w.startStream()
	w.buf = w.buf[:0]
	if ev.Native != nil && ev.Native.Dialect == llm.DialectAnthropic {
		w.appendNative(ev)
	} else if !w.st.native {
		w.appendNeutral(ev)
	}
	// A neutral event in a native stream cannot be placed in its block
	// sequence; native streams carry everything in their native events.
	return w.flush()
}

// EndStream ends a stream. With nil it closes the open block and sends
// message_delta and message_stop unless the provider's native stream already
// did. With an error it sends an `error` event and nothing after it, so a
// client never mistakes a broken stream for a complete one. Before anything
// was streamed, an error is written as an ordinary error response.
func (w *Writer) EndStream(e *llm.Error) error {
	if !w.streaming && e != nil {
		w.WriteError(e)
		return nil
	}
	w.startStream()
	w.buf = w.buf[:0]
	if e != nil {
		b, _ := marshal(errorBody(e, w.requestID))
		w.buf = sse.AppendEvent(w.buf, "error", b)
		w.st.ended = true
		return w.flush()
	}
	if !w.st.ended {
		if w.st.native {
			w.endNative()
		} else {
			w.endNeutral()
		}
	}
	return w.flush()
}

// WriteError writes e as an Anthropic error response; after a stream
// started it ends the stream with an error event instead.
func (w *Writer) WriteError(e *llm.Error) {
	if w.streaming {
		_ = w.EndStream(e)
		return
	}
	WriteError(w.w, e, w.requestID)
	w.written = true
}

func (w *Writer) startStream() {
	if w.streaming {
		return
	}
	sse.SetHeaders(w.w.Header())
	w.streaming, w.written = true, true
	w.w.WriteHeader(http.StatusOK)
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	return w.rc.Flush()
}

// event appends one SSE event whose data is v encoded.
func (w *Writer) event(name string, v any) {
	b, err := marshal(v)
	if err != nil {
		return // only plain structs of strings and numbers reach here
	}
	w.buf = sse.AppendEvent(w.buf, name, b)
}

// nativeHead is what the writer reads of a native event: its type names the
// SSE event, its index tracks open blocks.
type nativeHead struct {
	Type     string
	Index    int
	HasIndex bool
}

// readHead reads a native event's type and index. Anthropic writes them
// first ({"type":"…","index":N,…}), which is read without decoding the
// event; anything else is decoded. ok is false for a body that is not an
// event.
func readHead(body []byte) (h nativeHead, ok bool) {
	const typeKey, indexKey = `{"type":"`, `,"index":`
	rest, found := bytes.CutPrefix(body, []byte(typeKey))
	if q := bytes.IndexByte(rest, '"'); found && q > 0 && bytes.IndexByte(rest[:q], '\\') < 0 {
		h.Type = eventName(rest[:q])
		rest = rest[q+1:]
		if after, found := bytes.CutPrefix(rest, []byte(indexKey)); found {
			n, digits := 0, 0
			for ; digits < len(after) && digits < 9 && after[digits] >= '0' && after[digits] <= '9'; digits++ {
				n = n*10 + int(after[digits]-'0')
			}
			if digits == 0 {
				return slowHead(body)
			}
			h.Index, h.HasIndex = n, true
		} else if h.Type == "content_block_start" || h.Type == "content_block_stop" {
			return slowHead(body)
		}
		return h, true
	}
	return slowHead(body)
}

func slowHead(body []byte) (nativeHead, bool) {
	var h struct {
		Type  string `json:"type"`
		Index *int   `json:"index"`
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Type == "" {
		return nativeHead{}, false
	}
	if h.Index == nil {
		return nativeHead{Type: h.Type}, true
	}
	return nativeHead{Type: h.Type, Index: *h.Index, HasIndex: true}, true
}

// eventName returns the event type b as a string, without allocating for
// the types Anthropic sends.
func eventName(b []byte) string {
	for _, n := range knownEvents {
		if string(b) == n {
			return n
		}
	}
	return string(b)
}

var knownEvents = [...]string{"content_block_delta", "content_block_start", "content_block_stop", "message_start", "message_delta", "message_stop", "ping", "error"}

func (w *Writer) appendNative(ev *llm.Event) {
	body := ev.Native.Body
	h, ok := readHead(body)
	if !ok || strings.ContainsAny(h.Type, "\r\n") {
		return // not an Anthropic event; nothing a client could use
	}
	st := &w.st
	st.native = true
	switch h.Type {
	case "message_start":
		st.started = true
	case "content_block_start":
		if h.HasIndex {
			if st.nativeOpen == nil {
				st.nativeOpen = make(map[int]bool)
			}
			st.nativeOpen[h.Index] = true
		}
	case "content_block_stop":
		if h.HasIndex {
			delete(st.nativeOpen, h.Index)
		}
	case "message_delta":
		st.nativeDelta = true
	case "message_stop":
		st.ended = true
	}
	if ev.FinishReason != "" {
		st.finish, st.stopSeq = ev.FinishReason, ev.StopSequence
	}
	if ev.Usage != nil {
		u := *ev.Usage
		st.usage = &u
	}
	w.buf = sse.AppendEvent(w.buf, h.Type, body)
}

// endNative completes a native stream that ended without message_stop.
func (w *Writer) endNative() {
	st := &w.st
	if !st.started {
		w.messageStart(&llm.Event{})
	}
	for _, i := range slices.Sorted(maps.Keys(st.nativeOpen)) {
		w.event("content_block_stop", blockStop{Type: "content_block_stop", Index: i})
	}
	st.nativeOpen = nil
	if !st.nativeDelta {
		w.messageDelta()
	}
	w.event("message_stop", typeOnly{Type: "message_stop"})
	st.ended = true
}
