package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/netguard"
)

// errTimeout is the cause of a context ended by the request timeout, to tell
// it apart from the client going away.
var errTimeout = errors.New("gateway: request timeout")

// forward calls the chosen target and writes its reply to the client.
func (g *Gateway) forward(ctx context.Context, s *state) error {
	if s.rt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.rt.Timeout, errTimeout)
		defer cancel()
	}
	t := s.target
	up := *s.req
	up.Model = t.Model

	h := s.Out.Header()
	h.Set("X-Airgw-Provider", t.Provider)
	h.Set("X-Airgw-Model", t.Model)

	began := g.now()
	reply, err := t.Client.Chat(ctx, &up)
	att := audit.Attempt{Provider: t.Provider, Model: t.Model, Status: http200}
	defer func() {
		att.LatencyMillis = g.now().Sub(began).Milliseconds()
		s.attempts = append(s.attempts, att)
		h.Set("X-Airgw-Attempts", strconv.Itoa(len(s.attempts)))
	}()
	if err != nil {
		e := g.upstreamError(ctx, s, err)
		att.Status, att.ErrorClass = e.Status(), string(e.Code)
		return e
	}
	h.Set("X-Airgw-Attempts", "1")
	if id := upstreamRequestID(reply.Header); id != "" {
		h.Set("X-Airgw-Upstream-Request-Id", id)
	}
	if reply.Response != nil {
		resp := reply.Response
		s.ttft = g.now().Sub(s.start)
		s.usage, s.reported = resp.Usage, resp.UsageReported
		if !s.reported {
			s.estimateFrom(resp)
		}
		h.Set("X-Airgw-Cost-USD", formatUSD(t.Price.Cost(s.usage)))
		if err := s.Out.WriteResponse(resp); err != nil {
			return clientGone(err)
		}
		return nil
	}
	err = g.relay(ctx, s, reply.Stream)
	if err != nil {
		e := llm.AsError(err)
		att.Status, att.ErrorClass = e.Status(), string(e.Code)
		return e
	}
	return nil
}

const http200 = 200

// relay copies stream events to the client as they arrive, keeping the last
// usage report (providers whose usage is cumulative report it several
// times; the last one is the bill).
func (g *Gateway) relay(ctx context.Context, s *state, st llm.Stream) error {
	defer st.Close()
	for {
		ev, err := st.Next()
		if err == io.EOF {
			return s.Out.EndStream(nil)
		}
		if err != nil {
			return g.upstreamError(ctx, s, err)
		}
		if s.ttft == 0 {
			s.ttft = g.now().Sub(s.start)
		}
		if ev.Usage != nil {
			s.usage, s.reported = *ev.Usage, true
			if !s.req.IncludeUsage {
				if ev.Text == "" && len(ev.ToolCalls) == 0 && ev.FinishReason == "" && ev.Role == "" {
					continue // the client did not ask for usage
				}
				ev.Usage, ev.Native = nil, nil // re-encode without it
			}
		}
		s.streamed = append(s.streamed, ev.Text...)
		for _, tc := range ev.ToolCalls {
			s.streamed = append(s.streamed, tc.Arguments...)
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

// upstreamError classifies a provider failure, telling a client that went
// away and the request timeout apart from the provider's own faults.
func (g *Gateway) upstreamError(ctx context.Context, s *state, err error) *llm.Error {
	if ctx.Err() != nil {
		if context.Cause(ctx) == errTimeout {
			return &llm.Error{Code: llm.CodeProviderTimeout, Provider: s.target.Provider, Sent: true, Err: err,
				Message: "provider `" + s.target.Provider + "` did not finish within the gateway's request timeout of " + s.rt.Timeout.String() + "; retry, or ask an operator to raise `routing.timeout`"}
		}
		return &llm.Error{Code: llm.CodeClientCancelled, Message: "the client cancelled the request", Err: err}
	}
	e := llm.AsError(err)
	if e.Provider == "" {
		e.Provider = s.target.Provider
	}
	switch {
	case errors.Is(err, netguard.ErrBlocked):
		e.NoClientRetry = true
		e.Message = "provider `" + s.target.Provider + "` has a base_url on a loopback, private, link-local or metadata address, which airgw refuses by default; if that is intended, an operator must set `allow_private_network: true` on providers." + s.target.Provider
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
