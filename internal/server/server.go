// Package server is airgw's data-plane HTTP surface: it maps routes to the
// gateway pipeline with the matching dialect's decoder and writer, extracts
// the key and request metadata, enforces body limits, and serves health and
// readiness. It imports no storage and no concrete provider.
package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/airgw/airgw/internal/breaker"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/idempotency"
	"github.com/airgw/airgw/internal/llm"

	anth "github.com/airgw/airgw/internal/dialect/anthropic"
	oai "github.com/airgw/airgw/internal/dialect/openai"
)

// Options configures a Server.
type Options struct {
	// MaxBody is the largest request body accepted, in bytes. Default 4 MiB.
	MaxBody int64
	// Ready reports the health of dependencies by name; nil values are
	// healthy. Nil Ready means always ready.
	Ready func(ctx context.Context) map[string]error
	// Breakers reports the circuit-breaker state of every target, shown by
	// /readyz; nil shows none.
	Breakers func() []breaker.TargetState
	// Config reports a problem with the configuration that leaves the
	// gateway serving but deserves attention, such as a failed reload
	// (the previous config still serves); "" means none. /readyz shows it
	// and says degraded. It must not reveal secrets: /readyz is public.
	Config func() string
	// Logger receives server-level events; nil discards them.
	Logger *slog.Logger
	// Started is the time the process started, reported by /v1/models.
	Started time.Time
	// Metrics serves GET /metrics (Prometheus); nil serves none.
	Metrics http.Handler
	// MaxInFlight is the most requests to the API routes (streams
	// included) served at once; beyond it a request is refused at once
	// with 503 and Retry-After, before its body is read. Zero or less
	// means no limit.
	MaxInFlight int
	// MaxQueueDelay sheds load when the CPU is saturated: while runnable
	// work waits longer than this for a CPU (the 90th percentile of the
	// Go scheduler's delays, in two 50 ms windows in a row, with more
	// than 1,024 goroutines waiting), new API requests are refused as for
	// MaxInFlight instead of queueing. Zero or less turns it off.
	MaxQueueDelay time.Duration
}

// Header limits. A request's header block (request line and every header
// line, as sent) may be up to MaxHeaderBytes: larger, an API route answers
// 431 request_header_too_large in its own dialect's error shape, with a
// request id and an audit record, and calls no provider. The listener
// reads headers up to ReadHeaderBytes (its http.Server.MaxHeaderBytes), so
// that a block a little over the limit still gets that answer; past it, Go
// closes the request with its own plain-text 431 before any handler runs.
// Each connection holds at most ReadHeaderBytes (plus Go's 4 KiB slack)
// of headers while reading them.
const (
	MaxHeaderBytes  = 64 << 10
	ReadHeaderBytes = 256 << 10
)

// Server is the data-plane handler.
type Server struct {
	gw      *gateway.Gateway
	opts    Options
	mux     *http.ServeMux
	maxBody atomic.Int64 // Options.MaxBody, changed by SetMaxBody
	adm     admission
}

// New returns the data-plane handler for gw.
func New(gw *gateway.Gateway, o Options) *Server {
	if o.MaxBody <= 0 {
		o.MaxBody = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Started.IsZero() {
		o.Started = time.Now()
	}
	s := &Server{gw: gw, opts: o, mux: http.NewServeMux()}
	s.maxBody.Store(o.MaxBody)
	s.adm.maxInFlight.Store(int64(o.MaxInFlight))
	s.adm.maxDelay.Store(int64(o.MaxQueueDelay))
	for _, ep := range endpoints {
		s.mux.HandleFunc(ep.pattern, s.handler(ep))
	}
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if o.Metrics != nil {
		s.mux.Handle("GET /metrics", o.Metrics)
	}
	s.mux.HandleFunc("/", s.notFound)
	return s
}

// SetMaxBody changes the largest request body accepted, for requests that
// start from now on (a config reload); n ≤ 0 means 4 MiB.
func (s *Server) SetMaxBody(n int64) {
	if n <= 0 {
		n = 4 << 20
	}
	s.maxBody.Store(n)
}

// ServeHTTP assigns the request id and dispatches. The API routes check
// the header limit themselves (handler), so that the refusal is audited;
// the other routes are refused here.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", newRequestID())
	if r.Method != http.MethodPost || !isEndpoint(r.URL.Path) {
		if err := headerLimit(r); err != nil {
			w.Header().Set("Connection", "close")
			writeError(w, r, err)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// headerBytes is the size of r's header block as it was sent: the request
// line and each "Name: value\r\n" line.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	if r.Host != "" && r.Header.Get("Host") == "" {
		n += len("Host: \r\n") + len(r.Host) // Go moves Host out of Header
	}
	return n
}

// headerLimit returns the error for a request whose headers are over
// MaxHeaderBytes, else nil.
func headerLimit(r *http.Request) *llm.Error {
	n := headerBytes(r)
	if n <= MaxHeaderBytes {
		return nil
	}
	return &llm.Error{Code: llm.CodeRequestHeaderTooLarge, NoClientRetry: true,
		Message: "the request's headers are " + humanBytes(int64(n)) + ", over the gateway's limit of " + humanBytes(MaxHeaderBytes) + "; send smaller headers (a large cookie or a custom header is the usual cause)"}
}

// Routes lists the routes that can reach a provider, for tests that check
// every one of them enforces authentication.
func (s *Server) Routes() []string {
	out := make([]string, 0, len(endpoints))
	for _, ep := range endpoints {
		out = append(out, ep.pattern)
	}
	return out
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	ids, err := s.gw.Models(r.Context(), apiKey(r))
	if err != nil {
		e := llm.AsError(err)
		e.NoClientRetry = e.Code == llm.CodeAuthenticationFailed
		writeError(w, r, e)
		return
	}
	if isAnthropic(r) {
		anth.WriteModels(w, ids, s.opts.Started.Unix())
		return
	}
	oai.WriteModels(w, ids, s.opts.Started.Unix())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	type report struct {
		Status   string            `json:"status"`
		Failing  map[string]string `json:"failing,omitempty"`
		Checking []string          `json:"checked,omitempty"`
		// Targets lists upstream targets whose breaker is not closed: the
		// gateway is still ready (other targets or fallbacks may serve),
		// but degraded.
		Targets map[string]string `json:"degraded_targets,omitempty"`
		// Config says why the configuration is degraded, such as a failed
		// reload: the previous config still serves.
		Config string `json:"config,omitempty"`
	}
	rep := report{Status: "ready"}
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		for name, err := range s.opts.Ready(ctx) {
			rep.Checking = append(rep.Checking, name)
			if err != nil {
				if rep.Failing == nil {
					rep.Failing = map[string]string{}
				}
				// The detail goes to the log; this endpoint is unauthenticated.
				s.opts.Logger.Warn("not ready", "dependency", name, "err", err)
				rep.Failing[name] = "unavailable"
			}
		}
	}
	if s.opts.Breakers != nil {
		for _, ts := range s.opts.Breakers() {
			if ts.State != breaker.Closed {
				if rep.Targets == nil {
					rep.Targets = map[string]string{}
				}
				rep.Targets[ts.Target] = ts.State.String()
				rep.Status = "degraded"
			}
		}
	}
	if s.opts.Config != nil {
		if rep.Config = s.opts.Config(); rep.Config != "" {
			rep.Status = "degraded"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if len(rep.Failing) > 0 {
		rep.Status = "unavailable"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	slices.Sort(rep.Checking) // map order is random; answers should not be
	_ = json.NewEncoder(w).Encode(rep)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if allow, ok := allowedMethods[r.URL.Path]; ok {
		w.Header().Set("Allow", allow)
		writeError(w, r, &llm.Error{Code: llm.CodeMethodNotAllowed, NoClientRetry: true,
			Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + allow})
		return
	}
	hint := " (check the client's base URL: for OpenAI SDKs it ends in /v1, for Anthropic SDKs it is the bare host)"
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		hint = "; the API lives under /v1" + hint
	}
	writeError(w, r, &llm.Error{Code: llm.CodeNotFound, NoClientRetry: true,
		Message: "airgw has no route " + r.Method + " " + r.URL.Path + "; it serves POST /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/messages, /v1/messages/count_tokens and GET /v1/models" + hint})
}

// allowedMethods lists each route's methods, for 405 answers.
var allowedMethods = map[string]string{
	"/v1/chat/completions":      "POST",
	"/v1/responses":             "POST",
	"/v1/embeddings":            "POST",
	"/v1/messages":              "POST",
	"/v1/messages/count_tokens": "POST",
	"/v1/models":                "GET",
	"/healthz":                  "GET",
	"/readyz":                   "GET",
	"/metrics":                  "GET",
}

// bodyTimeout bounds reading one request body.
const bodyTimeout = 60 * time.Second

// readBody reads the request body up to limit bytes, within bodyTimeout.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	// Like OpenAI's API, accept a JSON body whatever its declared type
	// (plain `curl -d` says x-www-form-urlencoded); refuse only types that
	// cannot be one, so that a multipart upload gets a clear answer.
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "image/") || strings.HasPrefix(mt, "audio/") || mt == "application/octet-stream" {
			return nil, &llm.Error{Code: llm.CodeUnsupportedMediaType, NoClientRetry: true,
				Message: "the request body must be JSON (Content-Type: application/json), got " + quote(mt, 64)}
		}
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	// A body that trickles in slower than this is a slow-loris, not a
	// client: bound the read, then lift the deadline so that it cannot cut
	// the (possibly long) streamed response.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, &llm.Error{Code: llm.CodeClientCancelled, Message: "reading the request body failed", Err: err}
	}
	return body, nil
}

func tooLarge(limit int64) *llm.Error {
	return &llm.Error{Code: llm.CodePayloadTooLarge, NoClientRetry: true,
		Message: "the request body is larger than the gateway's limit of " + humanBytes(limit) + "; send a smaller request or ask an operator to raise `server.max_body`"}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

// apiKey returns the key from Authorization: Bearer or x-api-key, the two
// places the official OpenAI and Anthropic SDKs send it.
func apiKey(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:])
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// clientIP is the peer address. Forwarding headers are not trusted: a
// client could write anything there.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func headerValue(r *http.Request, name string, limit int) string {
	v := strings.TrimSpace(r.Header.Get(name))
	if len(v) > limit {
		// Cut on a rune boundary so that the audit record stays UTF-8.
		for limit > 0 && !utf8.RuneStart(v[limit]) {
			limit--
		}
		v = v[:limit]
	}
	return v
}

// tags parses X-Airgw-Tags: a,b — at most 16 tags of at most 64 bytes.
func tags(r *http.Request) []string {
	v := r.Header.Get("X-Airgw-Tags")
	if v == "" {
		return nil
	}
	var out []string
	for t := range strings.SplitSeq(v, ",") {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 64 {
			continue
		}
		out = append(out, t)
		if len(out) == 16 {
			break
		}
	}
	return out
}

// idempotent reads the Idempotency-Key header into c. With a key it returns
// w wrapped in a Recorder, also set on c, for the dialect's writer to write
// through, so that the reply can be stored and replayed. A malformed header
// is a 400 naming it: one value of 1 to 255 printable ASCII characters, as
// Stripe accepts.
func idempotent(c *gateway.Call, w http.ResponseWriter, r *http.Request) (http.ResponseWriter, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return w, nil
	}
	v := vs[0]
	ok := len(vs) == 1 && v != "" && len(v) <= 255
	for i := 0; ok && i < len(v); i++ {
		ok = v[i] >= 0x20 && v[i] <= 0x7e
	}
	if !ok {
		return w, &llm.Error{Code: llm.CodeInvalidRequest, NoClientRetry: true,
			Message: "the Idempotency-Key header must be a single value of 1 to 255 printable ASCII characters (a UUID is a good choice)"}
	}
	c.IdempotencyKey, c.Recorder = v, idempotency.NewRecorder(w)
	return c.Recorder, nil
}

// reqSeq numbers the request ids made in one millisecond.
var reqSeq atomic.Uint32

// newRequestID returns "req_" and 24 hex digits: the time in milliseconds
// (48 bits), a per-process sequence number (16 bits) and 32 random bits.
// Ids made later sort later, so that the audit trail's unique index on
// request ids grows at its end: random ids touched a different page of
// that index for nearly every record, and made storing a record half
// again as costly (BenchmarkInsertRecords in internal/store/sqlite). Two
// ids are equal only if made in the same millisecond with the same
// sequence number (one process makes 65,536 a millisecond before it
// wraps) and the same random bits.
func newRequestID() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16|uint64(uint16(reqSeq.Add(1))))
	_, _ = rand.Read(b[8:])
	return "req_" + hex.EncodeToString(b[:])
}

func quote(s string, limit int) string {
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
