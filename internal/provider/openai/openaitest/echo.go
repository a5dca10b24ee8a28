package openaitest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"

	wire "github.com/airgw/airgw/internal/wire/openai"
)

//go:embed testdata/*.http
var fixtureFS embed.FS

// FixtureNames returns the names of the recorded responses the Server can
// replay ("chat-basic", "azure-chat-stream-tool-call-o4-mini", ...).
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
		return 0, nil, nil, fmt.Errorf("openaitest: no fixture %q", name)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("openaitest: fixture %s: %w", name, err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("openaitest: fixture %s: %w", name, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// serveFixture replays a fixture; SSE bodies are written one event at a
// time with a flush after each, as a real server streams them.
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
		i := bytes.Index(body, []byte("\n\n"))
		n := len(body)
		if i >= 0 {
			n = i + 2
		}
		_, _ = w.Write(body[:n])
		_ = rc.Flush()
		body = body[n:]
	}
	return nil
}

// EchoUsage returns the usage the Server reports for an echo answer to req
// with the given answer text: prompt_tokens is the number of bytes of text
// in all messages divided by 4, plus 1; completion_tokens is the number of
// words of the answer.
func EchoUsage(req *wire.ChatRequest, answer string) wire.Usage {
	var chars int
	for _, m := range req.Messages {
		chars += len(m.Content.Text)
		for _, p := range m.Content.Parts {
			chars += len(p.Text)
		}
	}
	u := wire.Usage{PromptTokens: int64(chars/4 + 1), CompletionTokens: int64(len(strings.Fields(answer)))}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// lastUserText returns the text of the last user message.
func lastUserText(req *wire.ChatRequest) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := req.Messages[i]
		if m.Role != wire.RoleUser {
			continue
		}
		if m.Content.Kind == wire.ContentString {
			return m.Content.Text
		}
		var b strings.Builder
		for _, p := range m.Content.Parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

// echo answers deterministically; cut >= 0 drops a stream after cut chunks,
// or, with midErr, ends it there with an error chunk, as OpenAI does when
// it fails after the stream started.
func (s *Server) echo(w http.ResponseWriter, r *http.Request, idx int, req *wire.ChatRequest, cut int, midErr bool) {
	n := idx + 1
	id := fmt.Sprintf("chatcmpl-openaitest-%d", n)
	var call *wire.ToolCall
	answer := "echo: " + lastUserText(req)
	if len(req.Tools) > 0 && req.Messages[len(req.Messages)-1].Role == wire.RoleUser &&
		(req.ToolChoice == nil || req.ToolChoice.Mode != "none") {
		name := req.Tools[0].Function.Name
		if tc := req.ToolChoice; tc != nil && tc.Function != "" {
			name = tc.Function
		}
		call = &wire.ToolCall{ID: fmt.Sprintf("call_openaitest_%d", n), Type: "function",
			Function: wire.FunctionCall{Name: name, Arguments: "{}"}}
		answer = call.Function.Arguments
	}
	u := EchoUsage(req, answer)
	if s.cached > 0 {
		u.PromptTokensDetails = &wire.PromptTokensDetails{CachedTokens: min(s.cached, u.PromptTokens)}
	}
	if s.reasoning > 0 {
		u.CompletionTokens += s.reasoning
		u.TotalTokens += s.reasoning
		u.CompletionTokensDetails = &wire.CompletionTokensDetails{ReasoningTokens: s.reasoning}
	}
	h := w.Header()
	h.Set("X-Request-Id", fmt.Sprintf("req_openaitest_%d", n))
	h.Set("X-Ratelimit-Limit-Requests", "10000")
	h.Set("X-Ratelimit-Remaining-Requests", "9999")
	h.Set("X-Ratelimit-Reset-Requests", "6ms")
	h.Set("Openai-Processing-Ms", "1")
	if !req.Stream {
		msg := wire.Message{Role: wire.RoleAssistant, Annotations: json.RawMessage("[]")}
		finish := wire.FinishStop
		if call != nil {
			msg.ToolCalls = []wire.ToolCall{*call}
			finish = wire.FinishToolCalls
		} else {
			msg.Content = wire.TextContent(answer)
		}
		resp := wire.ChatResponse{ID: id, Object: wire.ObjectChatCompletion, Created: 1700000000, Model: req.Model,
			Choices:           []wire.Choice{{Index: 0, Message: msg, FinishReason: finish, Logprobs: json.RawMessage("null")}},
			Usage:             &u,
			SystemFingerprint: "fp_openaitest", ServiceTier: "default"}
		b, _ := json.Marshal(&resp)
		s.update(idx, func(q *Request) { q.Usage = &u })
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	chunk := func(c wire.ChunkChoice) wire.ChatChunk {
		return wire.ChatChunk{ID: id, Object: wire.ObjectChatCompletionChunk, Created: 1700000000, Model: req.Model,
			SystemFingerprint: "fp_openaitest", Choices: []wire.ChunkChoice{c}}
	}
	var chunks []wire.ChatChunk
	empty := ""
	if call != nil {
		chunks = append(chunks, chunk(wire.ChunkChoice{Delta: wire.Delta{Role: wire.RoleAssistant,
			ToolCalls: []wire.ToolCallDelta{{Index: 0, ID: call.ID, Type: "function", Function: wire.FunctionDelta{Name: call.Function.Name}}}}}))
		for _, a := range []string{"{", "}"} {
			chunks = append(chunks, chunk(wire.ChunkChoice{Delta: wire.Delta{
				ToolCalls: []wire.ToolCallDelta{{Index: 0, Function: wire.FunctionDelta{Arguments: a}}}}}))
		}
		chunks = append(chunks, chunk(wire.ChunkChoice{FinishReason: wire.FinishToolCalls}))
	} else {
		chunks = append(chunks, chunk(wire.ChunkChoice{Delta: wire.Delta{Role: wire.RoleAssistant, Content: &empty}}))
		words := strings.SplitAfter(answer, " ")
		for _, wd := range words {
			chunks = append(chunks, chunk(wire.ChunkChoice{Delta: wire.Delta{Content: &wd}}))
		}
		chunks = append(chunks, chunk(wire.ChunkChoice{FinishReason: wire.FinishStop}))
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		c := chunk(wire.ChunkChoice{})
		c.Choices = []wire.ChunkChoice{}
		c.Usage = &u
		chunks = append(chunks, c)
		s.update(idx, func(q *Request) { q.Usage = &u })
	}
	for i, c := range chunks {
		if i == cut {
			s.update(idx, func(q *Request) { q.Usage = nil })
			if midErr {
				_, _ = fmt.Fprintf(w, "data: %s\n\n", midStreamErrorBody)
				_ = rc.Flush()
				return
			}
			_ = rc.Flush()
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		}
		b, _ := json.Marshal(&c)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
	if cut >= len(chunks) {
		_ = rc.Flush()
		panic(http.ErrAbortHandler)
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// midStreamErrorBody is the error chunk OpenAI sends when a stream fails
// after it started (no [DONE] follows).
const midStreamErrorBody = `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`
