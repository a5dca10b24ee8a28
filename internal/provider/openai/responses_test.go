package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/google/go-cmp/cmp"
)

func responsesReq(model string, stream bool, body string) *llm.Request {
	return &llm.Request{Model: model, Stream: stream,
		Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: ResponsesEndpoint, Body: json.RawMessage(body)}}
}

func TestResponsesNonStream(t *testing.T) {
	tests := []struct {
		fixture string
		usage   llm.Usage
		text    string
		calls   int
		finish  llm.FinishReason
	}{
		{"responses-basic", llm.Usage{InputTokens: 14, OutputTokens: 8}, "The capital of France is Paris.", 0, llm.FinishStop},
		{"responses-reasoning", llm.Usage{InputTokens: 88, OutputTokens: 547, ReasoningTokens: 128}, "", 0, llm.FinishStop},
		{"responses-tool-call", llm.Usage{InputTokens: 40, OutputTokens: 18}, "", 1, llm.FinishToolCalls},
	}
	fake := openaitest.NewServer(t)
	c := newClient(t, fake.URL())
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			reply, err := c.Chat(context.Background(), responsesReq("fixture:"+tt.fixture, false, `{"model":"alias","input":"q"}`))
			if err != nil {
				t.Fatal(err)
			}
			r := reply.Response
			if diff := cmp.Diff(tt.usage, r.Usage); diff != "" || !r.UsageReported {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			_, _, body, _ := openaitest.LoadFixture(tt.fixture)
			if !bytes.Equal(r.Native.Body, body) || r.Native.Endpoint != ResponsesEndpoint {
				t.Errorf("Native = %s %d bytes, want the fixture body", r.Native.Endpoint, len(r.Native.Body))
			}
			ch := r.Choices[0]
			if tt.text != "" && ch.Message.Text() != tt.text {
				t.Errorf("text = %q, want %q", ch.Message.Text(), tt.text)
			}
			if len(ch.Message.ToolCalls) != tt.calls || ch.FinishReason != tt.finish {
				t.Errorf("calls %d finish %q, want %d %q", len(ch.Message.ToolCalls), ch.FinishReason, tt.calls, tt.finish)
			}
		})
	}
	if p := fake.Requests()[0]; p.Path != "/v1/responses" || string(p.Fields["model"]) != `"fixture:responses-basic"` {
		t.Errorf("sent %s model %s", p.Path, p.Fields["model"])
	}
}

// responsesCollected is what a Responses stream produced.
type responsesCollected struct {
	Events int
	Text   string
	Args   string
	Usage  *llm.Usage
	Finish llm.FinishReason
}

func collectResponses(t *testing.T, s llm.Stream) (responsesCollected, []byte, error) {
	t.Helper()
	defer s.Close()
	var c responsesCollected
	var native []byte
	for {
		ev, err := s.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return c, native, err
		}
		c.Events++
		if ev.Native == nil || ev.Native.Endpoint != ResponsesEndpoint || !bytes.HasPrefix(ev.Native.Body, []byte("event: ")) {
			t.Fatalf("event %d Native = %+v, want an SSE block", c.Events, ev.Native)
		}
		native = append(append(native, ev.Native.Body...), '\n', '\n')
		c.Text += ev.Text
		for _, tc := range ev.ToolCalls {
			c.Args += tc.Arguments
		}
		if ev.Usage != nil {
			c.Usage = ev.Usage
		}
		if ev.FinishReason != "" {
			c.Finish = ev.FinishReason
		}
	}
}

func TestResponsesStreamFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		azure   bool
		usage   llm.Usage
		text    string
	}{
		{"responses-stream-text", false, llm.Usage{InputTokens: 278, OutputTokens: 9}, "The capital of France is Paris."},
		{"responses-stream-tool-call-usage", false, llm.Usage{InputTokens: 53, OutputTokens: 469, ReasoningTokens: 448}, ""},
		{"responses-stream-tool-call-gpt5", false, llm.Usage{InputTokens: 63, OutputTokens: 77}, ""},
		{"azure-responses-stream-text-gpt5-mini", true, llm.Usage{InputTokens: 19, OutputTokens: 208, ReasoningTokens: 192}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			var c *Client
			if tt.azure {
				fake := openaitest.NewServer(t, openaitest.WithAzure("v1"))
				c = newAzure(t, fake, "v1")
			} else {
				c = newClient(t, openaitest.NewServer(t).URL())
			}
			reply, err := c.Chat(context.Background(), responsesReq("fixture:"+tt.fixture, true, `{"model":"alias","input":"q","stream":true}`))
			if err != nil {
				t.Fatal(err)
			}
			got, native, err := collectResponses(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.usage, got.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			_, _, body, _ := openaitest.LoadFixture(tt.fixture)
			if !bytes.Equal(native, body) {
				t.Errorf("the events' Native blocks do not rebuild the fixture byte for byte")
			}
			if n := bytes.Count(body, []byte("\nevent: ")) + 1; got.Events != n {
				t.Errorf("events = %d, want %d", got.Events, n)
			}
			if tt.text != "" && got.Text != tt.text {
				t.Errorf("text = %q, want %q", got.Text, tt.text)
			}
			if got.Finish == "" {
				t.Errorf("no finish reason on the terminal event")
			}
		})
	}
}

func TestResponsesEcho(t *testing.T) {
	fake := openaitest.NewServer(t, openaitest.WithUsageDetails(2, 5))
	c := newClient(t, fake.URL())
	const body = `{"model":"alias","input":[{"role":"user","content":[{"type":"input_text","text":"hello there"}]}],"metadata":{"purpose":"t"},"stream":%s}`
	u := openaitest.EchoResponsesUsage("hello there", "echo: hello there")
	want := llm.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens + 5, CacheReadTokens: 2, ReasoningTokens: 5}

	reply, err := c.Chat(context.Background(), responsesReq("gpt-5", false, strings.Replace(body, "%s", "false", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, reply.Response.Usage); diff != "" {
		t.Errorf("non-stream usage (-want +got):\n%s", diff)
	}
	if got := reply.Response.Choices[0].Message.Text(); got != "echo: hello there" {
		t.Errorf("text = %q", got)
	}
	if f := fake.Requests()[0].Fields; f["metadata"] == nil || f["stream_options"] != nil {
		t.Errorf("sent %v: metadata must pass through and stream_options never be added", f)
	}

	reply, err = c.Chat(context.Background(), responsesReq("gpt-5", true, strings.Replace(body, "%s", "true", 1)))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := collectResponses(t, reply.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, got.Usage); diff != "" || got.Text != "echo: hello there" {
		t.Errorf("stream text %q usage (-want +got):\n%s", got.Text, diff)
	}
}

func TestResponsesErrors(t *testing.T) {
	tests := []struct {
		name   string
		model  string
		stream bool
		mod    func(*Config)
		code   llm.Code
		param  string
	}{
		{"cut-stream", "cut:3", true, nil, llm.CodeStreamInterrupted, ""},
		{"http-400-fixture", "fixture:responses-error-400", false, nil, llm.CodeUpstreamInvalidRequest, "temperature"},
		{"rate-limited", "error:429", true, nil, llm.CodeProviderRateLimited, ""},
		{"preset-without-responses", "m", false, func(c *Config) { c.Preset = "deepseek" }, llm.CodeFeatureNotSupported, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*Config)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			c := newClient(t, openaitest.NewServer(t).URL(), mods...)
			body := `{"model":"x","input":"a b c d e f","stream":false}`
			if tt.stream {
				body = strings.Replace(body, "false", "true", 1)
			}
			reply, err := c.Chat(context.Background(), responsesReq(tt.model, tt.stream, body))
			if err == nil && reply.Stream != nil {
				_, _, err = collectResponses(t, reply.Stream)
			}
			e := llm.AsError(err)
			if e.Code != tt.code || e.Param != tt.param {
				t.Errorf("error = %v (param %q), want %s param %q", err, e.Param, tt.code, tt.param)
			}
		})
	}
}

// serveSSE answers every request with body as an event stream.
func serveSSE(t *testing.T, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestResponsesStreamEnds(t *testing.T) {
	const created = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"model\":\"m\",\"status\":\"in_progress\"}}\n\n"
	tests := []struct {
		name   string
		body   string
		code   llm.Code // "" for a clean end
		events int
	}{
		{"no-terminal-event", created + "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n", llm.CodeStreamInterrupted, 2},
		{"error-event", created + "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"boom\",\"param\":null}\n\n", llm.CodeProviderUnavailable, 1},
		{"failed", created + "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"x\"},\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n", llm.CodeProviderUnavailable, 2},
		{"incomplete", created + "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"id\":\"r\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"usage\":{\"input_tokens\":3,\"output_tokens\":9}}}\n\n", "", 2},
		{"malformed", created + "data: {nope\n\n", llm.CodeStreamInterrupted, 1},
		{"no-event-names", "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, serveSSE(t, tt.body))
			reply, err := c.Chat(context.Background(), responsesReq("m", true, `{"model":"m","input":"x","stream":true}`))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := collectResponses(t, reply.Stream)
			if e := llm.AsError(err); (err == nil) != (tt.code == "") || (err != nil && e.Code != tt.code) {
				t.Errorf("stream error = %v, want code %q", err, tt.code)
			}
			if got.Events != tt.events {
				t.Errorf("events = %d, want %d", got.Events, tt.events)
			}
		})
	}
}
