package budget

import (
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
)

// ImageTokens bounds the prompt tokens of one image part. Providers bill
// an image by its size (OpenAI's high-detail tiles, Anthropic's pixels /
// 750, Gemini's 258); 6,000 is above every published figure for an image
// they accept.
const ImageTokens = 6000

// ToolPromptTokens bounds the prompt a provider adds when a request has
// tools (Anthropic documents 346 tokens for its tool-use system prompt).
const ToolPromptTokens = 1000

// PromptBound is an upper bound on the prompt tokens of req: every token
// of a byte-level tokenizer covers at least one byte, so a prompt has at
// most as many tokens as its text has bytes, plus the framing of each
// message and a bound per image. For a request whose native body is all
// that travels (the Responses API), the body's length bounds its text.
func PromptBound(req *llm.Request) int64 {
	n := int64(16)
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 8 + int64(len(m.Name)+len(m.ToolCallID))
		for _, p := range m.Content {
			switch p.Type {
			case llm.PartImage:
				n += ImageTokens
			default:
				n += int64(len(p.Text))
			}
		}
		for _, tc := range m.ToolCalls {
			n += 8 + int64(len(tc.Name)+len(tc.Arguments))
		}
	}
	for _, t := range req.Tools {
		n += 16 + int64(len(t.Name)+len(t.Description)+len(t.Parameters))
	}
	if len(req.Tools) > 0 {
		n += ToolPromptTokens
	}
	if req.ResponseFormat != nil {
		n += int64(len(req.ResponseFormat.Schema))
	}
	if nat := req.Native; nat != nil && nat.Endpoint == "/v1/responses" {
		n = max(n, int64(len(nat.Body)))
	}
	return n
}

// EmbeddingBound is an upper bound on the input tokens of er.
func EmbeddingBound(er *llm.EmbeddingRequest) int64 {
	n := int64(0)
	for _, in := range er.Input {
		n += 1 + int64(len(in))
	}
	return n
}

// WorstCost is the most that in prompt tokens and out output tokens can
// cost at p, in nano-USD: every prompt token at the dearest prompt price
// (uncached, cache read or write, long-context tier) and every output token
// at the dearest output price (reasoning, tier).
func WorstCost(p pricing.Price, in, out int64) int64 {
	worst := pricing.Price{Input: p.Input, Output: p.Output}
	for _, v := range []struct {
		set   pricing.Fields
		price int64
		input bool
	}{
		{pricing.HasCacheRead, p.CacheRead, true}, {pricing.HasCacheWrite, p.CacheWrite, true},
		{pricing.HasTierInput, p.TierInput, true}, {pricing.HasTierCacheRead, p.TierCacheRead, true},
		{pricing.HasTierCacheWrite, p.TierCacheWrite, true},
		{pricing.HasReasoning, p.Reasoning, false}, {pricing.HasTierOutput, p.TierOutput, false},
	} {
		if p.Set&v.set == 0 {
			continue
		}
		if v.input {
			worst.Input = max(worst.Input, v.price)
		} else {
			worst.Output = max(worst.Output, v.price)
		}
	}
	return worst.Cost(llm.Usage{InputTokens: in, OutputTokens: out})
}
