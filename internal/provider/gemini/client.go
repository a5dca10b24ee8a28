// Package gemini is the provider adapter for the Google Generative Language
// API (provider type "gemini"): generateContent, streamGenerateContent
// (alt=sse), and batchEmbedContents / embedContent for embeddings.
//
// A Client translates llm requests to the wire format of package
// internal/wire/gemini (convert.go, schema.go) and the answers back
// (response.go, stream.go). The API key is sent in the x-goog-api-key
// header and never in the URL, which proxies and logs may record. Every
// failure is returned as an *llm.Error classified in errors.go.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// DefaultBaseURL is the base URL of the Generative Language API.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// Read limits.
const (
	// MaxResponseBytes bounds a non-streaming response body.
	MaxResponseBytes = 64 << 20
	// MaxErrorBytes bounds the part of an error body that is read.
	MaxErrorBytes = 64 << 10
)

// Config configures a Client.
type Config struct {
	// Name is the provider's name in the configuration; it appears in
	// errors and in Error.Provider.
	Name string
	// BaseURL is the API root, to which "/models/{model}:{method}" is
	// appended. Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "x-goog-api-key: <key>" and nowhere else.
	APIKey string
	// Headers are extra headers sent with every request. They cannot
	// override x-goog-api-key, Content-Type or Accept.
	Headers map[string]string
	// HTTPClient sends the requests; default a client with no overall
	// timeout (deadlines come from the request context). Its
	// CheckRedirect is replaced so that redirects are never followed.
	HTTPClient *http.Client
}

// Client is an llm.Provider and llm.Embedder for the Gemini API. It is
// safe for concurrent use.
type Client struct {
	name   string
	base   string
	key    string
	header http.Header
	http   *http.Client
	now    func() time.Time
}

var (
	_ llm.Provider = (*Client)(nil)
	_ llm.Embedder = (*Client)(nil)
)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Name == "" {
		return nil, errors.New("gemini: provider name is required")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("gemini: provider %s: base_url must be an http:// or https:// URL", cfg.Name)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("gemini: provider %s: base_url must not have a query or fragment (the key goes in a header)", cfg.Name)
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, fmt.Errorf("gemini: provider %s: api_key contains a line break", cfg.Name)
	}
	h := make(http.Header)
	for k, v := range cfg.Headers {
		switch http.CanonicalHeaderKey(k) {
		case "X-Goog-Api-Key", "Authorization", "Content-Type", "Accept", "Content-Length", "Host":
			return nil, fmt.Errorf("gemini: provider %s: header %s cannot be set in headers", cfg.Name, k)
		}
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		h.Set("X-Goog-Api-Key", cfg.APIKey)
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient // copy: never change the caller's client
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{name: cfg.Name, base: base, key: cfg.APIKey, header: h, http: hc, now: time.Now}, nil
}

// Name returns the provider name from the configuration.
func (c *Client) Name() string { return c.name }

// methodURL returns {base}/models/{model}:{method}; the model is escaped so
// that it cannot change the path.
func (c *Client) methodURL(model, method string) (string, error) {
	model = strings.TrimPrefix(model, "models/")
	if model == "" || strings.ContainsAny(model, "/?#") {
		return "", llm.ParamError("model", "model %q is not a Gemini model name", model)
	}
	return c.base + "/models/" + url.PathEscape(model) + ":" + method, nil
}

// Chat sends req and returns the reply: a Response, or a Stream when
// req.Stream is set. Errors are *llm.Error.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	w, err := c.toWire(req)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeInternal, Message: "airgw could not encode the upstream request", Provider: c.name, Err: err}
	}
	method := "generateContent"
	if req.Stream {
		method = "streamGenerateContent?alt=sse"
	}
	u, err := c.methodURL(req.Model, method)
	if err != nil {
		return nil, err
	}
	resp, cancel, err := c.post(ctx, u, body, req.Stream)
	if err != nil {
		return nil, err
	}
	hdr := keepHeaders(resp.Header)
	if req.Stream {
		if !isEventStream(resp.Header) {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
			resp.Body.Close()
			cancel()
			return nil, &llm.Error{Code: llm.CodeProviderError, Provider: c.name, UpstreamStatus: resp.StatusCode, Sent: true,
				Message: fmt.Sprintf("provider %s answered a streaming request with %q instead of an event stream", c.name, resp.Header.Get("Content-Type")),
				Err:     fmt.Errorf("body: %.200s", redact(string(b), c.key))}
		}
		return &llm.Reply{Stream: newStream(ctx, cancel, c.name, c.key, c.now().Unix(), resp.Body), Header: hdr}, nil
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
	r, e := decodeResponse(c.name, c.key, c.now().Unix(), b)
	if e != nil {
		e.UpstreamStatus = resp.StatusCode
		return nil, e
	}
	return &llm.Reply{Response: r, Header: hdr}, nil
}

// post sends body to u. On success the caller owns resp.Body and must call
// cancel when done with it; a non-2xx answer is returned as its classified
// error.
func (c *Client) post(ctx context.Context, u string, body []byte, stream bool) (*http.Response, context.CancelFunc, error) {
	rctx, cancel := context.WithCancel(ctx)
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			sent.Store(true)
		}
	}}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(rctx, trace), http.MethodPost, u, bytes.NewReader(body))
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

func isEventStream(h http.Header) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(h.Get("Content-Type"))), "text/event-stream")
}

// keepHeaders returns the upstream headers worth keeping on the Reply:
// retry hints and Google's request and timing headers.
func keepHeaders(h http.Header) http.Header {
	out := make(http.Header)
	for k, v := range h {
		switch strings.ToLower(k) {
		case "retry-after", "server-timing", "x-goog-request-id", "x-request-id":
			out[k] = v
		}
	}
	return out
}

var errTooLarge = errors.New("gemini: response body too large")

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
