package server

import (
	"net/http"
	"strings"

	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/llm"

	anth "github.com/airgw/airgw/internal/dialect/anthropic"
	oai "github.com/airgw/airgw/internal/dialect/openai"
)

// endpoint is one route that can reach a provider: its client dialect, what
// it asks of the provider, how to decode its body and how to answer.
type endpoint struct {
	pattern string // for the mux and for Routes
	path    string
	dialect llm.Dialect
	kind    gateway.Kind
	// prepare fills the call's decoder and output for one request.
	prepare func(c *gateway.Call, w http.ResponseWriter, id string)
}

// endpoints are every route that reaches a provider. Each one runs the whole
// pipeline (key, decode, allow-lists, routing, attempts, settlement, audit).
var endpoints = []endpoint{
	{pattern: "POST /v1/chat/completions", path: "/v1/chat/completions", dialect: llm.DialectOpenAI, kind: gateway.KindChat,
		prepare: func(c *gateway.Call, w http.ResponseWriter, id string) {
			c.Decode = func(b []byte) (*llm.Request, error) { return oai.DecodeChat(b, oai.Limits{}) }
			c.Out = oai.NewWriter(w, id)
		}},
	{pattern: "POST /v1/responses", path: "/v1/responses", dialect: llm.DialectOpenAI, kind: gateway.KindChat,
		prepare: func(c *gateway.Call, w http.ResponseWriter, id string) {
			c.Decode = oai.DecodeResponses
			c.Out = oai.NewResponsesWriter(w, id)
		}},
	{pattern: "POST /v1/embeddings", path: "/v1/embeddings", dialect: llm.DialectOpenAI, kind: gateway.KindEmbeddings,
		prepare: func(c *gateway.Call, w http.ResponseWriter, id string) {
			out := &embeddingsWriter{Writer: oai.NewWriter(w, id), w: w}
			c.DecodeEmbeddings = func(b []byte) (*llm.EmbeddingRequest, error) {
				er, err := oai.DecodeEmbeddings(b)
				if er != nil {
					out.format = er.EncodingFormat
				}
				return er, err
			}
			c.Out = out
		}},
	{pattern: "POST /v1/messages", path: "/v1/messages", dialect: llm.DialectAnthropic, kind: gateway.KindChat,
		prepare: func(c *gateway.Call, w http.ResponseWriter, id string) {
			c.Decode = func(b []byte) (*llm.Request, error) { return anth.DecodeMessages(b, anth.Limits{}) }
			c.Out = anth.NewWriter(w, id)
		}},
	{pattern: "POST /v1/messages/count_tokens", path: "/v1/messages/count_tokens", dialect: llm.DialectAnthropic, kind: gateway.KindCountTokens,
		prepare: func(c *gateway.Call, w http.ResponseWriter, id string) {
			c.Decode = func(b []byte) (*llm.Request, error) { return anth.DecodeCountTokens(b, anth.Limits{}) }
			c.Out = &countTokensWriter{Writer: anth.NewWriter(w, id), w: w}
		}},
}

// embeddingsWriter gives the OpenAI writer the embeddings capability,
// remembering the encoding the client asked for.
type embeddingsWriter struct {
	*oai.Writer
	w      http.ResponseWriter
	format string
}

func (e *embeddingsWriter) WriteEmbeddings(resp *llm.EmbeddingResponse) error {
	return oai.WriteEmbeddings(e.w, resp, e.format)
}

// countTokensWriter gives the Anthropic writer the token-count capability.
type countTokensWriter struct {
	*anth.Writer
	w http.ResponseWriter
}

func (c *countTokensWriter) WriteCountTokens(n int64) error {
	anth.WriteCountTokens(c.w, n)
	return nil
}

// handler returns the http.Handler of ep.
func (s *Server) handler(ep endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.adm.admit() {
			e := *errOverloaded
			writeError(w, r, &e)
			return
		}
		defer s.adm.done()
		id := w.Header().Get("X-Request-Id")
		var body []byte
		var readErr error
		if herr := headerLimit(r); herr != nil {
			// The body is not read: the connection closes after the answer.
			w.Header().Set("Connection", "close")
			readErr = herr
		} else {
			body, readErr = readBody(w, r, s.maxBody.Load())
		}
		c := &gateway.Call{
			RequestID: id,
			Dialect:   ep.dialect,
			Endpoint:  ep.path,
			Kind:      ep.kind,
			APIKey:    apiKey(r),
			ClientIP:  clientIP(r),
			Purpose:   headerValue(r, "X-Airgw-Purpose", 256),
			EndUser:   headerValue(r, "X-Airgw-User", 256),
			Tags:      tags(r),
			Body:      body,
			// W3C trace context: 55 characters; the tracer validates it.
			TraceParent: headerValue(r, "Traceparent", 55),
		}
		out, keyErr := idempotent(c, w, r) // the Idempotency-Key header
		if readErr == nil {
			readErr = keyErr
		}
		ep.prepare(c, out, id)
		if e, ok := readErr.(*llm.Error); ok && (e.Code == llm.CodePayloadTooLarge || e.Code == llm.CodeRequestHeaderTooLarge) {
			c.Oversize = readErr
		}
		if readErr != nil {
			c.Decode = func([]byte) (*llm.Request, error) { return nil, readErr }
			c.DecodeEmbeddings = func([]byte) (*llm.EmbeddingRequest, error) { return nil, readErr }
		}
		s.gw.Serve(r.Context(), c)
	}
}

// isEndpoint reports whether path is one of the API routes (endpoints).
func isEndpoint(path string) bool {
	for i := range endpoints {
		if endpoints[i].path == path {
			return true
		}
	}
	return false
}

// writeError writes e in the dialect that the request's path speaks.
func writeError(w http.ResponseWriter, r *http.Request, e *llm.Error) {
	id := w.Header().Get("X-Request-Id")
	if isAnthropic(r) {
		anth.WriteError(w, e, id)
		return
	}
	oai.WriteError(w, e, id)
}

// isAnthropic reports whether r is an Anthropic-dialect request: a Messages
// path, or (for shared routes like /v1/models) the anthropic-version header
// that the Anthropic SDKs always send.
func isAnthropic(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/messages") || r.Header.Get("Anthropic-Version") != ""
}
