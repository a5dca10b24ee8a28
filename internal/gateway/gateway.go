// Package gateway is airgw's request pipeline: it takes a decoded client
// call through authentication, authorization, routing and the provider, and
// settles and audits it on every exit path. It knows no HTTP details of any
// dialect (the dialect's Output does) and no storage (its dependencies are
// small interfaces).
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/breaker"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/idempotency"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/policy"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/retry"
	"github.com/airgw/airgw/internal/route"
	"github.com/airgw/airgw/internal/users"
)

// Authenticator checks a presented virtual key.
type Authenticator interface {
	Authenticate(ctx context.Context, presented string) (*keys.Key, error)
}

// AuditLog takes finished records off the request path. Write must not
// block for long and must not lose a record.
type AuditLog interface {
	Write(rec audit.Record)
}

// AuditBeginner is an AuditLog that marks requests in flight (audit.Spool):
// Begin is called with what is known before the first upstream attempt,
// so that a request cut short by a crash is recorded as interrupted. An
// error refuses the request (the audit trail cannot take it).
type AuditBeginner interface {
	Begin(rec audit.Record) error
}

// Output writes the reply to the client in its dialect. Exactly one of
// WriteResponse, WriteEvent…EndStream or WriteError is used per call.
type Output interface {
	Header() http.Header
	WriteResponse(resp *llm.Response) error
	WriteEvent(ev *llm.Event) error
	// EndStream ends a stream cleanly (nil) or with an error event.
	EndStream(err *llm.Error) error
	// WriteError writes an error; after a stream started it ends the stream
	// with an error event instead.
	WriteError(err *llm.Error)
	// Written reports whether any byte was sent to the client.
	Written() bool
}

// Runtime is everything a config file decides, built as a whole and swapped
// atomically: requests in flight keep the runtime they started with.
type Runtime struct {
	Routes *route.Table
	// Policy is the gateway's own policy level, checked for every request;
	// nil means none.
	Policy *policy.Rules
	// Teams maps a team name to what the config says about it. A key whose
	// team is missing here is refused.
	Teams map[string]*Team
	// Limits and Budget are the gateway-wide rate limits and budget; nil
	// means none.
	Limits *ratelimit.Limits
	Budget *budget.Spec
	// Timeout bounds a whole request, every attempt and backoff included;
	// a route's own timeout overrides it.
	Timeout time.Duration
	// FirstTokenTimeout and IdleTimeout bound a stream's wait for its first
	// event and between events; zero means none. Routes and targets
	// override them.
	FirstTokenTimeout, IdleTimeout time.Duration
	// Retries caps the passes over a request's plan after the first.
	Retries int
	// Backoff shapes the wait before each retry pass.
	Backoff retry.Backoff
	// Rules send requests of a purpose or tag to another alias.
	Rules []Rule
	// StoreBodies reports whether the prompt and response of a key's
	// requests go into its audit record (audit.bodies); nil: never.
	StoreBodies func(k *keys.Key) bool
}

// Rule routes by request metadata: a request for Model (any model when
// empty) whose purpose is Purpose (when set) and whose tags include Tag
// (when set) is served by the alias Use.
type Rule struct {
	Purpose, Tag, Model, Use string
}

func (r *Rule) matches(model, purpose string, tags []string) bool {
	return (r.Model == "" || r.Model == model) &&
		(r.Purpose == "" || r.Purpose == purpose) &&
		(r.Tag == "" || slices.Contains(tags, r.Tag))
}

// Gateway runs the pipeline. It is safe for concurrent use.
type Gateway struct {
	auth     Authenticator
	audit    AuditLog
	log      *slog.Logger
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	breakers *breaker.Set
	budget   *retry.Budget
	latency  *route.Latency
	idem     *idempotency.Guard
	limiter  *ratelimit.Limiter
	budgets  *budget.Tracker
	users    *users.Registry
	tracer   Tracer // nil when tracing is off
	rt       atomic.Pointer[Runtime]
}

// Options configures a Gateway.
type Options struct {
	Auth   Authenticator
	Audit  AuditLog
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Sleep waits before a retry; nil means a timer that ctx can cut short.
	Sleep func(ctx context.Context, d time.Duration) error
	// Breakers, Budget and Latency hold state that outlives a runtime (a
	// config reload keeps it); nil means fresh ones with default settings.
	Breakers *breaker.Set
	Budget   *retry.Budget
	Latency  *route.Latency
	// Idempotency applies the Idempotency-Key rules (DESIGN.md §3) to calls
	// that carry a key and a Recorder; nil turns them off.
	Idempotency *idempotency.Guard
	// Limiter, Budgets and Users hold the rate-limit counters, the spend
	// and the end users, which outlive a runtime; nil means fresh
	// in-memory ones (spend starting at zero, users not saved).
	Limiter *ratelimit.Limiter
	Budgets *budget.Tracker
	Users   *users.Registry
	// Tracer, when set (tracing is on), gives each request its trace
	// context and each upstream attempt a span id, sent to the provider in
	// a traceparent header. Nil: no trace context, at no cost.
	Tracer Tracer
}

// Tracer starts trace contexts when tracing is on. Ids are lowercase hex,
// as in a W3C traceparent header.
type Tracer interface {
	// Start returns the trace id and the request span's id, continuing
	// parent (the client's traceparent, "" when none), and whether the
	// request is sampled.
	Start(parent string) (traceID, spanID string, sampled bool)
	// SpanID returns a new span id.
	SpanID() string
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New returns a gateway serving rt.
func New(rt *Runtime, o Options) *Gateway {
	g := &Gateway{auth: o.Auth, audit: o.Audit, log: o.Logger, now: o.Now, sleep: o.Sleep,
		breakers: o.Breakers, budget: o.Budget, latency: o.Latency, idem: o.Idempotency,
		limiter: o.Limiter, budgets: o.Budgets, users: o.Users, tracer: o.Tracer}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.sleep == nil {
		g.sleep = sleepCtx
	}
	if g.breakers == nil {
		g.breakers = breaker.NewSet(breaker.Settings{}, g.now)
	}
	if g.budget == nil {
		g.budget = retry.NewBudget(0, 0)
	}
	if g.latency == nil {
		g.latency = route.NewLatency()
	}
	if g.limiter == nil {
		g.limiter = ratelimit.New(ratelimit.NewMemory())
	}
	if g.budgets == nil {
		g.budgets = budget.NewTracker(budget.Options{Logger: g.log})
	}
	if g.users == nil {
		g.users = users.New(users.Discard, users.Options{Now: g.now})
	}
	g.rt.Store(rt)
	return g
}

// Swap installs a new runtime for the requests that start from now on.
func (g *Gateway) Swap(rt *Runtime) { g.rt.Store(rt) }

// Runtime returns the runtime in force.
func (g *Gateway) Runtime() *Runtime { return g.rt.Load() }

// Call is one client request as the pipeline sees it.
type Call struct {
	RequestID string
	Dialect   llm.Dialect
	Endpoint  string
	APIKey    string // as presented; never logged
	ClientIP  string
	Purpose   string // X-Airgw-Purpose; metadata.purpose is used when empty
	EndUser   string // X-Airgw-User; the body's user field is used when empty
	Tags      []string
	// TraceParent is the client's W3C traceparent header, for the tracer.
	TraceParent string
	// Oversize, when set, is the refusal of a request over a size limit
	// (headers or body, found while reading it): it is answered first,
	// before the key is even looked at (DESIGN.md §2: size limits first).
	Oversize error
	// IdempotencyKey is the client's Idempotency-Key header: with it, a
	// request that may have reached the provider can be sent again.
	IdempotencyKey string
	// Recorder, set with IdempotencyKey, is the ResponseWriter that Out
	// writes through: it records the reply to store it, and replays a
	// stored one (package idempotency).
	Recorder *idempotency.Recorder
	Body     []byte
	// Kind is what the call asks of the provider; the zero value is chat.
	Kind Kind
	// Decode turns Body into a request in the dialect's terms, returning an
	// *llm.Error naming the offending field when it is malformed. For
	// KindEmbeddings, DecodeEmbeddings is used instead.
	Decode           func(body []byte) (*llm.Request, error)
	DecodeEmbeddings func(body []byte) (*llm.EmbeddingRequest, error)
	Out              Output
}

// Serve runs c through the pipeline and writes the reply or the error to
// c.Out. It always settles and audits the call, whatever happens.
func (g *Gateway) Serve(ctx context.Context, c *Call) {
	s := &state{Call: c, rt: g.rt.Load(), start: g.now()}
	if g.tracer != nil {
		s.traceID, s.spanID, s.sampled = g.tracer.Start(c.TraceParent)
	}
	defer g.budget.Begin()()
	defer g.settleIdempotency(ctx, s) // after finish: the response is complete
	defer s.endWriteBound()           // after finish: it may write the error
	defer g.finish(s)
	for _, step := range [...]func(context.Context, *state) error{
		g.authenticate, // the virtual key (size limits first: see there)
		g.decode,       // the body, in the client's dialect
		g.policy,       // the rules of the gateway, the team and the key
		g.idempotent,   // the Idempotency-Key: replay, refuse, or claim it
		g.resolve,      // the model alias to a priced target
		g.limit,        // the rate limits of every level
		g.reserve,      // the worst-case cost, against every budget
		g.begin,        // the audit trail's in-flight mark
		g.forward,      // the provider call, streamed back to the client
	} {
		if err := step(ctx, s); err != nil {
			if err != errReplayed {
				s.err = llm.AsError(err)
			}
			return
		}
	}
}

// errReplayed ends the pipeline after a stored result was replayed.
var errReplayed = errors.New("gateway: stored result replayed")

// idempotent applies the call's Idempotency-Key (package idempotency),
// scoped to its virtual key: a stored result is replayed at no cost, a
// duplicate in flight (409) or a key reused with another body (422) is
// refused, and otherwise the key is claimed until settleIdempotency.
func (g *Gateway) idempotent(ctx context.Context, s *state) error {
	if g.idem == nil || s.IdempotencyKey == "" || s.Recorder == nil {
		return nil
	}
	claim, stored, err := g.idem.Begin(ctx, s.key.ID, s.IdempotencyKey, s.Endpoint, s.Body, s.Recorder)
	if err != nil {
		return err
	}
	if stored != nil {
		s.replayed = stored
		s.decisions = append(s.decisions, audit.Decision{Policy: "idempotency", Action: "replay"})
		if err := s.Recorder.Replay(stored); err != nil {
			g.log.Debug("replay not delivered", "request_id", s.RequestID, "err", err)
		}
		return errReplayed
	}
	s.claim = claim
	return nil
}

// settleIdempotency stores a final answer under the call's claimed key, or
// releases the key so that the client's retry can proceed.
func (g *Gateway) settleIdempotency(ctx context.Context, s *state) {
	if s.claim != nil {
		s.claim.Settle(ctx, s.err, len(s.attempts) > 0)
	}
}

// Models returns the model aliases that the presented key may use.
func (g *Gateway) Models(ctx context.Context, apiKey string) ([]string, error) {
	k, err := g.auth.Authenticate(ctx, apiKey)
	if err != nil {
		return nil, err
	}
	rt := g.rt.Load()
	var out []string
	for _, name := range rt.Routes.Names() {
		if allowedModel(rt, k, name) == nil && servable(rt, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// servable reports whether a route has a target that can be priced; a
// route that would only answer model_unpriced is not listed.
func servable(rt *Runtime, name string) bool {
	r, _ := rt.Routes.Lookup(name)
	for _, t := range r.Targets {
		if t.Price != nil && t.Weight > 0 {
			return true
		}
	}
	return false
}

// state is one call's progress through the pipeline.
type state struct {
	*Call
	rt    *Runtime
	start time.Time

	key       *keys.Key
	req       *llm.Request
	embedding *llm.EmbeddingRequest // KindEmbeddings
	route     *route.Route
	target    *route.Target // the last target attempted

	attemptStart time.Time
	// traceID, spanID and sampled are the request's trace context and
	// attemptSpan the current attempt's span id, when tracing is on.
	traceID, spanID, attemptSpan string
	sampled                      bool

	attempts []audit.Attempt
	usage    llm.Usage
	reported bool // the provider reported usage
	// delivered counts the bytes of text delivered to the client, for
	// usage estimates; streamed keeps the text itself only when the record
	// carries the bodies (keepBodies): a stream lasts, and its text would
	// otherwise grow with it for nothing.
	delivered int
	streamed  []byte
	// promptTokens is the prompt's token estimate, set when releasePrompt
	// dropped the prompt itself.
	promptTokens int64
	released     bool
	ttft         time.Duration
	err          *llm.Error
	// writeBound removes the write deadline that a request's deadline
	// sets on a client that stopped reading (forward.go).
	writeBound func()
	// ended is set when the upstream stream ended cleanly: finish ends the
	// client's stream after the audit record is written, so that a client
	// never sees a complete response whose record could be lost.
	ended bool
	// keepBodies is set when the record carries the bodies; response is
	// then the non-streamed answer sent.
	keepBodies bool
	response   *llm.Response

	// Idempotency-Key: the claim settled after finish, or the stored
	// result replayed instead of a provider call.
	claim    *idempotency.Claim
	replayed *idempotency.Stored
	// decisions are policy decisions other than refusals, for the record.
	decisions []audit.Decision

	// Governance: the request's levels (gateway, team, key, end user), its
	// hold on rate limits and on budgets, both settled by finish.
	levels []level
	ticket *ratelimit.Ticket
	hold   *budget.Hold
}

// authenticate looks the virtual key up. A request over a size limit
// (Call.Oversize) is refused as such whatever its key (DESIGN.md §2: size
// limits first); its key is still looked up, so that the audit record
// names it when it is valid.
func (g *Gateway) authenticate(ctx context.Context, s *state) error {
	k, err := g.auth.Authenticate(ctx, s.APIKey)
	if err != nil {
		if s.Oversize != nil {
			return s.Oversize
		}
		var le *llm.Error
		if errors.As(err, &le) && le.Code == llm.CodeAuthenticationFailed {
			le.NoClientRetry = true
		}
		return err
	}
	s.key = k
	return s.Oversize
}

func (g *Gateway) decode(_ context.Context, s *state) error {
	if s.Kind == KindEmbeddings {
		er, err := s.DecodeEmbeddings(s.Body)
		if err != nil {
			return err
		}
		// The other steps see the model and the end user as for chat.
		s.embedding, s.req = er, &llm.Request{Model: er.Model, User: er.User}
	} else {
		req, err := s.Decode(s.Body)
		if err != nil {
			return err
		}
		s.req = req
	}
	req := s.req
	if s.Purpose == "" {
		s.Purpose = req.Metadata["purpose"]
	}
	if s.EndUser == "" {
		s.EndUser = req.User
	}
	if len(s.EndUser) > users.MaxIDLength {
		return llm.ParamError("user", "the end user id is %d bytes; airgw accepts at most %d (a hash or an opaque id works)", len(s.EndUser), users.MaxIDLength)
	}
	return nil
}

func (g *Gateway) resolve(_ context.Context, s *state) error {
	alias := s.req.Model
	for i := range s.rt.Rules {
		if r := &s.rt.Rules[i]; r.matches(alias, s.Purpose, s.Tags) {
			alias = r.Use
			break
		}
	}
	r, ok := s.rt.Routes.Lookup(alias)
	if !ok {
		return &llm.Error{Code: llm.CodeModelNotFound, Param: "model", NoClientRetry: true,
			Message: "model `" + s.req.Model + "` is not configured on this gateway; GET /v1/models lists the models this key may use"}
	}
	s.route = r
	if !servable(s.rt, r.Name) {
		var t *route.Target
		for i := range r.Targets {
			if r.Targets[i].Weight > 0 {
				t = &r.Targets[i]
				break
			}
		}
		if t == nil {
			return &llm.Error{Code: llm.CodeProviderUnavailable, NoClientRetry: true,
				Message: "model `" + r.Name + "` has no target with a positive weight; an operator must fix `models." + r.Name + ".targets`"}
		}
		s.target = t
		return &llm.Error{Code: llm.CodeModelUnpriced, NoClientRetry: true,
			Message: "model `" + r.Name + "` (provider `" + t.Provider + "`, upstream model `" + t.Model + "`) has no known price, and airgw never serves a model it cannot charge for; an operator must set " + t.PriceHint}
	}
	return nil
}
