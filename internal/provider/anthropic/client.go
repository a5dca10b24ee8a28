// Package anthropic is the provider adapter for the Anthropic Messages API
// (provider type "anthropic").
//
// A Client translates llm requests to the wire format of package
// internal/wire/anthropic (see convert.go for what maps to what, and what is
// refused as unsupported rather than dropped), or, when the client spoke the
// Anthropic dialect itself, forwards its body with only the model
// rewritten, so that fields airgw does not model reach the API untouched
// and the answer (response body or every stream event) comes back as
// Native for the client to receive verbatim. Every failure is returned as
// an *llm.Error classified in errors.go.
package anthropic

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
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

// Defaults.
const (
	// DefaultBaseURL is the root of the Anthropic API; "/v1/messages" is
	// appended to it.
	DefaultBaseURL = "https://api.anthropic.com"
	// DefaultVersion is the anthropic-version header sent by default.
	DefaultVersion = wire.Version
	// DefaultMaxTokens is the max_tokens sent when a translated request
	// sets no limit: the Messages API requires one, OpenAI clients
	// usually send none.
	DefaultMaxTokens = 4096
)

// Read limits.
const (
	// MaxResponseBytes bounds a non-streaming response body.
	MaxResponseBytes = 64 << 20
	// MaxErrorBytes bounds the part of an error body that is read.
	MaxErrorBytes = 64 << 10
)

// Native endpoints of Anthropic requests: a request whose Native has
// llm.DialectAnthropic and Endpoint is passed through by Chat, and one with
// CountEndpoint (or Endpoint) by CountTokens.
const (
	Endpoint      = "/v1/messages"
	CountEndpoint = "/v1/messages/count_tokens"
)

// Config configures a Client.
type Config struct {
	// Name is the provider's name in the configuration; it appears in
	// errors and in Error.Provider.
	Name string
	// BaseURL is the API root, to which "/v1/messages" is appended.
	// Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "x-api-key" and nowhere else.
	APIKey string
	// Version is sent as "anthropic-version"; default DefaultVersion.
	Version string
	// Beta lists beta features, sent comma-separated as "anthropic-beta";
	// none by default.
	Beta []string
	// Headers are extra headers sent with every request. They cannot
	// override x-api-key, anthropic-version, anthropic-beta or
	// Content-Type.
	Headers map[string]string
	// HTTPClient sends the requests; default a client with no overall
	// timeout (deadlines come from the request context). Its
	// CheckRedirect is replaced so that redirects are never followed.
	HTTPClient *http.Client
	// DefaultMaxTokens is the max_tokens of translated requests that set
	// none; default DefaultMaxTokens. (Pass-through bodies are sent as the
	// client wrote them.)
	DefaultMaxTokens int
}

// Client is an llm.Provider for the Anthropic Messages API. It is safe for
// concurrent use.
type Client struct {
	name      string
	url       string
	countURL  string
	key       string
	header    http.Header
	http      *http.Client
	maxTokens int
}

var (
	_ llm.Provider     = (*Client)(nil)
	_ llm.TokenCounter = (*Client)(nil)
)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Name == "" {
		return nil, errors.New("anthropic: provider name is required")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, fmt.Errorf("anthropic: provider %s: base_url must start with http:// or https://", cfg.Name)
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, fmt.Errorf("anthropic: provider %s: api_key contains a line break", cfg.Name)
	}
	if cfg.DefaultMaxTokens < 0 {
		return nil, fmt.Errorf("anthropic: provider %s: default max_tokens must be positive", cfg.Name)
	}
	h := make(http.Header)
	for k, v := range cfg.Headers {
		switch http.CanonicalHeaderKey(k) {
		case "X-Api-Key", "Authorization", "Anthropic-Version", "Anthropic-Beta", "Content-Type", "Accept", "Content-Length", "Host":
			return nil, fmt.Errorf("anthropic: provider %s: header %s cannot be set in headers", cfg.Name, k)
		}
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		h.Set("X-Api-Key", cfg.APIKey)
	}
	version := cfg.Version
	if version == "" {
		version = DefaultVersion
	}
	h.Set("Anthropic-Version", version)
	if len(cfg.Beta) > 0 {
		h.Set("Anthropic-Beta", strings.Join(cfg.Beta, ","))
	}
	for _, v := range h {
		if strings.ContainsAny(strings.Join(v, ""), "\r\n") {
			return nil, fmt.Errorf("anthropic: provider %s: a header value contains a line break", cfg.Name)
		}
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient // copy: never change the caller's client
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	maxTokens := cfg.DefaultMaxTokens
	if maxTokens == 0 {
		maxTokens = DefaultMaxTokens
	}
	return &Client{
		name:      cfg.Name,
		url:       base + Endpoint,
		countURL:  base + CountEndpoint,
		key:       cfg.APIKey,
		header:    h,
		http:      hc,
		maxTokens: maxTokens,
	}, nil
}

// Name returns the provider name from the configuration.
func (c *Client) Name() string { return c.name }

// Chat sends req and returns the reply: a Response, or a Stream when
// req.Stream is set. Errors are *llm.Error.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	body, native, err := c.encode(req)
	if err != nil {
		return nil, err
	}
	resp, cancel, err := c.post(ctx, c.url, body, req.Stream)
	if err != nil {
		return nil, err
	}
	hdr := keepHeaders(resp.Header)
	if req.Stream {
		if !isEventStream(resp.Header) {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
			resp.Body.Close()
			cancel()
			if e := errorInBody(c.name, c.key, resp.StatusCode, b); e != nil {
				return nil, e
			}
			return nil, &llm.Error{Code: llm.CodeProviderError, Provider: c.name, UpstreamStatus: resp.StatusCode, Sent: true,
				Message: fmt.Sprintf("provider %s answered a streaming request with %q instead of an event stream", c.name, resp.Header.Get("Content-Type"))}
		}
		return &llm.Reply{Stream: newStream(ctx, cancel, c.name, c.key, native, resp.Body), Header: hdr}, nil
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := readAllLimit(resp.Body, MaxResponseBytes)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &llm.Error{Code: llm.CodeProviderError, Provider: c.name, UpstreamStatus: resp.StatusCode, Sent: true,
				Message: fmt.Sprintf("provider %s sent a response larger than %d MiB", c.name, MaxResponseBytes>>20)}
		}
		return nil, classifyTransport(ctx, c.name, err, true)
	}
	r, e := decodeResponse(c.name, c.key, resp.StatusCode, b)
	if e != nil {
		return nil, e
	}
	return &llm.Reply{Response: r, Header: hdr}, nil
}

// CountTokens returns the exact number of input tokens of req, as counted
// by POST /v1/messages/count_tokens (which is free and does not run the
// model). It implements llm.TokenCounter.
func (c *Client) CountTokens(ctx context.Context, req *llm.Request) (int64, error) {
	body, err := c.encodeCount(req)
	if err != nil {
		return 0, err
	}
	resp, cancel, err := c.post(ctx, c.countURL, body, false)
	if err != nil {
		return 0, err
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := readAllLimit(resp.Body, MaxErrorBytes)
	if err != nil {
		return 0, malformed(c.name, resp.StatusCode, "token count too large", err)
	}
	return decodeCount(c.name, resp.StatusCode, b)
}

// post sends body to url and returns a 2xx response, whose body the caller
// must close, with the cancel function of its context; any other outcome
// is a classified *llm.Error.
func (c *Client) post(ctx context.Context, url string, body []byte, stream bool) (*http.Response, context.CancelFunc, error) {
	rctx, cancel := context.WithCancel(ctx)
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			sent.Store(true)
		}
	}}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(rctx, trace), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, nil, &llm.Error{Code: llm.CodeInternal, Message: "airgw could not build the upstream request", Provider: c.name, Err: err}
	}
	hreq.Header = c.header.Clone()
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		cancel()
		return nil, nil, classifyTransport(ctx, c.name, err, sent.Load())
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
		resp.Body.Close()
		cancel()
		return nil, nil, classify(c.name, c.key, resp, b)
	}
	return resp, cancel, nil
}

// encode returns the upstream body for req and whether it is the client's
// own (pass-through).
func (c *Client) encode(req *llm.Request) ([]byte, bool, error) {
	if n := req.Native; n != nil && n.Dialect == llm.DialectAnthropic && n.Endpoint == Endpoint {
		b, err := Rewrite(n.Body, req.Model)
		if err != nil {
			return nil, false, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request body is not a JSON object", Err: err}
		}
		return b, true, nil
	}
	if e := req.Untranslatable(c.name, providerType); e != nil {
		return nil, false, e
	}
	b, err := marshalRequest(req, c.name, c.maxTokens)
	if err != nil {
		return nil, false, err
	}
	return b, false, nil
}

// encodeCount returns the count_tokens body for req: the client's own
// count_tokens body with the model rewritten, its Messages body reduced to
// the prompt's fields, or a translation.
func (c *Client) encodeCount(req *llm.Request) ([]byte, error) {
	if n := req.Native; n != nil && n.Dialect == llm.DialectAnthropic && (n.Endpoint == Endpoint || n.Endpoint == CountEndpoint) {
		var b []byte
		var err error
		if n.Endpoint == CountEndpoint {
			b, err = Rewrite(n.Body, req.Model)
		} else {
			b, err = CountBody(n.Body, req.Model)
		}
		if err != nil {
			return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request body is not a JSON object", Err: err}
		}
		return b, nil
	}
	if e := req.Untranslatable(c.name, providerType); e != nil {
		return nil, e
	}
	return marshalCount(req, c.name, c.maxTokens)
}

func isEventStream(h http.Header) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(h.Get("Content-Type"))), "text/event-stream")
}

// keepHeaders returns the upstream headers worth keeping on the Reply:
// the request id, rate-limit state and retry hints.
func keepHeaders(h http.Header) http.Header {
	out := make(http.Header)
	for k, v := range h {
		lk := strings.ToLower(k)
		if lk == "request-id" || lk == "retry-after" || lk == "x-should-retry" || strings.HasPrefix(lk, "anthropic-ratelimit-") {
			out[k] = v
		}
	}
	return out
}

var errTooLarge = errors.New("anthropic: response body too large")

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
