// Package faulttest is a fault-injecting fake of the OpenAI Chat Completions
// API, for testing airgw's resilience rules (DESIGN.md §3) end to end.
//
// The Server speaks the wire format the way OpenAI does (a JSON completion
// with usage; an SSE stream of `data: {…}` chunks, a usage chunk when
// stream_options.include_usage is set, then `data: [DONE]`), and its
// behaviour is chosen by the request's model, so that one airgw config can
// route several aliases to the same Server:
//
//   - "ok" (or "ok:<label>", or any model that names no behaviour below, such
//     as "gpt-4o"): a deterministic echo, "echo: " + the last user message,
//     streamed one word per chunk.
//   - "fail:N": the first N calls for that exact model string answer 503,
//     then echo.
//   - "status:<code>": always that status, with an OpenAI error body.
//   - "429:<secs>": always 429 with Retry-After: secs; "429:<secs>:<n>":
//     only the first n calls, then echo.
//   - "reset": read the whole request body, then reset the connection
//     without answering (a failure after the request was sent, which the
//     provider may have processed).
//   - "reset-first:N": the first N calls reset, then echo.
//   - "hang": never answer; wait until the client goes away.
//   - "slowfirst:<duration>": stream: send the headers, then wait before the
//     first chunk (non-streaming: wait before answering).
//   - "slowbody:<duration>": wait before answering, either way.
//   - "cut:K": stream K chunks, then end the body without [DONE].
//   - "stall:K": stream K chunks, then send nothing more but keep the
//     connection open until the client goes away.
//   - "malformed": 200 with invalid JSON (an invalid chunk when streaming).
//   - "context": 400 with code context_length_exceeded.
//   - "filter": 400 with code content_policy_violation (the content filter).
//   - "flood:N": stream N chunks of 1 KiB of text each, then [DONE] (for
//     slow readers: see Sent for how far the Server got).
//   - "flaky:<pct>": pct percent of the calls for that model answer 503, in
//     a deterministic sequence spread evenly (call n, from 0, fails when
//     ⌊(n+1)·pct/100⌋ > ⌊n·pct/100⌋), so no two failures are adjacent when
//     pct ≤ 50.
//
// Every wait ends as soon as the client's connection closes; each such
// close is recorded (see Cancels) with the time the Server saw it.
//
// NewUntrustedTLSServer serves the same behaviours over HTTPS with a
// certificate no client trusts, and ResetListener resets connections
// before a request can be sent (tls.go).
//
// The package is for tests only. A Server is safe for concurrent use.
package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Key is the API key the Server accepts as a bearer token.
const Key = "sk-faulttest-0123456789abcdef"

// Request is one chat request the Server received.
type Request struct {
	Model        string
	Stream       bool
	IncludeUsage bool
	Header       http.Header
	Start        time.Time // when the Server began handling it
	N            int       // the call's index among calls for Model, from 0
}

// Cancel is a request whose client went away while the Server was still
// answering it (waiting, or in the middle of a stream).
type Cancel struct {
	Model string
	Start time.Time // when the request arrived
	At    time.Time // when the Server saw the connection close
}

// Server is the fake upstream.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	calls    map[string]int
	sent     map[string]int64 // stream bytes written and flushed, by model
	requests []Request
	cancels  []Cancel
}

// NewServer starts a Server on 127.0.0.1, closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{calls: map[string]int{}, sent: map[string]int64{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.Close)
	return s
}

// URL returns the API's base URL, ending in /v1.
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Close shuts the Server down, cutting any connection still open.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// CloseConnections cuts every connection open to the Server (idle ones
// included) and keeps serving: a client's pooled connections end, which a
// goroutine-leak test needs to count what is left.
func (s *Server) CloseConnections() { s.srv.CloseClientConnections() }

// Calls returns how many chat requests named exactly model.
func (s *Server) Calls(model string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[model]
}

// Total returns how many chat requests arrived, whatever their model.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// Requests returns a copy of every chat request received, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Sent returns how many bytes of event stream the Server has written and
// flushed for model so far: with a client that does not read, it stops
// growing once the connection's buffers are full.
func (s *Server) Sent(model string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[model]
}

// Cancels returns the requests whose client went away mid-answer, in the
// order the Server saw it.
func (s *Server) Cancels() []Cancel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cancels)
}

// begin records a request and returns its index among calls for its model.
func (s *Server) begin(r Request) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.N = s.calls[r.Model]
	s.calls[r.Model]++
	s.requests = append(s.requests, r)
	return r.N
}

// chatRequest is the part of a request body the Server reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// call is one request in progress.
type call struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	req   chatRequest
	n     int
	start time.Time
	flood int // chunks of 1 KiB to stream instead of the echo
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "", nil)
		return
	}
	body, err := io.ReadAll(r.Body) // the whole body, before any fault
	if err != nil {
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+Key {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", nil)
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" || len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request: it needs a model and messages.", "invalid_request_error", "", nil)
		return
	}
	c := &call{s: s, w: w, r: r, req: req, start: time.Now()}
	c.n = s.begin(Request{Model: req.Model, Stream: req.Stream, IncludeUsage: c.includeUsage(),
		Header: r.Header.Clone(), Start: c.start})
	c.serve()
}

func (c *call) includeUsage() bool {
	return c.req.StreamOptions != nil && c.req.StreamOptions.IncludeUsage
}

// serve dispatches on the model's behaviour.
func (c *call) serve() {
	kind, arg, _ := strings.Cut(c.req.Model, ":")
	switch kind {
	case "fail":
		if c.n < c.count(arg) {
			c.unavailable()
			return
		}
	case "status":
		code, err := strconv.Atoi(arg)
		if err != nil || code < 100 || code > 599 {
			c.badModel("status:<code> needs an HTTP status")
			return
		}
		writeError(c.w, code, fmt.Sprintf("faulttest: status %d as asked", code), errorType(code), "", nil)
		return
	case "429":
		secs, n, hasN := strings.Cut(arg, ":")
		if _, err := strconv.Atoi(secs); err != nil {
			c.badModel("429:<secs>[:<n>] needs whole seconds")
			return
		}
		if !hasN || c.n < c.count(n) {
			h := http.Header{"Retry-After": {secs}}
			writeError(c.w, http.StatusTooManyRequests, "Rate limit reached for requests. Please try again in "+secs+"s.", "requests", "rate_limit_exceeded", h)
			return
		}
	case "reset":
		c.reset()
		return
	case "reset-first":
		if c.n < c.count(arg) {
			c.reset()
			return
		}
	case "hang":
		c.wait(-1)
		return
	case "slowfirst", "slowbody":
		d, err := time.ParseDuration(arg)
		if err != nil {
			c.badModel(kind + ":<duration> needs a duration such as 2s")
			return
		}
		if kind == "slowfirst" && c.req.Stream {
			c.streamHeaders()
		}
		if !c.wait(d) {
			return
		}
	case "cut", "stall":
		k, err := strconv.Atoi(arg)
		if err != nil || k < 0 || !c.req.Stream {
			c.badModel(kind + ":K needs a number of chunks and stream: true")
			return
		}
		c.stream(k)
		if kind == "stall" {
			c.wait(-1)
		}
		return // cut: the body ends without [DONE]
	case "malformed":
		c.malformed()
		return
	case "flood":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || !c.req.Stream {
			c.badModel("flood:N needs a number of chunks and stream: true")
			return
		}
		c.flood = n
	case "context":
		writeError(c.w, http.StatusBadRequest, "This model's maximum context length is 128000 tokens. However, your messages resulted in 130017 tokens. Please reduce the length of the messages.",
			"invalid_request_error", "context_length_exceeded", nil)
		return
	case "filter":
		writeError(c.w, http.StatusBadRequest, "Your request was rejected as a result of our safety system.",
			"invalid_request_error", "content_policy_violation", nil)
		return
	case "flaky":
		pct, err := strconv.Atoi(arg)
		if err != nil || pct < 0 || pct > 100 {
			c.badModel("flaky:<pct> needs a percentage")
			return
		}
		if (c.n+1)*pct/100 > c.n*pct/100 {
			c.unavailable()
			return
		}
	}
	if c.req.Stream {
		c.stream(-1)
		return
	}
	c.complete()
}

// count parses a call count; a bad one counts as 0.
func (c *call) count(arg string) int {
	n, _ := strconv.Atoi(arg)
	return n
}

func (c *call) badModel(msg string) {
	writeError(c.w, http.StatusBadRequest, "faulttest: model "+strconv.Quote(c.req.Model)+": "+msg, "invalid_request_error", "", nil)
}

func (c *call) unavailable() {
	writeError(c.w, http.StatusServiceUnavailable, "The engine is currently overloaded, please try again later", "server_error", "", nil)
}

// wait waits d (forever when negative) or until the client goes away, which
// it records; it reports whether the wait ran its course.
func (c *call) wait(d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-c.r.Context().Done():
		c.s.mu.Lock()
		c.s.cancels = append(c.s.cancels, Cancel{Model: c.req.Model, Start: c.start, At: time.Now()})
		c.s.mu.Unlock()
		return false
	}
}

// reset drops the connection without answering, with an RST where the
// platform allows, after the whole request was read.
func (c *call) reset() {
	conn, _, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (c *call) malformed() {
	h := c.w.Header()
	h.Set("X-Request-Id", c.requestID())
	if c.req.Stream {
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		c.w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(c.w, "data: {\"id\":\"chatcmpl-broken\",\"choices\":[{\"delta\":\n\n")
		return
	}
	h.Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(c.w, `{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,"message":`)
}

func (c *call) requestID() string { return fmt.Sprintf("req_faulttest_%d", c.n) }

// reply returns the echo's text, split into the words streamed one per
// chunk, and its usage.
func (c *call) reply() (words []string, u usage) {
	last := ""
	for _, m := range c.req.Messages {
		if m.Role == "user" {
			last = contentText(m.Content)
		}
		u.PromptTokens += 3 + int64(len(strings.Fields(contentText(m.Content))))
	}
	words = strings.Fields("echo: " + last)
	for i := 1; i < len(words); i++ {
		words[i] = " " + words[i]
	}
	if c.flood > 0 {
		words = slices.Repeat([]string{strings.Repeat("x", 1023) + " "}, c.flood)
	}
	u.CompletionTokens = int64(len(words))
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return words, u
}

// contentText returns the text of a message's content: a string, or the
// text parts of an array.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct{ Type, Text string }
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// created is the fixed creation time of every answer.
const created = 1764000000

type usage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// complete writes a non-streaming chat completion.
func (c *call) complete() {
	words, u := c.reply()
	text := strings.Join(words, "")
	body, _ := json.Marshal(map[string]any{
		"id": fmt.Sprintf("chatcmpl-fault%d", c.n), "object": "chat.completion", "created": created,
		"model": c.req.Model, "system_fingerprint": "fp_faulttest",
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": text, "refusal": nil},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage": u,
	})
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-Id", c.requestID())
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(body)
}

// streamHeaders sends the headers of an event stream, once.
func (c *call) streamHeaders() {
	h := c.w.Header()
	if h.Get("Content-Type") != "" {
		return
	}
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Request-Id", c.requestID())
	c.w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(c.w).Flush()
}

// stream writes the echo as an event stream: a role chunk, one chunk per
// word, a finish chunk, the usage chunk when asked, then [DONE]. With
// limit ≥ 0 it stops after that many chunks, without [DONE].
func (c *call) stream(limit int) {
	c.streamHeaders()
	words, u := c.reply()
	id := fmt.Sprintf("chatcmpl-fault%d", c.n)
	chunk := func(delta map[string]any, finish any, choices bool, usage any) []byte {
		m := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created,
			"model": c.req.Model, "system_fingerprint": "fp_faulttest", "choices": []any{}}
		if choices {
			m["choices"] = []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}
		}
		if c.includeUsage() {
			m["usage"] = usage
		}
		b, _ := json.Marshal(m)
		return b
	}
	// Chunks are encoded as they are sent: a flood never sits in memory.
	n := len(words) + 2
	if c.includeUsage() {
		n++
	}
	rc := http.NewResponseController(c.w)
	var buf bytes.Buffer
	for i := range n {
		if i == limit {
			return
		}
		var ch []byte
		switch {
		case i == 0:
			ch = chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil, true, nil)
		case i <= len(words):
			ch = chunk(map[string]any{"content": words[i-1]}, nil, true, nil)
		case i == len(words)+1:
			ch = chunk(map[string]any{}, "stop", true, nil)
		default:
			ch = chunk(nil, nil, false, u)
		}
		buf.Reset()
		buf.WriteString("data: ")
		buf.Write(ch)
		buf.WriteString("\n\n")
		if _, err := c.w.Write(buf.Bytes()); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		c.s.mu.Lock()
		c.s.sent[c.req.Model] += int64(buf.Len())
		c.s.mu.Unlock()
	}
	if limit >= 0 {
		return // cut or stall: never a clean end, even past the last chunk
	}
	_, _ = io.WriteString(c.w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// discardLog silences the http.Server's own log where failures are
// expected.
var discardLog = log.New(io.Discard, "", 0)

// errorType is the OpenAI error type for a status.
func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error"
	case status == http.StatusTooManyRequests:
		return "requests"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// writeError writes an OpenAI error body.
func writeError(w http.ResponseWriter, status int, message, typ, code string, extra http.Header) {
	var c any
	if code != "" {
		c = code
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": c}})
	for k, v := range extra {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_faulttest_error")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
