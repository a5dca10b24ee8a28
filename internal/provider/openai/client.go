// Package openai is the provider adapter for the OpenAI API (provider type
// "openai"), for Azure OpenAI ("azure_openai", Config.Azure) and for
// servers that imitate it ("openai_compatible": vLLM, Ollama, LM Studio,
// Together, Groq and others, with the known ones described by presets in
// presets.go).
//
// A Client serves Chat Completions (Chat), embeddings (Embed, embed.go)
// and, for clients of the OpenAI dialect, the Responses API (responses.go).
// It translates llm requests to the wire format of package
// internal/wire/openai, or, when the client spoke the OpenAI dialect itself,
// forwards its body with only the fields airgw owns rewritten (the model;
// for chat also the stream options and a preset's quirks), so that fields
// airgw does not model reach the provider untouched. Every failure is
// returned as an *llm.Error classified in errors.go.
package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
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
	// Preset names a known OpenAI-compatible service (see PresetNames):
	// it implies Compatible, supplies the default BaseURL and adjusts the
	// wire request to the service's documented quirks (see PresetInfo).
	// Empty: a generic OpenAI-compatible server, or OpenAI itself.
	Preset string
	// Azure, when set, selects Azure OpenAI (provider type
	// "azure_openai"); see AzureConfig. BaseURL is then the resource
	// endpoint (https://NAME.openai.azure.com) and is required.
	Azure *AzureConfig
}

// AzureConfig configures an Azure OpenAI resource.
//
// With a dated APIVersion ("2024-10-21"), requests go to the deployments
// surface, {base}/openai/deployments/{deployment}/chat/completions (and
// /embeddings) with ?api-version=…, where the deployment is the target's
// model name. With APIVersion "v1", they go to the v1 surface,
// {base}/openai/v1/chat/completions, with the model in the body as on
// OpenAI. The key is sent in the api-key header, never as a bearer token.
type AzureConfig struct {
	APIVersion string
}

// azureV1 is the APIVersion of Azure's OpenAI-style v1 surface.
const azureV1 = "v1"

// Client is an llm.Provider for the OpenAI Chat Completions API. It is safe
// for concurrent use.
type Client struct {
	name   string
	typ    string // the provider type, for error messages
	base   string // API root, no trailing slash
	url    string // chat completions URL (unused for Azure deployments)
	key    string
	header http.Header
	http   *http.Client
	compat bool
	azure  *AzureConfig
	preset *PresetInfo // nil: OpenAI, Azure or a generic compatible server
}

var _ llm.Provider = (*Client)(nil)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Name == "" {
		return nil, errors.New("openai: provider name is required")
	}
	c := &Client{name: cfg.Name, typ: "openai", compat: cfg.Compatible, azure: cfg.Azure}
	if cfg.Compatible {
		c.typ = "openai_compatible"
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	switch {
	case cfg.Azure != nil:
		if cfg.Preset != "" || cfg.Compatible {
			return nil, fmt.Errorf("openai: provider %s: azure cannot be combined with a preset or openai_compatible", cfg.Name)
		}
		c.typ = "azure_openai"
		if base == "" {
			return nil, fmt.Errorf("openai: provider %s: azure_openai needs base_url, the resource endpoint such as https://NAME.openai.azure.com", cfg.Name)
		}
		v := cfg.Azure.APIVersion
		if v == "" || strings.ContainsAny(v, "/?&#% \r\n") {
			return nil, fmt.Errorf("openai: provider %s: azure_openai needs api_version, a dated version such as 2024-10-21 or \"v1\"", cfg.Name)
		}
		// Accept the endpoint with or without the /openai[/v1] suffix.
		base = strings.TrimSuffix(strings.TrimSuffix(base, "/v1"), "/openai")
	case cfg.Preset != "":
		p, ok := Preset(cfg.Preset)
		if !ok {
			return nil, fmt.Errorf("openai: provider %s: unknown preset %q; known presets: %s", cfg.Name, cfg.Preset, strings.Join(PresetNames(), ", "))
		}
		c.preset, c.compat, c.typ = &p, true, "openai_compatible"
		if base == "" {
			base = p.BaseURL
		}
		if base == "" {
			return nil, fmt.Errorf("openai: provider %s: preset %s has no default base_url; set the server's URL, such as http://127.0.0.1:8000/v1", cfg.Name, p.Name)
		}
	case base == "":
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
		case "Authorization", "Api-Key", "Content-Type", "Accept", "Content-Length", "Host":
			return nil, fmt.Errorf("openai: provider %s: header %s cannot be set in headers", cfg.Name, k)
		}
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	switch {
	case cfg.APIKey == "":
	case cfg.Azure != nil:
		h.Set("Api-Key", cfg.APIKey)
	default:
		h.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	if cfg.Organization != "" {
		h.Set("OpenAI-Organization", cfg.Organization)
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		hc2 := *cfg.HTTPClient // copy: never change the caller's client
		hc = &hc2
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.base, c.key, c.header, c.http = base, cfg.APIKey, h, hc
	c.url = c.endpointURL("chat/completions", "")
	return c, nil
}

// checkDeployment refuses an empty model on Azure's deployments surface,
// where the model names the deployment in the URL.
func (c *Client) checkDeployment(model string) error {
	if c.azure != nil && c.azure.APIVersion != azureV1 && model == "" {
		return &llm.Error{Code: llm.CodeInvalidRequest, Param: "model", Provider: c.name,
			Message: fmt.Sprintf("provider %s (azure_openai) needs a model, the name of the deployment; the operator must set the target's model", c.name)}
	}
	return nil
}

// endpointURL returns the URL of an API operation ("chat/completions",
// "embeddings", "responses") for model. On Azure's deployments surface
// the model names the deployment; the Responses API has no deployment
// path there and takes the model in the body.
func (c *Client) endpointURL(op, model string) string {
	if c.azure == nil {
		return c.base + "/" + op
	}
	v := c.azure.APIVersion
	if v == azureV1 {
		return c.base + "/openai/v1/" + op
	}
	if op == "responses" {
		return c.base + "/openai/responses?api-version=" + url.QueryEscape(v)
	}
	return c.base + "/openai/deployments/" + url.PathEscape(model) + "/" + op + "?api-version=" + url.QueryEscape(v)
}

// Name returns the provider name from the configuration.
func (c *Client) Name() string { return c.name }

// Chat sends req and returns the reply: a Response, or a Stream when
// req.Stream is set. A request whose Native endpoint is /v1/responses is
// forwarded to the Responses API (see responses.go). Errors are
// *llm.Error.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	if n := req.Native; n != nil && n.Endpoint == ResponsesEndpoint {
		return c.responses(ctx, req)
	}
	if err := c.checkDeployment(req.Model); err != nil {
		return nil, err
	}
	body, err := c.encode(req)
	if err != nil {
		return nil, err
	}
	u := c.url
	if c.azure != nil {
		u = c.endpointURL("chat/completions", req.Model)
	}
	resp, cancel, err := c.post(ctx, u, body, req.Stream)
	if err != nil {
		return nil, err
	}
	hdr := keepHeaders(resp.Header)
	if req.Stream {
		return &llm.Reply{Stream: newStream(ctx, cancel, c.name, c.key, resp.Body, forwarded(req)), Header: hdr}, nil
	}
	defer cancel()
	defer resp.Body.Close()
	b, e := c.readBody(ctx, resp)
	if e != nil {
		return nil, e
	}
	r, e := decodeResponse(c.name, c.key, resp.StatusCode, b)
	if e != nil {
		return nil, e
	}
	return &llm.Reply{Response: r, Header: hdr}, nil
}

// post sends body to u and returns a 2xx response whose body the caller
// must close, with the function that cancels the request (the caller must
// call it once done with the body). When stream is set the response is
// checked to be an event stream. Every failure is classified.
func (c *Client) post(ctx context.Context, u string, body []byte, stream bool) (*http.Response, context.CancelFunc, error) {
	rctx, cancel := context.WithCancel(ctx)
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			sent.Store(true)
		}
	}}
	// A small body goes as a bytes.Reader, which net/http writes with the
	// headers in one write(2); a large one (written in several anyway) as
	// a requestBody, released once the response arrived.
	var rb *requestBody
	var rc io.Reader = bytes.NewReader(body)
	if len(body) >= releaseMin {
		rb = &requestBody{b: body}
		rc, _ = rb.open()
	}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(rctx, trace), http.MethodPost, u, rc)
	if err != nil {
		cancel()
		return nil, nil, &llm.Error{Code: llm.CodeInternal, Message: "airgw could not build the upstream request", Provider: c.name, Err: err}
	}
	if rb != nil {
		hreq.ContentLength, hreq.GetBody = int64(len(body)), rb.open
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
		// A write error does not mean the provider lacks the request: the
		// transport may fail a write after every byte of the body reached
		// the kernel (the provider read it all, then reset), so a body read
		// to its end counts as sent, and is never sent again (T08).
		return nil, nil, c.transportError(ctx, err, sent.Load() || rb.wasRead())
	}
	rb.release()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
		resp.Body.Close()
		cancel()
		return nil, nil, classify(c.name, c.key, resp, b)
	}
	if stream && !isEventStream(resp.Header) {
		// Some compatible servers ignore "stream" and answer with JSON.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
		resp.Body.Close()
		cancel()
		if e := streamedErrorBody(c.name, c.key, resp.StatusCode, b); e != nil {
			return nil, nil, e
		}
		return nil, nil, &llm.Error{Code: llm.CodeProviderError, Provider: c.name, UpstreamStatus: resp.StatusCode, Sent: true,
			Message: fmt.Sprintf("provider %s answered a streaming request with %q instead of an event stream", c.name, resp.Header.Get("Content-Type"))}
	}
	return resp, cancel, nil
}

// readBody reads a non-streaming 2xx body, bounded by MaxResponseBytes.
func (c *Client) readBody(ctx context.Context, resp *http.Response) ([]byte, *llm.Error) {
	b, err := readAllLimit(resp.Body, MaxResponseBytes)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &llm.Error{Code: llm.CodeProviderError, Provider: c.name, UpstreamStatus: resp.StatusCode, Sent: true,
				Message: fmt.Sprintf("provider %s sent a response larger than %d MiB", c.name, MaxResponseBytes>>20)}
		}
		return nil, c.transportError(ctx, err, true)
	}
	return b, nil
}

// forwarded reports whether req's own body is sent upstream (an OpenAI
// client's chat completion), rather than a translation.
func forwarded(req *llm.Request) bool {
	n := req.Native
	return n != nil && n.Dialect == llm.DialectOpenAI && n.Endpoint == endpoint
}

// encode returns the upstream body for req.
func (c *Client) encode(req *llm.Request) ([]byte, error) {
	var b []byte
	if n := req.Native; forwarded(req) {
		var err error
		b, err = Rewrite(n.Body, req.Model, req.Stream)
		if err != nil {
			return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request body is not a JSON object", Err: err}
		}
	} else {
		if e := c.untranslatable(req); e != nil {
			return nil, e
		}
		var err error
		if b, err = marshalRequest(req, c.compat); err != nil {
			return nil, err
		}
	}
	if c.preset != nil {
		q, err := c.preset.apply(b)
		if err != nil {
			return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request body is not a JSON object", Err: err}
		}
		b = q
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
		// EqualFold rather than ToLower: no string per header.
		if strings.EqualFold(k, "x-request-id") || strings.EqualFold(k, "retry-after") || strings.EqualFold(k, "retry-after-ms") ||
			strings.EqualFold(k, "openai-processing-ms") || strings.EqualFold(k, "apim-request-id") ||
			len(k) >= len("x-ratelimit-") && strings.EqualFold(k[:len("x-ratelimit-")], "x-ratelimit-") {
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
