package anthropic

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	"github.com/google/go-cmp/cmp"
)

// TestChatFixtures replays recorded responses and checks the mapping.
func TestChatFixtures(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	tests := []struct {
		fixture  string
		stream   bool
		text     string // a prefix of the text
		thinking string // a prefix of the thinking
		sig      bool   // a thinking signature arrived
		calls    []llm.ToolCall
		finish   llm.FinishReason
		usage    llm.Usage
	}{
		{fixture: "messages-basic", text: "Hello! As an AI language model", finish: llm.FinishStop,
			usage: llm.Usage{InputTokens: 13, OutputTokens: 35}},
		{fixture: "messages-max-tokens-beta-header", text: "<thinking>\nThe get_weather tool", finish: llm.FinishLength,
			usage: llm.Usage{InputTokens: 611, OutputTokens: 100}},
		{fixture: "messages-thinking", text: "Here's how to cross the street safely", thinking: "This is a straightforward question", sig: true,
			finish: llm.FinishStop, usage: llm.Usage{InputTokens: 43, OutputTokens: 321}},
		{fixture: "messages-tool-use", text: "I'll check the weather in Florence, Italy for you.",
			calls:  []llm.ToolCall{{ID: "toolu_01XLb9pzgfLa2EMyqWot6Ezt", Name: "weather", Arguments: `{"location":"Florence,Italy"}`}},
			finish: llm.FinishToolCalls, usage: llm.Usage{InputTokens: 394, OutputTokens: 66}},
		// Prompt caching: input_tokens 3 + cache_read 1111 + cache_creation 418.
		{fixture: "messages-cache-read", text: "Python is a beginner-friendly", finish: llm.FinishStop,
			usage: llm.Usage{InputTokens: 3 + 1111 + 418, OutputTokens: 33, CacheReadTokens: 1111, CacheWriteTokens: 418}},
		{fixture: "messages-stream-text", stream: true, text: "1\n2\n3\n4\n5", finish: llm.FinishStop,
			usage: llm.Usage{InputTokens: 15, OutputTokens: 13}},
		{fixture: "messages-stream-thinking", stream: true, text: "1. **Pouch**", thinking: "The user wants two names", sig: true,
			finish: llm.FinishStop, usage: llm.Usage{InputTokens: 46, OutputTokens: 133}},
		{fixture: "messages-stream-thinking-long", stream: true, text: "", thinking: "This is a straightforward question about pedestrian safety.", sig: true,
			finish: llm.FinishStop, usage: llm.Usage{InputTokens: 43, OutputTokens: 282}},
		{fixture: "messages-stream-tool-use-input-json", stream: true, text: "I'll get the weather information for Florence, Italy for you.",
			calls:  []llm.ToolCall{{ID: "toolu_01N2eM4V43kGCDkq2Lw7ChWQ", Name: "weather", Arguments: `{"location": "Florence,Italy"}`}},
			finish: llm.FinishToolCalls, usage: llm.Usage{InputTokens: 394, OutputTokens: 67}},
		// Two tool_use blocks whose input arrives as one empty fragment:
		// the arguments become "{}".
		{fixture: "messages-stream-parallel-tool-use", stream: true, calls: []llm.ToolCall{
			{ID: "toolu_01LtHJmixrs9NcWQkK8hu8hj", Name: "pelican_name_generator", Arguments: "{}"},
			{ID: "toolu_01N8a4jWyf116qKTMqKKmjyt", Name: "pelican_name_generator", Arguments: "{}"},
		}, finish: llm.FinishToolCalls, usage: llm.Usage{InputTokens: 542, OutputTokens: 62}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			req := userReq("fixture:"+tt.fixture, "x")
			req.Stream = tt.stream
			reply, err := c.Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var text, thinking string
			var sig bool
			var calls []llm.ToolCall
			var finish llm.FinishReason
			var usage *llm.Usage
			if tt.stream {
				got, err := collect(t, reply.Stream)
				if err != nil {
					t.Fatalf("stream %s: %v", tt.fixture, err)
				}
				text, thinking, sig, finish, usage = got.Text, got.Thinking, got.Signature != "", got.Finish, got.Usage
				for i := range len(got.Calls) {
					calls = append(calls, got.Calls[i])
				}
				if got.Usages != 1 {
					t.Errorf("%d events carried usage, want 1 (message_delta)", got.Usages)
				}
			} else {
				r := reply.Response
				ch := r.Choices[0]
				for _, p := range ch.Message.Content {
					switch p.Type {
					case llm.PartText:
						text += p.Text
					case llm.PartThinking:
						thinking += p.Text
						sig = p.Signature != ""
					}
				}
				calls, finish = ch.Message.ToolCalls, ch.FinishReason
				if r.UsageReported {
					usage = &r.Usage
				}
				if r.Native == nil || !json.Valid(r.Native.Body) {
					t.Errorf("response Native = %+v", r.Native)
				}
			}
			if len(text) < len(tt.text) || text[:len(tt.text)] != tt.text {
				t.Errorf("text = %.80q, want prefix %q", text, tt.text)
			}
			if len(thinking) < len(tt.thinking) || thinking[:len(tt.thinking)] != tt.thinking || sig != (tt.thinking != "") || tt.sig != sig {
				t.Errorf("thinking = %.80q (signed %v), want prefix %q (signed %v)", thinking, sig, tt.thinking, tt.sig)
			}
			if diff := cmp.Diff(tt.calls, calls); diff != "" {
				t.Errorf("tool calls mismatch (-want +got):\n%s", diff)
			}
			if finish != tt.finish {
				t.Errorf("finish = %q, want %q", finish, tt.finish)
			}
			if diff := cmp.Diff(&tt.usage, usage); diff != "" {
				t.Errorf("usage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFinishReason(t *testing.T) {
	tests := map[string]llm.FinishReason{
		"end_turn": llm.FinishStop, "stop_sequence": llm.FinishStop, "pause_turn": llm.FinishStop,
		"max_tokens": llm.FinishLength, "model_context_window_exceeded": llm.FinishLength,
		"tool_use": llm.FinishToolCalls, "refusal": llm.FinishContentFilter, "something_new": llm.FinishStop,
	}
	for in, want := range tests {
		if got := finishReason(&in); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
		}
	}
	if got := finishReason(nil); got != "" {
		t.Errorf("finishReason(nil) = %q, want empty", got)
	}
}

func TestStopSequence(t *testing.T) {
	body := []byte(`{"id":"m","type":"message","role":"assistant","model":"x","content":[{"type":"text","text":"a"}],"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":1,"output_tokens":1}}`)
	r, e := decodeResponse("claude", "", 200, body)
	if e != nil || r.StopSequence != "END" || r.Choices[0].FinishReason != llm.FinishStop {
		t.Errorf("decodeResponse(stop_sequence) = %+v, %v", r, e)
	}
	for name, b := range map[string]string{
		"not-json":       `<html>`,
		"not-message":    `{"type":"completion"}`,
		"negative-usage": `{"type":"message","content":[],"usage":{"input_tokens":-1,"output_tokens":1}}`,
	} {
		if _, e := decodeResponse("claude", "", 200, []byte(b)); e == nil || e.Code != llm.CodeProviderError {
			t.Errorf("decodeResponse(%s) = %v, want provider_error", name, e)
		}
	}
	if _, e := decodeResponse("claude", "", 200, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)); e == nil || e.Code != llm.CodeProviderUnavailable {
		t.Errorf("decodeResponse(error body with 200) = %v, want provider_unavailable", e)
	}
}
