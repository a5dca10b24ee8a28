// Package openai is the provider adapter for the OpenAI Chat Completions API
// (provider type "openai") and for servers that imitate it (provider type
// "openai_compatible": vLLM, Ollama, LM Studio, Together, Groq and others).
//
// A Client translates llm requests to the wire format of package
// internal/wire/openai, or, when the client spoke the OpenAI dialect itself,
// forwards its body with only the model and the stream options rewritten,
// so that fields airgw does not model reach the provider untouched. Every
// failure is returned as an *llm.Error classified in errors.go.
package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"

	"github.com/airgw/airgw/internal/llm"
)

// DefaultBaseURL is the base URL of the OpenAI API.
const DefaultBaseURL = "https://api.openai.com/v1"

// Read limits.
const (
	// MaxResponseBytes bounds a non-streaming response body.
	MaxResponseBytes = 64 << 20
	// MaxErrorBytes bounds the part of an error body that is read.
	MaxErrorBytes = 64 << 10
)

const endpoint = "/v1/chat/completions"

// Config configures a Client.
type Config struct {
	// Name is the provider's name in the configuration; it appears in
	// errors and in Error.Provider.
	Name string
	// BaseURL is the API root, to which "/chat/completions" is appended.
	// Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>" and nowhere else.
	// Empty sends no Authorization header (local servers).
	APIKey string
	// Organization, when set, is sent as OpenAI-Organization.
	Organization string
	// Headers are extra headers sent with every request. They cannot
	// override Authorization, Content-Type or Accept.
	Headers map[string]string
	// HTTPClient sends the requests; default a client with no overall
	// timeout (deadlines come from the request context). Its
	// CheckRedirect is replaced so that redirects are never followed.
	HTTPClient *http.Client
	// Compatible selects "openai_compatible" behaviour: max_tokens instead
	// of max_completion_tokens, "developer" messages sent as "system", and
	// text-only content sent as a string.
	Compatible bool
}

// Client is an llm.Provider for the OpenAI Chat Completions API. It is safe
// for concurrent use.
type Client struct {
	name   string
	url    string
	key    string
	header http.Header
	http   *http.Client
	compat bool
}

var _ llm.Provider = (*Client)(nil)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Name == "" {
		return nil, errors.New("openai: provider name is required")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, fmt.Errorf("openai: provider %s: base_url must start with http:// or https://", cfg.Name)
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, fmt.Errorf("openai: provider %s: api_key contains a line break", cfg.Name)
	}
	h := make(http.Header)
	for k, v := range cfg.Headers {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Content-Type", "Accept", "Content-Length", "Host":
			return nil, fmt.Errorf("openai: provider %s: header %s cannot be set in headers", cfg.Name, k)
		}
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	if cfg.Organization != "" {
		h.Set("OpenAI-Organization", cfg.Organization)
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient // copy: never change the caller's client
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		name:   cfg.Name,
		url:    base + "/chat/completions",
		key:    cfg.APIKey,
		header: h,
		http:   hc,
		compat: cfg.Compatible,
	}, nil
}

// Name returns the provider name from the configuration.
func (c *Client) Name() string { return c.name }

// Chat sends req and returns the reply: a Response, or a Stream when
// req.Stream is set. Errors are *llm.Error.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	body, err := c.encode(req)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			sent.Store(true)
		}
	}}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(rctx, trace), http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, &llm.Error{Code: llm.CodeInternal, Message: "airgw could not build the upstream request", Provider: c.name, Err: err}
	}
	hreq.Header = c.header.Clone()
	if req.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		cancel()
		return nil, c.transportError(ctx, err, sent.Load())
	}
	hdr := keepHeaders(resp.Header)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
		resp.Body.Close()
		cancel()
		return nil, classify(c.name, c.key, resp, b)
	}
	if req.Stream && !isEventStream(resp.Header) {
		// Some compatible servers ignore "stream" and answer with JSON.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
		resp.Body.Close()
		cancel()
		if e := streamedErrorBody(c.name, c.key, resp.StatusCode, b); e != nil {
			return nil, e
		}
		return nil, &llm.Error{Code: llm.CodeProviderError, Provider: c.name, UpstreamStatus: resp.StatusCode, Sent: true,
			Message: fmt.Sprintf("provider %s answered a streaming request with %q instead of an event stream", c.name, resp.Header.Get("Content-Type"))}
	}
	if req.Stream {
		return &llm.Reply{Stream: newStream(ctx, cancel, c.name, c.key, resp.Body), Header: hdr}, nil
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := readAllLimit(resp.Body, MaxResponseBytes)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &llm.Error{Code: llm.CodeProviderError, Provider: c.name, UpstreamStatus: resp.StatusCode, Sent: true,
				Message: fmt.Sprintf("provider %s sent a response larger than %d MiB", c.name, MaxResponseBytes>>20)}
		}
		return nil, c.transportError(ctx, err, true)
	}
	r, e := decodeResponse(c.name, c.key, resp.StatusCode, b)
	if e != nil {
		return nil, e
	}
	return &llm.Reply{Response: r, Header: hdr}, nil
}

// encode returns the upstream body for req.
func (c *Client) encode(req *llm.Request) ([]byte, error) {
	if n := req.Native; n != nil && n.Dialect == llm.DialectOpenAI && n.Endpoint == endpoint {
		b, err := Rewrite(n.Body, req.Model, req.Stream)
		if err != nil {
			return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request body is not a JSON object", Err: err}
		}
		return b, nil
	}
	b, err := marshalRequest(req, c.compat)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func isEventStream(h http.Header) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(h.Get("Content-Type"))), "text/event-stream")
}

// keepHeaders returns the upstream headers worth keeping on the Reply:
// request ids, rate-limit state and retry hints.
func keepHeaders(h http.Header) http.Header {
	out := make(http.Header)
	for k, v := range h {
		lk := strings.ToLower(k)
		if lk == "x-request-id" || lk == "retry-after" || lk == "retry-after-ms" ||
			lk == "openai-processing-ms" || lk == "apim-request-id" || strings.HasPrefix(lk, "x-ratelimit-") {
			out[k] = v
		}
	}
	return out
}

var errTooLarge = errors.New("openai: response body too large")

// readAllLimit reads r to the end, failing with errTooLarge past limit.
func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}
