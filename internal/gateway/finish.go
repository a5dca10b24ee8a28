package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/llm"
)

// finish runs on every exit path of Serve: it turns a panic into an
// internal error, writes the error to the client if nothing else was
// written, settles usage and cost, writes the audit record and the access
// log line.
func (g *Gateway) finish(s *state) {
	if p := recover(); p != nil {
		g.log.Error("panic serving request", "request_id", s.RequestID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		s.err = llm.AsError(fmt.Errorf("panic: %v", p))
	}
	if s.err != nil && s.err.Code != llm.CodeClientCancelled {
		s.Out.WriteError(s.err)
	}
	if s.Kind == KindChat && !s.reported && s.target != nil && (s.delivered > 0 || s.ttft > 0) {
		s.estimate()
	}
	rec := g.record(s)
	g.settleSpend(s, rec.CostNanoUSD)
	if s.keepBodies {
		rec.Bodies = s.bodies()
	}
	if g.audit != nil {
		g.audit.Write(rec)
	}
	if s.ended {
		// The record is spooled: now the client may see the end.
		if err := s.Out.EndStream(nil); err != nil {
			g.log.Debug("the client left before the end of its stream", "request_id", s.RequestID, "err", err)
		}
	}
	g.accessLog(s, &rec)
}

// begin marks the request in flight in the audit trail, when the audit log
// can (AuditBeginner), just before the first upstream attempt.
func (g *Gateway) begin(_ context.Context, s *state) error {
	s.keepBodies = s.rt.StoreBodies != nil && s.rt.StoreBodies(s.key)
	b, ok := g.audit.(AuditBeginner)
	if !ok {
		return nil
	}
	rec := g.record(s)
	rec.End, rec.Status, rec.LatencyMillis = time.Time{}, 0, 0
	if err := b.Begin(rec); err != nil {
		e := &llm.Error{Code: llm.CodeServiceUnavailable, Err: err,
			Message: "the gateway cannot record this request in its audit trail, so it does not send it to a provider; an operator must bring the audit database back (docs/troubleshooting.md: audit spool full)"}
		if errors.Is(err, audit.ErrSpoolFull) {
			e.RetryAfter = 30 * time.Second
		}
		return e
	}
	return nil
}

// bodies returns the request as the client sent it and the response: the
// provider's body when it was relayed as is, the choices otherwise, or the
// text streamed to the client. The audit log redacts and caps them.
func (s *state) bodies() *audit.Bodies {
	b := &audit.Bodies{Request: string(s.Body)}
	switch {
	case s.response != nil && s.response.Native != nil:
		b.Response = string(s.response.Native.Body)
	case s.response != nil:
		out, _ := json.Marshal(s.response.Choices)
		b.Response = string(out)
	default:
		b.Response = string(s.streamed)
	}
	return b
}

func (g *Gateway) record(s *state) audit.Record {
	end := g.now()
	rec := audit.Record{
		Kind:          audit.KindRequest,
		RequestID:     s.RequestID,
		Start:         s.start.UTC(),
		End:           end.UTC(),
		Purpose:       s.Purpose,
		EndUser:       s.EndUser,
		Tags:          s.Tags,
		ClientIP:      s.ClientIP,
		TraceParent:   s.TraceParent,
		TraceID:       s.traceID,
		SpanID:        s.spanID,
		Sampled:       s.sampled,
		Dialect:       string(s.Dialect),
		Endpoint:      s.Endpoint,
		Attempts:      s.attempts,
		Status:        200,
		LatencyMillis: end.Sub(s.start).Milliseconds(),
	}
	if s.key != nil {
		rec.KeyID, rec.KeyName, rec.Team = s.key.ID, s.key.Name, s.key.Team
	}
	if s.req != nil {
		rec.RequestedModel, rec.Stream = s.req.Model, s.req.Stream
	}
	if s.target != nil {
		rec.Provider, rec.ServedModel = s.target.Provider, s.target.Model
	}
	if s.err != nil {
		rec.Status, rec.ErrorClass = s.err.Status(), string(s.err.Code)
		if s.err.Policy != "" {
			rec.Policies = append(rec.Policies, audit.Decision{Policy: s.err.Policy, Action: "deny"})
		}
	}
	rec.Policies = append(rec.Policies, s.decisions...)
	if s.replayed != nil { // a stored result sent again: no provider, no cost
		rec.Status = s.replayed.Status
	}
	if s.ttft > 0 {
		rec.TTFTMillis = s.ttft.Milliseconds()
	}
	u := s.usage
	rec.InputTokens, rec.OutputTokens = u.InputTokens, u.OutputTokens
	rec.CacheReadTokens, rec.CacheWriteTokens, rec.ReasoningTokens = u.CacheReadTokens, u.CacheWriteTokens, u.ReasoningTokens
	rec.UsageEstimated = !s.reported && !u.IsZero()
	if s.target != nil && s.target.Price != nil {
		rec.CostNanoUSD = s.target.Price.Cost(u)
	}
	return rec
}

func (g *Gateway) accessLog(s *state, rec *audit.Record) {
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("request_id", rec.RequestID),
		slog.Int("status", rec.Status),
		slog.String("endpoint", rec.Endpoint),
		slog.String("model", rec.RequestedModel),
		slog.String("provider", rec.Provider),
		slog.String("key_id", rec.KeyID),
		slog.Int64("latency_ms", rec.LatencyMillis),
		slog.Int64("cost_nano_usd", rec.CostNanoUSD),
	}
	if s.err != nil {
		attrs = append(attrs, slog.String("error_class", string(s.err.Code)))
		if s.err.Code == llm.CodeInternal {
			level = slog.LevelError
		}
		if s.err.Err != nil {
			// The internal cause: never shown to clients, and free of secrets
			// because providers and stores never put them in errors.
			attrs = append(attrs, slog.String("cause", s.err.Err.Error()))
		}
	}
	g.log.LogAttrs(context.Background(), level, "request", attrs...)
}
