package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// finishReason maps a Converse stop reason to the neutral vocabulary.
// Unknown reasons (a newer API) read as a normal stop.
func finishReason(stop string) llm.FinishReason {
	switch stop {
	case wire.StopToolUse:
		return llm.FinishToolCalls
	case wire.StopMaxTokens, wire.StopModelContextWindowExceeded:
		return llm.FinishLength
	case wire.StopGuardrailIntervened, wire.StopContentFiltered:
		return llm.FinishContentFilter
	default:
		return llm.FinishStop
	}
}

// usageFromWire maps Converse usage to llm.Usage.
//
// Bedrock's inputTokens excludes the tokens read from and written to the
// prompt cache: totalTokens = inputTokens + cacheReadInputTokens +
// cacheWriteInputTokens + outputTokens (recorded in fixture
// converse-cache-read: 2 + 1322 + 0 + 5 = 1329). llm.Usage.InputTokens
// counts every prompt token, so it is the sum of the three. Should a
// response ever report inputTokens inclusive of the cache (totalTokens =
// inputTokens + outputTokens, with inputTokens covering the cached
// counts), inputTokens is taken as is, so that cached tokens are never
// billed twice.
func usageFromWire(w *wire.TokenUsage) (llm.Usage, error) {
	read := max(w.CacheReadInputTokens, w.CacheReadInputTokenCount)
	write := max(w.CacheWriteInputTokens, w.CacheWriteInputTokenCount)
	for _, n := range []int64{w.InputTokens, w.OutputTokens, w.TotalTokens, read, write} {
		if n < 0 || n > maxTokenCount {
			return llm.Usage{}, fmt.Errorf("token count %d out of range", n)
		}
	}
	u := llm.Usage{
		InputTokens:      w.InputTokens + read + write,
		OutputTokens:     w.OutputTokens,
		CacheReadTokens:  read,
		CacheWriteTokens: write,
	}
	if cached := read + write; cached > 0 && w.TotalTokens == w.InputTokens+w.OutputTokens && w.InputTokens >= cached {
		u.InputTokens = w.InputTokens
	}
	return u, nil
}

// messageFromWire maps the output message: text and reasoning parts in
// order, tool uses as tool calls. Blocks of system tools that Bedrock ran
// itself are not the caller's to answer and are left out.
func messageFromWire(w *wire.Message) llm.Message {
	m := llm.Message{Role: llm.RoleAssistant}
	for _, b := range w.Content {
		switch {
		case b.Text != nil:
			m.Content = append(m.Content, llm.Part{Type: llm.PartText, Text: *b.Text})
		case b.ReasoningContent != nil && b.ReasoningContent.ReasoningText != nil:
			rt := b.ReasoningContent.ReasoningText
			m.Content = append(m.Content, llm.Part{Type: llm.PartThinking, Text: rt.Text, Signature: rt.Signature})
		case b.ReasoningContent != nil && b.ReasoningContent.RedactedContent != nil:
			m.Content = append(m.Content, llm.Part{Type: llm.PartRedactedThinking,
				Data: base64.StdEncoding.EncodeToString(b.ReasoningContent.RedactedContent)})
		case b.ToolUse != nil && b.ToolUse.Type != wire.ServerToolUse:
			args := "{}"
			if in := bytes.TrimSpace(b.ToolUse.Input); len(in) > 0 && string(in) != "null" {
				var buf bytes.Buffer
				if json.Compact(&buf, in) == nil {
					args = buf.String()
				}
			}
			m.ToolCalls = append(m.ToolCalls, llm.ToolCall{ID: b.ToolUse.ToolUseID, Name: b.ToolUse.Name, Arguments: args})
		}
	}
	return m
}

// stopSequence returns the stop sequence an Anthropic model reports in
// additionalModelResponseFields, when it does.
func stopSequence(extra json.RawMessage) string {
	if len(extra) == 0 {
		return ""
	}
	var f struct {
		StopSequence string `json:"stop_sequence"`
	}
	_ = json.Unmarshal(extra, &f)
	return f.StopSequence
}

// decodeResponse decodes a 2xx Converse body.
func decodeResponse(provider string, status int, body []byte, meta replyMeta) (*llm.Response, *llm.Error) {
	var w wire.ConverseResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, malformed(provider, status, "response is not a Converse response", err)
	}
	if w.Output.Message == nil {
		return nil, malformed(provider, status, "response has no output message", nil)
	}
	r := &llm.Response{
		ID:      meta.id,
		Model:   meta.model,
		Created: meta.created,
		Choices: []llm.Choice{{
			Message:      messageFromWire(w.Output.Message),
			FinishReason: finishReason(w.StopReason),
		}},
	}
	if w.StopReason == wire.StopSequence {
		r.StopSequence = stopSequence(w.AdditionalModelResponseFields)
	}
	if w.Usage != nil {
		u, err := usageFromWire(w.Usage)
		if err != nil {
			return nil, malformed(provider, status, "response has invalid usage", err)
		}
		r.Usage, r.UsageReported = u, true
	}
	return r, nil
}

// replyMeta is what the neutral response carries that Converse does not
// send in the body.
type replyMeta struct {
	id      string // X-Amzn-Requestid
	model   string // the model id requested
	created int64  // Unix seconds, from Config.Now
}

func malformed(provider string, status int, what string, err error) *llm.Error {
	return &llm.Error{Code: llm.CodeProviderError, Provider: provider, UpstreamStatus: status, Sent: true,
		Message: fmt.Sprintf("provider %s sent a malformed response: %s", provider, what), Err: err}
}
