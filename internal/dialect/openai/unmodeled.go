package openai

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/airgw/airgw/internal/llm"
)

// modeledFields are the top-level Chat Completions fields that DecodeChat
// maps to llm.Request (or refuses).
var modeledFields = map[string]bool{
	"model": true, "messages": true, "tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"max_tokens": true, "max_completion_tokens": true, "temperature": true, "top_p": true, "stop": true,
	"n": true, "seed": true, "response_format": true, "stream": true, "stream_options": true,
	"user": true, "metadata": true, "reasoning_effort": true, "functions": true, "function_call": true,
}

// ignoredFields change nothing in the answer a client reads, so that a
// translation to another provider may leave them out: service_tier (the
// other provider has its own tiers), prompt_cache_key (a routing hint for
// OpenAI's cache), safety_identifier (an abuse-monitoring id, like user),
// and store (OpenAI keeps a copy of the completion).
var ignoredFields = map[string]bool{
	"service_tier": true, "prompt_cache_key": true, "safety_identifier": true, "store": true,
}

// alwaysMeaningful are fields whose empty value still asks for something:
// web_search_options {} turns web search on.
var alwaysMeaningful = map[string]bool{"web_search_options": true}

// unmodeled returns, sorted, the top-level fields of a Chat Completions
// body that ask for something llm.Request cannot carry: every field that
// is neither modeled nor ignored, unless it holds its type's empty value
// (null, false, 0, "", [] or {}), which asks for nothing (clients such as
// LangChain send presence_penalty: 0 and logprobs: false by default).
func unmodeled(body []byte) []string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil
	}
	var out []string
	for k, v := range m {
		if modeledFields[k] || ignoredFields[k] || (llm.EmptyJSON(v) && !alwaysMeaningful[k]) {
			continue
		}
		if k == "modalities" && bytes.Equal(compact(v), []byte(`["text"]`)) {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return bytes.TrimSpace(raw)
	}
	return b.Bytes()
}
