package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/netguard"
	"github.com/airgw/airgw/internal/route"
)

// Context causes that tell the gateway's own deadlines apart from the
// client going away.
var (
	errTimeout    = errors.New("gateway: request timeout")
	errFirstToken = errors.New("gateway: first-token timeout")
	errIdle       = errors.New("gateway: stream idle timeout")
)

// forward runs the attempts of one request (DESIGN.md §3): it walks the plan
// of targets (the route's, in strategy order, then its fallbacks'), skips
// targets whose breaker is open, fails over at once to the next target on a
// retryable failure, and when the plan is exhausted starts it again after a
// jittered backoff, while retries remain in the request's cap and the retry
// budget. It never retries once a byte reached the client, and never resends
// a request that may have been processed upstream unless the client sent an
// Idempotency-Key.
func (g *Gateway) forward(ctx context.Context, s *state) error {
	rt := s.rt
	total := rt.Timeout
	if s.route.Timeout > 0 {
		total = s.route.Timeout
	}
	if total > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, total, errTimeout)
		defer cancel()
	}
	plan := g.plan(rt, s.route)
	contextFallback := s.route.ContextFallback
	retries := 0
	var last *llm.Error
	for i := 0; ; i++ {
		if i == len(plan) { // every target tried: another pass, if allowed
			if last == nil || retries >= rt.Retries || !retryable(last, s.IdempotencyKey != "", false) {
				break
			}
			release, ok := g.budget.Acquire()
			if !ok {
				break // the retry budget is spent: a retry storm would not help
			}
			retries++
			err := g.sleep(ctx, rt.Backoff.Wait(retries, last.RetryAfter))
			release()
			if err != nil {
				break
			}
			plan, i = g.plan(rt, s.route), 0
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
		e := g.settleAttempt(ctx, s, t, b, err)
		if e == nil {
			return nil
		}
		last = e
		if e.Code == llm.CodeClientCancelled || e.Code == llm.CodeProviderTimeout && context.Cause(ctx) == errTimeout || s.Out.Written() {
			return e
		}
		if e.Code == llm.CodeContextLengthExceeded && contextFallback != "" {
			if r, ok := rt.Routes.Lookup(contextFallback); ok {
				contextFallback = "" // once
				plan = append(plan[:i+1], priced(r.Order(g.latency))...)
				continue
			}
		}
		if !retryable(e, s.IdempotencyKey != "", i+1 < len(plan) && plan[i+1].Key() != t.Key()) {
			return e
		}
	}
	if last == nil {
		return g.allOpen(s)
	}
	return last
}

// plan lists the targets to try: the route's in strategy order, then each
// fallback alias's.
func (g *Gateway) plan(rt *Runtime, r *route.Route) []*route.Target {
	p := priced(r.Order(g.latency))
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
	wait := time.Duration(0)
	for _, t := range g.plan(s.rt, s.route) {
		if d := g.breakers.Get(t.Key()).RetryAfter(); wait == 0 || d < wait {
			wait = d
		}
	}
	return &llm.Error{Code: llm.CodeProviderUnavailable, RetryAfter: max(wait, time.Second), NoClientRetry: true,
		Message: "every provider behind model `" + s.route.Name + "` is failing and airgw has stopped sending it traffic for now (circuit breakers open); retry after " + strconv.Itoa(int(max(wait, time.Second).Seconds()+0.5)) + "s"}
}

// retryable reports whether a failed attempt may be followed by another:
// failover says the next attempt goes to a different target (a resend of
// the same request to the same upstream is stricter).
func retryable(e *llm.Error, idempotent, failover bool) bool {
	switch e.Code {
	case llm.CodeProviderAuthFailed:
		return failover // the same credential will be refused again
	case llm.CodeProviderRateLimited, llm.CodeProviderUnavailable, llm.CodeProviderError:
		// An upstream that answered with an error status did not process
		// the request; a 200 with a body airgw cannot read, or a transport
		// error after the body was written, may have.
		return e.UpstreamStatus >= 400 || !e.Sent || idempotent
	case llm.CodeProviderTimeout:
		// A stream that produced nothing before its first-token timeout is
		// cancelled upstream and may go to another target; any other
		// timeout after the body was sent may have been processed.
		return !e.Sent || idempotent || failover && errors.Is(e, errFirstToken)
	case llm.CodeStreamInterrupted:
		return idempotent // broke before the client saw a byte (else forward stops earlier)
	}
	return false
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
		h.Set("X-Airgw-Cost-USD", formatUSD(t.Price.Cost(s.usage)))
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
	h := s.Out.Header()
	h.Set("X-Airgw-Provider", t.Provider)
	h.Set("X-Airgw-Model", t.Model)
	h.Set("X-Airgw-Attempts", strconv.Itoa(len(s.attempts)+1))
	if id := upstreamRequestID(upstream); id != "" {
		h.Set("X-Airgw-Upstream-Request-Id", id)
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
	for {
		ev, err := st.Next()
		if err == io.EOF {
			if !s.Out.Written() {
				g.commit(s, t, reply.Header)
			}
			s.ended = true // finish ends the client's stream, once the record is written
			return nil
		}
		if err != nil {
			return g.upstreamError(ctx, actx, s, err)
		}
		if !s.Out.Written() {
			if firstToken != nil {
				firstToken.Stop()
			}
			s.ttft = g.now().Sub(s.start)
			g.latency.Observe(t.Key(), g.now().Sub(s.attemptStart))
			g.commit(s, t, reply.Header)
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
				if ev.Text == "" && len(ev.ToolCalls) == 0 && ev.FinishReason == "" && ev.Role == "" &&
					ev.Thinking == "" && ev.ThinkingSignature == "" {
					continue // the client did not ask for usage
				}
				ev.Usage, ev.Native = nil, nil // re-encode without it
			}
		}
		s.streamed = append(s.streamed, ev.Text...)
		s.streamed = append(s.streamed, ev.Thinking...)
		for _, tc := range ev.ToolCalls {
			s.streamed = append(s.streamed, tc.Arguments...)
		}
		if err := s.Out.WriteEvent(&ev); err != nil {
			return clientGone(err)
		}
	}
}

// settleAttempt records one attempt's outcome in the audit trail, the
// target's breaker and its latency, and returns the classified failure.
func (g *Gateway) settleAttempt(ctx context.Context, s *state, t *route.Target, b interface {
	Record(bool)
	Release()
}, err error) *llm.Error {
	att := audit.Attempt{Provider: t.Provider, Model: t.Model, Status: http.StatusOK,
		StartMillis: s.attemptStart.Sub(s.start).Milliseconds(), LatencyMillis: g.now().Sub(s.attemptStart).Milliseconds()}
	var e *llm.Error
	if err != nil {
		e = llm.AsError(err)
		att.Status, att.ErrorClass = e.Status(), string(e.Code)
	}
	s.attempts = append(s.attempts, att)
	s.Out.Header().Set("X-Airgw-Attempts", strconv.Itoa(len(s.attempts)))
	switch {
	case e == nil:
		b.Record(true)
	case e.Code == llm.CodeClientCancelled:
		b.Release() // the client's doing, not the target's
	case countsAgainstTarget(e.Code):
		b.Record(false)
	default:
		b.Record(true) // the target answered; the request was at fault
	}
	return e
}

// countsAgainstTarget reports whether a failure says the target is unwell.
func countsAgainstTarget(c llm.Code) bool {
	switch c {
	case llm.CodeProviderRateLimited, llm.CodeProviderUnavailable, llm.CodeProviderTimeout,
		llm.CodeProviderAuthFailed, llm.CodeProviderError, llm.CodeStreamInterrupted:
		return true
	}
	return false
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

// upstreamError classifies a provider failure, telling a client that went
// away and the gateway's own deadlines apart from the provider's faults.
func (g *Gateway) upstreamError(ctx, actx context.Context, s *state, err error) *llm.Error {
	t := s.target
	switch {
	case ctx.Err() != nil && context.Cause(ctx) == errTimeout:
		return &llm.Error{Code: llm.CodeProviderTimeout, Provider: t.Provider, Sent: true, Err: err,
			Message: "provider `" + t.Provider + "` did not finish within the gateway's request timeout; retry, or ask an operator to raise `routing.timeout`"}
	case ctx.Err() != nil:
		return &llm.Error{Code: llm.CodeClientCancelled, Message: "the client cancelled the request", Err: err}
	case context.Cause(actx) == errFirstToken:
		return &llm.Error{Code: llm.CodeProviderTimeout, Provider: t.Provider, Sent: true, Err: errors.Join(errFirstToken, err),
			Message: "provider `" + t.Provider + "` sent no token within the first-token timeout"}
	case context.Cause(actx) == errIdle:
		return &llm.Error{Code: llm.CodeStreamInterrupted, Provider: t.Provider, Sent: true, Err: errors.Join(errIdle, err),
			Message: "provider `" + t.Provider + "` stopped sending the stream (idle timeout); the answer is incomplete"}
	}
	e := llm.AsError(err)
	if e.Provider == "" {
		e.Provider = t.Provider
	}
	switch {
	case errors.Is(err, netguard.ErrBlocked):
		e.NoClientRetry = true
		e.Message = "provider `" + t.Provider + "` has a base_url on a loopback, private, link-local or metadata address, which airgw refuses by default; if that is intended, an operator must set `allow_private_network: true` on providers." + t.Provider
	case e.Code == llm.CodeProviderAuthFailed:
		e.NoClientRetry = true // the gateway's credential is wrong: a client retry cannot help
	}
	return e
}

func clientGone(err error) *llm.Error {
	return &llm.Error{Code: llm.CodeClientCancelled, Message: "the client went away while the response was being written", Err: err}
}

// estimateFrom fills usage from a response whose provider reported none.
func (s *state) estimateFrom(resp *llm.Response) {
	for _, ch := range resp.Choices {
		s.streamed = append(s.streamed, ch.Message.Text()...)
		for _, tc := range ch.Message.ToolCalls {
			s.streamed = append(s.streamed, tc.Arguments...)
		}
	}
	s.estimate()
}

// estimate prices an unreported usage from the prompt and the delivered
// text; records priced this way are marked estimated.
func (s *state) estimate() {
	s.usage = llm.Usage{
		InputTokens:  llm.EstimateInputTokens(s.req),
		OutputTokens: int64(llm.EstimateTextTokens(string(s.streamed))),
	}
}

// formatUSD formats nano-dollars as a plain decimal number of dollars.
func formatUSD(nano int64) string {
	neg := nano < 0
	if neg {
		nano = -nano
	}
	frac := strconv.FormatInt(nano%1e9, 10)
	for len(frac) < 9 {
		frac = "0" + frac
	}
	s := strconv.FormatInt(nano/1e9, 10) + "." + frac
	if neg {
		s = "-" + s
	}
	return s
}
