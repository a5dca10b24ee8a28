// Package geminitest provides a strict fake of the Gemini API
// (generativelanguage.googleapis.com/v1beta) for tests. It validates
// requests the way the real API does (key header, path, method suffix,
// unknown fields, roles, parts, function responses, tool schemas, thought
// signatures it did not issue, and for "gemini-3..." models function calls
// of the current turn without one) and
// answers according to the model named in the path:
//
//   - "fixture:<name>" replays testdata/<name>.http byte for byte (status,
//     headers, body); see FixtureNames.
//   - "error:<status>" answers 400, 403, 404, 429 (RESOURCE_EXHAUSTED with
//     a RetryInfo of 2s), 500, 503 or 504 with Google's error body.
//   - "midstream-error:<status>" (streamGenerateContent) streams two echo
//     chunks, then Google's error object as one more SSE event, and ends:
//     429 (RESOURCE_EXHAUSTED with a RetryInfo of 3s), 500 (INTERNAL) or
//     503 (UNAVAILABLE, the recorded body).
//   - "cut:K" streams K chunks, then drops the connection.
//   - "slow:<duration>" waits (until the client cancels) before echoing.
//   - any other model echoes: "echo: " + the last user text, streamed one
//     word per chunk with \r\n\r\n separators and growing usageMetadata,
//     as the real API streams; a request with tools whose last turn is the
//     user's text gets a functionCall of the first tool (or the first of
//     allowedFunctionNames) with args {}, unless the mode is NONE; for a
//     "gemini-3..." model the call carries a thoughtSignature
//     (IssueSignature), as Gemini 3 always signs its calls.
//     embedContent and batchEmbedContents return deterministic vectors
//     (or, for an "error:<status>" model, that error).
//
// The API key must arrive in the x-goog-api-key header. A key in the URL
// query ("key=") fails the test: a URL can end up in logs, so the adapter
// must never put the key there. The package is for tests only.
package geminitest

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
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

// Key is the API key the Server accepts unless WithKey says otherwise.
const Key = "AIzaSyGeminitest0123456789abcdefghijklm"

// Request is one request the Server received.
type Request struct {
	Method string
	// Path is the URL path and RawQuery its query, as received.
	Path     string
	RawQuery string
	Header   http.Header
	// Model and Action come from the path .../models/{Model}:{Action}.
	Model  string
	Action string
	// Raw is the body as received.
	Raw []byte
	// Body is the decoded generateContent body; nil for other actions or
	// when it did not decode.
	Body *wire.Request
	// Status is the HTTP status answered.
	Status int
	// Usage is the usage the Server reported (the last value of a stream),
	// in neutral terms; nil when it reported none.
	Usage *llm.Usage
}

// Server is a fake Gemini API. Its methods are safe for concurrent use.
type Server struct {
	t        testing.TB
	srv      *httptest.Server
	key      string
	cached   int64
	thoughts int64

	mu       sync.Mutex
	requests []Request
}

// Option configures a Server.
type Option func(*Server)

// WithKey sets the API key the Server accepts.
func WithKey(key string) Option { return func(s *Server) { s.key = key } }

// WithUsageDetails makes echo answers report cachedContentTokenCount
// (capped at the prompt tokens) and thoughtsTokenCount, so that tests can
// check pricing of both.
func WithUsageDetails(cached, thoughts int64) Option {
	return func(s *Server) { s.cached, s.thoughts = cached, thoughts }
}

// NewServer starts a Server, closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, key: Key}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL of the API, ending in "/v1beta".
func (s *Server) URL() string { return s.srv.URL + "/v1beta" }

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

// Usage returns the usage reported for the last request in neutral terms;
// ok is false when there was no request or it reported none.
func (s *Server) Usage() (llm.Usage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 || s.requests[len(s.requests)-1].Usage == nil {
		return llm.Usage{}, false
	}
	return *s.requests[len(s.requests)-1].Usage, true
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
	rec := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Raw: buf.Bytes()}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta/models/"); ok {
		if i := strings.LastIndexByte(rest, ':'); i > 0 {
			rec.Model, rec.Action = rest[:i], rest[i+1:]
		}
	}
	idx := s.record(rec)
	rw := &statusWriter{ResponseWriter: w}
	defer func() { s.update(idx, func(q *Request) { q.Status = rw.status }) }()
	if e := s.validateHTTP(r, &rec); e != nil {
		e.write(rw)
		return
	}
	switch rec.Action {
	case "embedContent", "batchEmbedContents":
		s.embed(rw, idx, &rec)
		return
	}
	body, e := decodeRequest(rec.Raw)
	if e == nil {
		e = validateRequest(body)
	}
	if e == nil {
		e = validateSignatures(rec.Model, body)
	}
	if e != nil {
		e.write(rw)
		return
	}
	s.update(idx, func(q *Request) { q.Body = body })
	s.answer(rw, r, idx, rec.Model, rec.Action == "streamGenerateContent", body)
}

// apiError is a Google error response.
type apiError struct {
	status int
	body   wire.Status
	header http.Header
}

func (e *apiError) write(w http.ResponseWriter) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.status)
	b, _ := json.MarshalIndent(wire.ErrorBody{Error: e.body}, "", "  ")
	_, _ = w.Write(append(b, '\n'))
}

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, body: wire.Status{Code: status, Status: code, Message: fmt.Sprintf(format, args...)}}
}

func invalid(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "INVALID_ARGUMENT", format, args...)
}

// validateHTTP checks the method, path, query, key and content type.
func (s *Server) validateHTTP(r *http.Request, rec *Request) *apiError {
	q := r.URL.Query()
	if q.Has("key") {
		s.t.Errorf("geminitest: the API key was sent in the URL query (%s %s); it must go only in the x-goog-api-key header", r.Method, r.URL.Path)
		return invalid("geminitest: API key in the URL")
	}
	if r.Method != http.MethodPost {
		return newError(http.StatusNotFound, "NOT_FOUND", "Method not found.")
	}
	switch rec.Action {
	case "generateContent", "embedContent", "batchEmbedContents":
		if len(q) > 0 {
			return invalid("Invalid query parameters: %s", r.URL.RawQuery)
		}
	case "streamGenerateContent":
		if q.Get("alt") != "sse" || len(q) != 1 {
			return invalid("geminitest: streamGenerateContent needs exactly ?alt=sse, got %q", r.URL.RawQuery)
		}
	default:
		return newError(http.StatusNotFound, "NOT_FOUND", "Method not found.")
	}
	if rec.Model == "" || strings.Contains(rec.Model, "/") {
		return newError(http.StatusNotFound, "NOT_FOUND", "models/%s is not found for API version v1beta", rec.Model)
	}
	key := r.Header.Get("X-Goog-Api-Key")
	if key == "" {
		return newError(http.StatusForbidden, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
	}
	if key != s.key {
		e := invalid("API key not valid. Please pass a valid API key.")
		e.body.Details = []json.RawMessage{json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}`)}
		return e
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(mt) != "application/json" {
		return invalid("Invalid Content-Type %q: this fake takes application/json", r.Header.Get("Content-Type"))
	}
	return nil
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
