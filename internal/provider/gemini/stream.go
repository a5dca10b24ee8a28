package gemini

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
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

// stream is the llm.Stream of streamGenerateContent?alt=sse. Gemini has no
// end marker: the stream is complete when every candidate it started has
// sent a finishReason, and an end of body before that is a cut.
type stream struct {
	ctx      context.Context // the caller's context
	cancel   context.CancelFunc
	provider string
	key      string
	body     io.ReadCloser
	r        *sse.Reader
	dec      decoder

	queue []llm.Event // events of one chunk not yet returned
	err   error       // sticky terminal error (io.EOF at a clean end)

	closeOnce sync.Once
	closed    chan struct{}
}

func newStream(ctx context.Context, cancel context.CancelFunc, provider, key string, created int64, body io.ReadCloser) *stream {
	return &stream{ctx: ctx, cancel: cancel, provider: provider, key: key, body: body,
		r: sse.NewReader(body), dec: decoder{provider: provider, key: key, created: created}, closed: make(chan struct{})}
}

// Next returns the next event; io.EOF after a complete stream.
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
		if errors.Is(err, io.EOF) && s.dec.complete() {
			s.err = io.EOF
			s.release()
			return llm.Event{}, io.EOF
		}
		if err != nil {
			s.fail(s.readError(err))
			return llm.Event{}, s.err
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		evs, e := s.dec.chunk(data)
		if e != nil {
			s.fail(e)
			return llm.Event{}, s.err
		}
		if len(evs) == 0 {
			continue
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
		e.Message = fmt.Sprintf("provider %s ended the stream before it was complete", s.provider)
	case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLong):
		e.Message = fmt.Sprintf("provider %s sent a stream event larger than airgw accepts", s.provider)
	default:
		e.Message = fmt.Sprintf("the connection to provider %s broke during the stream", s.provider)
	}
	return e
}

// decoder turns stream chunks into events, keeping per-candidate state:
// whether the role was sent, how many calls were made, whether it finished.
type decoder struct {
	provider string
	key      string
	created  int64

	cands     map[int]*candState
	lastUsage llm.Usage
	usageSent bool
}

type candState struct {
	roleSent bool
	calls    int
	finished bool
}

// complete reports whether every candidate seen has finished.
func (d *decoder) complete() bool {
	if len(d.cands) == 0 {
		return false
	}
	for _, c := range d.cands {
		if !c.finished {
			return false
		}
	}
	return true
}

// chunk maps one event's JSON to events: one per part, the role on a
// candidate's first, its finish reason on its last; usage, when it changed
// since the last report, rides on the chunk's last event (Gemini's counts
// are cumulative, so the last report is the bill).
func (d *decoder) chunk(data []byte) ([]llm.Event, *llm.Error) {
	var w wire.Response
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, &llm.Error{Code: llm.CodeStreamInterrupted, Provider: d.provider, UpstreamStatus: 200, Sent: true,
			Message: fmt.Sprintf("provider %s sent a malformed stream chunk", d.provider), Err: err}
	}
	if w.Error != nil {
		e := &llm.Error{Provider: d.provider, UpstreamStatus: 200, Sent: true}
		classifyStatus(e, w.Error, 200, d.key)
		if e.Code == llm.CodeUpstreamInvalidRequest || e.Code == llm.CodeProviderError {
			// Mid-stream, the request itself was accepted: the break is the provider's.
			e.Code = llm.CodeStreamInterrupted
		}
		return nil, e
	}
	if e := blocked(d.provider, &w); e != nil {
		return nil, e
	}
	if d.cands == nil {
		d.cands = make(map[int]*candState, 1)
	}
	base := llm.Event{ID: w.ResponseID, Model: modelName(w.ModelVersion), Created: createdAt(w.CreateTime, d.created)}
	var evs []llm.Event
	for i := range w.Candidates {
		cand := &w.Candidates[i]
		st := d.cands[cand.Index]
		if st == nil {
			st = &candState{}
			d.cands[cand.Index] = st
		}
		first := len(evs)
		if cand.Content != nil {
			for j := range cand.Content.Parts {
				if ev, ok := partEvent(base, cand.Index, &cand.Content.Parts[j], st); ok {
					evs = append(evs, ev)
				}
			}
		}
		if cand.FinishReason != "" {
			if len(evs) == first {
				ev := base
				ev.Index = cand.Index
				evs = append(evs, ev)
			}
			evs[len(evs)-1].FinishReason = finishReason(cand.FinishReason, st.calls > 0)
			st.finished = evs[len(evs)-1].FinishReason != ""
		}
		if len(evs) > first && !st.roleSent {
			evs[first].Role = llm.RoleAssistant
			st.roleSent = true
		}
	}
	if w.UsageMetadata != nil {
		u, err := usageFromWire(w.UsageMetadata)
		if err != nil {
			return nil, &llm.Error{Code: llm.CodeStreamInterrupted, Provider: d.provider, UpstreamStatus: 200, Sent: true,
				Message: fmt.Sprintf("provider %s sent invalid usage", d.provider), Err: err}
		}
		if !u.IsZero() && (!d.usageSent || u != d.lastUsage) {
			d.lastUsage, d.usageSent = u, true
			if len(evs) == 0 {
				evs = append(evs, base)
			}
			evs[len(evs)-1].Usage = &u
		}
	}
	return evs, nil
}

// partEvent maps one part; ok is false for a part that carries nothing.
func partEvent(base llm.Event, index int, p *wire.Part, st *candState) (llm.Event, bool) {
	ev := base
	ev.Index = index
	switch {
	case p.Thought:
		ev.Thinking = p.Text
	case p.FunctionCall != nil:
		tc := toolCall(p.FunctionCall, st.calls)
		ev.ToolCalls = []llm.ToolCallDelta{{Index: st.calls, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}}
		st.calls++
	default:
		ev.Text = p.Text
	}
	ev.ThinkingSignature = exportSignature(p.ThoughtSignature)
	ok := ev.Thinking != "" || ev.Text != "" || len(ev.ToolCalls) > 0 || ev.ThinkingSignature != ""
	return ev, ok
}
