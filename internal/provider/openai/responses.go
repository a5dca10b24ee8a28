package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/sse"
	wire "github.com/airgw/airgw/internal/wire/openai"
)

// ResponsesEndpoint is the Native.Endpoint of an OpenAI Responses API
// request. The Client forwards such a request to POST {base}/responses
// with only its model rewritten; no other provider type can serve it.
//
// The reply is mapped to the hub types just enough for billing and
// estimates: a Response carries the usage, the output text and function
// calls, and the provider's body as Native; a stream's events carry the
// usage (on response.completed or response.incomplete), text deltas and
// function call fragments, and each keeps its native SSE block as
// Native.Body, "event: NAME\ndata: DATA" without the blank line that ends
// it, which the Responses writer of the OpenAI dialect adds.
const ResponsesEndpoint = "/v1/responses"

// responses serves a Responses API request.
func (c *Client) responses(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	n := req.Native
	if n.Dialect != llm.DialectOpenAI {
		return nil, llm.Unsupported("the Responses API", c.name, c.typ)
	}
	if c.preset != nil && !c.preset.Responses {
		return nil, llm.Unsupported("the Responses API", c.name, c.typ+" (preset "+c.preset.Name+")")
	}
	body, err := SetModel(n.Body, req.Model)
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request body is not a JSON object", Err: err}
	}
	resp, cancel, err := c.post(ctx, c.endpointURL("responses", req.Model), body, req.Stream)
	if err != nil {
		return nil, err
	}
	hdr := keepHeaders(resp.Header)
	if req.Stream {
		return &llm.Reply{Stream: newResponsesStream(ctx, cancel, c.name, c.key, resp.Body), Header: hdr}, nil
	}
	defer cancel()
	defer resp.Body.Close()
	b, e := c.readBody(ctx, resp)
	if e != nil {
		return nil, e
	}
	r, e := decodeResponsesBody(c.name, c.key, resp.StatusCode, b)
	if e != nil {
		return nil, e
	}
	return &llm.Reply{Response: r, Header: hdr}, nil
}

// decodeResponsesBody decodes a 2xx non-streaming Responses body.
func decodeResponsesBody(provider, key string, status int, body []byte) (*llm.Response, *llm.Error) {
	var w wire.Response
	if err := json.Unmarshal(body, &w); err != nil || w.ID == "" {
		if e := streamedErrorBody(provider, key, status, body); e != nil {
			return nil, e
		}
		return nil, malformed(provider, status, "response is not a Responses API response", err)
	}
	if w.Status == wire.ResponseFailed {
		return nil, failedResponse(provider, key, status, &w)
	}
	r := responseFromWire(&w)
	if w.Usage != nil {
		u, err := responsesUsage(w.Usage)
		if err != nil {
			return nil, malformed(provider, status, "response has invalid usage", err)
		}
		r.Usage, r.UsageReported = u, true
	}
	r.Native = &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: ResponsesEndpoint, Body: body}
	return r, nil
}

// failedResponse classifies a response whose status is "failed".
func failedResponse(provider, key string, status int, w *wire.Response) *llm.Error {
	e := &llm.Error{Provider: provider, UpstreamStatus: status, Sent: true}
	ue := upstreamError{Type: "server_error", Message: "the response failed"}
	if w.Error != nil {
		ue = upstreamError{Message: w.Error.Message, Code: string(w.Error.Code)}
		if ue.Code == "server_error" || ue.Code == "" {
			ue.Type = "server_error"
		}
	}
	classifyDetail(e, ue, key)
	return e
}

// responseFromWire maps a Responses object to one choice: the text of its
// message items and its function calls.
func responseFromWire(w *wire.Response) *llm.Response {
	r := &llm.Response{ID: w.ID, Model: w.Model, Created: w.CreatedAt}
	msg := llm.Message{Role: llm.RoleAssistant}
	var text []byte
	for _, it := range w.Output {
		switch it.Type {
		case wire.ItemMessage:
			for _, p := range it.Content {
				if p.Type == wire.PartOutputText {
					text = append(text, p.Text...)
				}
			}
		case wire.ItemFunctionCall:
			msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: it.CallID, Name: it.Name, Arguments: it.Arguments})
		}
	}
	if len(text) > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = []llm.Part{{Type: llm.PartText, Text: string(text)}}
	}
	r.Choices = []llm.Choice{{Message: msg, FinishReason: finishFromStatus(w)}}
	return r
}

func finishFromStatus(w *wire.Response) llm.FinishReason {
	switch w.Status {
	case wire.ResponseIncomplete:
		if w.IncompleteDetails != nil && w.IncompleteDetails.Reason == "content_filter" {
			return llm.FinishContentFilter
		}
		return llm.FinishLength
	case wire.ResponseCompleted:
		for _, it := range w.Output {
			if it.Type == wire.ItemFunctionCall {
				return llm.FinishToolCalls
			}
		}
		return llm.FinishStop
	}
	return ""
}

// responsesUsage maps Responses usage to llm.Usage: input_tokens include
// input_tokens_details.cached_tokens, output_tokens include
// output_tokens_details.reasoning_tokens, as in Chat Completions.
func responsesUsage(w *wire.ResponseUsage) (llm.Usage, error) {
	u := llm.Usage{InputTokens: w.InputTokens, OutputTokens: w.OutputTokens}
	if d := w.InputTokensDetails; d != nil {
		u.CacheReadTokens = d.CachedTokens
	}
	if d := w.OutputTokensDetails; d != nil {
		u.ReasoningTokens = d.ReasoningTokens
	}
	for _, n := range []int64{u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.ReasoningTokens, w.TotalTokens} {
		if n < 0 || n > maxTokenCount {
			return llm.Usage{}, fmt.Errorf("token count %d out of range", n)
		}
	}
	return u, nil
}

// responsesStream is the llm.Stream of a streamed Responses API answer.
// It ends cleanly (io.EOF) only after a terminal event: response.completed
// or response.incomplete. A stream that ends before one is interrupted; an
// "error" event is returned as a classified error; response.failed is
// delivered as an event, followed by its classified error.
type responsesStream struct {
	ctx      context.Context
	cancel   context.CancelFunc
	provider string
	key      string
	body     io.ReadCloser
	r        *sse.Reader

	id      string
	model   string
	created int64

	terminal error // returned after the terminal event: io.EOF or the failure
	err      error // sticky

	closeOnce sync.Once
	closed    chan struct{}
}

func newResponsesStream(ctx context.Context, cancel context.CancelFunc, provider, key string, body io.ReadCloser) *responsesStream {
	return &responsesStream{ctx: ctx, cancel: cancel, provider: provider, key: key, body: body,
		r: sse.NewReader(body), closed: make(chan struct{})}
}

// Close releases the connection. It is safe to call more than once.
func (s *responsesStream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.release()
	return nil
}

func (s *responsesStream) release() {
	s.cancel()
	s.body.Close()
}

func (s *responsesStream) fail(err error) (llm.Event, error) {
	s.err = err
	s.release()
	return llm.Event{}, err
}

// Next returns the next event.
func (s *responsesStream) Next() (llm.Event, error) {
	if s.err != nil {
		return llm.Event{}, s.err
	}
	if s.terminal != nil {
		return s.fail(s.terminal)
	}
	for {
		sev, err := s.r.Next()
		if err != nil {
			return s.fail(streamReadError(s.ctx, s.closed, s.provider, err))
		}
		data := bytes.TrimSpace(sev.Data)
		if len(data) == 0 || bytes.Equal(data, doneMarker) {
			continue
		}
		var we wire.StreamEvent
		if err := json.Unmarshal(data, &we); err != nil || we.Type == "" {
			return s.fail(&llm.Error{Code: llm.CodeStreamInterrupted, Provider: s.provider, UpstreamStatus: 200, Sent: true,
				Message: fmt.Sprintf("provider %s sent a malformed stream event", s.provider), Err: err})
		}
		name := sev.Name
		if name == "" {
			name = we.Type
		}
		if we.Type == wire.EventError {
			e := &llm.Error{Provider: s.provider, UpstreamStatus: 200, Sent: true}
			classifyDetail(e, upstreamError{Message: we.Message, Param: string(we.Param), Code: string(we.Code)}, s.key)
			return s.fail(e)
		}
		ev, e := s.event(&we)
		if e != nil {
			return s.fail(e)
		}
		block := sse.AppendEvent(make([]byte, 0, len(name)+len(data)+16), name, data)
		ev.Native = &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: ResponsesEndpoint, Body: block[:len(block)-2]}
		return ev, nil
	}
}

// event maps one decoded stream event.
func (s *responsesStream) event(we *wire.StreamEvent) (llm.Event, *llm.Error) {
	if r := we.Response; r != nil {
		if r.ID != "" {
			s.id = r.ID
		}
		if r.Model != "" {
			s.model = r.Model
		}
		if r.CreatedAt != 0 {
			s.created = r.CreatedAt
		}
	}
	ev := llm.Event{ID: s.id, Model: s.model, Created: s.created}
	switch we.Type {
	case wire.EventOutputTextDelta:
		ev.Text = we.Delta
	case wire.EventOutputItemAdded:
		if it := we.Item; it != nil && it.Type == wire.ItemFunctionCall {
			ev.ToolCalls = []llm.ToolCallDelta{{Index: we.OutputIndex, ID: it.CallID, Name: it.Name, Arguments: it.Arguments}}
		}
	case wire.EventFunctionCallArgsDelta:
		ev.ToolCalls = []llm.ToolCallDelta{{Index: we.OutputIndex, Arguments: we.Delta}}
	case wire.EventResponseCompleted, wire.EventResponseIncomplete, wire.EventResponseFailed:
		r := we.Response
		if r == nil {
			return ev, &llm.Error{Code: llm.CodeStreamInterrupted, Provider: s.provider, UpstreamStatus: 200, Sent: true,
				Message: fmt.Sprintf("provider %s sent %s without its response", s.provider, we.Type)}
		}
		if r.Usage != nil {
			u, err := responsesUsage(r.Usage)
			if err != nil {
				return ev, &llm.Error{Code: llm.CodeStreamInterrupted, Provider: s.provider, UpstreamStatus: 200, Sent: true,
					Message: fmt.Sprintf("provider %s sent invalid usage", s.provider), Err: err}
			}
			ev.Usage = &u
		}
		s.terminal = io.EOF
		if we.Type == wire.EventResponseFailed {
			s.terminal = failedResponse(s.provider, s.key, 200, r)
		} else {
			if r.Status == "" {
				r.Status = wire.ResponseCompleted
			}
			ev.FinishReason = finishFromStatus(r)
		}
	}
	return ev, nil
}
