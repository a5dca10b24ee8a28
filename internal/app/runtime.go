package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/airgw/airgw/internal/breaker"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/netguard"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/provider/demo"
	"github.com/airgw/airgw/internal/retry"
	"github.com/airgw/airgw/internal/route"

	anthprov "github.com/airgw/airgw/internal/provider/anthropic"
	bedrockprov "github.com/airgw/airgw/internal/provider/bedrock"
	geminiprov "github.com/airgw/airgw/internal/provider/gemini"
	oaiprov "github.com/airgw/airgw/internal/provider/openai"
)

// Warning is something in the config that works but deserves attention,
// such as a target that will be refused because it has no price.
type Warning struct {
	Pos     config.Pos
	Message string
}

// String formats w as "file:line:col: message".
func (w Warning) String() string { return w.Pos.String() + ": " + w.Message }

// BuildRuntime turns a validated config into the gateway's runtime:
// provider clients, routes with their prices, team allow-lists and
// deadlines. It makes no network calls.
func BuildRuntime(cfg *config.Config, catalog *pricing.Catalog) (*gateway.Runtime, []Warning, error) {
	rt, warns, _, err := buildRuntime(cfg, catalog, nil)
	return rt, warns, err
}

// buildRuntime is BuildRuntime for a reload: provider clients whose
// settings are unchanged since prev (nil at startup) are reused. It also
// returns the clients, for the next reload.
func buildRuntime(cfg *config.Config, catalog *pricing.Catalog, prev *clients) (*gateway.Runtime, []Warning, *clients, error) {
	providers := make(map[string]llm.Provider, len(cfg.Providers))
	byName := make(map[string]*config.Provider, len(cfg.Providers))
	pool := &clients{byName: make(map[string]*client, len(cfg.Providers))}
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		client, err := pool.provider(prev, p, time.Duration(cfg.Routing.ConnectTimeout), cfg.Tracing.OTLPEndpoint != "")
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: providers.%s: %w", p.Pos, p.Name, err)
		}
		providers[p.Name], byName[p.Name] = client, p
	}
	var warns []Warning
	routes := make([]*route.Route, 0, len(cfg.Models))
	for i := range cfg.Models {
		m := &cfg.Models[i]
		hint := fmt.Sprintf("`price:` under `models.%s` in %s", m.Name, m.Pos)
		targets := make([]route.Target, 0, len(m.Targets))
		for _, t := range m.Targets {
			pc := byName[t.Provider]
			rt := route.Target{
				Provider:          t.Provider,
				ProviderType:      pc.Type,
				Client:            providers[t.Provider],
				Model:             t.Model,
				Weight:            t.Weight,
				PriceHint:         hint,
				FirstTokenTimeout: time.Duration(pc.FirstTokenTimeout),
				IdleTimeout:       time.Duration(pc.IdleTimeout),
			}
			if m.Price != nil {
				p := configPrice(m.Price)
				rt.Price = &p
			} else if p, ok := catalogPrice(catalog, pricingType(pc), t.Model); ok {
				rt.Price = &p
			}
			if rt.Price != nil && m.MaxOutputTokens > 0 {
				rt.Price.MaxOutputTokens = int64(m.MaxOutputTokens) // bounds worst-case costs
			}
			if rt.Price == nil {
				warns = append(warns, Warning{t.Pos, fmt.Sprintf("models.%s: upstream model %q of provider %q is not in the price catalog; requests routed to it are refused with model_unpriced until you set a price under models.%s.price", m.Name, t.Model, t.Provider, m.Name)})
			}
			targets = append(targets, rt)
		}
		r := route.NewRoute(m.Name, targets)
		r.Strategy = route.Strategy(m.Strategy)
		if r.Strategy == "" {
			r.Strategy = route.Strategy(cfg.Routing.Strategy)
		}
		r.Fallbacks, r.ContextFallback = m.Fallbacks, m.ContextFallback
		r.Timeout = time.Duration(m.Timeout)
		r.FirstTokenTimeout, r.IdleTimeout = time.Duration(m.FirstTokenTimeout), time.Duration(m.IdleTimeout)
		routes = append(routes, r)
	}
	teams, err := teamsOf(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	global, err := policyRules("policies", "this gateway", &cfg.Policies)
	if err != nil {
		return nil, nil, nil, err
	}
	rc := cfg.Routing
	rules := make([]gateway.Rule, 0, len(rc.Rules))
	for _, r := range rc.Rules {
		rules = append(rules, gateway.Rule{Purpose: r.Purpose, Tag: r.Tag, Model: r.Model, Use: r.Use})
	}
	rt := &gateway.Runtime{
		Routes:            route.NewTable(routes...),
		Policy:            global,
		Teams:             teams,
		Limits:            limitsOf(cfg.Limits),
		Budget:            specOf(cfg.Budget),
		Timeout:           time.Duration(rc.Timeout),
		FirstTokenTimeout: time.Duration(rc.FirstTokenTimeout),
		IdleTimeout:       time.Duration(rc.IdleTimeout),
		Retries:           rc.Retries,
		Backoff:           retry.Backoff{Base: time.Duration(rc.Backoff.Base), Max: time.Duration(rc.Backoff.Max)},
		Rules:             rules,
		StoreBodies:       storeBodies(cfg.Audit.Bodies),
	}
	return rt, warns, pool, nil
}

// storeBodies is the runtime's audit.bodies rule: the keys named, and the
// keys of the teams named.
func storeBodies(b *config.AuditBodies) func(*keys.Key) bool {
	if b == nil || len(b.Teams)+len(b.Keys) == 0 {
		return nil
	}
	teams, names := map[string]bool{}, map[string]bool{}
	for _, t := range b.Teams {
		teams[t] = true
	}
	for _, k := range b.Keys {
		names[k] = true
	}
	return func(k *keys.Key) bool { return k != nil && (names[k.Name] || k.Team != "" && teams[k.Team]) }
}

// BreakerSettings returns the circuit-breaker settings of cfg.
func BreakerSettings(cfg *config.Config) breaker.Settings {
	b := cfg.Routing.Breaker
	return breaker.Settings{
		ConsecutiveFailures: b.ConsecutiveFailures,
		FailureRatio:        b.FailureRatio,
		MinRequests:         b.MinRequests,
		Window:              time.Duration(b.Window),
		Cooldown:            time.Duration(b.Cooldown),
	}
}

// pricingType is the name the price catalog knows a provider's models by:
// its type, or for an OpenAI-compatible service with a preset, the preset's
// catalog prefix (together_ai/…, groq/…).
func pricingType(p *config.Provider) string {
	if p.Type == "openai_compatible" && p.Preset != "" {
		if info, ok := oaiprov.Preset(p.Preset); ok && info.PricingType != "" {
			return info.PricingType
		}
	}
	return p.Type
}

// catalogPrice looks a target up in the catalog. A plain openai_compatible
// server (vLLM, Ollama, a proxy) is never priced from the catalog: a local
// model named "gpt-4o" is not OpenAI's gpt-4o, and guessing its price would
// be wrong either way. Such targets need an explicit price.
func catalogPrice(c *pricing.Catalog, providerType, model string) (pricing.Price, bool) {
	if providerType == "openai_compatible" || providerType == "demo" {
		return pricing.Price{}, false
	}
	return c.LookupTarget(providerType, model)
}

// configPrice converts a config price (pico-USD per token) to the catalog's
// type. Cache and reasoning prices the operator did not set fall back as
// pricing.Price.Cost describes.
func configPrice(mp *config.ModelPrice) pricing.Price {
	p := pricing.Price{Input: int64(mp.Input), Output: int64(mp.Output), Source: "config"}
	if mp.CacheRead != nil {
		p.CacheRead, p.Set = int64(*mp.CacheRead), p.Set|pricing.HasCacheRead
	}
	if mp.CacheWrite != nil {
		p.CacheWrite, p.Set = int64(*mp.CacheWrite), p.Set|pricing.HasCacheWrite
	}
	if mp.Reasoning != nil {
		p.Reasoning, p.Set = int64(*mp.Reasoning), p.Set|pricing.HasReasoning
	}
	return p
}

func newProvider(p *config.Provider, connectTimeout time.Duration, traced bool) (llm.Provider, error) {
	if p.ConnectTimeout > 0 {
		connectTimeout = time.Duration(p.ConnectTimeout)
	}
	headers := make(map[string]string, len(p.Headers))
	for k, v := range p.Headers {
		headers[k] = v.Value()
	}
	hc := httpClient(p.AllowPrivateNetwork, connectTimeout, traced)
	var client llm.Provider
	var err error
	switch p.Type {
	case "demo":
		client = &demo.Provider{Name: p.Name}
	case "openai", "openai_compatible", "azure_openai":
		cfg := oaiprov.Config{
			Name:         p.Name,
			BaseURL:      p.BaseURL,
			APIKey:       p.APIKey.Value(),
			Organization: p.Organization,
			Headers:      headers,
			HTTPClient:   hc,
			Compatible:   p.Type == "openai_compatible",
			Preset:       p.Preset,
		}
		if p.Type == "azure_openai" {
			cfg.Azure = &oaiprov.AzureConfig{APIVersion: p.APIVersion}
		}
		client, err = oaiprov.New(cfg)
	case "anthropic":
		client, err = anthprov.New(anthprov.Config{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey.Value(), Headers: headers, HTTPClient: hc})
	case "gemini":
		client, err = geminiprov.New(geminiprov.Config{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey.Value(), Headers: headers, HTTPClient: hc})
	case "bedrock":
		// Credentials come from the standard AWS chain (environment,
		// shared files, AWS_PROFILE), resolved per request.
		client, err = bedrockprov.New(context.Background(), bedrockprov.Config{Name: p.Name, Region: p.Region, BaseURL: p.BaseURL, HTTPClient: hc})
	default:
		return nil, fmt.Errorf("provider type %q is not supported in this version of airgw", p.Type)
	}
	if err != nil {
		return nil, err
	}
	if p.Timeout > 0 {
		client = withAttemptTimeout(client, time.Duration(p.Timeout))
	}
	return client, nil
}

// withAttemptTimeout bounds every call to p by d, keeping p's optional
// capabilities (embeddings, token counting): the gateway finds them by
// type assertion, so a wrapper that hid them would refuse embeddings.
func withAttemptTimeout(p llm.Provider, d time.Duration) llm.Provider {
	a := &attemptTimeout{next: p, d: d}
	e, canEmbed := p.(llm.Embedder)
	c, canCount := p.(llm.TokenCounter)
	switch {
	case canEmbed && canCount:
		return struct {
			*attemptTimeout
			embedWithin
			countWithin
		}{a, embedWithin{e, d}, countWithin{c, d}}
	case canEmbed:
		return struct {
			*attemptTimeout
			embedWithin
		}{a, embedWithin{e, d}}
	case canCount:
		return struct {
			*attemptTimeout
			countWithin
		}{a, countWithin{c, d}}
	}
	return a
}

type embedWithin struct {
	next llm.Embedder
	d    time.Duration
}

func (e embedWithin) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, e.d)
	defer cancel()
	return e.next.Embed(ctx, req)
}

type countWithin struct {
	next llm.TokenCounter
	d    time.Duration
}

func (c countWithin) CountTokens(ctx context.Context, req *llm.Request) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.d)
	defer cancel()
	return c.next.CountTokens(ctx, req)
}

// httpClient returns the client for one provider: connection reuse, no
// redirects (a redirect could lead a credential elsewhere), and the dial
// guard against private and metadata addresses.
func httpClient(allowPrivate bool, connectTimeout time.Duration, traced bool) *http.Client {
	if connectTimeout <= 0 {
		connectTimeout = 10 * time.Second
	}
	d := netguard.Dialer(allowPrivate, connectTimeout)
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       d.DialContext,
		ForceAttemptHTTP2: true,
		// Past 256 idle connections per host (the former limit), a burst's
		// connections were closed after one use and dialled again on the
		// next: 15% of the CPU at twice saturation went to connect(2).
		// Idle ones close after IdleConnTimeout.
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Each connection keeps its read buffer for its lifetime, and a
		// stream holds its connection: 2 KiB instead of 4 KiB is 10 MiB
		// less with 5,000 streams open. Providers' events are a few
		// hundred bytes, and a longer body is read straight through.
		ReadBufferSize: 2 << 10,
		// The write buffer, too, lives as long as the connection, though
		// it is used only while the request goes out: 2 KiB instead of
		// 4 KiB is another 2 KiB per open stream. A request line, its
		// headers and a short body still go out in one write; a longer
		// body is written straight through once the buffer is full.
		WriteBufferSize: 2 << 10,
	}
	var rt http.RoundTripper = tr
	if traced {
		rt = traceTransport{tr}
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// traceTransport sends the attempt's W3C traceparent (llm.TraceParent,
// set by the gateway) with each upstream request, so that a provider or a
// proxy in between can join the trace. It wraps the transport only when
// tracing is on: with tracing off, requests go out untouched and pay
// nothing for it.
type traceTransport struct{ next http.RoundTripper }

func (t traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tp := llm.TraceParent(r.Context())
	if tp == "" {
		return t.next.RoundTrip(r)
	}
	// A RoundTripper must not modify its request: send a copy. A
	// traceparent from anywhere else (a configured header) is replaced:
	// the attempt's span is the upstream request's parent.
	c := *r
	c.Header = r.Header.Clone()
	c.Header.Set("Traceparent", tp)
	c.Header.Del("Tracestate")
	return t.next.RoundTrip(&c)
}

// attemptTimeout bounds one upstream attempt, stream included.
type attemptTimeout struct {
	next llm.Provider
	d    time.Duration
}

func (a *attemptTimeout) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, a.d)
	reply, err := a.next.Chat(ctx, req)
	if err != nil || reply.Stream == nil {
		cancel()
		return reply, err
	}
	reply.Stream = &cancelStream{Stream: reply.Stream, cancel: cancel}
	return reply, nil
}

type cancelStream struct {
	llm.Stream
	cancel context.CancelFunc
}

func (s *cancelStream) Close() error {
	err := s.Stream.Close()
	s.cancel()
	return err
}
