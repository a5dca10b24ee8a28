package llm

import "fmt"

// reasoningBudgets maps OpenAI's reasoning_effort to a thinking budget in
// tokens, as Google's OpenAI compatibility layer does for Gemini; every
// adapter that turns an effort into a budget (Gemini thinkingBudget,
// Anthropic and Bedrock budget_tokens) uses this one table, so that one
// effort costs the same on each. 0 means thinking off.
var reasoningBudgets = map[string]int{"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}

// ReasoningBudget returns the thinking budget in tokens for an OpenAI
// reasoning_effort (none 0, minimal and low 1024, medium 8192, high
// 24576), or an invalid_request error naming reasoning_effort for any
// other value.
func ReasoningBudget(effort string) (int, *Error) {
	b, ok := reasoningBudgets[effort]
	if !ok {
		return 0, ParamError("reasoning_effort", "reasoning_effort %q is not one of none, minimal, low, medium or high", effort)
	}
	return b, nil
}

// ClaudeThinking turns an OpenAI reasoning_effort into the extended
// thinking a Claude model takes, for the anthropic adapter and for Claude
// models on Bedrock (provider and providerType name the target in errors):
//
//   - none and minimal turn thinking off: Claude's smallest budget (1024
//     tokens) is more reasoning than "minimal" asks for;
//   - low, medium and high enable thinking with the budget of
//     ReasoningBudget (1024, 8192, 24576 tokens), the one Gemini gets.
//
// The API wants max_tokens above budget_tokens (thinking tokens count
// toward max_tokens, as reasoning tokens count toward OpenAI's
// max_completion_tokens). A request without a limit gets one above the
// budget from the adapter; a request whose own limit does not exceed the
// budget is refused (invalid_request naming max_completion_tokens) rather
// than raised, since the client's limit bounds what it pays and what airgw
// reserved against its budgets, and rather than given a smaller budget,
// which would be less reasoning than asked for without a word.
//
// With thinking on, Claude refuses temperature other than 1, top_p below
// 0.95, top_k and a tool_choice that forces a tool call: such requests
// are refused (feature_not_supported naming the field) before any call.
func ClaudeThinking(req *Request, provider, providerType string) (*Thinking, error) {
	budget, e := ReasoningBudget(req.ReasoningEffort)
	if e != nil {
		return nil, e
	}
	if budget == 0 || req.ReasoningEffort == "minimal" {
		return &Thinking{Enabled: false}, nil
	}
	if req.MaxTokens > 0 && req.MaxTokens <= budget {
		return nil, ParamError("max_completion_tokens",
			"max_completion_tokens (or max_tokens) is %d, but reasoning_effort %q gives provider `%s` (type %s) a thinking budget of %d tokens, and thinking tokens count toward the limit: raise max_completion_tokens above %d or lower reasoning_effort",
			req.MaxTokens, req.ReasoningEffort, provider, providerType, budget, budget)
	}
	var what string
	switch {
	case req.Temperature != nil && *req.Temperature != 1:
		what = "`temperature` other than 1"
	case req.TopP != nil && *req.TopP < 0.95:
		what = "`top_p` below 0.95"
	case req.TopK != nil:
		what = "`top_k`"
	case len(req.Tools) > 0 && req.ToolChoice != nil && (req.ToolChoice.Mode == "required" || req.ToolChoice.Mode == "function"):
		what = "a `tool_choice` that forces a tool call"
	}
	if what != "" {
		return nil, Unsupported(fmt.Sprintf("%s together with `reasoning_effort` %s (Claude refuses it while thinking)", what, req.ReasoningEffort), provider, providerType)
	}
	return &Thinking{Enabled: true, BudgetTokens: budget}, nil
}
