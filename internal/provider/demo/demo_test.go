package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

var epoch = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

func newProvider() *Provider {
	return &Provider{Name: "demo", Now: func() time.Time { return epoch }}
}

func user(text string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}}, ContentIsString: true}
}

func chatReq(text string) *llm.Request {
	return &llm.Request{Model: "demo-fast", Messages: []llm.Message{user(text)}}
}

func chat(t *testing.T, req *llm.Request) *llm.Response {
	t.Helper()
	r := *req
	r.Stream = false
	reply, err := newProvider().Chat(context.Background(), &r)
	if err != nil {
		t.Fatalf("Chat(%q) = %v, want a response", r.Model, err)
	}
	if reply.Response == nil || reply.Stream != nil {
		t.Fatalf("Chat(stream=false) = %+v, want a Response only", reply)
	}
	return reply.Response
}

// collected is a stream read to its end.
type collected struct {
	roles   map[int]llm.Role
	text    map[int]string
	tools   map[int][]llm.ToolCallDelta
	finish  map[int]llm.FinishReason
	usage   *llm.Usage
	events  int
	ids     map[string]bool
	lastErr error
}

func readStream(t *testing.T, ctx context.Context, p *Provider, req *llm.Request) *collected {
	t.Helper()
	r := *req
	r.Stream = true
	reply, err := p.Chat(ctx, &r)
	if err != nil {
		t.Fatalf("Chat(stream) = %v, want a stream", err)
	}
	if reply.Stream == nil || reply.Response != nil {
		t.Fatalf("Chat(stream=true) = %+v, want a Stream only", reply)
	}
	defer reply.Stream.Close()
	c := &collected{roles: map[int]llm.Role{}, text: map[int]string{}, tools: map[int][]llm.ToolCallDelta{},
		finish: map[int]llm.FinishReason{}, ids: map[string]bool{}}
	for {
		ev, err := reply.Stream.Next()
		if err != nil {
			c.lastErr = err
			return c
		}
		c.events++
		c.ids[ev.ID] = true
		if c.usage != nil {
			t.Errorf("Next() after the usage event = %+v, want io.EOF", ev)
		}
		if ev.Role != "" {
			c.roles[ev.Index] = ev.Role
		}
		c.text[ev.Index] += ev.Text
		c.tools[ev.Index] = append(c.tools[ev.Index], ev.ToolCalls...)
		if ev.FinishReason != "" {
			c.finish[ev.Index] = ev.FinishReason
		}
		if ev.Usage != nil {
			c.usage = ev.Usage
		}
	}
}

func TestChatIsDeterministic(t *testing.T) {
	tests := []struct {
		name string
		req  *llm.Request
	}{
		{"text", chatReq("What is a gateway?")},
		{"tools", &llm.Request{Model: "demo-fast", Messages: []llm.Message{user("weather in Paris")}, Tools: []llm.Tool{{Name: "weather"}}}},
		{"n_two", &llm.Request{Model: "demo-fast", Messages: []llm.Message{user("hi")}, N: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, second := chat(t, tt.req), chat(t, tt.req)
			if diff := cmp.Diff(first, second); diff != "" {
				t.Errorf("Chat twice differs (-first +second):\n%s", diff)
			}
			if !strings.HasPrefix(first.ID, "chatcmpl-demo-") || first.Created != epoch.Unix() || first.Model != "demo-fast" || !first.UsageReported {
				t.Errorf("Chat() = id %q created %d model %q reported %v, want chatcmpl-demo-…, %d, demo-fast, true", first.ID, first.Created, first.Model, first.UsageReported, epoch.Unix())
			}
		})
	}
	if a, b := chat(t, chatReq("one")).ID, chat(t, chatReq("two")).ID; a == b {
		t.Errorf("Chat(one).ID = Chat(two).ID = %q, want different ids for different prompts", a)
	}
}

func TestChatText(t *testing.T) {
	tests := []struct {
		name       string
		req        *llm.Request
		wantText   string
		wantFinish llm.FinishReason
	}{
		{"echo", chatReq("hello there"), "This is airgw's demo provider. You said: hello there", llm.FinishStop},
		{"trimmed", chatReq("  hello  "), "This is airgw's demo provider. You said: hello", llm.FinishStop},
		{"empty", chatReq(""), "Hello from airgw's demo provider. Ask me anything.", llm.FinishStop},
		{"no_messages", &llm.Request{Model: "demo-fast"}, "Hello from airgw's demo provider. Ask me anything.", llm.FinishStop},
		{"last_user_wins", &llm.Request{Messages: []llm.Message{user("first"), {Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartText, Text: "ok"}}}, user("second")}},
			"This is airgw's demo provider. You said: second", llm.FinishStop},
		{"max_tokens", &llm.Request{Messages: []llm.Message{user("hello there")}, MaxTokens: 3}, "This is airgw's", llm.FinishLength},
		{"max_tokens_exact", &llm.Request{Messages: []llm.Message{user("hi")}, MaxTokens: 8}, "This is airgw's demo provider. You said: hi", llm.FinishStop},
		{"max_tokens_one", &llm.Request{Messages: []llm.Message{user("hi")}, MaxTokens: 1}, "This", llm.FinishLength},
		{"after_tool", &llm.Request{Messages: []llm.Message{user("weather?"), {Role: llm.RoleTool, ToolCallID: "call_1", Content: []llm.Part{{Type: llm.PartText, Text: "sunny"}}}},
			Tools: []llm.Tool{{Name: "weather"}}}, "Thanks, the tool returned: sunny", llm.FinishStop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := chat(t, tt.req)
			if len(resp.Choices) != 1 {
				t.Fatalf("Chat(%s) choices = %d, want 1", tt.name, len(resp.Choices))
			}
			ch := resp.Choices[0]
			if got := ch.Message.Text(); got != tt.wantText {
				t.Errorf("Chat(%s) text = %q, want %q", tt.name, got, tt.wantText)
			}
			if ch.FinishReason != tt.wantFinish || ch.Message.Role != llm.RoleAssistant || len(ch.Message.ToolCalls) != 0 {
				t.Errorf("Chat(%s) = finish %q role %q tool calls %v, want %q assistant none", tt.name, ch.FinishReason, ch.Message.Role, ch.Message.ToolCalls, tt.wantFinish)
			}
			want := llm.Usage{InputTokens: llm.EstimateInputTokens(tt.req), OutputTokens: int64(len(strings.Fields(tt.wantText)))}
			if resp.Usage != want {
				t.Errorf("Chat(%s) usage = %+v, want %+v", tt.name, resp.Usage, want)
			}

			// The stream says the same thing, word by word.
			s := readStream(t, context.Background(), newProvider(), tt.req)
			if !errors.Is(s.lastErr, io.EOF) {
				t.Errorf("stream(%s) ended with %v, want io.EOF", tt.name, s.lastErr)
			}
			if s.text[0] != tt.wantText || s.finish[0] != tt.wantFinish || s.roles[0] != llm.RoleAssistant {
				t.Errorf("stream(%s) = %q finish %q role %q, want %q %q assistant", tt.name, s.text[0], s.finish[0], s.roles[0], tt.wantText, tt.wantFinish)
			}
			if s.usage == nil || *s.usage != want {
				t.Errorf("stream(%s) usage = %+v, want %+v", tt.name, s.usage, want)
			}
			// role + one event per word + finish + usage.
			if wantEvents := len(strings.Fields(tt.wantText)) + 3; s.events != wantEvents {
				t.Errorf("stream(%s) events = %d, want %d", tt.name, s.events, wantEvents)
			}
			if len(s.ids) != 1 || !s.ids[resp.ID] {
				t.Errorf("stream(%s) ids = %v, want only %q", tt.name, s.ids, resp.ID)
			}
		})
	}
}

func TestChatToolCall(t *testing.T) {
	tools := []llm.Tool{{Name: "search", Description: "web search"}, {Name: "lookup"}}
	tests := []struct {
		name     string
		choice   *llm.ToolChoice
		wantTool string // "" for a text answer
	}{
		{"auto_default", nil, "search"},
		{"auto", &llm.ToolChoice{Mode: "auto"}, "search"},
		{"required", &llm.ToolChoice{Mode: "required"}, "search"},
		{"named", &llm.ToolChoice{Mode: "function", Name: "lookup"}, "lookup"},
		{"named_unknown", &llm.ToolChoice{Mode: "function", Name: "nope"}, "search"},
		{"none", &llm.ToolChoice{Mode: "none"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &llm.Request{Model: "demo-fast", Messages: []llm.Message{user("cats in Paris")}, Tools: tools, ToolChoice: tt.choice}
			resp := chat(t, req)
			msg := resp.Choices[0].Message
			if tt.wantTool == "" {
				if len(msg.ToolCalls) != 0 || resp.Choices[0].FinishReason != llm.FinishStop || msg.Text() == "" {
					t.Errorf("Chat(tool_choice %+v) = %+v finish %q, want a text answer", tt.choice, msg, resp.Choices[0].FinishReason)
				}
				return
			}
			wantArgs := `{"query":"cats in Paris"}`
			want := []llm.ToolCall{{ID: "call_demo_" + digest(req)[:12], Name: tt.wantTool, Arguments: wantArgs}}
			if diff := cmp.Diff(want, msg.ToolCalls); diff != "" {
				t.Errorf("Chat(tool_choice %+v) tool calls mismatch (-want +got):\n%s", tt.choice, diff)
			}
			if resp.Choices[0].FinishReason != llm.FinishToolCalls || msg.Text() != "" {
				t.Errorf("Chat(tool_choice %+v) = finish %q text %q, want tool_calls and no text", tt.choice, resp.Choices[0].FinishReason, msg.Text())
			}
			wantUsage := llm.Usage{InputTokens: llm.EstimateInputTokens(req), OutputTokens: int64(llm.EstimateTextTokens(wantArgs))}
			if resp.Usage != wantUsage {
				t.Errorf("Chat(tool_choice %+v) usage = %+v, want %+v", tt.choice, resp.Usage, wantUsage)
			}

			s := readStream(t, context.Background(), newProvider(), req)
			wantDeltas := []llm.ToolCallDelta{{Index: 0, ID: want[0].ID, Name: want[0].Name, Arguments: wantArgs}}
			if diff := cmp.Diff(wantDeltas, s.tools[0]); diff != "" {
				t.Errorf("stream(tool_choice %+v) tool deltas mismatch (-want +got):\n%s", tt.choice, diff)
			}
			if s.finish[0] != llm.FinishToolCalls || s.text[0] != "" || s.usage == nil || *s.usage != wantUsage {
				t.Errorf("stream(tool_choice %+v) = finish %q text %q usage %+v, want tool_calls, no text, %+v", tt.choice, s.finish[0], s.text[0], s.usage, wantUsage)
			}
		})
	}
}

func TestToolArgumentsAreJSON(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		query string
	}{
		{"plain", "weather", "weather"},
		{"quotes", `say "hi" \ bye`, `say "hi" \ bye`},
		{"control", "a\x1bb\x7fc\x00d", "a\x1bb\x7fc\x00d"},
		{"newline", "line1\nline2", "line1\nline2"},
		{"html", "<b>&</b>", "<b>&</b>"},
		{"unicode", "héllo \u2028 😀", "héllo \u2028 😀"},
		{"long", strings.Repeat("€", 100), strings.Repeat("€", 66) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &llm.Request{Messages: []llm.Message{user(tt.text)}, Tools: []llm.Tool{{Name: "f"}}}
			args := chat(t, req).Choices[0].Message.ToolCalls[0].Arguments
			var got struct{ Query string }
			if err := json.Unmarshal([]byte(args), &got); err != nil {
				t.Fatalf("tool arguments for %q = %s, want valid JSON: %v", tt.text, args, err)
			}
			if got.Query != tt.query {
				t.Errorf("tool arguments for %q: query = %q, want %q", tt.text, got.Query, tt.query)
			}
		})
	}
}

func TestChatChoices(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		tools bool
	}{
		{"zero_is_one", 0, false},
		{"one", 1, false},
		{"three", 3, false},
		{"two_tools", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &llm.Request{Messages: []llm.Message{user("hello there")}, N: tt.n}
			if tt.tools {
				req.Tools = []llm.Tool{{Name: "f"}}
			}
			want := max(tt.n, 1)
			single := chat(t, &llm.Request{Messages: req.Messages, Tools: req.Tools})
			resp := chat(t, req)
			if len(resp.Choices) != want {
				t.Fatalf("Chat(n=%d) choices = %d, want %d", tt.n, len(resp.Choices), want)
			}
			for i, ch := range resp.Choices {
				if ch.Index != i {
					t.Errorf("Chat(n=%d) choice %d index = %d, want %d", tt.n, i, ch.Index, i)
				}
				if diff := cmp.Diff(single.Choices[0].Message, ch.Message); diff != "" {
					t.Errorf("Chat(n=%d) choice %d differs from n=1 (-want +got):\n%s", tt.n, i, diff)
				}
			}
			wantUsage := llm.Usage{InputTokens: single.Usage.InputTokens, OutputTokens: single.Usage.OutputTokens * int64(want)}
			if resp.Usage != wantUsage {
				t.Errorf("Chat(n=%d) usage = %+v, want %+v", tt.n, resp.Usage, wantUsage)
			}

			s := readStream(t, context.Background(), newProvider(), req)
			for i := range want {
				if s.text[i] != single.Choices[0].Message.Text() || s.finish[i] != single.Choices[0].FinishReason || s.roles[i] != llm.RoleAssistant {
					t.Errorf("stream(n=%d) choice %d = %q %q %q, want %q %q assistant", tt.n, i, s.text[i], s.finish[i], s.roles[i],
						single.Choices[0].Message.Text(), single.Choices[0].FinishReason)
				}
			}
			if len(s.finish) != want {
				t.Errorf("stream(n=%d) finished choices = %d, want %d", tt.n, len(s.finish), want)
			}
			if s.usage == nil || *s.usage != wantUsage {
				t.Errorf("stream(n=%d) usage = %+v, want %+v", tt.n, s.usage, wantUsage)
			}
		})
	}
}

func TestChatCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reply, err := newProvider().Chat(ctx, chatReq("hi"))
	var le *llm.Error
	if !errors.As(err, &le) || le.Code != llm.CodeClientCancelled || reply != nil {
		t.Errorf("Chat(cancelled ctx) = %v, %v, want nil, a client_cancelled error", reply, err)
	}
}

func TestStreamStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reply, err := newProvider().Chat(ctx, &llm.Request{Messages: []llm.Message{user("one two three four")}, Stream: true})
	if err != nil {
		t.Fatalf("Chat(stream) = %v, want a stream", err)
	}
	for range 3 {
		if _, err := reply.Stream.Next(); err != nil {
			t.Fatalf("Next() before cancel = %v, want an event", err)
		}
	}
	cancel()
	for i := range 2 { // it stays stopped
		_, err := reply.Stream.Next()
		var le *llm.Error
		if !errors.As(err, &le) || le.Code != llm.CodeClientCancelled {
			t.Errorf("Next() #%d after cancel = %v, want a client_cancelled error", i, err)
		}
	}
}

func TestStreamCancelDuringChunkDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := &Provider{ChunkDelay: time.Hour}
		reply, err := p.Chat(ctx, &llm.Request{Messages: []llm.Message{user("hi")}, Stream: true})
		if err != nil {
			t.Fatalf("Chat(stream) = %v, want a stream", err)
		}
		if _, err := reply.Stream.Next(); err != nil { // role: no delay
			t.Fatalf("Next() = %v, want the role event", err)
		}
		start := time.Now()
		ev, err := reply.Stream.Next() // first word: one ChunkDelay
		if err != nil || ev.Text != "This" {
			t.Fatalf("Next() = %+v, %v, want the word This", ev, err)
		}
		if waited := time.Since(start); waited != time.Hour {
			t.Errorf("Next() waited %v, want ChunkDelay 1h", waited)
		}

		done := make(chan error)
		go func() {
			_, err := reply.Stream.Next()
			done <- err
		}()
		synctest.Wait() // Next is blocked in its delay
		cancel()
		err = <-done
		var le *llm.Error
		if !errors.As(err, &le) || le.Code != llm.CodeClientCancelled {
			t.Errorf("Next() cancelled during its delay = %v, want a client_cancelled error", err)
		}
		if waited := time.Since(start); waited != time.Hour {
			t.Errorf("cancel took until %v, want it to end the wait at once (1h total)", waited)
		}
	})
}

func TestStreamCloseEnds(t *testing.T) {
	reply, err := newProvider().Chat(context.Background(), &llm.Request{Messages: []llm.Message{user("hi")}, Stream: true})
	if err != nil {
		t.Fatalf("Chat(stream) = %v, want a stream", err)
	}
	if err := reply.Stream.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	var e *llm.Error
	if _, err := reply.Stream.Next(); !errors.As(err, &e) || e.Code != llm.CodeClientCancelled {
		t.Errorf("Next() after Close = %v, want client_cancelled (the stream did not end)", err)
	}
}

func TestLongPromptTruncatedOnRuneBoundary(t *testing.T) {
	tests := []struct {
		name string
		r    string
	}{
		{"one_byte", "a"},
		{"two_bytes", "é"},
		{"three_bytes", "€"},
		{"four_bytes", "😀"},
		{"mixed", "a€😀é"},
	}
	const prefix = "This is airgw's demo provider. You said: "
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prompt := strings.Repeat(tt.r, 1000/len(tt.r)+1)
			text := chat(t, chatReq(prompt)).Choices[0].Message.Text()
			echoed, ok := strings.CutPrefix(text, prefix)
			if !ok || !utf8.ValidString(text) {
				t.Fatalf("Chat(%d × %q) = %q, want valid UTF-8 starting %q", len(prompt)/len(tt.r), tt.r, text, prefix)
			}
			cut, ok := strings.CutSuffix(echoed, "…")
			if !ok || !strings.HasPrefix(prompt, cut) || len(cut) > 400 || len(cut) <= 400-utf8.UTFMax {
				t.Errorf("Chat(%d × %q) echoed %d bytes %q, want a prefix of the prompt of 397–400 bytes and …", len(prompt)/len(tt.r), tt.r, len(cut), echoed)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 4, "hell…"},
		{"hello", 0, "…"},
		{"héllo", 2, "h…"}, // é is bytes 1–2
		{"héllo", 3, "hé…"},
		{"€€", 4, "€…"},
		{"€€", 5, "€…"},
		{"€€", 3, "€…"},
		{"😀x", 3, "…"},
		{"😀x", 4, "😀…"},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld", 3)
	f.Add("😀😀😀", 5)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if !utf8.ValidString(s) || n < 0 || n > len(s)+1 {
			return
		}
		got := truncate(s, n)
		if !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want valid UTF-8", s, n, got)
		}
		if len(s) <= n {
			if got != s {
				t.Errorf("truncate(%q, %d) = %q, want it unchanged", s, n, got)
			}
			return
		}
		cut, ok := strings.CutSuffix(got, "…")
		if !ok || !strings.HasPrefix(s, cut) || len(cut) > n {
			t.Errorf("truncate(%q, %d) = %q, want a prefix of at most %d bytes and …", s, n, got, n)
		}
	})
}
