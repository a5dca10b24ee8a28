package bedrock

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// Frame limits. The event stream format allows 16 MiB payloads and
// 128 KiB of headers; a prelude that declares more is refused before
// anything is allocated, so a corrupt or hostile stream cannot make airgw
// allocate more than MaxFrameBytes per frame.
const (
	MaxFrameBytes       = 16<<20 + maxFrameHeaderBytes + frameOverhead
	maxFrameHeaderBytes = 128 << 10
	frameOverhead       = 16 // prelude (8) + prelude CRC (4) + message CRC (4)
)

// errFrameTooLarge and errBadPrelude describe a refused frame prelude.
var (
	errFrameTooLarge = errors.New("bedrock: event stream frame larger than allowed")
	errBadPrelude    = errors.New("bedrock: event stream frame with inconsistent lengths")
)

// frameReader reads event stream messages one at a time with bounded
// memory, reusing one payload buffer.
type frameReader struct {
	br  *bufio.Reader
	dec *eventstream.Decoder
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, 8<<10), dec: eventstream.NewDecoder()}
}

// next returns the next message. Its payload is valid until the next call.
// It returns io.EOF at a clean end between frames, and io.ErrUnexpectedEOF
// when the stream ends inside one.
func (f *frameReader) next() (eventstream.Message, error) {
	pre, err := f.br.Peek(8)
	if err != nil {
		if errors.Is(err, io.EOF) && len(pre) == 0 {
			return eventstream.Message{}, io.EOF
		}
		if errors.Is(err, io.EOF) {
			return eventstream.Message{}, io.ErrUnexpectedEOF
		}
		return eventstream.Message{}, err
	}
	total := binary.BigEndian.Uint32(pre[0:4])
	headers := binary.BigEndian.Uint32(pre[4:8])
	if total > MaxFrameBytes {
		return eventstream.Message{}, errFrameTooLarge
	}
	if total < frameOverhead || headers > total-frameOverhead || headers > maxFrameHeaderBytes {
		return eventstream.Message{}, errBadPrelude
	}
	lr := &io.LimitedReader{R: f.br, N: int64(total)}
	m, err := f.dec.Decode(lr, f.buf)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return eventstream.Message{}, err
	}
	if cap(m.Payload) > cap(f.buf) {
		f.buf = m.Payload[:0]
	}
	return m, nil
}

// header returns the string value of header name, or "".
func header(m eventstream.Message, name string) string {
	if v, ok := m.Headers.Get(name).(eventstream.StringValue); ok {
		return string(v)
	}
	return ""
}

// stream is the llm.Stream of a ConverseStream response.
type stream struct {
	ctx      context.Context // the caller's context
	cancel   context.CancelFunc
	provider string
	body     io.ReadCloser
	fr       *frameReader
	meta     replyMeta

	tools    map[int]int  // content block index → tool call index
	skip     map[int]bool // blocks of system tools Bedrock ran itself
	nTools   int
	stopped  bool // messageStop seen
	metadata bool // metadata seen
	err      error

	closeOnce sync.Once
	closed    chan struct{}
}

func newStream(ctx context.Context, cancel context.CancelFunc, provider string, body io.ReadCloser, meta replyMeta) *stream {
	return &stream{ctx: ctx, cancel: cancel, provider: provider, body: body, fr: newFrameReader(body), meta: meta,
		closed: make(chan struct{})}
}

// Next returns the next event; io.EOF after messageStop and metadata.
func (s *stream) Next() (llm.Event, error) {
	if s.err != nil {
		return llm.Event{}, s.err
	}
	if s.stopped && s.metadata {
		// Metadata is the last event of a Converse stream.
		s.err = io.EOF
		s.release()
		return llm.Event{}, io.EOF
	}
	for {
		m, err := s.fr.next()
		if err != nil {
			s.fail(s.readError(err))
			return llm.Event{}, s.err
		}
		ev, ok, e := s.decode(m)
		if e != nil {
			s.fail(e)
			return llm.Event{}, s.err
		}
		if ok {
			return ev, nil
		}
	}
}

// decode maps one message to an event; ok is false for messages that carry
// nothing airgw models (block stops, system tool blocks, unknown events).
func (s *stream) decode(m eventstream.Message) (llm.Event, bool, *llm.Error) {
	switch mt := header(m, wire.HeaderMessageType); mt {
	case wire.MessageTypeException:
		return llm.Event{}, false, classifyException(s.provider, header(m, wire.HeaderExceptionType), m.Payload)
	case wire.MessageTypeError:
		e := classifyException(s.provider, header(m, wire.HeaderErrorCode), nil)
		e.Err = errors.Join(e.Err, fmt.Errorf("stream error %s: %s", header(m, wire.HeaderErrorCode), redact(header(m, wire.HeaderErrorMessage))))
		return llm.Event{}, false, e
	case wire.MessageTypeEvent:
	default:
		return llm.Event{}, false, s.malformed(fmt.Sprintf("a frame of message type %q", mt), nil)
	}
	ev := llm.Event{ID: s.meta.id, Model: s.meta.model, Created: s.meta.created}
	et := header(m, wire.HeaderEventType)
	switch et {
	case wire.EventMessageStart:
		var p wire.MessageStartEvent
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return ev, false, s.malformed(et, err)
		}
		ev.Role = llm.RoleAssistant
		return ev, true, nil
	case wire.EventContentBlockStart:
		var p wire.ContentBlockStartEvent
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return ev, false, s.malformed(et, err)
		}
		tu := p.Start.ToolUse
		if tu == nil || tu.Type == wire.ServerToolUse {
			s.skipBlock(p.ContentBlockIndex)
			return ev, false, nil
		}
		if s.tools == nil {
			s.tools = map[int]int{}
		}
		idx := s.nTools
		s.nTools++
		s.tools[p.ContentBlockIndex] = idx
		ev.ToolCalls = []llm.ToolCallDelta{{Index: idx, ID: tu.ToolUseID, Name: tu.Name}}
		return ev, true, nil
	case wire.EventContentBlockDelta:
		return s.delta(ev, m.Payload)
	case wire.EventMessageStop:
		var p wire.MessageStopEvent
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return ev, false, s.malformed(et, err)
		}
		s.stopped = true
		ev.FinishReason = finishReason(p.StopReason)
		if p.StopReason == wire.StopSequence {
			ev.StopSequence = stopSequence(p.AdditionalModelResponseFields)
		}
		return ev, true, nil
	case wire.EventMetadata:
		var p wire.MetadataEvent
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return ev, false, s.malformed(et, err)
		}
		s.metadata = true
		if p.Usage == nil {
			return ev, false, nil
		}
		u, err := usageFromWire(p.Usage)
		if err != nil {
			return ev, false, s.malformed("metadata with invalid usage", err)
		}
		ev.Usage = &u
		return ev, true, nil
	default:
		// contentBlockStop, and event types newer than this adapter.
		return ev, false, nil
	}
}

func (s *stream) skipBlock(i int) {
	if s.skip == nil {
		s.skip = map[int]bool{}
	}
	s.skip[i] = true
}

// delta maps a contentBlockDelta.
func (s *stream) delta(ev llm.Event, payload []byte) (llm.Event, bool, *llm.Error) {
	var p wire.ContentBlockDeltaEvent
	if err := json.Unmarshal(payload, &p); err != nil {
		return ev, false, s.malformed(wire.EventContentBlockDelta, err)
	}
	if s.skip[p.ContentBlockIndex] {
		return ev, false, nil
	}
	d := p.Delta
	switch {
	case d.Text != nil:
		ev.Text = *d.Text
	case d.ToolUse != nil:
		idx, ok := s.tools[p.ContentBlockIndex]
		if !ok {
			return ev, false, s.malformed("a tool input delta without its contentBlockStart", nil)
		}
		ev.ToolCalls = []llm.ToolCallDelta{{Index: idx, Arguments: d.ToolUse.Input}}
	case d.ReasoningContent != nil:
		rc := d.ReasoningContent
		if rc.Text != nil {
			ev.Thinking = *rc.Text
		}
		if rc.Signature != nil {
			ev.ThinkingSignature = *rc.Signature
		}
		if rc.RedactedContent != nil {
			ev.RedactedThinking = base64.StdEncoding.EncodeToString(rc.RedactedContent)
		}
	default:
		return ev, false, nil // tool results of system tools
	}
	return ev, true, nil
}

func (s *stream) malformed(what string, err error) *llm.Error {
	return &llm.Error{Code: llm.CodeStreamInterrupted, Provider: s.provider, UpstreamStatus: 200, Sent: true,
		Message: fmt.Sprintf("provider %s sent a malformed stream event: %s", s.provider, what), Err: err}
}

// Close releases the connection, cancelling the upstream request. It is
// safe to call more than once and concurrently with Next.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.release()
	return nil
}

func (s *stream) release() {
	s.cancel()
	s.body.Close()
}

func (s *stream) fail(e *llm.Error) {
	s.err = e
	s.release()
}

// readError classifies a failure to read the next frame.
func (s *stream) readError(err error) *llm.Error {
	select {
	case <-s.closed:
		return &llm.Error{Code: llm.CodeClientCancelled, Provider: s.provider, Sent: true,
			Message: "the stream was closed", Err: err}
	default:
	}
	if s.ctx.Err() != nil {
		return classifyTransport(s.ctx, s.provider, err, true)
	}
	e := &llm.Error{Code: llm.CodeStreamInterrupted, Provider: s.provider, UpstreamStatus: 200, Sent: true, Err: err}
	var cs eventstream.ChecksumError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		e.Message = fmt.Sprintf("provider %s ended the stream before it was complete", s.provider)
	case errors.Is(err, errFrameTooLarge):
		e.Message = fmt.Sprintf("provider %s sent a stream event larger than airgw accepts", s.provider)
	case errors.As(err, &cs), errors.Is(err, errBadPrelude):
		e.Message = fmt.Sprintf("provider %s sent a corrupt stream frame", s.provider)
	default:
		e.Message = fmt.Sprintf("the connection to provider %s broke during the stream", s.provider)
	}
	return e
}
