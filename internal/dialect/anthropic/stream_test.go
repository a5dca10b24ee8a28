package anthropic

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/sse"
)

// output is the gateway's Output contract, restated here because a dialect
// may not import the gateway; the guard keeps Writer in step with it.
type output interface {
	Header() http.Header
	WriteResponse(resp *llm.Response) error
	WriteEvent(ev *llm.Event) error
	EndStream(err *llm.Error) error
	WriteError(err *llm.Error)
	Written() bool
}

var _ output = (*Writer)(nil)

// streamCase is a neutral event sequence, how it ends, and the complete
// response it amounts to (what an SDK accumulating the stream must get).
type streamCase struct {
	name   string
	events []llm.Event
	end    *llm.Error
	want   *llm.Response // nil when the stream ends in an error
}

func tokens(in, out, read, write int64) *llm.Usage {
	return &llm.Usage{InputTokens: in, OutputTokens: out, CacheReadTokens: read, CacheWriteTokens: write}
}

func streamCases() []streamCase {
	const id, model = "chatcmpl-9", "gpt-4o-mini"
	ev := func(e llm.Event) llm.Event { e.ID, e.Model = id, model; return e }
	return []streamCase{
		{
			name: "openai_text_usage_at_end",
			events: []llm.Event{
				ev(llm.Event{Role: llm.RoleAssistant}),
				ev(llm.Event{Text: "Hello"}),
				ev(llm.Event{Text: ", <world>"}),
				ev(llm.Event{FinishReason: llm.FinishStop}),
				ev(llm.Event{Usage: tokens(120, 4, 100, 0)}),
			},
			want: &llm.Response{ID: id, Model: model, Usage: *tokens(120, 4, 100, 0),
				Choices: []llm.Choice{{Message: llm.Message{Content: []llm.Part{text("Hello, <world>")}}, FinishReason: llm.FinishStop}}},
		},
		{
			name: "openai_parallel_tools",
			events: []llm.Event{
				ev(llm.Event{Role: llm.RoleAssistant, Text: "Let me check."}),
				ev(llm.Event{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_a", Name: "get_weather"}}}),
				ev(llm.Event{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"city":`}}}),
				ev(llm.Event{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: ` "Paris"}`}}}),
				ev(llm.Event{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "call_b", Name: "get_time", Arguments: `{}`}}}),
				ev(llm.Event{FinishReason: llm.FinishToolCalls, Usage: tokens(60, 30, 0, 0)}),
			},
			want: &llm.Response{ID: id, Model: model, Usage: *tokens(60, 30, 0, 0),
				Choices: []llm.Choice{{Message: llm.Message{Content: []llm.Part{text("Let me check.")},
					ToolCalls: []llm.ToolCall{{ID: "call_a", Name: "get_weather", Arguments: `{"city": "Paris"}`}, {ID: "call_b", Name: "get_time", Arguments: `{}`}}},
					FinishReason: llm.FinishToolCalls}}},
		},
		{
			name: "thinking_then_text_usage_at_start",
			events: []llm.Event{
				ev(llm.Event{Role: llm.RoleAssistant, Usage: tokens(40, 1, 0, 30)}),
				ev(llm.Event{Thinking: "The user wants "}),
				ev(llm.Event{Thinking: "two names."}),
				ev(llm.Event{ThinkingSignature: "EqQBCkYIBxgC"}),
				ev(llm.Event{RedactedThinking: "EmwKAhgBEgy"}),
				ev(llm.Event{Text: "Pelly and Gulliver."}),
				ev(llm.Event{FinishReason: llm.FinishLength, Usage: tokens(40, 90, 0, 30)}),
			},
			want: &llm.Response{ID: id, Model: model, Usage: *tokens(40, 90, 0, 30),
				Choices: []llm.Choice{{Message: llm.Message{Content: []llm.Part{
					{Type: llm.PartThinking, Text: "The user wants two names.", Signature: "EqQBCkYIBxgC"},
					{Type: llm.PartRedactedThinking, Data: "EmwKAhgBEgy"},
					text("Pelly and Gulliver."),
				}}, FinishReason: llm.FinishLength}}},
		},
		{
			name: "stop_sequence_without_usage",
			events: []llm.Event{
				ev(llm.Event{Text: "1, 2, 3"}),
				ev(llm.Event{FinishReason: llm.FinishStop, StopSequence: ", 4"}),
			},
			want: &llm.Response{ID: id, Model: model, StopSequence: ", 4",
				Choices: []llm.Choice{{Message: llm.Message{Content: []llm.Part{text("1, 2, 3")}}, FinishReason: llm.FinishStop}}},
		},
		{
			name:   "empty",
			events: nil,
			want:   &llm.Response{ID: "msg_req_s", Choices: []llm.Choice{{FinishReason: llm.FinishStop}}},
		},
		{
			name: "second_choice_ignored_and_missing_tool_id",
			events: []llm.Event{
				ev(llm.Event{Text: "a"}),
				ev(llm.Event{Index: 1, Text: "b"}),
				ev(llm.Event{ToolCalls: []llm.ToolCallDelta{{Index: 0, Name: "f", Arguments: `{"x":1}`}}}),
				ev(llm.Event{FinishReason: llm.FinishToolCalls}),
			},
			want: &llm.Response{ID: id, Model: model,
				Choices: []llm.Choice{{Message: llm.Message{Content: []llm.Part{text("a")},
					ToolCalls: []llm.ToolCall{{ID: "toolu_req_s_0", Name: "f", Arguments: `{"x":1}`}}}, FinishReason: llm.FinishToolCalls}}},
		},
		{
			name: "tool_index_reused_with_new_ids",
			events: []llm.Event{
				ev(llm.Event{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_1", Name: "f", Arguments: `{"a":`}}}),
				ev(llm.Event{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_1", Arguments: `1}`}}}),
				ev(llm.Event{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_2", Name: "g", Arguments: `{}`}}}),
				ev(llm.Event{FinishReason: llm.FinishToolCalls, Usage: tokens(5, 6, 0, 0)}),
			},
			want: &llm.Response{ID: id, Model: model, Usage: *tokens(5, 6, 0, 0),
				Choices: []llm.Choice{{Message: llm.Message{
					ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "f", Arguments: `{"a":1}`}, {ID: "call_2", Name: "g", Arguments: `{}`}}}, FinishReason: llm.FinishToolCalls}}},
		},
		{
			name: "interrupted",
			events: []llm.Event{
				ev(llm.Event{Text: "partial"}),
			},
			end: &llm.Error{Code: llm.CodeStreamInterrupted, Message: "provider `openai` broke the stream; retry the request"},
		},
	}
}

// encodeStream writes events through a Writer and returns the SSE text.
func encodeStream(t *testing.T, events []llm.Event, end *llm.Error) (*httptest.ResponseRecorder, *Writer) {
	t.Helper()
	rec := httptest.NewRecorder()
	w := NewWriter(rec, "req_s")
	for i := range events {
		if err := w.WriteEvent(&events[i]); err != nil {
			t.Fatalf("WriteEvent(%d) error = %v", i, err)
		}
	}
	if err := w.EndStream(end); err != nil {
		t.Fatalf("EndStream() error = %v", err)
	}
	return rec, w
}

func TestStreamNeutral(t *testing.T) {
	for _, tt := range streamCases() {
		t.Run(tt.name, func(t *testing.T) {
			rec, w := encodeStream(t, tt.events, tt.end)
			if !w.Written() || rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") || !rec.Flushed {
				t.Errorf("stream %s = status %d, content type %q, flushed %v; want 200 event-stream flushed", tt.name, rec.Code, rec.Header().Get("Content-Type"), rec.Flushed)
			}
			golden(t, "stream_"+tt.name+".sse", rec.Body.Bytes())
			names := eventNames(t, rec.Body.Bytes())
			if tt.end != nil {
				if names[len(names)-1] != "error" || strings.Contains(rec.Body.String(), "message_stop") {
					t.Errorf("stream %s ended with %v, want an error event and no message_stop", tt.name, names)
				}
				return
			}
			if n := strings.Count(strings.Join(names, " "), "ping"); len(tt.events) > 0 && n != 1 {
				t.Errorf("stream %s has %d pings, want 1", tt.name, n)
			}
			if names[0] != "message_start" || names[len(names)-1] != "message_stop" || names[len(names)-2] != "message_delta" {
				t.Errorf("stream %s events = %v, want message_start … message_delta message_stop", tt.name, names)
			}
		})
	}
}

func eventNames(t *testing.T, body []byte) []string {
	t.Helper()
	var names []string
	r := sse.NewReader(bytes.NewReader(body))
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("reading the stream back: %v", err)
		}
		names = append(names, ev.Name)
	}
}

// fixtureEvents reads a recorded Anthropic stream as native events.
func fixtureEvents(t *testing.T, name string) (events []llm.Event, body []byte) {
	t.Helper()
	f, err := os.Open("testdata/fixtures/" + name + ".http")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := sse.NewReader(bytes.NewReader(body))
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return events, body
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, llm.Event{Native: &llm.Native{Dialect: llm.DialectAnthropic, Body: bytes.Clone(ev.Data)}})
	}
}

func TestStreamNativeVerbatim(t *testing.T) {
	for _, name := range []string{"messages-stream-text", "messages-stream-thinking", "messages-stream-parallel-tool-use", "messages-stream-tool-use-input-json", "messages-stream-thinking-long"} {
		t.Run(name, func(t *testing.T) {
			events, body := fixtureEvents(t, name)
			rec, _ := encodeStream(t, events, nil)
			if got := rec.Body.String(); got != string(body) {
				t.Errorf("native relay of %s differs from the recording:\n got %q\nwant %q", name, firstDiff(got, string(body)), firstDiff(string(body), got))
			}
		})
	}
}

// firstDiff returns a from the first byte where it differs from b.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[i:min(len(a), i+80)]
}

func TestStreamNativeCompleted(t *testing.T) {
	events, _ := fixtureEvents(t, "messages-stream-text")
	// Cut the stream after the second text delta: the open block is
	// closed and the message ended, as for a neutral stream.
	cut := events[:4]
	cut = append(cut, llm.Event{Native: &llm.Native{Dialect: llm.DialectAnthropic, Body: []byte(`not json`)}})
	rec, _ := encodeStream(t, cut, nil)
	golden(t, "stream_native_completed.sse", rec.Body.Bytes())

	rec, _ = encodeStream(t, events[:3], &llm.Error{Code: llm.CodeProviderUnavailable, UpstreamStatus: 529, Message: "provider `anthropic` is overloaded; retry shortly"})
	golden(t, "stream_native_overloaded.sse", rec.Body.Bytes())
}

func TestEndStreamErrorBeforeEvents(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec, "req_e")
	if err := w.EndStream(&llm.Error{Code: llm.CodeProviderRateLimited, Message: "slow down", RetryAfter: 3e9}); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"error","error":{"type":"rate_limit_error","message":"slow down","code":"provider_rate_limited"},"request_id":"req_e"}`
	if rec.Code != 429 || rec.Body.String() != want || rec.Header().Get("Retry-After") != "3" {
		t.Errorf("EndStream(error) before events = %d %s (Retry-After %q), want 429 %s", rec.Code, rec.Body, rec.Header().Get("Retry-After"), want)
	}
	// After a stream started, WriteError ends it with an error event.
	rec = httptest.NewRecorder()
	w = NewWriter(rec, "req_e")
	_ = w.WriteEvent(&llm.Event{Text: "x"})
	w.WriteError(&llm.Error{Code: llm.CodeInternal, Message: "boom"})
	if names := eventNames(t, rec.Body.Bytes()); names[len(names)-1] != "error" {
		t.Errorf("WriteError after events ended the stream with %v, want an error event", names)
	}
}

// discard is a ResponseWriter that flushes nowhere, for benchmarks.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

func BenchmarkWriteEventNeutralText(b *testing.B) {
	w := NewWriter(&discard{h: http.Header{}}, "req_b")
	ev := llm.Event{ID: "chatcmpl-1", Model: "gpt-4o", Text: "a typical token or two"}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteEvent(&ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteEventNative(b *testing.B) {
	w := NewWriter(&discard{h: http.Header{}}, "req_b")
	ev := llm.Event{Native: &llm.Native{Dialect: llm.DialectAnthropic,
		Body: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a typical token or two"}}`)}}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteEvent(&ev); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReadHead(t *testing.T) {
	tests := []struct {
		name string
		body string
		want nativeHead
		ok   bool
	}{
		{"delta", `{"type":"content_block_delta","index":12,"delta":{"type":"text_delta","text":"x"}}`, nativeHead{"content_block_delta", 12, true}, true},
		{"stop_padded", `{"type":"content_block_stop","index":0        }`, nativeHead{"content_block_stop", 0, true}, true},
		{"ping_spaced", `{"type": "ping"}`, nativeHead{Type: "ping"}, true},
		{"message_stop", `{"type":"message_stop"}`, nativeHead{Type: "message_stop"}, true},
		{"index_later", `{"type":"content_block_start","content_block":{"type":"text","text":"\"index\":5"},"index":3}`, nativeHead{"content_block_start", 3, true}, true},
		{"escaped_type", `{"type":"a\"b"}`, nativeHead{Type: `a"b`}, true},
		{"unknown_type", `{"type":"future_event","x":1}`, nativeHead{Type: "future_event"}, true},
		{"no_type", `{"index":1}`, nativeHead{}, false},
		{"not_json", `event: x`, nativeHead{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := readHead([]byte(tt.body))
			if ok != tt.ok || !cmp.Equal(got, tt.want) {
				t.Errorf("readHead(%s) = %+v, %v; want %+v, %v", tt.body, got, ok, tt.want, tt.ok)
			}
		})
	}
}
