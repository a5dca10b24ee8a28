package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"

	oai "github.com/airgw/airgw/internal/dialect/openai"
)

// A committed stream no longer holds its prompt, but a record whose usage
// is estimated still prices the whole prompt and every byte delivered.
func TestStreamEstimateAfterPromptReleased(t *testing.T) {
	prompt := strings.Repeat("a long conversation ", 500)
	body := `{"model":"m","stream":true,"messages":[{"role":"system","content":"` + prompt + `"},{"role":"user","content":"hi"}]}`
	decoded, err := oai.DecodeChat([]byte(body), oai.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantIn := llm.EstimateInputTokens(decoded)
	st := &sliceStream{err: &llm.Error{Code: llm.CodeStreamInterrupted, Message: "cut", Sent: true},
		evs: []llm.Event{{ID: "c", Role: llm.RoleAssistant}, {ID: "c", Text: "partial "}, {ID: "c", Thinking: "think", Text: "answer"}}}
	h := newHarness(t, func(context.Context, *llm.Request) (*llm.Reply, error) { return &llm.Reply{Stream: st}, nil })
	h.do(context.Background(), "good", body)
	r := h.only(t)
	wantOut := int64(llm.EstimateTextTokens("partial " + "answer" + "think"))
	if !r.UsageEstimated || r.InputTokens != wantIn || r.OutputTokens != wantOut {
		t.Errorf("record usage = %d in, %d out, estimated %v; want %d, %d, true", r.InputTokens, r.OutputTokens, r.UsageEstimated, wantIn, wantOut)
	}
}

func TestReleasePrompt(t *testing.T) {
	for _, keep := range []bool{false, true} {
		body := []byte(`{"model":"m","messages":[{"role":"user","content":"hello there"}]}`)
		req, err := oai.DecodeChat(body, oai.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		req.Native = &llm.Native{Dialect: llm.DialectOpenAI, Body: body}
		want := llm.EstimateInputTokens(req)
		s := &state{Call: &Call{Kind: KindChat, Body: body}, req: req, keepBodies: keep}
		s.releasePrompt()
		if s.req.Messages != nil || s.req.Native != nil || s.req.Model != "m" {
			t.Errorf("keep=%v: request after releasePrompt = %+v, want no messages, no native body, the model", keep, s.req)
		}
		if (s.Body != nil) != keep {
			t.Errorf("keep=%v: raw body kept = %v, want %v (the record's bodies need it)", keep, s.Body != nil, keep)
		}
		s.delivered = 8
		s.estimate()
		if s.usage.InputTokens != want || s.usage.OutputTokens != 2 {
			t.Errorf("keep=%v: estimate after releasePrompt = %+v, want %d in, 2 out", keep, s.usage, want)
		}
	}
}
