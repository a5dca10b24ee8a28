package llm

import "context"

type traceParentKey struct{}

// WithTraceParent returns ctx carrying tp, a W3C traceparent header value
// ("00-<trace id>-<span id>-<flags>") naming the span of one upstream
// attempt. The gateway sets it only when tracing is on; the app's provider
// transport sends it as the request's traceparent header, so that a
// provider, or a proxy in between, can join the trace.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceParentKey{}, tp)
}

// TraceParent returns the traceparent WithTraceParent put in ctx, or "".
func TraceParent(ctx context.Context) string {
	tp, _ := ctx.Value(traceParentKey{}).(string)
	return tp
}
