package gateway

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/route"
)

// forward runs the attempts of one request (DESIGN.md §3): it walks the plan
// of targets (the route's, in strategy order, then its fallbacks'), skips
// targets whose breaker is open, fails over at once to the next target on a
// retryable failure, and when the plan is exhausted starts it again after a
// jittered backoff, while retries remain in the request's cap, the retry
// budget and the request's deadline. It never retries once a byte reached
// the client, and never resends a request that may have been processed
// upstream unless the client sent an Idempotency-Key.
func (g *Gateway) forward(ctx context.Context, s *state) error {
	rt := s.rt
	var deadline time.Time // the gateway's own; the client may have another
	if total := firstPositive(s.route.Timeout, rt.Timeout); total > 0 {
		var cancel context.CancelFunc
		deadline = time.Now().Add(total)
		ctx, cancel = context.WithDeadlineCause(ctx, deadline, errTimeout)
		defer cancel()
	}
	if !deadline.IsZero() {
		s.writeBound = g.boundWritesAfter(ctx, s)
	}
	idem := s.IdempotencyKey != ""
	// The plan starts with the route's own targets; its fallbacks' are
	// ordered only when a request gets that far (most never do).
	plan, expanded := priced(s.route.Order(g.latency)), false
	contextFallback := s.route.ContextFallback
	retries := 0
	var last *llm.Error
	again := false // a failure of this pass may be resent to its target
	// A retry pass holds one token of the retry budget until it ends, so
	// that the budget counts retries in flight, not only their backoff.
	var releaseRetry func()
	defer func() {
		if releaseRetry != nil {
			releaseRetry()
		}
	}()
	for i := 0; ; i++ {
		if i == len(plan) && !expanded {
			plan, expanded = g.fallbacks(rt, s.route, plan), true
		}
		if i == len(plan) { // every target tried: another pass, if allowed
			if releaseRetry != nil {
				releaseRetry()
				releaseRetry = nil
			}
			if !again || retries >= rt.Retries {
				break
			}
			wait := rt.Backoff.Wait(retries+1, last.RetryAfter)
			if !deadline.IsZero() && wait >= time.Until(deadline) {
				break // the answer would come after the request's deadline
			}
			release, ok := g.budget.Acquire()
			if !ok {
				break // the retry budget is spent: a retry storm would not help
			}
			releaseRetry = release
			retries++
			if err := g.sleep(ctx, wait); err != nil {
				if context.Cause(ctx) == errTimeout {
					break
				}
				return cancelled(ctx, false, err) // the client left, or the gateway stops, during the backoff
			}
			plan, i, again, expanded = priced(s.route.Order(g.latency)), 0, false, false
			if len(plan) == 0 {
				break
			}
		}
		t := plan[i]
		b := g.breakers.Get(t.Key())
		if !b.Allow() {
			continue
		}
		s.target = t
		err := g.try(ctx, s, t)
		e := g.settleAttempt(s, t, b, err)
		if e == nil {
			return nil
		}
		last = e
		if e.Code == llm.CodeClientCancelled || e.Code == llm.CodeProviderTimeout && context.Cause(ctx) == errTimeout || s.Out.Written() {
			return e
		}
		if e.Code == llm.CodeContextLengthExceeded && contextFallback != "" {
			if r, ok := rt.Routes.Lookup(contextFallback); ok {
				contextFallback = "" // once, and instead of the fallbacks
				plan, expanded = append(plan[:i+1], priced(r.Order(g.latency))...), true
				continue
			}
		}
		again = again || retryable(e, idem, false)
		if i+1 < len(plan) && !retryable(e, idem, plan[i+1].Key() != t.Key()) ||
			i+1 == len(plan) && !retryable(e, idem, true) { // next: a fallback, or a retry pass
			return e // no other attempt may follow this failure
		}
	}
	if last == nil {
		return g.allOpen(s)
	}
	return g.exhausted(s, last)
}

// writeDeadliner is the optional capability of an Output whose writes can
// be bounded in time (the dialects' writers, through
// http.ResponseController).
type writeDeadliner interface {
	SetWriteDeadline(t time.Time) error
}

// writeGrace is how long a write in progress when the request's deadline
// passes may still take: a client that reads completes it in microseconds;
// one that stopped reading fails it, which releases the request.
const writeGrace = time.Second

// boundWritesAfter makes sure that a client that stopped reading cannot
// hold a request past its deadline: once ctx's deadline passes, writes to
// the client (the rest of a stream, or the error answer) fail after
// writeGrace instead of blocking until the client goes away (the server
// has no write timeout, so that streams may last). The returned func, run
// once the answer is complete (Serve, after finish), removes the bound so
// that the next request on the connection is written normally.
func (g *Gateway) boundWritesAfter(ctx context.Context, s *state) (done func()) {
	wd, ok := s.Out.(writeDeadliner)
	if !ok {
		return nil
	}
	var mu sync.Mutex
	ended, set := false, false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !ended && context.Cause(ctx) == errTimeout {
			set = wd.SetWriteDeadline(time.Now().Add(writeGrace)) == nil
		}
	})
	return func() {
		stop()
		mu.Lock()
		defer mu.Unlock()
		ended = true
		if set {
			_ = wd.SetWriteDeadline(time.Time{})
		}
	}
}

// endWriteBound removes the bound set by boundWritesAfter, if any.
func (s *state) endWriteBound() {
	if s.writeBound != nil {
		s.writeBound()
	}
}

// plan lists the targets to try: the route's in strategy order, then each
// fallback alias's.
func (g *Gateway) plan(rt *Runtime, r *route.Route) []*route.Target {
	return g.fallbacks(rt, r, priced(r.Order(g.latency)))
}

// fallbacks appends to p the targets of r's fallback aliases, each in its
// own strategy order.
func (g *Gateway) fallbacks(rt *Runtime, r *route.Route, p []*route.Target) []*route.Target {
	for _, name := range r.Fallbacks {
		if fr, ok := rt.Routes.Lookup(name); ok {
			p = append(p, priced(fr.Order(g.latency))...)
		}
	}
	return p
}

// priced drops the targets airgw cannot charge for: they are never tried.
func priced(ts []*route.Target) []*route.Target {
	out := ts[:0]
	for _, t := range ts {
		if t.Price != nil {
			out = append(out, t)
		}
	}
	return out
}

// allOpen is the answer when no target could be tried: every breaker is
// open. Waiting helps, hammering does not.
func (g *Gateway) allOpen(s *state) *llm.Error {
	wait := max(g.openFor(s), time.Second)
	return &llm.Error{Code: llm.CodeProviderUnavailable, RetryAfter: wait, NoClientRetry: true,
		Message: "every provider behind model `" + s.route.Name + "` is failing and airgw has stopped sending it traffic for now (circuit breakers open); retry after " + strconv.Itoa(int(wait.Seconds()+0.5)) + "s"}
}

// openFor returns how long until the first breaker of the call's plan
// admits a probe, or 0 when some target admits traffic now.
func (g *Gateway) openFor(s *state) time.Duration {
	wait := time.Duration(-1)
	for _, t := range g.plan(s.rt, s.route) {
		d := g.breakers.Get(t.Key()).RetryAfter()
		if d == 0 {
			return 0
		}
		if wait < 0 || d < wait {
			wait = d
		}
	}
	return max(wait, 0)
}

// exhausted is the answer after airgw retried a provider failure as far
// as its rules allow: when those failures opened every breaker of the plan,
// a client retry before the cooldown cannot help, so the answer says when
// to come back and asks SDKs not to retry at once (x-should-retry: false).
func (g *Gateway) exhausted(s *state, last *llm.Error) *llm.Error {
	switch last.Code {
	case llm.CodeProviderUnavailable, llm.CodeProviderRateLimited, llm.CodeProviderTimeout:
	default:
		return last
	}
	if wait := g.openFor(s); wait > 0 {
		last.NoClientRetry = true
		last.RetryAfter = max(last.RetryAfter, wait)
	}
	return last
}

// attempt calls one target and, for a non-streaming reply or a stream that
// produced its first event, writes the reply to the client.
func (g *Gateway) attempt(ctx context.Context, s *state, t *route.Target) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	up := *s.req
	up.Model = t.Model

	firstToken := firstPositive(t.FirstTokenTimeout, s.route.FirstTokenTimeout, s.rt.FirstTokenTimeout)
	var timer *time.Timer
	if firstToken > 0 && s.req.Stream {
		timer = time.AfterFunc(firstToken, func() { cancel(errFirstToken) })
		defer timer.Stop()
	}
	s.attemptStart = g.now()
	if s.traceID != "" {
		actx = g.traceAttempt(actx, s)
	}
	reply, err := t.Client.Chat(actx, &up)
	if err != nil {
		return g.upstreamError(ctx, actx, s, err)
	}
	h := s.Out.Header()
	if reply.Response != nil {
		resp := reply.Response
		g.latency.Observe(t.Key(), g.now().Sub(s.attemptStart))
		g.commit(s, t, reply.Header)
		s.ttft = g.now().Sub(s.start)
		s.usage, s.reported = resp.Usage, resp.UsageReported
		if !s.reported {
			s.estimateFrom(resp)
		}
		s.setCost(h, t.Price.Cost(s.usage))
		if err := s.Out.WriteResponse(resp); err != nil {
			return clientGone(err)
		}
		if s.keepBodies {
			s.response = resp
		}
		return nil
	}
	idle := firstPositive(t.IdleTimeout, s.route.IdleTimeout, s.rt.IdleTimeout)
	return g.relay(ctx, actx, cancel, s, t, reply, timer, idle)
}

// traceAttempt gives the attempt about to start its span id and returns
// ctx carrying its W3C traceparent, which the provider transport sends.
func (g *Gateway) traceAttempt(ctx context.Context, s *state) context.Context {
	s.attemptSpan = g.tracer.SpanID()
	flags := "-00"
	if s.sampled {
		flags = "-01"
	}
	return llm.WithTraceParent(ctx, "00-"+s.traceID+"-"+s.attemptSpan+flags)
}

func firstPositive(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// commit records that this target's reply goes to the client: its headers
// are set before the first byte.
func (g *Gateway) commit(s *state, t *route.Target, upstream http.Header) {
	// Every response carries them: their value slices share one array
	// (the names are canonical, so they are assigned directly).
	h := s.Out.Header()
	id := upstreamRequestID(upstream)
	vs := make([]string, 3, 4)
	vs[0], vs[1], vs[2] = t.Provider, t.Model, strconv.Itoa(len(s.attempts)+1)
	if id != "" {
		vs = append(vs, id)
	}
	h["X-Airgw-Provider"] = vs[0:1:1]
	h["X-Airgw-Model"] = vs[1:2:2]
	h["X-Airgw-Attempts"] = vs[2:3:3]
	if len(vs) == 4 {
		h["X-Airgw-Upstream-Request-Id"] = vs[3:4:4]
	}
}

// relay copies stream events to the client as they arrive, keeping the last
// usage report (providers whose usage is cumulative report it several
// times; the last one is the bill). Until the first event arrives, nothing
// is written, so a failure can still fail over.
func (g *Gateway) relay(ctx, actx context.Context, cancel context.CancelCauseFunc, s *state, t *route.Target, reply *llm.Reply, firstToken *time.Timer, idle time.Duration) error {
	st := reply.Stream
	defer st.Close()
	var idleTimer *time.Timer
	defer func() {
		if idleTimer != nil {
			idleTimer.Stop()
		}
	}()
	// held keeps the events that carry nothing but the provider's own
	// bytes (Azure's leading prompt_filter_results chunk) until the first
	// real one: they neither count as a first token nor commit the stream
	// to this target, so a failure before the answer starts still fails
	// over (and they are dropped with the failed attempt).
	var held []llm.Event
	writeHeld := func() error {
		for i := range held {
			if err := s.Out.WriteEvent(&held[i]); err != nil {
				return clientGone(err)
			}
		}
		held = nil
		return nil
	}
	for {
		ev, err := st.Next()
		if err == io.EOF {
			if !s.Out.Written() {
				g.commit(s, t, reply.Header)
			}
			if err := writeHeld(); err != nil {
				return err
			}
			s.ended = true // finish ends the client's stream, once the record is written
			return nil
		}
		if err != nil {
			return g.upstreamError(ctx, actx, s, err)
		}
		if !s.Out.Written() {
			if ev.Native != nil && !ev.HasContent() { // only the provider's own bytes
				held = append(held, ev)
				continue
			}
			if firstToken != nil {
				firstToken.Stop()
			}
			s.ttft = g.now().Sub(s.start)
			g.latency.Observe(t.Key(), g.now().Sub(s.attemptStart))
			g.commit(s, t, reply.Header)
			s.releasePrompt()
			if err := writeHeld(); err != nil {
				return err
			}
		}
		if idle > 0 {
			if idleTimer == nil {
				idleTimer = time.AfterFunc(idle, func() { cancel(errIdle) })
			} else {
				idleTimer.Reset(idle)
			}
		}
		if ev.Usage != nil {
			s.usage, s.reported = *ev.Usage, true
			if !s.req.IncludeUsage {
				ev.Usage, ev.Native = nil, nil // re-encode without it
				if !ev.HasContent() {
					continue // the client did not ask for usage
				}
			}
		}
		s.deliver(ev.Text)
		s.deliver(ev.Thinking)
		for _, tc := range ev.ToolCalls {
			s.deliver(tc.Arguments)
		}
		if err := s.Out.WriteEvent(&ev); err != nil {
			return clientGone(err)
		}
	}
}

// upstreamRequestID is the provider's id for the call, for support tickets.
func upstreamRequestID(h http.Header) string {
	for _, k := range [...]string{"X-Request-Id", "Request-Id", "X-Amzn-Requestid", "Apim-Request-Id"} {
		if v := h.Get(k); v != "" && len(v) <= 128 {
			return v
		}
	}
	return ""
}

// estimateFrom fills usage from a response whose provider reported none.
func (s *state) estimateFrom(resp *llm.Response) {
	for _, ch := range resp.Choices {
		s.deliver(ch.Message.Text())
		for _, tc := range ch.Message.ToolCalls {
			s.deliver(tc.Arguments)
		}
	}
	s.estimate()
}

// deliver counts text delivered to the client, and keeps it when the
// record carries the bodies.
func (s *state) deliver(text string) {
	s.delivered += len(text)
	if s.keepBodies {
		s.streamed = append(s.streamed, text...)
	}
}

// estimate prices an unreported usage from the prompt and the delivered
// text; records priced this way are marked estimated.
func (s *state) estimate() {
	in := s.promptTokens
	if !s.released {
		in = llm.EstimateInputTokens(s.req)
	}
	s.usage = llm.Usage{
		InputTokens:  in,
		OutputTokens: int64(llm.EstimateLenTokens(s.delivered)),
	}
}

// formatUSD formats nano-dollars as a plain decimal number of dollars.
func formatUSD(nano int64) string {
	// One allocation (the string): it is on every response.
	var buf [32]byte
	b := buf[:0]
	u := uint64(nano)
	if nano < 0 {
		b, u = append(b, '-'), uint64(-nano) // -MinInt64 wraps to its magnitude
	}
	b = strconv.AppendUint(b, u/1e9, 10)
	b = append(b, '.')
	frac := u % 1e9
	for d := uint64(1e8); d > frac && d > 1; d /= 10 {
		b = append(b, '0')
	}
	b = strconv.AppendUint(b, frac, 10)
	return string(b)
}

// releasePrompt drops, once a stream is committed to its target, what only
// the attempts needed: the client's raw body and the prompt (its messages,
// tools and the body a provider forwards as is). A stream holds its request
// for as long as it lasts, and a prompt can be hundreds of KiB; no other
// attempt follows a committed stream (forward), and what the record still
// needs of the prompt, its token estimate when the provider reports no
// usage, is kept as a number. When the record carries the bodies, the raw
// body stays for it.
func (s *state) releasePrompt() {
	if s.released || s.Kind != KindChat {
		return
	}
	s.promptTokens, s.released = llm.EstimateInputTokens(s.req), true
	// Providers were given their own copy of the request (attempt), so
	// this one is the request's alone.
	s.req.Messages, s.req.Tools, s.req.Native, s.req.NativeOnly = nil, nil, nil, nil
	if !s.keepBodies {
		s.Body = nil
	}
}
