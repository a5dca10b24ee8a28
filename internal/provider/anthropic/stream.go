package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/sse"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

// stream is the llm.Stream of a streamed message.
//
// Each upstream event maps to at most one llm.Event:
//
//   - message_start: the assistant role (the input usage is remembered);
//   - content_block_start: a tool_use block starts a tool call
//     (ToolCallDelta with the call's index among the message's tool_use
//     blocks, its ID and Name); other blocks, their initial text if any;
//   - content_block_delta: text, thinking, signature, or a fragment of the
//     tool call's arguments (input_json_delta);
//   - content_block_stop: nothing, except "{}" as the arguments of a tool
//     call that received none, so that they are valid JSON;
//   - message_delta: the finish reason, stop sequence and the usage;
//   - message_stop: the end (Next then returns io.EOF);
//   - error: a classified *llm.Error;
//   - ping and unknown events: nothing.
//
// Usage is cumulative: message_start carries the input (and cache) counts,
// message_delta the running output total and, from recent API versions,
// the input counts again. Each report replaces the previous one; the
// message_delta event carries the full usage.
//
// When the request was passed through (an Anthropic client), every event,
// ping included, is returned with the upstream data as Native (without the
// whitespace padding around it), for the client to receive verbatim; the
// event name is the data's "type". Otherwise events with nothing to say
// are skipped and no event carries Native.
type stream struct {
	ctx      context.Context // the caller's context
	cancel   context.CancelFunc
	provider string
	key      string
	native   bool
	body     io.ReadCloser
	r        *sse.Reader

	id      string
	model   string
	created int64
	usage   wire.Usage // the latest counts
	tools   map[int]*toolBlock

	err error // sticky terminal error (io.EOF after message_stop)

	closeOnce sync.Once
	closed    chan struct{}
}

// toolBlock is a tool_use block of the stream.
type toolBlock struct {
	index   int  // among the message's tool calls
	hasArgs bool // a non-empty arguments fragment was sent
}

func newStream(ctx context.Context, cancel context.CancelFunc, provider, key string, native bool, body io.ReadCloser) *stream {
	return &stream{ctx: ctx, cancel: cancel, provider: provider, key: key, native: native, body: body,
		r: sse.NewReader(body), closed: make(chan struct{})}
}

// Next returns the next event; io.EOF after message_stop.
func (s *stream) Next() (llm.Event, error) {
	if s.err != nil {
		return llm.Event{}, s.err
	}
	for {
		ev, err := s.r.Next()
		if err != nil {
			s.fail(s.readError(err))
			return llm.Event{}, s.err
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		out, emit, stop, e := s.decode(ev.Name, data)
		if e != nil {
			s.fail(e)
			return llm.Event{}, s.err
		}
		if stop {
			s.err = io.EOF
			s.release()
		}
		if emit {
			return out, nil
		}
		if stop {
			return llm.Event{}, io.EOF
		}
	}
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

// readError classifies a failure to read the next event.
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
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, sse.ErrTruncated):
		e.Message = fmt.Sprintf("provider %s ended the stream before message_stop", s.provider)
	case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLong):
		e.Message = fmt.Sprintf("provider %s sent a stream event larger than airgw accepts", s.provider)
	default:
		e.Message = fmt.Sprintf("the connection to provider %s broke during the stream", s.provider)
	}
	return e
}

// event is the part of wire.StreamEvent that becomes an llm.Event.
// Decoding only these fields, as plain strings, keeps the per-event cost
// low; the full event travels as Native when the client needs it.
type event struct {
	Type    string `json:"type"`
	Message *struct {
		ID    string     `json:"id"`
		Model string     `json:"model"`
		Usage wire.Usage `json:"usage"`
	} `json:"message"`
	Index        int `json:"index"`
	ContentBlock *struct {
		Type     string `json:"type"`
		ID       string `json:"id"`
		Name     string `json:"name"`
		Text     string `json:"text"`
		Thinking string `json:"thinking"`
		Data     string `json:"data"`
	} `json:"content_block"`
	Delta *struct {
		Type         string  `json:"type"`
		Text         string  `json:"text"`
		PartialJSON  string  `json:"partial_json"`
		Thinking     string  `json:"thinking"`
		Signature    string  `json:"signature"`
		StopReason   *string `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage *wire.DeltaUsage  `json:"usage"`
	Error *wire.ErrorDetail `json:"error"`
}

// decode maps one event's data to an llm.Event. emit reports whether the
// event is to be returned, stop whether it ended the stream.
func (s *stream) decode(name string, data []byte) (out llm.Event, emit, stop bool, e *llm.Error) {
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return out, false, false, s.malformed("a malformed stream event", err)
	}
	if ev.Type == "" {
		ev.Type = name
	}
	switch ev.Type {
	case wire.EventMessageStart:
		if ev.Message == nil {
			return out, false, false, s.malformed("message_start without a message", nil)
		}
		if err := checkUsage(ev.Message.Usage); err != nil {
			return out, false, false, s.malformed("invalid usage", err)
		}
		s.id, s.model, s.created = ev.Message.ID, ev.Message.Model, time.Now().Unix()
		s.usage = ev.Message.Usage
		out.Role = llm.RoleAssistant
	case wire.EventContentBlockStart:
		b := ev.ContentBlock
		if b == nil {
			return out, false, false, s.malformed("content_block_start without a block", nil)
		}
		switch b.Type {
		case wire.BlockText:
			out.Text = b.Text
		case wire.BlockThinking:
			out.Thinking = b.Thinking
		case wire.BlockRedactedThinking:
			out.RedactedThinking = b.Data
		case wire.BlockToolUse:
			if s.tools == nil {
				s.tools = make(map[int]*toolBlock)
			}
			tb := &toolBlock{index: len(s.tools)}
			s.tools[ev.Index] = tb
			out.ToolCalls = []llm.ToolCallDelta{{Index: tb.index, ID: b.ID, Name: b.Name}}
		}
	case wire.EventContentBlockDelta:
		d := ev.Delta
		if d == nil {
			return out, false, false, s.malformed("content_block_delta without a delta", nil)
		}
		switch d.Type {
		case wire.DeltaText:
			out.Text = d.Text
		case wire.DeltaThinking:
			out.Thinking = d.Thinking
		case wire.DeltaSignature:
			out.ThinkingSignature = d.Signature
		case wire.DeltaInputJSON:
			if tb := s.tools[ev.Index]; tb != nil && d.PartialJSON != "" {
				tb.hasArgs = true
				out.ToolCalls = []llm.ToolCallDelta{{Index: tb.index, Arguments: d.PartialJSON}}
			}
		}
	case wire.EventContentBlockStop:
		if tb := s.tools[ev.Index]; tb != nil && !tb.hasArgs {
			tb.hasArgs = true
			out.ToolCalls = []llm.ToolCallDelta{{Index: tb.index, Arguments: "{}"}}
		}
	case wire.EventMessageDelta:
		if d := ev.Delta; d != nil {
			out.FinishReason = finishReason(d.StopReason)
			if d.StopSequence != nil {
				out.StopSequence = *d.StopSequence
			}
		}
		if u := ev.Usage; u != nil {
			s.usage.OutputTokens = u.OutputTokens
			if u.InputTokens != nil {
				s.usage.InputTokens = *u.InputTokens
			}
			if u.CacheReadInputTokens != nil {
				s.usage.CacheReadInputTokens = *u.CacheReadInputTokens
			}
			if u.CacheCreationInputTokens != nil {
				s.usage.CacheCreationInputTokens = *u.CacheCreationInputTokens
			}
			nu, err := usageFromWire(s.usage)
			if err != nil {
				return out, false, false, s.malformed("invalid usage", err)
			}
			out.Usage = &nu
		}
	case wire.EventMessageStop:
		stop = true
	case wire.EventError:
		d := wire.ErrorDetail{Type: wire.ErrAPI}
		if ev.Error != nil {
			d = *ev.Error
		}
		e := &llm.Error{Provider: s.provider, UpstreamStatus: 200, Sent: true}
		classifyDetail(e, d, s.key)
		return out, false, false, e
	}
	emit = s.native || out.HasContent()
	if !emit {
		return out, false, stop, nil
	}
	out.ID, out.Model, out.Created = s.id, s.model, s.created
	if s.native {
		out.Native = &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: Endpoint, Body: bytes.Clone(data)}
	}
	return out, true, stop, nil
}

func checkUsage(u wire.Usage) error {
	_, err := usageFromWire(u)
	return err
}

func (s *stream) malformed(what string, err error) *llm.Error {
	return &llm.Error{Code: llm.CodeStreamInterrupted, Provider: s.provider, UpstreamStatus: 200, Sent: true,
		Message: fmt.Sprintf("provider %s sent %s", s.provider, what), Err: err}
}
