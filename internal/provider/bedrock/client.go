// Package bedrock is the provider adapter for Amazon Bedrock (provider type
// "bedrock"): chat through the Converse and ConverseStream APIs, which give
// every Bedrock model one request shape, and embeddings through InvokeModel
// for the Titan and Cohere embedding models.
//
// Requests are signed with AWS Signature Version 4 using credentials from an
// aws.CredentialsProvider, by default the SDK's standard chain (environment
// variables, shared config and credentials files, SSO, web identity,
// container and instance roles). ConverseStream answers with the binary AWS
// event stream, decoded with the SDK's eventstream package. Every failure is
// returned as an *llm.Error classified in errors.go.
package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/airgw/airgw/internal/llm"
)

// providerType is the configuration's name for this adapter.
const providerType = "bedrock"

// SigningService is the SigV4 service name of the Bedrock Runtime API.
const SigningService = "bedrock"

// Read limits.
const (
	// MaxResponseBytes bounds a non-streaming response body.
	MaxResponseBytes = 64 << 20
	// MaxErrorBytes bounds the part of an error body that is read.
	MaxErrorBytes = 64 << 10
)

// Content types.
const (
	contentJSON        = "application/json"
	contentEventStream = "application/vnd.amazon.eventstream"
)

// Config configures a Client.
type Config struct {
	// Name is the provider's name in the configuration; it appears in
	// errors and in Error.Provider.
	Name string
	// Region is the AWS region (e.g. "us-east-1"): it selects the default
	// endpoint and scopes the signature. When empty and Credentials is
	// nil, the region of the standard AWS configuration (AWS_REGION,
	// the profile) is used; New fails if there is none.
	Region string
	// BaseURL overrides the endpoint, default
	// https://bedrock-runtime.{Region}.amazonaws.com (tests, VPC
	// endpoints). Requests still sign for Region.
	BaseURL string
	// Credentials supplies the AWS credentials, retrieved for every
	// request (a provider that is not already an *aws.CredentialsCache is
	// wrapped in one, so retrieval is cached until expiry). Nil loads the
	// SDK's standard chain with config.LoadDefaultConfig.
	Credentials aws.CredentialsProvider
	// HTTPClient sends the requests; default a client with no overall
	// timeout (deadlines come from the request context). Its
	// CheckRedirect is replaced so that redirects are never followed.
	HTTPClient *http.Client
	// Now is the clock used to sign requests and stamp responses; default
	// time.Now.
	Now func() time.Time
}

// Client is an llm.Provider and llm.Embedder for Amazon Bedrock. It is safe
// for concurrent use.
type Client struct {
	name   string
	region string
	base   string
	creds  aws.CredentialsProvider
	signer *v4.Signer
	http   *http.Client
	now    func() time.Time
}

var (
	_ llm.Provider = (*Client)(nil)
	_ llm.Embedder = (*Client)(nil)
)

// New returns a Client for cfg. With nil Credentials it loads the standard
// AWS configuration, which reads environment variables and the shared files
// but contacts no service: missing credentials surface on the first
// request as provider_auth_failed.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Name == "" {
		return nil, errors.New("bedrock: provider name is required")
	}
	creds := cfg.Credentials
	region := cfg.Region
	if creds == nil {
		opts := []func(*config.LoadOptions) error{}
		if region != "" {
			opts = append(opts, config.WithRegion(region))
		}
		ac, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("bedrock: provider %s: load AWS configuration: %w", cfg.Name, err)
		}
		creds = ac.Credentials
		if region == "" {
			region = ac.Region
		}
	}
	if region == "" {
		return nil, fmt.Errorf("bedrock: provider %s: region is required", cfg.Name)
	}
	if strings.ContainsAny(region, "/:?#@ \t\r\n") {
		return nil, fmt.Errorf("bedrock: provider %s: region %q is not a region name", cfg.Name, region)
	}
	if creds == nil {
		return nil, fmt.Errorf("bedrock: provider %s: no AWS credentials provider", cfg.Name)
	}
	if _, ok := creds.(*aws.CredentialsCache); !ok {
		creds = aws.NewCredentialsCache(creds)
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = "https://bedrock-runtime." + region + ".amazonaws.com"
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("bedrock: provider %s: base_url must be an http:// or https:// URL without a query", cfg.Name)
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient // copy: never change the caller's client
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{name: cfg.Name, region: region, base: base, creds: creds, signer: v4.NewSigner(), http: hc, now: now}, nil
}

// Name returns the provider name from the configuration.
func (c *Client) Name() string { return c.name }

// Region returns the AWS region requests are signed for.
func (c *Client) Region() string { return c.region }

// Chat sends req to Converse, or to ConverseStream when req.Stream is set,
// and returns the reply. Errors are *llm.Error.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	body, err := marshalRequest(c.name, req)
	if err != nil {
		return nil, err
	}
	op, accept := "converse", contentJSON
	if req.Stream {
		op, accept = "converse-stream", contentEventStream
	}
	resp, cancel, e := c.send(ctx, req.Model, op, accept, body)
	if e != nil {
		return nil, e
	}
	hdr := keepHeaders(resp.Header)
	meta := replyMeta{id: resp.Header.Get("X-Amzn-Requestid"), model: req.Model, created: c.now().Unix()}
	if req.Stream {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), contentEventStream) {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
			resp.Body.Close()
			cancel()
			e := classifyHTTP(c.name, resp.StatusCode, resp.Header, b)
			if e.Code == llm.CodeUpstreamInvalidRequest || e.Code == llm.CodeProviderError {
				e = &llm.Error{Code: llm.CodeProviderError, Provider: c.name, UpstreamStatus: resp.StatusCode, Sent: true,
					Message: fmt.Sprintf("provider %s answered a streaming request with %q instead of an event stream", c.name, ct)}
			}
			return nil, e
		}
		return &llm.Reply{Stream: newStream(ctx, cancel, c.name, resp.Body, meta), Header: hdr}, nil
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
	r, e := decodeResponse(c.name, resp.StatusCode, b, meta)
	if e != nil {
		return nil, e
	}
	return &llm.Reply{Response: r, Header: hdr}, nil
}

// send signs and posts body to /model/{model}/{op}. On success it returns
// the 2xx response, whose body the caller must close, and the cancel
// function of its context; any other status is returned classified.
func (c *Client) send(ctx context.Context, model, op, accept string, body []byte) (*http.Response, context.CancelFunc, *llm.Error) {
	if model == "" {
		return nil, nil, llm.ParamError("model", "is required")
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, nil, credentialsError(ctx, c.name, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			sent.Store(true)
		}
	}}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(rctx, trace), http.MethodPost,
		c.base+"/model/"+escapeModel(model)+"/"+op, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, nil, &llm.Error{Code: llm.CodeInternal, Message: "airgw could not build the upstream request", Provider: c.name, Err: err}
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	hreq.Header.Set("Content-Type", contentJSON)
	hreq.Header.Set("Accept", accept)
	hreq.Header.Set("X-Amz-Content-Sha256", hash)
	if err := c.signer.SignHTTP(ctx, creds, hreq, hash, SigningService, c.region, c.now()); err != nil {
		cancel()
		return nil, nil, &llm.Error{Code: llm.CodeInternal, Message: "airgw could not sign the upstream request", Provider: c.name, Err: err}
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
		return nil, nil, classifyHTTP(c.name, resp.StatusCode, resp.Header, b)
	}
	return resp, cancel, nil
}

// escapeModel percent-encodes a model id or ARN for one path segment, as
// the AWS SDKs do: everything but unreserved characters, so that ':' and
// '/' of "us.amazon.nova-micro-v1:0" and ARNs are escaped.
func escapeModel(id string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(id) + 8)
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '.' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[ch>>4])
		b.WriteByte(hexDigits[ch&15])
	}
	return b.String()
}

// keepHeaders returns the upstream headers worth keeping on the Reply:
// the request id and Bedrock's token and latency reports.
func keepHeaders(h http.Header) http.Header {
	out := make(http.Header)
	for k, v := range h {
		lk := strings.ToLower(k)
		if lk == "x-amzn-requestid" || lk == "retry-after" || strings.HasPrefix(lk, "x-amzn-bedrock-") {
			out[k] = v
		}
	}
	return out
}

var errTooLarge = errors.New("bedrock: response body too large")

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
