package anthropictest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/provider/providertest"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

//go:embed testdata/*.http
var fixtureFS embed.FS

// FixtureNames returns the names of the recorded responses the Server can
// replay ("messages-basic", "messages-stream-thinking", ...).
func FixtureNames() []string {
	ents, _ := fixtureFS.ReadDir("testdata")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".http"))
	}
	slices.Sort(names)
	return names
}

// LoadFixture returns the recorded status, headers and body of the named
// fixture.
func LoadFixture(name string) (status int, header http.Header, body []byte, err error) {
	raw, err := fixtureFS.ReadFile(path.Join("testdata", name+".http"))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("anthropictest: no fixture %q", name)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("anthropictest: fixture %s: %w", name, err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("anthropictest: fixture %s: %w", name, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// serveFixture replays a fixture; SSE bodies are written one event at a
// time with a flush after each, as the real server streams them.
func serveFixture(w http.ResponseWriter, name string) error {
	status, h, body, err := LoadFixture(name)
	if err != nil {
		return err
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	if !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		_, _ = w.Write(body)
		return nil
	}
	rc := http.NewResponseController(w)
	for len(body) > 0 {
		n := len(body)
		if i := bytes.Index(body, []byte("\n\n")); i >= 0 {
			n = i + 2
		}
		_, _ = w.Write(body[:n])
		_ = rc.Flush()
		body = body[n:]
	}
	return nil
}

// answer dispatches on the model.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, idx int, b *wire.MessagesRequest) {
	kind, arg, _ := strings.Cut(b.Model, ":")
	switch kind {
	case "fixture":
		if err := serveFixture(w, arg); err != nil {
			writeError(w, idx, http.StatusNotFound, wire.ErrNotFound, "model: "+b.Model, nil)
		}
		return
	case "error":
		serveError(w, idx, arg)
		return
	}
	if r.URL.Path == "/v1/messages/count_tokens" {
		in, _ := EchoUsage(b, "")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", requestID(idx))
		fmt.Fprintf(w, `{"input_tokens":%d}`, in)
		return
	}
	cut := -1
	var delay time.Duration
	switch kind {
	case "slow":
		d, err := time.ParseDuration(arg)
		if err != nil {
			writeError(w, idx, http.StatusBadRequest, wire.ErrInvalidRequest, "anthropictest: bad slow duration", nil)
			return
		}
		if b.Stream {
			delay = d // after message_start
			break
		}
		if !s.wait(r, idx, d) {
			return
		}
	case "cut":
		k, err := strconv.Atoi(arg)
		if err != nil || k < 0 || !b.Stream {
			writeError(w, idx, http.StatusBadRequest, wire.ErrInvalidRequest, "anthropictest: cut:K needs a number and stream: true", nil)
			return
		}
		cut = k
	}
	s.echo(w, r, idx, b, cut, delay)
}

// EchoUsage returns the input and output tokens of an echo answer to req
// whose generated text (thinking and answer, or "{}" for a tool call) is
// out: input_tokens is the number of bytes of text in the system prompt
// and all messages (text blocks, string content, string tool results)
// divided by 4, plus 1; output_tokens is the number of words of out, at
// least 1. Cache tokens set by WithUsageDetails come on top of the input.
func EchoUsage(req *wire.MessagesRequest, out string) (input, output int64) {
	n := len(contentText(req.System))
	for _, m := range req.Messages {
		n += len(contentText(m.Content))
	}
	return int64(n/4 + 1), int64(max(1, len(strings.Fields(out))))
}

// contentText returns the text of c, including tool results' text.
func contentText(c wire.Content) string {
	if c.Kind == wire.ContentString {
		return c.Text
	}
	var b strings.Builder
	for _, bl := range c.Blocks {
		switch bl.Type {
		case wire.BlockText:
			b.WriteString(bl.Text)
		case wire.BlockToolResult:
			if bl.Content != nil {
				b.WriteString(contentText(*bl.Content))
			}
		}
	}
	return b.String()
}

// lastUser returns the last user message's own text (tool results
// excluded) and whether it holds tool results.
func lastUser(req *wire.MessagesRequest) (text string, results bool) {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := req.Messages[i]
		if m.Role != wire.RoleUser {
			continue
		}
		if m.Content.Kind == wire.ContentString {
			return m.Content.Text, false
		}
		var b strings.Builder
		for _, bl := range m.Content.Blocks {
			switch bl.Type {
			case wire.BlockText:
				b.WriteString(bl.Text)
			case wire.BlockToolResult:
				results = true
			}
		}
		return b.String(), results
	}
	return "", false
}

// echoReply builds the deterministic answer to req.
func (s *Server) echoReply(idx int, req *wire.MessagesRequest) *wire.MessagesResponse {
	text, results := lastUser(req)
	var blocks []wire.ContentBlock
	var generated []string
	if th := req.Thinking; th != nil && th.Type == wire.ThinkingEnabled {
		thought := "The user said: " + text
		blocks = append(blocks, wire.ContentBlock{Type: wire.BlockThinking, Thinking: thought,
			Signature: base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "anthropictest-signature-%d", idx+1))})
		generated = append(generated, thought)
	}
	stop := wire.StopEndTurn
	last := req.Messages[len(req.Messages)-1]
	if len(req.Tools) > 0 && last.Role == wire.RoleUser && !results && (req.ToolChoice == nil || req.ToolChoice.Type != wire.ToolChoiceNone) {
		name := req.Tools[0].Name
		if tc := req.ToolChoice; tc != nil && tc.Type == wire.ToolChoiceTool {
			name = tc.Name
		}
		blocks = append(blocks, wire.ContentBlock{Type: wire.BlockToolUse, ID: fmt.Sprintf("toolu_anthropictest_%d", idx+1),
			Name: name, Input: json.RawMessage("{}")})
		generated = append(generated, "{}")
		stop = wire.StopToolUse
	} else {
		answer := "echo: " + text
		if schema, _ := outputFormat(req.OutputConfig); schema != nil {
			if b, err := providertest.SchemaInstance(schema, answer); err == nil {
				answer = string(b)
			}
		}
		blocks = append(blocks, wire.ContentBlock{Type: wire.BlockText, Text: answer})
		generated = append(generated, answer)
	}
	in, out := EchoUsage(req, strings.Join(generated, " "))
	return &wire.MessagesResponse{
		ID: fmt.Sprintf("msg_anthropictest_%d", idx+1), Type: "message", Role: wire.RoleAssistant, Model: req.Model,
		Content: blocks, StopReason: &stop,
		Usage: wire.Usage{InputTokens: in, CacheReadInputTokens: s.cacheRead, CacheCreationInputTokens: s.cacheWrite,
			CacheCreation: &wire.CacheCreation{Ephemeral5mInputTokens: s.cacheWrite},
			OutputTokens:  out, ServiceTier: "standard"},
	}
}

// wait waits d, or until the client goes away (then it records the
// request as Aborted and returns false).
func (s *Server) wait(r *http.Request, idx int, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		s.update(idx, func(q *Request) { q.Aborted = true })
		return false
	case <-t.C:
		return true
	}
}

// echo answers deterministically; cut >= 0 drops a stream after
// message_start and cut more events; delay > 0 pauses a stream after
// message_start.
func (s *Server) echo(w http.ResponseWriter, r *http.Request, idx int, req *wire.MessagesRequest, cut int, delay time.Duration) {
	msg := s.echoReply(idx, req)
	h := w.Header()
	h.Set("Request-Id", requestID(idx))
	h.Set("Anthropic-Ratelimit-Requests-Limit", "50")
	h.Set("Anthropic-Ratelimit-Requests-Remaining", "49")
	h.Set("Anthropic-Ratelimit-Requests-Reset", "2030-01-01T00:00:00Z")
	if !req.Stream {
		b, _ := json.Marshal(msg)
		s.update(idx, func(q *Request) { q.Usage = &msg.Usage })
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	events := streamEvents(msg, req.Model == "midstream-error")
	rc := http.NewResponseController(w)
	for i, ev := range events {
		if cut >= 0 && i == cut+1 {
			_ = rc.Flush()
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		}
		b := encodeEvent(ev)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil || r.Context().Err() != nil {
			// The client may leave as soon as it has this event, before
			// a "slow:" pause starts: that is an abort too.
			if delay > 0 {
				s.update(idx, func(q *Request) { q.Aborted = true })
			}
			return
		}
		if i == 0 && delay > 0 && !s.wait(r, idx, delay) {
			return
		}
		if ev.Type == wire.EventMessageDelta {
			s.update(idx, func(q *Request) { q.Usage = &msg.Usage })
		}
	}
	if cut >= len(events)-1 {
		s.update(idx, func(q *Request) { q.Usage = nil })
		_ = rc.Flush()
		panic(http.ErrAbortHandler)
	}
}

// streamEvents returns the real API's event sequence for msg: message_start
// (input usage, output_tokens 1), then per block content_block_start, the
// deltas (text word by word, thinking word by word then its signature,
// tool input as "" then "{}"), content_block_stop, with a ping after the
// first block start; then message_delta (stop reason and the output
// total) and message_stop. midError ends the stream after two text deltas
// with an overloaded_error event instead.
func streamEvents(msg *wire.MessagesResponse, midError bool) []wire.StreamEvent {
	start := *msg
	start.Content = []wire.ContentBlock{}
	start.StopReason = nil
	start.Usage.OutputTokens = 1
	evs := []wire.StreamEvent{{Type: wire.EventMessageStart, Message: &start}}
	deltas := 0
	for i, b := range msg.Content {
		idx := i
		var first wire.ContentBlock
		var ds []wire.Delta
		switch b.Type {
		case wire.BlockText:
			first = wire.ContentBlock{Type: wire.BlockText}
			for _, word := range words(b.Text) {
				ds = append(ds, wire.Delta{Type: wire.DeltaText, Text: word})
			}
		case wire.BlockThinking:
			first = wire.ContentBlock{Type: wire.BlockThinking}
			for _, word := range words(b.Thinking) {
				ds = append(ds, wire.Delta{Type: wire.DeltaThinking, Thinking: &word})
			}
			ds = append(ds, wire.Delta{Type: wire.DeltaSignature, Signature: b.Signature})
		case wire.BlockToolUse:
			first = wire.ContentBlock{Type: wire.BlockToolUse, ID: b.ID, Name: b.Name, Input: json.RawMessage("{}")}
			for _, frag := range []string{"", "{}"} {
				ds = append(ds, wire.Delta{Type: wire.DeltaInputJSON, PartialJSON: &frag})
			}
		}
		evs = append(evs, wire.StreamEvent{Type: wire.EventContentBlockStart, Index: &idx, ContentBlock: &first})
		if i == 0 {
			evs = append(evs, wire.StreamEvent{Type: wire.EventPing})
		}
		for _, d := range ds {
			evs = append(evs, wire.StreamEvent{Type: wire.EventContentBlockDelta, Index: &idx, Delta: &d})
			deltas++
			if midError && deltas == 2 {
				return append(evs, wire.StreamEvent{Type: wire.EventError,
					Error: &wire.ErrorDetail{Type: wire.ErrOverloaded, Message: "Overloaded"}})
			}
		}
		evs = append(evs, wire.StreamEvent{Type: wire.EventContentBlockStop, Index: &idx})
	}
	evs = append(evs,
		wire.StreamEvent{Type: wire.EventMessageDelta, Delta: &wire.Delta{StopReason: msg.StopReason, StopSequence: msg.StopSequence},
			Usage: &wire.DeltaUsage{OutputTokens: msg.Usage.OutputTokens}},
		wire.StreamEvent{Type: wire.EventMessageStop})
	return evs
}

// words splits s after each space, without empty pieces.
func words(s string) []string {
	var out []string
	for _, w := range strings.SplitAfter(s, " ") {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// encodeEvent returns the data of ev as the API writes it; message_delta
// always carries stop_sequence, null when unset.
func encodeEvent(ev wire.StreamEvent) []byte {
	if ev.Type == wire.EventMessageDelta {
		d := struct {
			StopReason   *string `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		}{ev.Delta.StopReason, ev.Delta.StopSequence}
		b, _ := json.Marshal(struct {
			Type  string           `json:"type"`
			Delta any              `json:"delta"`
			Usage *wire.DeltaUsage `json:"usage"`
		}{ev.Type, d, ev.Usage})
		return b
	}
	b, _ := json.Marshal(ev)
	return b
}
