// Package openaitest provides a strict fake of the OpenAI API for tests:
// Chat Completions, Embeddings (embeddings.go) and the Responses API
// (responses.go), on OpenAI's paths or, with WithAzure, on Azure OpenAI's.
// It validates requests the way the real API does (key, content type,
// path, unknown fields, required fields, roles) and answers according to
// the request's model (on Azure's deployments surface, the deployment
// named in the path):
//
//   - "fixture:<name>" replays testdata/<name>.http byte for byte (status,
//     headers, body); see FixtureNames.
//   - "error:<kind>" answers with an error: 400 (context length), 401, 403,
//     404, 408, 429 (with Retry-After: 2), 500, 502, 503, insufficient_quota,
//     content_filter, and Azure's azure_content_filter (400, code
//     content_filter) and azure_429 (with retry-after-ms: 1500).
//   - "cut:K" streams K chunks, then drops the connection without [DONE].
//   - "slow:<duration>" waits (until the client cancels) before echoing.
//   - "midstream-error" streams a few chunks of the echo, then an error
//     chunk (server_error) and no [DONE].
//   - any other model echoes: "echo: " + the last user message's text,
//     streamed one word per chunk when "stream" is set, with deterministic
//     usage (see EchoUsage); a request with tools whose last message is from
//     the user gets a call to the first tool (or the one tool_choice names)
//     with arguments "{}", unless tool_choice is "none".
//
// The package is for tests only.
package openaitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/openai"
)

// Key is the API key the Server accepts unless WithKey says otherwise.
const Key = "sk-openaitest-0123456789abcdef"

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
	Body *wire.ChatRequest
	// Status is the HTTP status answered.
	Status int
	// Usage is the usage the Server reported for this request (in the
	// response or the final stream chunk); nil when it reported none.
	Usage *wire.Usage
}

// Server is a fake OpenAI API. Its methods are safe for concurrent use.
type Server struct {
	srv       *httptest.Server
	key       string
	cached    int64
	reasoning int64
	azure     string // Azure api-version; empty: OpenAI's surface

	mu       sync.Mutex
	requests []Request
}

// Option configures a Server.
type Option func(*Server)

// WithKey sets the API key the Server accepts.
func WithKey(key string) Option { return func(s *Server) { s.key = key } }

// WithUsageDetails makes echo answers report cached prompt tokens (capped
// at the prompt tokens) and reasoning tokens (added to the completion
// tokens), so that tests can check pricing of both.
func WithUsageDetails(cached, reasoning int64) Option {
	return func(s *Server) { s.cached, s.reasoning = cached, reasoning }
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

// WithAzure makes the Server imitate an Azure OpenAI resource instead of
// OpenAI: the key is accepted only in the api-key header (a bearer token
// is refused, as a key-authenticated resource does), and requests must use
// the deployments paths, /openai/deployments/{deployment}/chat/completions
// and /embeddings, with ?api-version=apiVersion (and /openai/responses for
// the Responses API), or, when apiVersion is "v1", the v1 paths
// /openai/v1/chat/completions, /embeddings and /responses without
// api-version. On the deployments paths the deployment is the model that
// selects the answer.
func WithAzure(apiVersion string) Option { return func(s *Server) { s.azure = apiVersion } }

// URL returns the base URL of the API: ending in "/v1" for OpenAI, the
// resource endpoint (no path) with WithAzure.
func (s *Server) URL() string {
	if s.azure != "" {
		return s.srv.URL
	}
	return s.srv.URL + "/v1"
}

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

// LastUsage returns the usage reported for the last request, or nil.
func (s *Server) LastUsage() *wire.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return nil
	}
	return s.requests[len(s.requests)-1].Usage
}

// Usage returns the usage reported for the last request in neutral terms
// (cached tokens are part of the input, reasoning tokens of the output, as
// OpenAI counts them); false when it reported none.
func (s *Server) Usage() (llm.Usage, bool) {
	u := s.LastUsage()
	if u == nil {
		return llm.Usage{}, false
	}
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CacheReadTokens = d.CachedTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	return out, true
}

// record stores r and returns its index.
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

// API operations, named as the last part of their path.
const (
	opChat       = "chat/completions"
	opEmbeddings = "embeddings"
	opResponses  = "responses"
)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(http.MaxBytesReader(w, r.Body, 64<<20))
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: buf.Bytes()}
	if err := json.Unmarshal(rec.Raw, &rec.Fields); err != nil {
		rec.Fields = nil
	}
	op, deployment, e := s.route(r)
	var body wire.ChatRequest
	if op == opChat && json.Unmarshal(rec.Raw, &body) == nil {
		rec.Body = &body
	}
	idx := s.record(rec)
	rw := &statusWriter{ResponseWriter: w}
	defer func() { s.update(idx, func(q *Request) { q.Status = rw.status }) }()
	if e == nil {
		e = s.authenticate(r)
	}
	if e == nil {
		e = checkJSON(r, &rec)
	}
	if e != nil {
		writeError(rw, e.status, e.body, nil)
		return
	}
	switch op {
	case opEmbeddings:
		s.serveEmbeddings(rw, idx, &rec, deployment)
	case opResponses:
		s.serveResponses(rw, r, idx, &rec)
	default:
		if e := s.validate(&rec, deployment != ""); e != nil {
			writeError(rw, e.status, e.body, nil)
			return
		}
		b := *rec.Body
		if deployment != "" {
			b.Model = deployment
		}
		s.answer(rw, r, idx, &b)
	}
}

// route returns the operation r asks for and, on Azure's deployments
// surface, the deployment.
func (s *Server) route(r *http.Request) (op, deployment string, e *apiError) {
	notFound := &apiError{http.StatusNotFound, errorBody(fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "", "")}
	if s.azure != "" {
		notFound = &apiError{http.StatusNotFound, `{"error":{"code":"404","message":"Resource not found"}}`}
	}
	if r.Method != http.MethodPost {
		return "", "", notFound
	}
	p := r.URL.Path
	switch {
	case s.azure == "":
		op, _ = strings.CutPrefix(p, "/v1/")
	case s.azure == "v1":
		op, _ = strings.CutPrefix(p, "/openai/v1/")
	default:
		if p == "/openai/responses" {
			op = opResponses
		} else if rest, ok := strings.CutPrefix(p, "/openai/deployments/"); ok {
			deployment, op, _ = strings.Cut(rest, "/")
			if deployment == "" || op == opResponses {
				return "", "", notFound
			}
		}
		v := r.URL.Query().Get("api-version")
		switch {
		case v == "":
			return "", "", notFound // what Azure answers without api-version
		case v != s.azure:
			return "", "", &apiError{http.StatusBadRequest, `{"error":{"code":"BadRequest","message":"API version not supported"}}`}
		}
	}
	switch op {
	case opChat, opEmbeddings, opResponses:
		return op, deployment, nil
	}
	return "", "", notFound
}

// authenticate checks the key: a bearer token on OpenAI, the api-key
// header on Azure.
func (s *Server) authenticate(r *http.Request) *apiError {
	if s.azure != "" {
		if r.Header.Get("Authorization") != "" || r.Header.Get("Api-Key") != s.key {
			return &apiError{http.StatusUnauthorized, azureAuthBody}
		}
		return nil
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &apiError{http.StatusUnauthorized, errorBody("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "")}
	}
	if got, ok := strings.CutPrefix(auth, "Bearer "); !ok || got != s.key {
		return &apiError{http.StatusUnauthorized, errorBody(fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.", maskKey(got)), "invalid_request_error", "", "invalid_api_key")}
	}
	return nil
}

// azureAuthBody is Azure OpenAI's answer to a missing or wrong key.
const azureAuthBody = `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`

// checkJSON checks the content type and that the body is a JSON object.
func checkJSON(r *http.Request, rec *Request) *apiError {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(mt) != "application/json" {
		return invalid(fmt.Sprintf("Unsupported content type: '%s'. This API method only accepts 'application/json' requests, but you specified the header 'Content-Type: %s'. Please try again with a supported content type.", ct, ct), "", "")
	}
	if rec.Fields == nil {
		return invalid("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", "", "")
	}
	return nil
}

// unknownField returns the error for the first (sorted) member of fields
// that known does not list.
func unknownField(fields map[string]json.RawMessage, known map[string]bool) *apiError {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !known[k] {
			return invalid("Unrecognized request argument supplied: "+k, "", "")
		}
	}
	return nil
}

type apiError struct {
	status int
	body   string
}

func errorBody(message, typ, param, code string) string {
	b, _ := json.Marshal(wire.ErrorBody{Error: wire.ErrorDetail{Message: message, Type: typ,
		Param: wire.NullString(param), Code: wire.NullString(code)}})
	return string(b)
}

func invalid(message, param, code string) *apiError {
	return &apiError{http.StatusBadRequest, errorBody(message, "invalid_request_error", param, code)}
}

// validate checks a chat request as the real API does, in the same
// order. deployment reports that the model comes from the path (Azure).
func (s *Server) validate(rec *Request, deployment bool) *apiError {
	if e := unknownField(rec.Fields, knownFields); e != nil {
		return e
	}
	if rec.Body == nil {
		return invalid("Invalid request body: a field has the wrong type.", "", "invalid_type")
	}
	b := rec.Body
	if b.Model == "" && !deployment {
		return invalid("you must provide a model parameter", "", "")
	}
	if _, ok := rec.Fields["messages"]; !ok {
		return invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
	}
	if len(b.Messages) == 0 {
		return &apiError{http.StatusBadRequest, emptyMessagesBody}
	}
	for i, m := range b.Messages {
		param := fmt.Sprintf("messages[%d].role", i)
		switch m.Role {
		case "":
			return invalid(fmt.Sprintf("Missing required parameter: '%s'.", param), param, "missing_required_parameter")
		case wire.RoleSystem, wire.RoleDeveloper, wire.RoleUser, wire.RoleAssistant, wire.RoleFunction:
		case wire.RoleTool:
			if m.ToolCallID == "" {
				return invalid("Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.", fmt.Sprintf("messages[%d].tool_call_id", i), "")
			}
		default:
			return invalid(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role), param, "invalid_value")
		}
		if m.Content.IsZero() && m.Role != wire.RoleAssistant {
			p := fmt.Sprintf("messages[%d].content", i)
			return invalid(fmt.Sprintf("Missing required parameter: '%s'.", p), p, "missing_required_parameter")
		}
	}
	if _, ok := rec.Fields["metadata"]; ok && string(rec.Fields["store"]) != "true" && string(rec.Fields["metadata"]) != "null" {
		return invalid("The 'metadata' parameter is only allowed when 'store' is enabled.", "metadata", "")
	}
	if b.StreamOptions != nil && !b.Stream {
		return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", "")
	}
	if b.ParallelToolCalls != nil && len(b.Tools) == 0 {
		return invalid("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.", "parallel_tool_calls", "")
	}
	if b.ToolChoice != nil && len(b.Tools) == 0 {
		return invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice", "")
	}
	return nil
}

// emptyMessagesBody is the body of fixture error-400-empty-messages.
const emptyMessagesBody = `{
  "error": {
    "code": "empty_array",
    "message": "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
    "param": "messages",
    "type": "invalid_request_error"
  }
}`

// knownFields are the top-level request fields the real API accepts.
var knownFields = map[string]bool{
	"model": true, "messages": true, "audio": true, "frequency_penalty": true, "function_call": true,
	"functions": true, "logit_bias": true, "logprobs": true, "max_completion_tokens": true,
	"max_tokens": true, "metadata": true, "modalities": true, "n": true, "parallel_tool_calls": true,
	"prediction": true, "presence_penalty": true, "prompt_cache_key": true, "reasoning_effort": true,
	"response_format": true, "safety_identifier": true, "seed": true, "service_tier": true,
	"stop": true, "store": true, "stream": true, "stream_options": true, "temperature": true,
	"tool_choice": true, "tools": true, "top_logprobs": true, "top_p": true, "user": true,
	"verbosity": true, "web_search_options": true,
}

func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", 8) + k[len(k)-4:]
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

func writeError(w http.ResponseWriter, status int, body string, extra http.Header) {
	for k, v := range extra {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_openaitest_error")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// answer dispatches on the model.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, idx int, b *wire.ChatRequest) {
	kind, arg, _ := strings.Cut(b.Model, ":")
	switch kind {
	case "fixture":
		if err := serveFixture(w, arg); err != nil {
			writeError(w, http.StatusNotFound, errorBody(err.Error(), "invalid_request_error", "model", "model_not_found"), nil)
		}
	case "error":
		serveError(w, arg)
	case "slow":
		d, err := time.ParseDuration(arg)
		if err != nil {
			writeError(w, http.StatusBadRequest, errorBody("bad slow duration", "invalid_request_error", "model", ""), nil)
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		s.echo(w, r, idx, b, -1, false)
	case "midstream-error":
		if !b.Stream {
			writeError(w, http.StatusBadRequest, errorBody("midstream-error needs stream: true", "invalid_request_error", "model", ""), nil)
			return
		}
		s.echo(w, r, idx, b, 3, true)
	case "cut":
		k, err := strconv.Atoi(arg)
		if err != nil || k < 0 || !b.Stream {
			writeError(w, http.StatusBadRequest, errorBody("cut:K needs a number and stream: true", "invalid_request_error", "model", ""), nil)
			return
		}
		s.echo(w, r, idx, b, k, false)
	default:
		s.echo(w, r, idx, b, -1, false)
	}
}

func serveError(w http.ResponseWriter, kind string) {
	h := http.Header{}
	switch kind {
	case "400", "context_length":
		writeError(w, 400, errorBody("This model's maximum context length is 128000 tokens. However, your messages resulted in 130017 tokens. Please reduce the length of the messages.", "invalid_request_error", "messages", "context_length_exceeded"), nil)
	case "content_filter":
		writeError(w, 400, errorBody("Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.", "invalid_request_error", "", "content_policy_violation"), nil)
	case "azure_content_filter":
		writeError(w, 400, azureContentFilterBody, nil)
	case "azure_429":
		h.Set("Retry-After-Ms", "1500")
		h.Set("Retry-After", "2")
		writeError(w, 429, azure429Body, h)
	case "401":
		writeError(w, 401, errorBody("Incorrect API key provided: sk-abc********wxyz. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key"), nil)
	case "403":
		writeError(w, 403, errorBody("Country, region, or territory not supported", "request_forbidden", "", "unsupported_country_region_territory"), nil)
	case "404":
		serveFixture(w, "error-404-model-not-found")
	case "408":
		writeError(w, 408, errorBody("Request timed out.", "timeout", "", ""), nil)
	case "429":
		h.Set("Retry-After", "2")
		h.Set("X-Ratelimit-Remaining-Tokens", "0")
		h.Set("X-Ratelimit-Reset-Tokens", "3.89s")
		_, _, body, _ := LoadFixture("error-429-rate-limit-tokens")
		writeError(w, 429, string(body), h)
	case "insufficient_quota":
		serveFixture(w, "error-429-insufficient-quota")
	case "500":
		writeError(w, 500, errorBody("The server had an error while processing your request. Sorry about that!", "server_error", "", ""), nil)
	case "502":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		_, _ = w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>\n"))
	case "503":
		h.Set("Retry-After", "1")
		writeError(w, 503, errorBody("The engine is currently overloaded, please try again later", "server_error", "", ""), h)
	default:
		writeError(w, 400, errorBody("unknown error kind "+kind, "invalid_request_error", "model", ""), nil)
	}
}

// Azure OpenAI error bodies. No recording of either was found (see the
// fixtures README, "Known gaps"); they follow the shapes Microsoft
// documents: the content filter's 400 with code "content_filter", a null
// type and an innererror, and the 429 whose code is the status as a string
// and whose message says when to retry.
const (
	azureContentFilterBody = `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}}}`
	azure429Body           = `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}`
)
