package gemini

import (
	"context"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

// claudeSig is a signature of Claude's thinking (anthropic or bedrock), as
// a client sends it back after the conversation moved to Gemini.
const claudeSig = "EqQBCkYIBxgCKkBSig=="

// sentSignatures returns every thoughtSignature of a request the fake got.
func sentSignatures(b *wire.Request) []string {
	var out []string
	for _, c := range b.Contents {
		for _, p := range c.Parts {
			if p.ThoughtSignature != "" {
				out = append(out, p.ThoughtSignature)
			}
		}
	}
	return out
}

// TestForeignSignaturesStripped checks that Gemini receives only the
// thought signatures it produced: Claude's are left out (the strict fake,
// like Gemini, refuses them), Gemini's own come back without the mark the
// adapter gave them, and on Gemini 3 a function call left without one
// gets Google's skip value.
func TestForeignSignaturesStripped(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	call := llm.ToolCall{ID: "call_0", Name: "weather", Arguments: `{}`}
	tools := []llm.Tool{{Name: "weather"}}
	history := func(model string, assistant []llm.Part) *llm.Request {
		return &llm.Request{Model: model, Tools: tools, Messages: []llm.Message{
			{Role: llm.RoleUser, Content: text("weather?")},
			{Role: llm.RoleAssistant, Content: assistant, ToolCalls: []llm.ToolCall{call}},
			{Role: llm.RoleTool, ToolCallID: "call_0", Content: text(`{"sky":"blue"}`)},
		}}
	}
	tests := []struct {
		name      string
		model     string
		assistant []llm.Part
		want      []string
	}{
		{"claude-thinking", "gemini-2.5-flash", []llm.Part{
			{Type: llm.PartThinking, Text: "Claude thought.", Signature: claudeSig},
			{Type: llm.PartThinking, Signature: claudeSig},
		}, nil},
		{"own-kept", "gemini-2.5-flash", []llm.Part{
			{Type: llm.PartThinking, Text: "Claude thought.", Signature: claudeSig},
			{Type: llm.PartThinking, Signature: "gemini:" + sigFunctionCall},
		}, []string{sigFunctionCall}},
		{"unmarked-gemini-looking", "gemini-2.5-flash", []llm.Part{
			// A signature without the mark did not come through this
			// adapter: it is not sent, whatever it looks like.
			{Type: llm.PartThinking, Signature: sigFunctionCall},
		}, nil},
		{"gemini-3-foreign", "gemini-3-flash-preview", []llm.Part{
			{Type: llm.PartThinking, Signature: claudeSig},
		}, []string{geminitest.SkipSignature}},
		{"gemini-3-none", "gemini-3-flash-preview", nil, []string{geminitest.SkipSignature}},
		{"gemini-3-own", "gemini-3-flash-preview", []llm.Part{
			{Type: llm.PartThinking, Signature: "gemini:" + geminitest.IssueSignature(7)},
		}, []string{geminitest.IssueSignature(7)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Chat(context.Background(), history(tt.model, tt.assistant)); err != nil {
				t.Fatalf("Chat = %v, want the strict fake to accept the history", err)
			}
			reqs := srv.Requests()
			got := sentSignatures(reqs[len(reqs)-1].Body)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("signatures sent = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSignatureRoundTripGemini3 runs a Gemini 3 tool loop through the
// adapter: the signature on the call reaches the client marked as
// Gemini's and goes back to Gemini as it was issued, streamed or not.
func TestSignatureRoundTripGemini3(t *testing.T) {
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	tools := []llm.Tool{{Name: "weather"}}
	for _, stream := range []bool{false, true} {
		req := userReq("gemini-3-flash-preview", "weather?")
		req.Tools, req.Stream = tools, stream
		reply, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var msg llm.Message
		if stream {
			col, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			msg = llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: col.Calls[0].ID, Name: col.Calls[0].Name, Arguments: col.Calls[0].Arguments}}}
			for _, s := range col.Sigs {
				msg.Content = append(msg.Content, llm.Part{Type: llm.PartThinking, Signature: s})
			}
		} else {
			msg = reply.Response.Choices[0].Message
		}
		want := geminitest.IssueSignature(srv.Calls())
		if len(msg.Content) != 1 || msg.Content[0].Signature != "gemini:"+want {
			t.Fatalf("stream %v: client got %+v, want the call's signature marked as Gemini's (%s)", stream, msg.Content, want)
		}
		next := &llm.Request{Model: "gemini-3-flash-preview", Tools: tools, Messages: []llm.Message{
			{Role: llm.RoleUser, Content: text("weather?")}, msg,
			{Role: llm.RoleTool, ToolCallID: msg.ToolCalls[0].ID, Content: text(`{"sky":"blue"}`)},
		}}
		if _, err := c.Chat(context.Background(), next); err != nil {
			t.Fatalf("stream %v: next turn = %v", stream, err)
		}
		if got := sentSignatures(srv.Requests()[srv.Calls()-1].Body); len(got) != 1 || got[0] != want {
			t.Errorf("stream %v: signatures sent back = %q, want [%s]", stream, got, want)
		}
	}
}
