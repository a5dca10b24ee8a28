package tracing

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/audit"
)

// The OTLP/JSON shapes (opentelemetry-proto, trace/v1), as far as airgw
// uses them. Ids are hex; 64-bit integers are strings.

type exportRequest struct {
	ResourceSpans []resourceSpans `json:"resourceSpans"`
}

type resourceSpans struct {
	Resource   resource     `json:"resource"`
	ScopeSpans []scopeSpans `json:"scopeSpans"`
}

type resource struct {
	Attributes []attr `json:"attributes"`
}

type scopeSpans struct {
	Scope scope  `json:"scope"`
	Spans []span `json:"spans"`
}

type scope struct {
	Name string `json:"name"`
}

type span struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId,omitempty"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Start        string `json:"startTimeUnixNano"`
	End          string `json:"endTimeUnixNano"`
	Attributes   []attr `json:"attributes"`
	Status       status `json:"status"`
}

// Span kinds and status codes.
const (
	kindServer  = 2
	kindClient  = 3
	statusUnset = 0
	statusError = 2
)

type status struct {
	Code    int    `json:"code"`
	Message string `json:"message,omitempty"`
}

type attr struct {
	Key   string    `json:"key"`
	Value attrValue `json:"value"`
}

type attrValue struct {
	String *string  `json:"stringValue,omitempty"`
	Int    *string  `json:"intValue,omitempty"`
	Double *float64 `json:"doubleValue,omitempty"`
	Bool   *bool    `json:"boolValue,omitempty"`
}

func str(k, v string) attr { return attr{Key: k, Value: attrValue{String: &v}} }

func num(k string, v int64) attr {
	s := strconv.FormatInt(v, 10)
	return attr{Key: k, Value: attrValue{Int: &s}}
}

func dbl(k string, v float64) attr { return attr{Key: k, Value: attrValue{Double: &v}} }

func boolean(k string, v bool) attr { return attr{Key: k, Value: attrValue{Bool: &v}} }

func request(service string, spans []span) exportRequest {
	return exportRequest{ResourceSpans: []resourceSpans{{
		Resource:   resource{Attributes: []attr{str("service.name", service)}},
		ScopeSpans: []scopeSpans{{Scope: scope{Name: "github.com/airgw/airgw"}, Spans: spans}},
	}}}
}

func nanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// operation is the GenAI operation name of an endpoint.
func operation(endpoint string) string {
	switch {
	case strings.HasSuffix(endpoint, "/embeddings"):
		return "embeddings"
	case strings.HasSuffix(endpoint, "/count_tokens"):
		return "count_tokens"
	}
	return "chat"
}

// spansOf returns the request span and one span per attempt. Only ids
// identify the caller (request, key, team); the purpose, the end user and
// the client's address stay in the audit trail.
func spansOf(r *audit.Record) []span {
	var traceID [16]byte
	var parent, reqID [8]byte
	if tp, ok := parseTraceParent(r.TraceParent); ok {
		traceID, parent = tp.traceID, tp.spanID
	} else {
		randomID(traceID[:])
	}
	randomID(reqID[:])
	tid, rid := hex.EncodeToString(traceID[:]), hex.EncodeToString(reqID[:])
	if r.TraceID != "" && r.SpanID != "" {
		// The ids the gateway chose, and sent upstream, at the start.
		tid, rid = r.TraceID, r.SpanID
	}
	end := r.End
	if end.IsZero() {
		end = r.Start.Add(time.Duration(r.LatencyMillis) * time.Millisecond)
	}
	op := operation(r.Endpoint)
	attrs := []attr{
		str("gen_ai.operation.name", op),
		str("gen_ai.request.model", r.RequestedModel),
		str("http.route", r.Endpoint),
		num("http.response.status_code", int64(r.Status)),
		str("airgw.request_id", r.RequestID),
		boolean("airgw.stream", r.Stream),
		num("airgw.attempts", int64(len(r.Attempts))),
	}
	if r.Provider != "" {
		attrs = append(attrs, str("gen_ai.provider.name", r.Provider), str("gen_ai.response.model", r.ServedModel),
			num("gen_ai.usage.input_tokens", r.InputTokens), num("gen_ai.usage.output_tokens", r.OutputTokens),
			num("airgw.usage.cache_read_tokens", r.CacheReadTokens), num("airgw.usage.reasoning_tokens", r.ReasoningTokens),
			dbl("airgw.cost_usd", float64(r.CostNanoUSD)/1e9), boolean("airgw.usage_estimated", r.UsageEstimated))
	}
	if r.KeyID != "" {
		attrs = append(attrs, str("airgw.key_id", r.KeyID), str("airgw.team", r.Team))
	}
	if r.TTFTMillis > 0 {
		attrs = append(attrs, dbl("airgw.time_to_first_token_seconds", float64(r.TTFTMillis)/1000))
	}
	st := status{Code: statusUnset}
	if r.ErrorClass != "" {
		attrs = append(attrs, str("error.type", r.ErrorClass))
		if r.Status >= 500 {
			st = status{Code: statusError, Message: r.ErrorClass}
		}
	}
	root := span{TraceID: tid, SpanID: rid, Name: strings.TrimSpace(op + " " + r.RequestedModel),
		Kind: kindServer, Start: nanos(r.Start), End: nanos(end), Attributes: attrs, Status: st}
	if parent != [8]byte{} {
		root.ParentSpanID = hex.EncodeToString(parent[:])
	}
	out := []span{root}
	for i, a := range r.Attempts {
		sid := a.SpanID
		if sid == "" {
			var id [8]byte
			randomID(id[:])
			sid = hex.EncodeToString(id[:])
		}
		start := r.Start.Add(time.Duration(a.StartMillis) * time.Millisecond)
		as := []attr{
			str("gen_ai.operation.name", op),
			str("gen_ai.provider.name", a.Provider),
			str("gen_ai.request.model", a.Model),
			num("http.response.status_code", int64(a.Status)),
			num("airgw.attempt", int64(i+1)),
		}
		ast := status{Code: statusUnset}
		if a.ErrorClass != "" {
			as = append(as, str("error.type", a.ErrorClass))
			ast = status{Code: statusError, Message: a.ErrorClass}
		}
		out = append(out, span{TraceID: tid, SpanID: sid, ParentSpanID: root.SpanID,
			Name: strings.TrimSpace(op + " " + a.Model), Kind: kindClient, Start: nanos(start),
			End: nanos(start.Add(time.Duration(a.LatencyMillis) * time.Millisecond)), Attributes: as, Status: ast})
	}
	return out
}
