package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/netguard"
	"github.com/airgw/airgw/internal/route"
)

// This file is where the gateway decides what a failed attempt means
// (DESIGN.md §3). Provider adapters turn their vendor's statuses, error
// codes and transport failures into an *llm.Error of one class (the
// transport part through llm.TransportError, shared by every adapter); the
// gateway adds what only it knows (its own deadlines, the client going
// away) in upstreamError, and decides here whether another attempt may
// follow (retryable) and whether the failure counts against the target's
// circuit breaker (countsAgainstTarget). The class then fixes the HTTP
// status, Retry-After and x-should-retry in the dialect's WriteError.

// Context causes that tell the gateway's own deadlines apart from the
// client going away.
var (
	errTimeout    = errors.New("gateway: request timeout")
	errFirstToken = errors.New("gateway: first-token timeout")
	errIdle       = errors.New("gateway: stream idle timeout")
)

// retryable reports whether a failed attempt may be followed by another:
// failover says the next attempt goes to a different target (a resend of
// the same request to the same upstream is stricter), idempotent that the
// client sent an Idempotency-Key, which allows resending a request that
// may have been processed upstream.
func retryable(e *llm.Error, idempotent, failover bool) bool {
	if e.NoClientRetry && !failover {
		// The target refused for a reason that sending the same request
		// to it again cannot fix (its credential, its quota, a blocked
		// address); another target may serve it.
		return false
	}
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

// countsAgainstTarget reports whether a failure says the target is unwell.
// The client's own faults (a 4xx about its request, a cancel) never count.
func countsAgainstTarget(c llm.Code) bool {
	switch c {
	case llm.CodeProviderRateLimited, llm.CodeProviderUnavailable, llm.CodeProviderTimeout,
		llm.CodeProviderAuthFailed, llm.CodeProviderError, llm.CodeStreamInterrupted:
		return true
	}
	return false
}

// outcome is what a breaker needs to hear about an attempt it admitted.
type outcome interface {
	Record(success bool)
	Release()
}

// settleAttempt records one attempt's outcome in the audit trail, the
// target's breaker and its latency, and returns the classified failure.
func (g *Gateway) settleAttempt(s *state, t *route.Target, b outcome, err error) *llm.Error {
	att := audit.Attempt{Provider: t.Provider, Model: t.Model, Status: http.StatusOK,
		StartMillis: s.attemptStart.Sub(s.start).Milliseconds(), LatencyMillis: g.now().Sub(s.attemptStart).Milliseconds(),
		SpanID: s.attemptSpan}
	var e *llm.Error
	if err != nil {
		e = llm.AsError(err)
		att.Status, att.ErrorClass = e.Status(), string(e.Code)
	}
	s.attempts = append(s.attempts, att)
	h := s.Out.Header()
	h.Set("X-Airgw-Attempts", strconv.Itoa(len(s.attempts)))
	if e != nil && !s.Out.Written() {
		// An error answer names the target that failed last; a success
		// named its own target before its first byte (commit).
		h.Set("X-Airgw-Provider", t.Provider)
		h.Set("X-Airgw-Model", t.Model)
	}
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

// upstreamError classifies a provider failure, telling a client that went
// away and the gateway's own deadlines apart from the provider's faults.
// ctx is the request's context (with its total deadline), actx the
// attempt's (with its first-token and idle timers).
func (g *Gateway) upstreamError(ctx, actx context.Context, s *state, err error) *llm.Error {
	t := s.target
	switch {
	case ctx.Err() != nil && context.Cause(ctx) == errTimeout:
		return &llm.Error{Code: llm.CodeProviderTimeout, Provider: t.Provider, Sent: true, Err: err,
			Message: "provider `" + t.Provider + "` did not finish within the gateway's request timeout; retry, or ask an operator to raise `routing.timeout` (or `models." + s.route.Name + ".timeout`)"}
	case ctx.Err() != nil:
		return cancelled(ctx, s.Out.Written(), err)
	case context.Cause(actx) == errFirstToken:
		return &llm.Error{Code: llm.CodeProviderTimeout, Provider: t.Provider, Sent: true, Err: errors.Join(errFirstToken, err),
			Message: "provider `" + t.Provider + "` sent no token within the first-token timeout; retry, or ask an operator to raise `first_token_timeout`"}
	case context.Cause(actx) == errIdle:
		return &llm.Error{Code: llm.CodeStreamInterrupted, Provider: t.Provider, Sent: true, Err: errors.Join(errIdle, err),
			Message: "provider `" + t.Provider + "` stopped sending the stream (idle timeout); the answer is incomplete: send the request again"}
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

// ErrShutdown is the cause with which the server cancels the requests still
// in flight when its drain timeout (server.shutdown_timeout) has passed.
var ErrShutdown = errors.New("the gateway is shutting down")

// shutdownError is the failure of a request that the gateway's shutdown
// ended: an error event if its stream had begun, a 503 that the client may
// send again (to another replica, or to this one once restarted) otherwise.
func shutdownError(written bool, err error) *llm.Error {
	if written {
		return &llm.Error{Code: llm.CodeStreamInterrupted, Err: errors.Join(ErrShutdown, err),
			Message: "the gateway shut down before this stream ended (server.shutdown_timeout passed); the answer is incomplete: send the request again"}
	}
	return &llm.Error{Code: llm.CodeServiceUnavailable, RetryAfter: time.Second, Err: errors.Join(ErrShutdown, err),
		Message: "the gateway shut down while this request was in flight (server.shutdown_timeout passed); send it again"}
}

// cancelled is the failure of a call whose context ended other than by
// the request's deadline: the gateway's shutdown (shutdownError; written
// says whether the client's stream had begun), or the client going away.
func cancelled(ctx context.Context, written bool, err error) *llm.Error {
	if errors.Is(context.Cause(ctx), ErrShutdown) {
		return shutdownError(written, err)
	}
	return &llm.Error{Code: llm.CodeClientCancelled, Message: "the client cancelled the request", Err: err}
}

func clientGone(err error) *llm.Error {
	return &llm.Error{Code: llm.CodeClientCancelled, Message: "the client went away while the response was being written", Err: err}
}
