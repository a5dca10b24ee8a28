package llm

// Token estimates are used where a provider reports no usage (a stream cut
// before its usage event) and by the demo provider. They follow the common
// rule of thumb of four bytes of English text per token, plus OpenAI's
// documented framing of about four tokens per message. They are estimates:
// records priced from them are marked as such.

// perMessageTokens is the framing overhead of one chat message.
const perMessageTokens = 4

// EstimateTextTokens estimates the tokens of text: one per four bytes,
// rounded up, and at least one for non-empty text.
func EstimateTextTokens(text string) int { return EstimateLenTokens(len(text)) }

// EstimateLenTokens is EstimateTextTokens for a text of n bytes.
func EstimateLenTokens(n int) int { return (n + 3) / 4 }

// EstimateInputTokens estimates the prompt tokens of req: its messages'
// text, tool call arguments and tool definitions, with per-message framing.
// Images count a flat 85 tokens each (OpenAI's low-detail price).
func EstimateInputTokens(req *Request) int64 {
	n := 3 // every reply is primed with a few tokens
	for i := range req.Messages {
		m := &req.Messages[i]
		n += perMessageTokens + EstimateTextTokens(m.Name)
		for _, p := range m.Content {
			switch p.Type {
			case PartText:
				n += EstimateTextTokens(p.Text)
			case PartImage:
				n += 85
			}
		}
		for _, tc := range m.ToolCalls {
			n += EstimateTextTokens(tc.Name) + EstimateTextTokens(tc.Arguments)
		}
	}
	for _, t := range req.Tools {
		n += 8 + EstimateTextTokens(t.Name) + EstimateTextTokens(t.Description) + (len(t.Parameters)+3)/4
	}
	return int64(n)
}
