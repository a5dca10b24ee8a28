// Package providertest is the conformance suite that every provider adapter
// runs: one suite, the same checks, run once per adapter against its strict
// fake (see Run). It covers answers and streams, tools and tool results,
// images, usage (cached tokens included) reported exactly as the fake
// billed it, each error class the adapter maps, streams cut or failing
// midway, cancellation mid-stream (the upstream connection must really be
// dropped), large responses, and streams split at arbitrary byte
// boundaries.
//
// The wire-level checks go through a proxy the suite puts between the
// adapter and its fake: it counts the requests that reach the upstream,
// relays bodies in pieces of every size, and stalls a stream to see the
// adapter hang up. The package imports only the hub (package llm); each
// adapter's tests wire in its own fake.
//
// The package is for tests only.
package providertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// Adapter describes one provider adapter and its fake to the suite.
//
// The fakes share conventions that the suite relies on: the upstream model
// "cut:K" streams K events and drops the connection, "slow:D" waits D
// before answering, "fixture:NAME" replays a recorded response, and any
// other model echoes the last user text (one word per streamed event),
// calling the first tool offered when the last message is the user's.
type Adapter struct {
	// Name is the provider name the adapter was built with; every error
	// must carry it in Error.Provider.
	Name string
	// Upstream is the base URL of the fake, as the adapter would be
	// configured with it. Empty for an adapter that makes no HTTP calls
	// (the demo provider), which skips the wire-level checks.
	Upstream string
	// Connect returns the adapter under test with base URL baseURL (the
	// Upstream, reached through the suite's proxy) and HTTP client hc.
	Connect func(baseURL string, hc *http.Client) llm.Provider
	// ConnectBadCredentials is Connect with credentials the fake refuses;
	// nil skips that check.
	ConnectBadCredentials func(baseURL string, hc *http.Client) llm.Provider
	// Secrets are credentials that must never appear in an error message.
	Secrets []string
	// Model is the upstream model that makes the fake echo.
	Model string
	// Usage returns the usage the fake reported for the last request, in
	// neutral terms, computed by the fake independently of the adapter;
	// nil for an adapter without a fake (the adapter's usage is then only
	// checked for consistency).
	Usage func() (llm.Usage, bool)
	// CachedUsage says the fake reports cached prompt tokens on every echo,
	// which the adapter must pass on.
	CachedUsage bool
	// ImageURLs says the provider takes http(s) image URLs; when false the
	// adapter must refuse them with feature_not_supported.
	ImageURLs bool
	// EchoLimit is the longest prompt the fake echoes whole; 0 means no
	// limit. Large-response checks need no limit.
	EchoLimit int
	// Errors are models whose answer is an HTTP error, with the class the
	// adapter must map it to.
	Errors []ErrorCase
	// StreamErrors are models whose stream starts and then fails with an
	// error event (or exception frame) of the given class.
	StreamErrors []ErrorCase
	// StreamFixtures are models replaying recorded streams, which the
	// suite reads whole and then split at byte boundaries of every size.
	StreamFixtures []string
}

// ErrorCase is an upstream failure and the class the adapter must give it.
type ErrorCase struct {
	Model string
	Code  llm.Code
	// RetryAfter says the answer carries a retry hint (Retry-After or the
	// provider's own) that the adapter must keep.
	RetryAfter bool
}

// Run runs the conformance suite against a.
func Run(t *testing.T, a Adapter) {
	s := &suite{a: a}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}}
	t.Cleanup(hc.CloseIdleConnections)
	if a.Upstream != "" {
		s.proxy = newProxy(t, a.Upstream)
		s.p = a.Connect(s.proxy.baseURL(), hc)
		s.hc = hc
	} else {
		s.p = a.Connect("", hc)
	}
	t.Run("non_stream", s.nonStream)
	t.Run("stream", s.stream)
	t.Run("tools", s.tools)
	t.Run("tool_results", s.toolResults)
	t.Run("images", s.images)
	t.Run("large_response", s.large)
	t.Run("cancel_mid_stream", s.cancel)
	if a.Upstream == "" {
		return
	}
	t.Run("native_only", s.nativeOnly)
	t.Run("errors", s.errors)
	t.Run("stream_errors", s.streamErrors)
	t.Run("cut_mid_stream", s.cut)
	t.Run("transport", s.transport)
	t.Run("split_boundaries", s.split)
}

type suite struct {
	a     Adapter
	p     llm.Provider
	proxy *proxy // nil without Upstream
	hc    *http.Client
}

// relay sets how the proxy relays the next answers.
func (s *suite) relay(m mode) {
	if s.proxy != nil {
		s.proxy.set(m)
	}
}

// calls returns the upstream requests since the last relay; -1 without a
// proxy.
func (s *suite) calls() int {
	if s.proxy == nil {
		return -1
	}
	n, _, _ := s.proxy.state()
	return n
}

const prompt = "what is the capital of France"

func userText(text string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}}, ContentIsString: true}
}

func (s *suite) request(model string, stream bool, msgs ...llm.Message) *llm.Request {
	return &llm.Request{Model: model, Stream: stream, MaxTokens: 1024, Messages: msgs}
}

func (s *suite) echo(stream bool) *llm.Request {
	return s.request(s.a.Model, stream,
		llm.Message{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: "You are terse."}}, ContentIsString: true},
		userText(prompt))
}

// chat sends req and reads the answer, stream or not.
func (s *suite) chat(t *testing.T, ctx context.Context, req *llm.Request) (Result, error) {
	t.Helper()
	reply, err := s.p.Chat(ctx, req)
	if err != nil {
		return Result{}, err
	}
	if (reply.Stream != nil) != req.Stream || (reply.Response != nil) == req.Stream {
		t.Fatalf("Chat(stream %v) = Response %v, Stream %v; want exactly the one asked for", req.Stream, reply.Response != nil, reply.Stream != nil)
	}
	if req.Stream {
		return Collect(t, reply.Stream)
	}
	return ResultOf(reply.Response), nil
}

// mustChat is chat for requests that must succeed.
func (s *suite) mustChat(t *testing.T, req *llm.Request) Result {
	t.Helper()
	res, err := s.chat(t, context.Background(), req)
	if err != nil {
		t.Fatalf("Chat(stream %v) error = %v", req.Stream, err)
	}
	return res
}

// checkUsage compares the adapter's usage to what the fake billed.
func (s *suite) checkUsage(t *testing.T, res Result) {
	t.Helper()
	if !res.UsageReported || res.Usage.InputTokens <= 0 || res.Usage.OutputTokens <= 0 {
		t.Errorf("usage = %+v (reported %v), want input and output tokens", res.Usage, res.UsageReported)
	}
	if s.a.Usage != nil {
		want, ok := s.a.Usage()
		if !ok || res.Usage != want {
			t.Errorf("usage = %+v, want exactly what the fake billed: %+v (reported %v)", res.Usage, want, ok)
		}
	}
	if s.a.CachedUsage && res.Usage.CacheReadTokens <= 0 {
		t.Errorf("usage = %+v, want the cached tokens the fake reported", res.Usage)
	}
	if u := res.Usage; u.CacheReadTokens+u.CacheWriteTokens > u.InputTokens || u.ReasoningTokens > u.OutputTokens {
		t.Errorf("usage = %+v: cache tokens must be part of input tokens and reasoning tokens part of output tokens", u)
	}
}

// checkOneCall checks that exactly one request reached the upstream: an
// adapter never retries on its own (the gateway decides).
func (s *suite) checkOneCall(t *testing.T) {
	t.Helper()
	if n := s.calls(); n >= 0 && n != 1 {
		t.Errorf("upstream requests = %d, want exactly 1", n)
	}
}

func (s *suite) nonStream(t *testing.T) {
	s.relay(mode{})
	res := s.mustChat(t, s.echo(false))
	if !strings.Contains(res.Text, prompt) || res.Finish != llm.FinishStop || len(res.ToolCalls) != 0 {
		t.Errorf("answer = %+v, want the echo of %q and finish stop", res, prompt)
	}
	s.checkUsage(t, res)
	s.checkOneCall(t)
}

func (s *suite) stream(t *testing.T) {
	s.relay(mode{})
	want := s.mustChat(t, s.echo(false))
	s.relay(mode{})
	got := s.mustChat(t, s.echo(true))
	if got.Events < 2 {
		t.Errorf("stream had %d events, want the answer in pieces", got.Events)
	}
	if got.Text != want.Text || got.Finish != want.Finish {
		t.Errorf("stream = %q finish %q, want the non-streamed answer %q finish %q", got.Text, got.Finish, want.Text, want.Finish)
	}
	s.checkUsage(t, got)
	s.checkOneCall(t)
}

// weatherTool is the tool offered in the tool checks.
var weatherTool = llm.Tool{Name: "get_weather", Description: "Current weather of a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

func (s *suite) tools(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			s.relay(mode{})
			req := s.request(s.a.Model, stream, userText("weather in Paris?"))
			req.Tools = []llm.Tool{weatherTool}
			res := s.mustChat(t, req)
			if len(res.ToolCalls) != 1 || res.Finish != llm.FinishToolCalls {
				t.Fatalf("answer = %+v, want one tool call and finish tool_calls", res)
			}
			tc := res.ToolCalls[0]
			var args map[string]any
			if tc.ID == "" || tc.Name != weatherTool.Name || json.Unmarshal([]byte(tc.Arguments), &args) != nil {
				t.Errorf("tool call = %+v, want an id, name %s and a JSON object of arguments", tc, weatherTool.Name)
			}
			s.checkUsage(t, res)
		})
	}
	t.Run("tool_choice_none", func(t *testing.T) {
		s.relay(mode{})
		req := s.request(s.a.Model, false, userText(prompt))
		req.Tools, req.ToolChoice = []llm.Tool{weatherTool}, &llm.ToolChoice{Mode: "none"}
		res, err := s.chat(t, context.Background(), req)
		if err != nil {
			// A provider without "none" must say so, never call the tool.
			if e := asError(t, err, "Chat(tool_choice none)"); e.Code != llm.CodeFeatureNotSupported {
				t.Fatalf("Chat(tool_choice none) error = %v, want an answer or feature_not_supported", err)
			}
			return
		}
		if len(res.ToolCalls) != 0 {
			t.Errorf("answer with tool_choice none = %+v, want no tool call", res)
		}
	})
}

// toolResults sends back the results of two parallel calls and expects a
// text answer.
func (s *suite) toolResults(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			s.relay(mode{})
			req := s.request(s.a.Model, stream,
				userText("weather in Paris and Rome?"),
				llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
					{ID: "call_paris", Name: weatherTool.Name, Arguments: `{"city":"Paris"}`},
					{ID: "call_rome", Name: weatherTool.Name, Arguments: `{"city":"Rome"}`},
				}},
				llm.Message{Role: llm.RoleTool, ToolCallID: "call_paris", Content: []llm.Part{{Type: llm.PartText, Text: `{"sky":"sunny"}`}}, ContentIsString: true},
				llm.Message{Role: llm.RoleTool, ToolCallID: "call_rome", Content: []llm.Part{{Type: llm.PartText, Text: "rain"}}, ContentIsString: true},
			)
			req.Tools = []llm.Tool{weatherTool}
			res := s.mustChat(t, req)
			if res.Text == "" || len(res.ToolCalls) != 0 || res.Finish != llm.FinishStop {
				t.Errorf("answer after tool results = %+v, want text and finish stop", res)
			}
			s.checkUsage(t, res)
		})
	}
}

// onePixelPNG is a 1×1 transparent PNG.
const onePixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

func (s *suite) images(t *testing.T) {
	cases := []struct {
		name, url string
		ok        bool
	}{
		{"base64", "data:image/png;base64," + onePixelPNG, true},
		{"url", "https://example.com/cat.png", s.a.ImageURLs},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.relay(mode{})
			req := s.request(s.a.Model, false, llm.Message{Role: llm.RoleUser, Content: []llm.Part{
				{Type: llm.PartText, Text: "describe this"}, {Type: llm.PartImage, ImageURL: c.url}}})
			res, err := s.chat(t, context.Background(), req)
			if c.ok {
				if err != nil {
					t.Fatalf("Chat(image %s) error = %v", c.name, err)
				}
				if !strings.Contains(res.Text, "describe this") {
					t.Errorf("answer = %q, want the echo of the text beside the image", res.Text)
				}
				return
			}
			e := asError(t, err, "Chat(image URL)")
			if e.Code != llm.CodeFeatureNotSupported || !strings.Contains(e.Message, s.a.Name) {
				t.Errorf("Chat(image URL) error = %v, want feature_not_supported naming provider %s", e, s.a.Name)
			}
			if n := s.calls(); n > 0 {
				t.Errorf("upstream requests = %d, want none for a refused feature", n)
			}
		})
	}
}

// large checks answers far larger than usual, streamed or not.
func (s *suite) large(t *testing.T) {
	if s.a.EchoLimit > 0 {
		t.Skipf("the fake echoes at most %d bytes", s.a.EchoLimit)
	}
	for _, c := range []struct {
		stream      bool
		words, size int
	}{{false, 1, 1 << 20}, {false, 10000, 8}, {true, 2000, 8}, {true, 2, 256 << 10}} {
		t.Run(fmt.Sprintf("stream=%v/words=%d", c.stream, c.words), func(t *testing.T) {
			var b strings.Builder
			for i := range c.words {
				if i > 0 {
					b.WriteByte(' ')
				}
				w := fmt.Sprintf("w%d-", i)
				b.WriteString(w + strings.Repeat("x", max(c.size-len(w), 1)))
			}
			text := b.String()
			s.relay(mode{})
			res := s.mustChat(t, s.request(s.a.Model, c.stream, userText(text)))
			if !strings.Contains(res.Text, text) {
				t.Errorf("answer has %d bytes, want the echo of all %d", len(res.Text), len(text))
			}
			s.checkUsage(t, res)
		})
	}
}

// cancel cancels a stream midway, by Close and by the context, and checks
// that the upstream connection is dropped.
func (s *suite) cancel(t *testing.T) {
	words := make([]string, 80)
	for i := range words {
		words[i] = fmt.Sprintf("word%d", i)
	}
	long := strings.Join(words, " ")
	for _, how := range []string{"close", "context"} {
		t.Run(how, func(t *testing.T) {
			s.relay(mode{stall: true})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			reply, err := s.p.Chat(ctx, s.request(s.a.Model, true, userText(long)))
			if err != nil {
				t.Fatalf("Chat error = %v", err)
			}
			defer reply.Stream.Close()
			if _, err := reply.Stream.Next(); err != nil {
				t.Fatalf("first Next() error = %v, want an event", err)
			}
			if how == "close" {
				reply.Stream.Close()
			} else {
				cancel()
			}
			wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer wcancel()
			ended := make(chan error, 1)
			go func() {
				_, err := reply.Stream.Next()
				for i := 0; err == nil && i < len(words)*4; i++ {
					// Events already buffered may still come; the stream
					// must end with an error, never cleanly.
					_, err = reply.Stream.Next()
				}
				ended <- err
			}()
			select {
			case err = <-ended:
			case <-wctx.Done():
				t.Fatal("Next() after cancel was still blocked after 10s, want it to return at once")
			}
			if e := asError(t, err, "Next() after cancel"); e.Code != llm.CodeClientCancelled {
				t.Errorf("Next() after cancel error = %v, want client_cancelled", e)
			}
			if s.proxy == nil {
				return
			}
			_, pending, gone := s.proxy.state()
			if !waitClosed(wctx, pending) {
				t.Fatal("the stalled stream never reached the proxy")
			}
			if !waitClosed(wctx, gone) {
				t.Error("the upstream connection was still open 10s after the stream was cancelled")
			}
		})
	}
}

// nativeOnly sends a request that asks for something the neutral request
// cannot carry: translating it would drop it, so the adapter must refuse
// it, naming it, before any upstream call.
func (s *suite) nativeOnly(t *testing.T) {
	s.relay(mode{})
	req := s.echo(false)
	req.NativeOnly = func() []string { return []string{"presence_penalty", "logprobs"} }
	_, err := s.p.Chat(context.Background(), req)
	if err == nil {
		t.Fatal("Chat(request with presence_penalty the translation cannot carry) succeeded, want feature_not_supported")
	}
	e := asError(t, err, "Chat(native-only field)")
	s.checkError(t, e, llm.CodeFeatureNotSupported)
	if !strings.Contains(e.Message, "presence_penalty") {
		t.Errorf("error message %q does not name the field presence_penalty", e.Message)
	}
	if n := s.calls(); n != 0 {
		t.Errorf("upstream requests = %d, want none", n)
	}
}
