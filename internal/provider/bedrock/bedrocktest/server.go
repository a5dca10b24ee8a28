// Package bedrocktest provides a strict fake of the Amazon Bedrock Runtime
// API for tests. It verifies every request's AWS Signature Version 4 the
// way AWS does (recomputing it with the known secret key), validates the
// Converse body (unknown fields, roles, alternation, content block unions,
// tool blocks without toolConfig) and answers according to the model id in
// the path:
//
//   - "fixture:<name>" replays testdata/<name>.http (status, headers, body;
//     base64 event stream bodies decoded and written frame by frame); see
//     FixtureNames.
//   - "error:<kind>" answers with the HTTP error of kind 400, context, 403,
//     404, 408, 424, 429, 500 or 503, with its X-Amzn-Errortype header.
//   - "exception:<kind>" (converse-stream) sends a few events, then an
//     exception frame: throttling, modelStreamError, validation,
//     serviceUnavailable or internalServer.
//   - "cut:K" (converse-stream) sends K frames of the echo, then breaks the
//     connection.
//   - "slow:<duration>" waits (until the client cancels) before echoing.
//   - amazon.titan-embed-* and cohere.embed-* on /invoke return
//     deterministic embeddings.
//   - any other model echoes "echo: " + the last user text (streamed one
//     word per contentBlockDelta frame, encoded with eventstream.Encoder)
//     with deterministic usage; a request with tools whose last message is
//     from the user gets a toolUse of the first tool with input {}.
//
// The package is for tests only.
package bedrocktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// The identity the Server accepts unless WithKeys says otherwise. They are
// AWS's documented example keys, not real ones.
const (
	Region    = "us-east-1"
	AccessKey = "AKIAIOSFODNN7EXAMPLE"
	SecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// Credentials returns a provider of the Server's default keys.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")
}

// Request is one request the Server received.
type Request struct {
	Method string
	Path   string // as sent, escaped
	// ModelID is the decoded model id of the path; Operation is
	// "converse", "converse-stream" or "invoke".
	ModelID   string
	Operation string
	Header    http.Header
	Raw       []byte
	// Fields holds the top-level members of the body, undecoded; nil when
	// the body was not a JSON object.
	Fields map[string]json.RawMessage
	// Body is the decoded Converse body; nil for invoke or when it did not
	// decode.
	Body *wire.ConverseRequest
	// Status is the HTTP status answered.
	Status int
	// Usage is the usage reported for this request, as airgw counts it;
	// nil when none was reported.
	Usage *llm.Usage
}

// Server is a fake Bedrock Runtime endpoint. Its methods are safe for
// concurrent use.
type Server struct {
	srv                   *httptest.Server
	region                string
	access, secret, token string
	cacheRead, cacheWrite int64

	mu       sync.Mutex
	requests []Request
}

// Option configures a Server.
type Option func(*Server)

// WithKeys sets the keys the Server accepts; a non-empty token must arrive
// as X-Amz-Security-Token.
func WithKeys(access, secret, token string) Option {
	return func(s *Server) { s.access, s.secret, s.token = access, secret, token }
}

// WithRegion sets the region the credential scope must name.
func WithRegion(region string) Option { return func(s *Server) { s.region = region } }

// WithCacheUsage makes echo answers report prompt-cache reads and writes
// (on top of inputTokens, as Bedrock does).
func WithCacheUsage(read, write int64) Option {
	return func(s *Server) { s.cacheRead, s.cacheWrite = read, write }
}

// NewServer starts a Server, closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{region: Region, access: AccessKey, secret: SecretKey}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the endpoint's base URL (Config.BaseURL).
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

// Usage returns the usage reported for the last request, as airgw counts
// it (InputTokens including cached tokens); false when none was reported.
func (s *Server) Usage() (llm.Usage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.requests); n > 0 && s.requests[n-1].Usage != nil {
		return *s.requests[n-1].Usage, true
	}
	return llm.Usage{}, false
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

// setUsage records usage reported in Bedrock's terms.
func (s *Server) setUsage(i int, u *wire.TokenUsage) {
	lu := llm.Usage{InputTokens: u.InputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens,
		OutputTokens: u.OutputTokens, CacheReadTokens: u.CacheReadInputTokens, CacheWriteTokens: u.CacheWriteInputTokens}
	s.update(i, func(r *Request) { r.Usage = &lu })
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(http.MaxBytesReader(w, r.Body, 64<<20))
	rec := Request{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Raw: buf.Bytes()}
	rec.ModelID, rec.Operation = splitPath(r.URL.EscapedPath())
	if err := json.Unmarshal(rec.Raw, &rec.Fields); err != nil {
		rec.Fields = nil
	}
	if rec.Operation == "converse" || rec.Operation == "converse-stream" {
		var body wire.ConverseRequest
		if json.Unmarshal(rec.Raw, &body) == nil {
			rec.Body = &body
		}
	}
	idx := s.record(rec)
	rw := &statusWriter{ResponseWriter: w}
	defer func() { s.update(idx, func(q *Request) { q.Status = rw.status }) }()
	if e := s.verifySignature(r, rec.Raw); e != nil {
		e.write(rw)
		return
	}
	if e := validate(r, &rec); e != nil {
		e.write(rw)
		return
	}
	s.answer(rw, r, idx, &rec)
}

// splitPath returns the model id and operation of /model/{id}/{op}, or ""
// when the path has another shape.
func splitPath(p string) (model, op string) {
	rest, ok := strings.CutPrefix(p, "/model/")
	if !ok {
		return "", ""
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", ""
	}
	id, err := url.PathUnescape(rest[:i])
	if err != nil || strings.Contains(rest[:i], "/") {
		return "", ""
	}
	switch op = rest[i+1:]; op {
	case "converse", "converse-stream", "invoke":
		return id, op
	}
	return "", ""
}

// apiError is an error answer: status, X-Amzn-Errortype and message.
type apiError struct {
	status  int
	errType string
	message string
}

func (e *apiError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "bedrocktest-error")
	w.Header().Set("X-Amzn-Errortype", e.errType+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.WriteHeader(e.status)
	b, _ := json.Marshal(wire.ErrorBody{Message: e.message})
	_, _ = w.Write(b)
}

func validation(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
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
