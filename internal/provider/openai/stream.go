package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/sse"
	wire "github.com/airgw/airgw/internal/wire/openai"
)

var doneMarker = []byte("[DONE]")

// stream is the llm.Stream of a streamed chat completion.
type stream struct {
	ctx      context.Context // the caller's context
	cancel   context.CancelFunc
	provider string
	key      string
	body     io.ReadCloser
	r        *sse.Reader

	// native is set when the client speaks OpenAI and its body was
	// forwarded: chunks that carry nothing airgw models are then passed to
	// it too (see Next).
	native bool

	queue []llm.Event // events split from one chunk with several choices
	err   error       // sticky terminal error (io.EOF after [DONE])

	closeOnce sync.Once
	closed    chan struct{}
}

func newStream(ctx context.Context, cancel context.CancelFunc, provider, key string, body io.ReadCloser, native bool) *stream {
	return &stream{ctx: ctx, cancel: cancel, provider: provider, key: key, body: body, native: native,
		r: sse.NewReader(body), closed: make(chan struct{})}
}

// Next returns the next event; io.EOF after data: [DONE].
func (s *stream) Next() (llm.Event, error) {
	if len(s.queue) > 0 {
		ev := s.queue[0]
		s.queue = s.queue[1:]
		return ev, nil
	}
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
		if bytes.Equal(data, doneMarker) {
			s.err = io.EOF
			s.release()
			return llm.Event{}, io.EOF
		}
		evs, e := decodeChunk(s.provider, s.key, data)
		if e != nil {
			s.fail(e)
			return llm.Event{}, s.err
		}
		if len(evs) == 0 {
			// A chunk with no choice and no usage, such as Azure's first
			// one with the prompt's prompt_filter_results (the verdicts on
			// the prompt, which an Azure client may read): an OpenAI client
			// whose body was forwarded gets it as is; a translation has no
			// place for it and leaves it out.
			if !s.native {
				continue
			}
			return llm.Event{Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: endpoint, Body: bytes.Clone(data)}}, nil
		}
		s.queue = evs[1:]
		return evs[0], nil
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
	return streamReadError(s.ctx, s.closed, s.provider, err)
}

// streamReadError classifies a failure to read the next event of a stream
// whose Close closes closed; ctx is the caller's context.
func streamReadError(ctx context.Context, closed <-chan struct{}, provider string, err error) *llm.Error {
	select {
	case <-closed:
		return &llm.Error{Code: llm.CodeClientCancelled, Provider: provider, Sent: true,
			Message: "the stream was closed", Err: err}
	default:
	}
	if ctx.Err() != nil {
		return classifyTransport(ctx, provider, err, true)
	}
	e := &llm.Error{Code: llm.CodeStreamInterrupted, Provider: provider, UpstreamStatus: 200, Sent: true, Err: err}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, sse.ErrTruncated):
		e.Message = fmt.Sprintf("provider %s ended the stream before it was complete", provider)
	case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLong):
		e.Message = fmt.Sprintf("provider %s sent a stream event larger than airgw accepts", provider)
	default:
		e.Message = fmt.Sprintf("the connection to provider %s broke during the stream", provider)
	}
	return e
}

// chunk is the part of wire.ChatChunk that becomes an llm.Event. Decoding
// only these fields (content as a plain string, null read as "") halves the
// allocations per event; the full chunk travels as Event.Native.
type chunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Created int64  `json:"created"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string               `json:"role"`
			Content   string               `json:"content"`
			ToolCalls []wire.ToolCallDelta `json:"tool_calls"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *wire.Usage       `json:"usage"`
	Error *wire.ErrorDetail `json:"error"`
}

// decodeChunk maps one chunk's JSON to events: one per choice, with usage
// on the last (or on a choice-less event for the usage chunk). A chunk of
// one choice (or none) travels as Native too, for byte-exact pass-through; a
// chunk of several choices (n > 1) carries no Native, because one chunk's
// bytes cannot be split across its events: the client dialect re-encodes
// each. No events means the chunk carried nothing airgw models.
func decodeChunk(provider, key string, data []byte) ([]llm.Event, *llm.Error) {
	var c chunk
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, &llm.Error{Code: llm.CodeStreamInterrupted, Provider: provider, UpstreamStatus: 200, Sent: true,
			Message: fmt.Sprintf("provider %s sent a malformed stream chunk", provider), Err: err}
	}
	if c.Error != nil {
		e := &llm.Error{Provider: provider, UpstreamStatus: 200, Sent: true}
		classifyDetail(e, upstreamError{c.Error.Message, c.Error.Type, string(c.Error.Param), string(c.Error.Code)}, key)
		return nil, e
	}
	var usage *llm.Usage
	if c.Usage != nil {
		u, err := usageFromWire(c.Usage)
		if err != nil {
			return nil, &llm.Error{Code: llm.CodeStreamInterrupted, Provider: provider, UpstreamStatus: 200, Sent: true,
				Message: fmt.Sprintf("provider %s sent invalid usage", provider), Err: err}
		}
		usage = &u
	}
	if len(c.Choices) == 0 && usage == nil {
		return nil, nil
	}
	base := llm.Event{ID: c.ID, Model: c.Model, Created: c.Created}
	n := max(len(c.Choices), 1)
	evs := make([]llm.Event, n)
	for i := range evs {
		evs[i] = base
	}
	for i, ch := range c.Choices {
		ev := &evs[i]
		ev.Index = ch.Index
		ev.Role = llm.Role(ch.Delta.Role)
		ev.Text = ch.Delta.Content
		for _, tc := range ch.Delta.ToolCalls {
			ev.ToolCalls = append(ev.ToolCalls, llm.ToolCallDelta{Index: tc.Index, ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		ev.FinishReason = llm.FinishReason(ch.FinishReason)
	}
	evs[n-1].Usage = usage
	if n == 1 {
		evs[0].Native = &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: endpoint, Body: bytes.Clone(data)}
	}
	return evs, nil
}
