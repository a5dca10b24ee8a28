package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/sse"
)

// These tests read airgw's output with the official Anthropic Go SDK: a
// non-streaming body decoded as anthropic.Message, and a stream accumulated
// with Message.Accumulate, as SDK users do. Both must say what the neutral
// response says.

// summary is what a client can read of a message, in neutral terms.
type summary struct {
	ID, Model    string
	Blocks       []block
	StopReason   string
	StopSequence string
	Usage        llm.Usage // InputTokens includes the cached tokens
}

type block struct {
	Type, Text, Signature, Data, ID, Name, Input string
}

// wantStopReason is the mapping of finish reasons, written out independently
// of the code under test.
var wantStopReason = map[llm.FinishReason]string{
	llm.FinishStop: "end_turn", llm.FinishLength: "max_tokens", llm.FinishToolCalls: "tool_use", llm.FinishContentFilter: "refusal", "": "end_turn",
}

// canonicalJSON re-encodes a JSON object so that equal objects compare
// equal; anything that is not an object reads as {}.
func canonicalJSON(s string) string {
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil || v == nil {
		return "{}"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func summaryOfNeutral(r *llm.Response, requestID string) summary {
	s := summary{ID: r.ID, Model: r.Model, Usage: r.Usage, StopReason: "end_turn"}
	s.Usage.ReasoningTokens = 0 // Anthropic does not report it apart
	if s.ID == "" {
		s.ID = "msg_" + requestID
	}
	if len(r.Choices) == 0 {
		return s
	}
	ch := r.Choices[0]
	s.StopReason = wantStopReason[ch.FinishReason]
	if ch.FinishReason == llm.FinishStop && r.StopSequence != "" {
		s.StopReason, s.StopSequence = "stop_sequence", r.StopSequence
	}
	for _, p := range ch.Message.Content {
		switch p.Type {
		case llm.PartText:
			if p.Text != "" {
				s.Blocks = append(s.Blocks, block{Type: "text", Text: p.Text})
			}
		case llm.PartThinking:
			s.Blocks = append(s.Blocks, block{Type: "thinking", Text: p.Text, Signature: p.Signature})
		case llm.PartRedactedThinking:
			s.Blocks = append(s.Blocks, block{Type: "redacted_thinking", Data: p.Data})
		}
	}
	for _, tc := range ch.Message.ToolCalls {
		s.Blocks = append(s.Blocks, block{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: canonicalJSON(tc.Arguments)})
	}
	return s
}

func summaryOfSDK(m *anthropic.Message) summary {
	s := summary{ID: m.ID, Model: string(m.Model), StopReason: string(m.StopReason), StopSequence: m.StopSequence, Usage: llm.Usage{
		InputTokens:      m.Usage.InputTokens + m.Usage.CacheReadInputTokens + m.Usage.CacheCreationInputTokens,
		OutputTokens:     m.Usage.OutputTokens,
		CacheReadTokens:  m.Usage.CacheReadInputTokens,
		CacheWriteTokens: m.Usage.CacheCreationInputTokens,
	}}
	for _, c := range m.Content {
		b := block{Type: c.Type}
		switch c.Type {
		case "text":
			b.Text = c.Text
		case "thinking":
			b.Text, b.Signature = c.Thinking, c.Signature
		case "redacted_thinking":
			b.Data = c.Data
		case "tool_use":
			b.ID, b.Name, b.Input = c.ID, c.Name, canonicalJSON(string(c.Input))
		}
		s.Blocks = append(s.Blocks, b)
	}
	return s
}

// accumulate reads an SSE body as the SDK's stream does and accumulates it.
func accumulate(t *testing.T, body []byte) *anthropic.Message {
	t.Helper()
	var msg anthropic.Message
	r := sse.NewReader(bytes.NewReader(body))
	stopped := false
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		var u anthropic.MessageStreamEventUnion
		if err := json.Unmarshal(ev.Data, &u); err != nil {
			t.Fatalf("event %s %s: %v", ev.Name, ev.Data, err)
		}
		if u.Type != ev.Name {
			t.Fatalf("event named %q has type %q", ev.Name, u.Type)
		}
		if stopped {
			t.Fatalf("event %s after message_stop", ev.Name)
		}
		if err := msg.Accumulate(u); err != nil {
			t.Fatalf("Accumulate(%s %s) error = %v", ev.Name, ev.Data, err)
		}
		stopped = u.Type == "message_stop"
	}
	if !stopped {
		t.Fatalf("stream did not end with message_stop")
	}
	return &msg
}

func TestSDKAccumulatesNeutralStreams(t *testing.T) {
	for _, tt := range streamCases() {
		if tt.want == nil {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			rec, _ := encodeStream(t, tt.events, nil)
			got := summaryOfSDK(accumulate(t, rec.Body.Bytes()))
			if diff := cmp.Diff(summaryOfNeutral(tt.want, "req_s"), got); diff != "" {
				t.Errorf("accumulated %s mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestSDKAccumulatesNativeStreams(t *testing.T) {
	// The relayed recording accumulates to the message Anthropic sent.
	events, _ := fixtureEvents(t, "messages-stream-tool-use-input-json")
	rec, _ := encodeStream(t, events, nil)
	m := accumulate(t, rec.Body.Bytes())
	if len(m.Content) != 2 || m.Content[1].Type != "tool_use" || canonicalJSON(string(m.Content[1].Input)) != `{"location":"Florence,Italy"}` || m.StopReason != "tool_use" {
		t.Errorf("accumulated native stream = %s, want text then tool_use with the location", m.RawJSON())
	}
}

func TestSDKDecodesResponses(t *testing.T) {
	for _, tt := range responseCases() {
		t.Run(tt.name, func(t *testing.T) {
			got := sdkMessage(t, tt.resp)
			if diff := cmp.Diff(summaryOfNeutral(tt.resp, "req_1"), summaryOfSDK(got)); diff != "" {
				t.Errorf("SDK reading of %s mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func sdkMessage(t *testing.T, resp *llm.Response) *anthropic.Message {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := NewWriter(rec, "req_1").WriteResponse(resp); err != nil {
		t.Fatal(err)
	}
	var m anthropic.Message
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("anthropic.Message from %s: %v", rec.Body, err)
	}
	return &m
}

// randomResponse builds a response with every kind of content Anthropic
// can carry, in an order a provider could produce.
func randomResponse(rng *rand.Rand, n int) *llm.Response {
	words := []string{"pelican", " ", "<b>", "&", "\n", "é", "\"quoted\"", "日本", "\\", "data: x", "\r\n"}
	str := func(k int) string {
		var b strings.Builder
		for range 1 + rng.IntN(k) {
			b.WriteString(words[rng.IntN(len(words))])
		}
		return b.String()
	}
	m := llm.Message{Role: llm.RoleAssistant}
	if rng.IntN(2) == 0 {
		m.Content = append(m.Content, llm.Part{Type: llm.PartThinking, Text: str(8), Signature: fmt.Sprintf("sig%d==", n)})
		if rng.IntN(3) == 0 {
			m.Content = append(m.Content, llm.Part{Type: llm.PartRedactedThinking, Data: fmt.Sprintf("redacted%d", n)})
		}
	}
	if rng.IntN(4) != 0 {
		m.Content = append(m.Content, text(str(12)))
	}
	fr := []llm.FinishReason{llm.FinishStop, llm.FinishLength, llm.FinishContentFilter}[rng.IntN(3)]
	for i := range rng.IntN(3) {
		args, _ := json.Marshal(map[string]any{"q": str(3), "n": i, "nested": map[string]any{"ok": true}})
		m.ToolCalls = append(m.ToolCalls, llm.ToolCall{ID: fmt.Sprintf("call_%d_%d", n, i), Name: "tool_" + fmt.Sprint(i), Arguments: string(args)})
		fr = llm.FinishToolCalls
	}
	r := &llm.Response{ID: fmt.Sprintf("resp-%d", n), Model: "model-x", Choices: []llm.Choice{{Message: m, FinishReason: fr}}}
	if fr == llm.FinishStop && rng.IntN(2) == 0 {
		r.StopSequence = "STOP"
	}
	read, write := rng.Int64N(50), rng.Int64N(50)
	r.Usage = llm.Usage{InputTokens: read + write + rng.Int64N(500), OutputTokens: rng.Int64N(500), CacheReadTokens: read, CacheWriteTokens: write}
	r.UsageReported = true
	return r
}

// eventsOf streams r as an OpenAI-style provider would: text in random
// fragments, each tool call's id and name first and its arguments in
// pieces, the finish reason, and the usage last or first and last.
func eventsOf(rng *rand.Rand, r *llm.Response) []llm.Event {
	split := func(s string) []string {
		var out []string
		for len(s) > 0 {
			k := min(len(s), 1+rng.IntN(6))
			for k < len(s) && !utf8Start(s[k]) {
				k++
			}
			out = append(out, s[:k])
			s = s[k:]
		}
		return out
	}
	base := llm.Event{ID: r.ID, Model: r.Model}
	var evs []llm.Event
	add := func(f func(*llm.Event)) {
		e := base
		f(&e)
		evs = append(evs, e)
	}
	add(func(e *llm.Event) {
		e.Role = llm.RoleAssistant
		if rng.IntN(2) == 0 {
			e.Usage = &llm.Usage{InputTokens: r.Usage.InputTokens}
		}
	})
	ch := r.Choices[0]
	for _, p := range ch.Message.Content {
		switch p.Type {
		case llm.PartText:
			for _, s := range split(p.Text) {
				add(func(e *llm.Event) { e.Text = s })
			}
		case llm.PartThinking:
			for _, s := range split(p.Text) {
				add(func(e *llm.Event) { e.Thinking = s })
			}
			add(func(e *llm.Event) { e.ThinkingSignature = p.Signature })
		case llm.PartRedactedThinking:
			add(func(e *llm.Event) { e.RedactedThinking = p.Data })
		}
	}
	for i, tc := range ch.Message.ToolCalls {
		add(func(e *llm.Event) { e.ToolCalls = []llm.ToolCallDelta{{Index: i, ID: tc.ID, Name: tc.Name}} })
		for _, s := range split(tc.Arguments) {
			add(func(e *llm.Event) { e.ToolCalls = []llm.ToolCallDelta{{Index: i, Arguments: s}} })
		}
	}
	add(func(e *llm.Event) { e.FinishReason, e.StopSequence = ch.FinishReason, r.StopSequence })
	u := r.Usage
	add(func(e *llm.Event) { e.Usage = &u })
	return evs
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// TestRoundTripProperty checks, over random responses, that the Anthropic
// JSON and the Anthropic stream airgw writes both read back through the
// SDK as the neutral response they came from.
func TestRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		r := randomResponse(rng, n)
		want := summaryOfNeutral(r, "req_1")
		if diff := cmp.Diff(want, summaryOfSDK(sdkMessage(t, r))); diff != "" {
			t.Fatalf("response %d through JSON mismatch (-want +got):\n%s", n, diff)
		}
		// A stream cannot tell two adjacent text parts apart; the generator
		// makes at most one.
		rec, _ := encodeStream(t, eventsOf(rng, r), nil)
		want = summaryOfNeutral(r, "req_s")
		if diff := cmp.Diff(want, summaryOfSDK(accumulate(t, rec.Body.Bytes()))); diff != "" {
			t.Fatalf("response %d through the stream mismatch (-want +got):\n%s\n%s", n, diff, rec.Body)
		}
	}
}
