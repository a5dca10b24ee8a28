// Package anthropictest provides a strict fake of the Anthropic Messages
// API for tests. It validates requests the way the real API does (the
// x-api-key and anthropic-version headers, unknown top-level fields,
// required max_tokens, roles alternating from "user", tool_result blocks
// answering a tool_use of the previous message, thinking budgets and the
// sampling and tool_choice settings thinking excludes) and
// answers according to the request's model:
//
//   - "fixture:<name>" replays testdata/<name>.http byte for byte (status,
//     headers, body); see FixtureNames.
//   - "error:<kind>" answers with an error: 400, context (prompt too long),
//     401, 403, 404, 413, 429 (retry-after: 2 and anthropic-ratelimit-*
//     headers), 500, 529 (overloaded, with request_id).
//   - "cut:K" streams message_start and K more events, then drops the
//     connection.
//   - "slow:<duration>" waits before echoing, or, when streaming, after
//     message_start; a client that goes away meanwhile is seen at once and
//     the request marked Aborted.
//   - "midstream-error" streams a few text deltas, then an overloaded_error
//     error event.
//   - any other model echoes: the text "echo: " + the last user message's
//     text, streamed one word per text_delta with the real API's event
//     sequence; with tools offered (and tool_choice not "none") and a last
//     user message holding no tool_result, a tool_use block calling the
//     first tool (or the one tool_choice names) with input {}; with
//     thinking enabled, a signed thinking block first; with JSON outputs
//     (output_config.format), the answer is a JSON value of the schema
//     whose first string is that text (providertest.SchemaInstance). Usage is
//     deterministic (see EchoUsage).
//
// POST /v1/messages/count_tokens answers {"input_tokens": N} with N the
// echo formula's input tokens (or the error of an "error:<kind>" model).
//
// The package is for tests only.
package anthropictest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/providertest"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

// Key is the API key the Server accepts unless WithKey says otherwise.
const Key = "sk-ant-api03-anthropictest-0123456789abcdef"

// Versions are the anthropic-version values the Server accepts.
var Versions = []string{"2023-06-01", "2023-01-01"}

// Request is one request the Server received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Raw is the body as received.
	Raw []byte
	// Fields holds the top-level members of the body, undecoded; nil when
	// the body was not a JSON object.
	Fields map[string]json.RawMessage
	// Body is the decoded body; nil when it did not decode.
	Body *wire.MessagesRequest
	// Status is the HTTP status answered.
	Status int
	// Usage is the usage the Server reported for this request (in the
	// response or the stream's message_delta); nil when it reported none.
	Usage *wire.Usage
	// Aborted reports that the client closed the connection while a
	// "slow:" answer was waiting.
	Aborted bool
}

// Server is a fake Anthropic API. Its methods are safe for concurrent use.
type Server struct {
	srv        *httptest.Server
	key        string
	cacheRead  int64
	cacheWrite int64

	mu       sync.Mutex
	requests []Request
}

// Option configures a Server.
type Option func(*Server)

// WithKey sets the API key the Server accepts.
func WithKey(key string) Option { return func(s *Server) { s.key = key } }

// WithUsageDetails makes echo answers report cacheRead tokens read from
// the prompt cache and cacheWrite tokens written to it, on top of the
// uncached input_tokens, so that tests can check pricing of both.
func WithUsageDetails(cacheRead, cacheWrite int64) Option {
	return func(s *Server) { s.cacheRead, s.cacheWrite = cacheRead, cacheWrite }
}

// NewServer starts a Server, closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{key: Key}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL of the API (without "/v1").
func (s *Server) URL() string { return s.srv.URL }

// Client returns an HTTP client for the Server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close shuts the Server down (NewServer also does at the end of the test).
func (s *Server) Close() { s.srv.Close() }

// Calls returns the number of requests received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// Requests returns a copy of every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Usage returns the usage reported for the last request, in neutral terms
// (InputTokens includes the cache reads and writes); false when the last
// request got no usage (an error, a cut stream) or there was none.
func (s *Server) Usage() (llm.Usage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 || s.requests[len(s.requests)-1].Usage == nil {
		return llm.Usage{}, false
	}
	u := s.requests[len(s.requests)-1].Usage
	return llm.Usage{
		InputTokens:      u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:     u.OutputTokens,
		CacheReadTokens:  u.CacheReadInputTokens,
		CacheWriteTokens: u.CacheCreationInputTokens,
	}, true
}

func (s *Server) record(r Request) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
	return len(s.requests) - 1
}

func (s *Server) update(i int, f func(*Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.requests[i])
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(http.MaxBytesReader(w, r.Body, 64<<20))
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: buf.Bytes()}
	if err := json.Unmarshal(rec.Raw, &rec.Fields); err != nil {
		rec.Fields = nil
	}
	var body wire.MessagesRequest
	if json.Unmarshal(rec.Raw, &body) == nil {
		rec.Body = &body
	}
	idx := s.record(rec)
	rw := &statusWriter{ResponseWriter: w}
	defer func() { s.update(idx, func(q *Request) { q.Status = rw.status }) }()
	if e := s.validate(r, &rec); e != nil {
		writeError(rw, idx, e.status, e.typ, e.message, nil)
		return
	}
	s.answer(rw, r, idx, rec.Body)
}

// apiError is an error answer.
type apiError struct {
	status  int
	typ     string
	message string
}

func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, wire.ErrInvalidRequest, fmt.Sprintf(format, args...)}
}

// messagesFields and countFields are the top-level fields the real API
// accepts on each endpoint.
var (
	messagesFields = map[string]bool{
		"model": true, "messages": true, "max_tokens": true, "system": true, "metadata": true,
		"stop_sequences": true, "stream": true, "temperature": true, "top_p": true, "top_k": true,
		"tools": true, "tool_choice": true, "thinking": true, "service_tier": true, "cache_control": true,
		"container": true, "mcp_servers": true, "context_management": true, "output_config": true, "output_format": true,
	}
	countFields = map[string]bool{
		"model": true, "messages": true, "system": true, "tools": true, "tool_choice": true, "thinking": true,
		"mcp_servers": true, "context_management": true, "output_config": true, "output_format": true,
	}
)

// validate checks r as the real API does, in the same order.
func (s *Server) validate(r *http.Request, rec *Request) *apiError {
	fields := messagesFields
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		fields = countFields
	default:
		return &apiError{http.StatusNotFound, wire.ErrNotFound, "Not Found"}
	}
	key := r.Header.Get("X-Api-Key")
	if key == "" {
		return &apiError{http.StatusUnauthorized, wire.ErrAuthentication, "x-api-key header is required"}
	}
	if key != s.key {
		return &apiError{http.StatusUnauthorized, wire.ErrAuthentication, "invalid x-api-key"}
	}
	switch v := r.Header.Get("Anthropic-Version"); {
	case v == "":
		return invalid("anthropic-version: header is required")
	case !slices.Contains(Versions, v):
		return invalid("anthropic-version: invalid version %q", v)
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(mt) != "application/json" {
		return invalid("Content-Type must be application/json")
	}
	if rec.Fields == nil {
		return invalid("There was an error parsing the body of your request.")
	}
	keys := make([]string, 0, len(rec.Fields))
	for k := range rec.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fields[k] {
			return invalid("%s: Extra inputs are not permitted", k)
		}
	}
	if rec.Body == nil {
		return invalid("Invalid request body: a field has the wrong type.")
	}
	b := rec.Body
	if b.Model == "" {
		return invalid("model: Field required")
	}
	if _, ok := rec.Fields["max_tokens"]; !ok && r.URL.Path == "/v1/messages" {
		return invalid("max_tokens: Field required")
	}
	if _, ok := rec.Fields["messages"]; !ok {
		return invalid("messages: Field required")
	}
	if e := validateMessages(b.Messages); e != nil {
		return e
	}
	if th := b.Thinking; th != nil && th.Type == wire.ThinkingEnabled {
		if th.BudgetTokens < 1024 {
			return invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
		}
		if r.URL.Path == "/v1/messages" && b.MaxTokens <= th.BudgetTokens {
			return invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
		}
		if e := ThinkingConflict(b.Temperature, b.TopP, b.TopK, b.ToolChoice != nil && (b.ToolChoice.Type == wire.ToolChoiceAny || b.ToolChoice.Type == wire.ToolChoiceTool)); e != "" {
			return invalid("%s", e)
		}
	}
	if _, e := outputFormat(b.OutputConfig); e != nil {
		return e
	}
	if tc := b.ToolChoice; tc != nil && tc.Type == wire.ToolChoiceTool &&
		!slices.ContainsFunc(b.Tools, func(t wire.Tool) bool { return t.Name == tc.Name }) {
		return invalid("tool_choice.tool.name: Tool '%s' not found in provided tools", tc.Name)
	}
	return nil
}

// outputFormat returns the JSON schema of output_config.format (JSON
// outputs), nil when the request sets none, or the API's refusal of a
// format it cannot enforce.
func outputFormat(raw json.RawMessage) (json.RawMessage, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var oc struct {
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	}
	if err := json.Unmarshal(raw, &oc); err != nil {
		return nil, invalid("output_config: Input should be a valid dictionary")
	}
	if oc.Format == nil {
		return nil, nil
	}
	if oc.Format.Type != "json_schema" {
		return nil, invalid("output_config.format.type: Input should be 'json_schema'")
	}
	if len(oc.Format.Schema) == 0 {
		return nil, invalid("output_config.format.schema: Field required")
	}
	if p := providertest.ClaudeSchemaProblem(oc.Format.Schema); p != "" {
		return nil, invalid("output_config.format.%s", p)
	}
	return oc.Format.Schema, nil
}

// ThinkingConflict returns the API's message refusing what a request with
// thinking enabled may not also ask for (temperature other than 1, top_p
// below 0.95, top_k, a tool_choice forcing tool use); "" when nothing.
// bedrocktest applies the same rules to Claude models.
func ThinkingConflict(temperature, topP *float64, topK *int, forcedTool bool) string {
	const doc = " Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility"
	switch {
	case temperature != nil && *temperature != 1:
		return "`temperature` may only be set to 1 when thinking is enabled." + doc
	case topP != nil && *topP < 0.95:
		return "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled." + doc
	case topK != nil:
		return "`top_k` must be unset when thinking is enabled." + doc
	case forcedTool:
		return "Thinking may not be enabled when tool_choice forces tool use."
	}
	return ""
}

// validateMessages checks roles, empty text blocks and tool results.
func validateMessages(msgs []wire.Message) *apiError {
	if len(msgs) == 0 {
		return invalid("messages: at least one message is required")
	}
	for i, m := range msgs {
		if m.Role != wire.RoleUser && m.Role != wire.RoleAssistant {
			return invalid("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if i == 0 && m.Role != wire.RoleUser {
			return invalid(`messages: first message must use the "user" role`)
		}
		if i > 0 && msgs[i-1].Role == m.Role {
			return invalid(`messages: roles must alternate between "user" and "assistant", but found multiple "%s" roles in a row`, m.Role)
		}
		if m.Content.Kind == wire.ContentNone {
			return invalid("messages.%d.content: Field required", i)
		}
		if m.Content.Kind == wire.ContentString && m.Content.Text == "" && i != len(msgs)-1 {
			return invalid("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
		}
		for j, b := range m.Content.Blocks {
			switch b.Type {
			case wire.BlockText:
				if b.Text == "" {
					return invalid("messages.%d.content.%d.text: text content blocks must be non-empty", i, j)
				}
			case wire.BlockToolResult:
				if m.Role != wire.RoleUser || i == 0 || !hasToolUse(msgs[i-1], b.ToolUseID) {
					return invalid("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
				}
			case wire.BlockToolUse:
				if m.Role != wire.RoleAssistant || len(b.Input) == 0 || b.Input[0] != '{' {
					return invalid("messages.%d.content.%d: tool_use blocks need an input object and the assistant role", i, j)
				}
			case wire.BlockImage:
				if b.Source == nil || (b.Source.Type == wire.SourceBase64 && (b.Source.MediaType == "" || b.Source.Data == "")) ||
					(b.Source.Type == wire.SourceURL && b.Source.URL == "") {
					return invalid("messages.%d.content.%d.source: invalid image source", i, j)
				}
			}
		}
	}
	return nil
}

func hasToolUse(m wire.Message, id string) bool {
	return m.Role == wire.RoleAssistant && slices.ContainsFunc(m.Content.Blocks, func(b wire.ContentBlock) bool {
		return b.Type == wire.BlockToolUse && b.ID == id
	})
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func requestID(idx int) string { return fmt.Sprintf("req_anthropictest_%d", idx+1) }

// writeError writes an error body in the API's current form, with
// request_id.
func writeError(w http.ResponseWriter, idx, status int, typ, message string, extra http.Header) {
	for k, v := range extra {
		w.Header()[k] = v
	}
	b, _ := json.Marshal(wire.ErrorBody{Type: "error", Error: wire.ErrorDetail{Type: typ, Message: message}, RequestID: requestID(idx)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", requestID(idx))
	if status == http.StatusTooManyRequests || status >= 500 {
		w.Header().Set("X-Should-Retry", "true")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func serveError(w http.ResponseWriter, idx int, kind string) {
	switch kind {
	case "400":
		_ = serveFixture(w, "error-400-invalid-request")
	case "context":
		writeError(w, idx, 400, wire.ErrInvalidRequest, "prompt is too long: 208310 tokens > 200000 maximum", nil)
	case "401":
		writeError(w, idx, 401, wire.ErrAuthentication, "invalid x-api-key", nil)
	case "403":
		writeError(w, idx, 403, wire.ErrPermission, "Your API key does not have permission to use the specified resource.", nil)
	case "404":
		_ = serveFixture(w, "error-404-not-found-error")
	case "413":
		writeError(w, idx, 413, wire.ErrRequestTooLarge, "Request exceeds the maximum allowed number of bytes.", nil)
	case "429":
		h := http.Header{}
		h.Set("Retry-After", "2")
		h.Set("Anthropic-Ratelimit-Requests-Limit", "50")
		h.Set("Anthropic-Ratelimit-Requests-Remaining", "0")
		h.Set("Anthropic-Ratelimit-Requests-Reset", "2030-01-01T00:00:00Z")
		h.Set("Anthropic-Ratelimit-Tokens-Limit", "40000")
		h.Set("Anthropic-Ratelimit-Tokens-Remaining", "12000")
		h.Set("Anthropic-Ratelimit-Tokens-Reset", "2030-01-01T00:00:00Z")
		writeError(w, idx, 429, wire.ErrRateLimit, "This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits.", h)
	case "500":
		writeError(w, idx, 500, wire.ErrAPI, "Internal server error", nil)
	case "529":
		writeError(w, idx, 529, wire.ErrOverloaded, "Overloaded", nil)
	default:
		writeError(w, idx, 400, wire.ErrInvalidRequest, "anthropictest: unknown error kind "+kind, nil)
	}
}
