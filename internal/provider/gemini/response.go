package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

// maxTokenCount bounds a plausible token count; larger values are a
// malformed response, not a bill.
const maxTokenCount = 1 << 40

// decodeResponse decodes a 2xx generateContent body. created stamps the
// response when Gemini sends no createTime.
func decodeResponse(provider, key string, created int64, body []byte) (*llm.Response, *llm.Error) {
	var w wire.Response
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, malformed(provider, "the response is not a generateContent answer", err)
	}
	if w.Error != nil {
		e := &llm.Error{Provider: provider, UpstreamStatus: 200, Sent: true}
		classifyStatus(e, w.Error, 200, key)
		return nil, e
	}
	if e := blocked(provider, &w); e != nil {
		return nil, e
	}
	if len(w.Candidates) == 0 {
		return nil, malformed(provider, "the response has no candidates", nil)
	}
	r := &llm.Response{ID: w.ResponseID, Model: modelName(w.ModelVersion), Created: createdAt(w.CreateTime, created),
		Choices: make([]llm.Choice, 0, len(w.Candidates))}
	for i := range w.Candidates {
		cand := &w.Candidates[i]
		msg := llm.Message{Role: llm.RoleAssistant}
		var calls int
		if cand.Content != nil {
			for _, p := range cand.Content.Parts {
				msg.Content, msg.ToolCalls = appendPart(msg.Content, msg.ToolCalls, &p, &calls)
			}
		}
		r.Choices = append(r.Choices, llm.Choice{Index: cand.Index, Message: msg,
			FinishReason: finishReason(cand.FinishReason, len(msg.ToolCalls) > 0)})
	}
	if w.UsageMetadata != nil {
		u, err := usageFromWire(w.UsageMetadata)
		if err != nil {
			return nil, malformed(provider, "the response has invalid usage", err)
		}
		r.Usage, r.UsageReported = u, true
	}
	return r, nil
}

// appendPart maps one Gemini part. A thought becomes a thinking part with
// its signature (marked as Gemini's: exportSignature); a signature on any other part is kept as a thinking part
// with no text before it, which modelParts turns back into that part's
// thoughtSignature on the next turn. Function calls get ids call_<n>
// (numbered within the candidate) unless Gemini gave one.
func appendPart(content []llm.Part, calls []llm.ToolCall, p *wire.Part, n *int) ([]llm.Part, []llm.ToolCall) {
	if p.Thought {
		return append(content, llm.Part{Type: llm.PartThinking, Text: p.Text, Signature: exportSignature(p.ThoughtSignature)}), calls
	}
	if p.ThoughtSignature != "" {
		content = append(content, llm.Part{Type: llm.PartThinking, Signature: exportSignature(p.ThoughtSignature)})
	}
	switch {
	case p.FunctionCall != nil:
		calls = append(calls, toolCall(p.FunctionCall, *n))
		*n++
	case p.Text != "":
		content = append(content, llm.Part{Type: llm.PartText, Text: p.Text})
	}
	return content, calls
}

// toolCall maps a functionCall; args absent or null become "{}".
func toolCall(fc *wire.FunctionCall, n int) llm.ToolCall {
	id := fc.ID
	if id == "" {
		id = "call_" + strconv.Itoa(n)
	}
	args := "{}"
	var b bytes.Buffer
	if t := bytes.TrimSpace(fc.Args); len(t) > 0 && string(t) != "null" && json.Compact(&b, t) == nil {
		args = b.String()
	}
	return llm.ToolCall{ID: id, Name: fc.Name, Arguments: args}
}

// blocked returns content_filtered when Gemini refused the prompt itself
// (promptFeedback.blockReason and no candidates).
func blocked(provider string, w *wire.Response) *llm.Error {
	if w.PromptFeedback == nil || w.PromptFeedback.BlockReason == "" || len(w.Candidates) > 0 {
		return nil
	}
	msg := fmt.Sprintf("provider %s refused the prompt (blockReason %s)", provider, w.PromptFeedback.BlockReason)
	if m := w.PromptFeedback.BlockReasonMessage; m != "" {
		msg += ": " + m
	}
	return &llm.Error{Code: llm.CodeContentFiltered, Provider: provider, UpstreamStatus: 200, Sent: true, Message: msg}
}

// finishReason maps a Gemini finish reason; "" when the candidate has not
// finished. STOP with a function call is tool_calls. Reasons that are not
// a stop, a limit or a refusal (OTHER, MALFORMED_FUNCTION_CALL,
// UNEXPECTED_TOOL_CALL, unknown values) become stop.
func finishReason(f wire.FinishReason, hasCall bool) llm.FinishReason {
	switch f {
	case "", wire.FinishUnspecified:
		return ""
	case wire.FinishMaxTokens:
		return llm.FinishLength
	case wire.FinishSafety, wire.FinishRecitation, wire.FinishBlocklist, wire.FinishProhibitedContent,
		wire.FinishSPII, wire.FinishImageSafety, wire.FinishLanguage:
		return llm.FinishContentFilter
	}
	if hasCall {
		return llm.FinishToolCalls
	}
	return llm.FinishStop
}

// usageFromWire maps usageMetadata to llm.Usage:
//
//	InputTokens     = promptTokenCount + toolUsePromptTokenCount (cached included)
//	CacheReadTokens = cachedContentTokenCount
//	OutputTokens    = candidatesTokenCount + thoughtsTokenCount
//	ReasoningTokens = thoughtsTokenCount
//
// Gemini bills thoughts as output but counts them apart from the
// candidates (totalTokenCount is the sum of the four counts, as every
// recorded response shows), and its promptTokenCount already includes the
// cached tokens.
func usageFromWire(w *wire.UsageMetadata) (llm.Usage, error) {
	u := llm.Usage{
		InputTokens:     w.PromptTokenCount + w.ToolUsePromptTokenCount,
		OutputTokens:    w.CandidatesTokenCount + w.ThoughtsTokenCount,
		CacheReadTokens: w.CachedContentTokenCount,
		ReasoningTokens: w.ThoughtsTokenCount,
	}
	for _, n := range []int64{w.PromptTokenCount, w.ToolUsePromptTokenCount, w.CandidatesTokenCount,
		w.ThoughtsTokenCount, w.CachedContentTokenCount, w.TotalTokenCount} {
		if n < 0 || n > maxTokenCount {
			return llm.Usage{}, fmt.Errorf("token count %d out of range", n)
		}
	}
	if u.CacheReadTokens > u.InputTokens {
		return llm.Usage{}, fmt.Errorf("cached tokens %d exceed prompt tokens %d", u.CacheReadTokens, u.InputTokens)
	}
	return u, nil
}

// modelName strips the "models/" prefix some responses carry.
func modelName(v string) string { return strings.TrimPrefix(v, "models/") }

// createdAt parses Vertex AI's createTime, falling back to def.
func createdAt(s string, def int64) int64 {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.Unix()
	}
	return def
}

func malformed(provider, what string, err error) *llm.Error {
	return &llm.Error{Code: llm.CodeProviderError, Provider: provider, UpstreamStatus: 200, Sent: true,
		Message: fmt.Sprintf("provider %s sent a malformed response: %s", provider, what), Err: err}
}
