package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/route"

	oai "github.com/airgw/airgw/internal/dialect/openai"
)

// The routing decision (metadata rules, the alias lookup, the strategy's
// order over the targets and the fallbacks, the breaker checks) runs on
// every request. These benchmarks measure it against a baseline in the same
// run:
//
//	go test -run XXX -bench Routing -benchmem ./internal/gateway/
//
// BenchmarkRoutingDecision serves whole requests (key, decode, allow-lists,
// routing, an in-memory provider, the response, settlement, the record)
// through a route with one target and nothing to decide, and through
// routes with five targets, two fallback aliases and three metadata rules,
// alternating the two on every iteration so that both see the same machine
// state; it reports their ratio. BenchmarkRoutingPlan times the decision
// alone.

type nopAudit struct{}

func (nopAudit) Write(audit.Record) {}

// instant answers every chat request at once.
type instant struct{}

func (instant) Chat(ctx context.Context, req *llm.Request) (*llm.Reply, error) {
	return okResponse(ctx, req)
}

// routingRuntime has the alias "simple" (one target, priority, nothing else)
// and one alias per strategy with five targets, two fallbacks of two
// targets each, behind three metadata rules that do not match.
func routingRuntime() *Runtime {
	p := price
	targets := func(prefix string, n int) []route.Target {
		ts := make([]route.Target, n)
		for i := range ts {
			ts[i] = route.Target{Provider: prefix, Model: fmt.Sprintf("%s-%d", prefix, i), Client: instant{}, Weight: 10 + i, Price: &p}
		}
		return ts
	}
	simple := route.NewRoute("simple", targets("one", 1))
	simple.Strategy = route.Priority
	routes := []*route.Route{simple, route.NewRoute("fb1", targets("fb1", 2)), route.NewRoute("fb2", targets("fb2", 2))}
	for _, st := range []route.Strategy{route.Weighted, route.Priority, route.LowestLatency, route.LowestCost} {
		r := route.NewRoute(string(st), targets(string(st), 5))
		r.Strategy, r.Fallbacks = st, []string{"fb1", "fb2"}
		routes = append(routes, r)
	}
	return &Runtime{
		Routes:  route.NewTable(routes...),
		Timeout: time.Minute,
		Rules: []Rule{{Purpose: "batch", Use: "fb1"}, {Tag: "eu", Use: "fb2"},
			{Purpose: "eval", Tag: "nightly", Model: "weighted", Use: "fb1"}},
	}
}

func routingGateway() *Gateway {
	g := New(routingRuntime(), Options{Auth: fakeAuth{"good": {ID: "key_1", Name: "bench"}}, Audit: nopAudit{}})
	for _, t := range []string{"latency-0", "latency-1", "latency-2"} { // some measured, some not
		g.latency.Observe("lowest_latency/lowest_"+t, time.Duration(len(t))*time.Millisecond)
	}
	return g
}

func serveOnce(b *testing.B, g *Gateway, body []byte) {
	w := httptest.NewRecorder()
	g.Serve(context.Background(), &Call{RequestID: "req_b", Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions",
		APIKey: "good", Purpose: "chat", Tags: []string{"us"}, Body: body,
		Decode: func(b []byte) (*llm.Request, error) { return oai.DecodeChat(b, oai.Limits{}) },
		Out:    oai.NewWriter(w, "req_b")})
	if w.Code != 200 {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

func BenchmarkRoutingDecision(b *testing.B) {
	for _, st := range []route.Strategy{route.Weighted, route.Priority, route.LowestLatency, route.LowestCost} {
		b.Run(string(st), func(b *testing.B) {
			g := routingGateway()
			base := []byte(`{"model":"simple","messages":[{"role":"user","content":"Hello, how are you today?"}]}`)
			full := []byte(`{"model":"` + string(st) + `","messages":[{"role":"user","content":"Hello, how are you today?"}]}`)
			b.ReportAllocs()
			var tBase, tFull time.Duration
			for b.Loop() {
				t0 := time.Now()
				serveOnce(b, g, base)
				t1 := time.Now()
				serveOnce(b, g, full)
				tFull += time.Since(t1)
				tBase += t1.Sub(t0)
			}
			b.ReportMetric(float64(tFull)/float64(tBase), "ratio")
			b.ReportMetric(float64(tFull-tBase)/float64(b.N), "added-ns/req")
		})
	}
}

// BenchmarkRoutingPlan times the decision alone, as a request that
// succeeds at once makes it: the metadata rules, the alias lookup, the
// strategy's order over the route's own targets (fallbacks are ordered
// only when reached) and the first target's breaker; "full" also orders
// the fallbacks and checks every breaker, as a request that fails over to
// the end does.
func BenchmarkRoutingPlan(b *testing.B) {
	for _, alias := range []string{"simple", "weighted", "priority", "lowest_latency", "lowest_cost"} {
		for _, full := range []bool{false, true} {
			name := alias
			if full {
				name += "/full"
			}
			b.Run(name, func(b *testing.B) {
				g := routingGateway()
				c := &Call{Purpose: "chat", Tags: []string{"us"}}
				s := &state{Call: c, rt: g.Runtime(), req: &llm.Request{Model: alias}}
				b.ReportAllocs()
				for b.Loop() {
					if err := g.resolve(context.Background(), s); err != nil {
						b.Fatal(err)
					}
					plan := priced(s.route.Order(g.latency))
					if full {
						plan = g.fallbacks(s.rt, s.route, plan)
					} else {
						plan = plan[:1]
					}
					for _, t := range plan {
						if !g.breakers.Get(t.Key()).Allow() {
							b.Fatal("breaker refused")
						}
					}
				}
			})
		}
	}
}
