// Package demo is a built-in provider that needs no account: it answers
// every chat request deterministically, streams word by word, calls tools
// when offered them, and reports usage, so that a new user can see the whole
// gateway work in a minute and tests can rely on exact token counts.
package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// Provider is the demo provider. The zero value is ready to use.
type Provider struct {
	// Name is the provider's name in the config, used in errors.
	Name string
	// ChunkDelay is the pause between streamed words; zero streams at once.
	ChunkDelay time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var _ llm.Provider = (*Provider)(nil)

// Chat answers req. The answer is a pure function of the request, and so are
// the reported token counts: input tokens are estimated from the prompt with
// llm.EstimateInputTokens, output tokens are the number of streamed words.
func (p *Provider) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	if err := ctx.Err(); err != nil {
		return nil, &llm.Error{Code: llm.CodeClientCancelled, Message: "the client cancelled the request", Err: err}
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	a := answer(req)
	a.id = "chatcmpl-demo-" + digest(req)
	a.created = now().Unix()
	a.model = req.Model
	if !req.Stream {
		return &llm.Reply{Response: a.response(req)}, nil
	}
	return &llm.Reply{Stream: &stream{ctx: ctx, a: a, n: max(req.N, 1), delay: p.ChunkDelay}}, nil
}

type reply struct {
	id, model string
	created   int64
	words     []string // the answer, split into streamed pieces
	toolCall  *llm.ToolCall
	finish    llm.FinishReason
	usage     llm.Usage
}

// answer decides what the demo provider says to req.
func answer(req *llm.Request) *reply {
	r := &reply{finish: llm.FinishStop}
	last := lastUserText(req)
	if len(req.Tools) > 0 && lastIsUser(req) && (req.ToolChoice == nil || req.ToolChoice.Mode != "none") {
		tool := req.Tools[0]
		if req.ToolChoice != nil && req.ToolChoice.Mode == "function" {
			for _, t := range req.Tools {
				if t.Name == req.ToolChoice.Name {
					tool = t
				}
			}
		}
		// JSON, not %q: Go quoting writes \x1b and \x7f, which JSON lacks.
		q, _ := json.Marshal(truncate(last, 200))
		args := `{"query":` + string(q) + `}`
		r.toolCall = &llm.ToolCall{ID: "call_demo_" + digest(req)[:12], Name: tool.Name, Arguments: args}
		r.finish = llm.FinishToolCalls
		r.usage = llm.Usage{InputTokens: llm.EstimateInputTokens(req), OutputTokens: int64(llm.EstimateTextTokens(args))}
		return r
	}
	var text string
	switch {
	case lastIsTool(req):
		text = "Thanks, the tool returned: " + truncate(lastToolText(req), 200)
	case last == "":
		text = "Hello from airgw's demo provider. Ask me anything."
	default:
		text = "This is airgw's demo provider. You said: " + truncate(last, 400)
	}
	r.words = splitWords(text)
	if req.MaxTokens > 0 && len(r.words) > req.MaxTokens {
		r.words = r.words[:req.MaxTokens]
		r.finish = llm.FinishLength
	}
	r.usage = llm.Usage{InputTokens: llm.EstimateInputTokens(req), OutputTokens: int64(len(r.words))}
	return r
}

func (r *reply) response(req *llm.Request) *llm.Response {
	n := max(req.N, 1)
	resp := &llm.Response{ID: r.id, Model: r.model, Created: r.created, UsageReported: true}
	for i := range n {
		msg := llm.Message{Role: llm.RoleAssistant}
		if r.toolCall != nil {
			msg.ToolCalls = []llm.ToolCall{*r.toolCall}
		} else {
			msg.Content = []llm.Part{{Type: llm.PartText, Text: strings.Join(r.words, "")}}
		}
		resp.Choices = append(resp.Choices, llm.Choice{Index: i, Message: msg, FinishReason: r.finish})
	}
	resp.Usage = r.usage
	resp.Usage.OutputTokens *= int64(n)
	return resp
}

// stream yields, per choice, a role event, one event per word (or one tool
// call), a finish event; then a final usage event.
type stream struct {
	ctx   context.Context
	a     *reply
	n     int
	delay time.Duration
	pos   int // events emitted so far
	done  bool
	// closed is set by Close before the end: the rest of the stream is
	// cancelled, as it is for a provider whose connection was dropped.
	closed bool
}

func (s *stream) Next() (llm.Event, error) {
	if s.closed {
		return llm.Event{}, &llm.Error{Code: llm.CodeClientCancelled, Message: "the stream was closed before its end"}
	}
	if s.done {
		return llm.Event{}, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		return llm.Event{}, &llm.Error{Code: llm.CodeClientCancelled, Message: "the client cancelled the request", Err: err}
	}
	per := len(s.a.words) + 2 // role, words, finish
	if s.a.toolCall != nil {
		per = 3 // role, tool call, finish
	}
	ev := llm.Event{ID: s.a.id, Model: s.a.model, Created: s.a.created}
	if s.pos >= per*s.n {
		u := s.a.usage
		u.OutputTokens *= int64(s.n)
		ev.Usage = &u
		s.done = true
		return ev, nil
	}
	choice, step := s.pos/per, s.pos%per
	s.pos++
	ev.Index = choice
	switch {
	case step == 0:
		ev.Role = llm.RoleAssistant
	case step == per-1:
		ev.FinishReason = s.a.finish
	case s.a.toolCall != nil:
		tc := s.a.toolCall
		ev.ToolCalls = []llm.ToolCallDelta{{Index: 0, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}}
	default:
		if s.delay > 0 {
			t := time.NewTimer(s.delay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return llm.Event{}, &llm.Error{Code: llm.CodeClientCancelled, Message: "the client cancelled the request", Err: s.ctx.Err()}
			}
		}
		ev.Text = s.a.words[step-1]
	}
	return ev, nil
}

// Close ends the stream: a stream closed before its last event reports
// client_cancelled from then on, one read to the end keeps io.EOF.
func (s *stream) Close() error {
	if !s.done {
		s.closed = true
	}
	return nil
}

// splitWords splits text into pieces that concatenate back to text, each a
// word with its leading space, as streaming models send them.
func splitWords(text string) []string {
	var out []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' {
			out = append(out, text[start:i])
			start = i
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

func lastIsUser(req *llm.Request) bool {
	return len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == llm.RoleUser
}

func lastIsTool(req *llm.Request) bool {
	return len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == llm.RoleTool
}

func lastToolText(req *llm.Request) string {
	return req.Messages[len(req.Messages)-1].Text()
}

func lastUserText(req *llm.Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == llm.RoleUser {
			return strings.TrimSpace(req.Messages[i].Text())
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func digest(req *llm.Request) string {
	h := sha256.New()
	for _, m := range req.Messages {
		io.WriteString(h, string(m.Role))
		io.WriteString(h, m.Text())
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}
