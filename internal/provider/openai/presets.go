package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// PresetInfo describes a known OpenAI-compatible service: where it lives,
// how the price catalog names its models, and the ways its Chat
// Completions API departs from OpenAI's that matter on the wire. A
// Client built with Config.Preset applies these quirks to every request
// body it sends, translated or passed through.
//
// Sources are cited per preset in presets; where a service's own
// documentation was not found, the entry says so and chooses the value
// that a strict server cannot reject (for example "system" rather than
// "developer").
type PresetInfo struct {
	// Name is the preset's name in the configuration (providers.*.preset).
	Name string
	// BaseURL is the default API root; empty when the operator must set
	// one (self-hosted servers without a well-known address).
	BaseURL string
	// PricingType is the provider type to pass to the pricing catalog's
	// LookupTarget for this preset's models ("together_ai" looks up
	// "together_ai/<model>"). Empty: the catalog has no prefix for the
	// service (self-hosted models), so prices come from the configuration,
	// and "openai_compatible" is passed.
	PricingType string
	// MaxCompletionTokens reports that the service understands
	// max_completion_tokens. When false, a client's max_completion_tokens
	// is sent as max_tokens.
	MaxCompletionTokens bool
	// StreamUsage reports that the service accepts
	// stream_options.include_usage. When false, stream_options is never
	// sent; the service either reports usage in its last chunk anyway
	// (UsageAlways) or the gateway estimates the stream's usage.
	StreamUsage bool
	// UsageAlways reports that the service sends usage in the last stream
	// chunk without being asked.
	UsageAlways bool
	// DeveloperRole reports that the service accepts the "developer" role.
	// When false, developer messages are sent as "system".
	DeveloperRole bool
	// ParallelToolCalls reports that the service accepts
	// parallel_tool_calls. When false, the field is not sent (the
	// service's default then applies).
	ParallelToolCalls bool
	// RequiredToolChoice is the tool_choice value that forces a tool call:
	// "required" (OpenAI) or "any" (Mistral).
	RequiredToolChoice string
	// MessageName reports that the service accepts messages[].name. When
	// false, names are not sent.
	MessageName bool
	// Embeddings and Responses report whether the service serves
	// POST /embeddings and POST /responses; requests for an endpoint it
	// does not serve are refused with llm.Unsupported before any call.
	Embeddings, Responses bool
}

// presets is the table of known services. It is never modified.
var presets = map[string]PresetInfo{
	// docs.mistral.ai: strict request validation (unknown fields are a 422
	// "extra_forbidden"), so stream_options is not sent; streams end with a
	// usage object in the last chunk. tool_choice accepts "any" (and, in
	// newer API versions, "required"); "any" works with both (Mistral
	// OpenAPI ToolChoiceEnum: auto, none, any, required).
	"mistral": {Name: "mistral", BaseURL: "https://api.mistral.ai/v1", PricingType: "mistral",
		StreamUsage: false, UsageAlways: true, ParallelToolCalls: true, RequiredToolChoice: "any",
		MessageName: true, Embeddings: true},
	// console.groq.com/docs/openai: logprobs, logit_bias, top_logprobs and
	// messages[].name are refused with a 400, n must be 1; the Responses
	// API is served. Groq's API reference lists max_completion_tokens
	// (max_tokens deprecated) and stream_options.include_usage.
	"groq": {Name: "groq", BaseURL: "https://api.groq.com/openai/v1", PricingType: "groq",
		MaxCompletionTokens: true, StreamUsage: true, ParallelToolCalls: true, RequiredToolChoice: "required",
		MessageName: false, Responses: true},
	// api-docs.deepseek.com: OpenAI format at https://api.deepseek.com (or
	// /v1, "no relationship with the model's version"); max_tokens and
	// stream_options.include_usage; no parallel_tool_calls in the
	// reference; no embeddings or Responses API.
	"deepseek": {Name: "deepseek", BaseURL: "https://api.deepseek.com/v1", PricingType: "deepseek",
		StreamUsage: true, RequiredToolChoice: "required", MessageName: true},
	// docs.together.ai OpenAI compatibility: chat and embeddings;
	// max_tokens. Its own documentation was not in the reference corpus;
	// the conservative values are used.
	"together": {Name: "together", BaseURL: "https://api.together.xyz/v1", PricingType: "together_ai",
		StreamUsage: true, ParallelToolCalls: true, RequiredToolChoice: "required", MessageName: true, Embeddings: true},
	// docs.fireworks.ai/tools-sdks/openai-compatibility: base
	// https://api.fireworks.ai/inference/v1; chat, completions, embeddings
	// and the Responses API (docs.fireworks.ai/guides/querying-text-models).
	"fireworks": {Name: "fireworks", BaseURL: "https://api.fireworks.ai/inference/v1", PricingType: "fireworks_ai",
		StreamUsage: true, ParallelToolCalls: true, RequiredToolChoice: "required", MessageName: true,
		Embeddings: true, Responses: true},
	// openrouter.ai/docs/use-cases/usage-accounting: usage is always in
	// the last SSE message; stream_options.include_usage is deprecated and
	// has no effect, so it is not sent.
	"openrouter": {Name: "openrouter", BaseURL: "https://openrouter.ai/api/v1", PricingType: "openrouter",
		StreamUsage: false, UsageAlways: true, DeveloperRole: true, ParallelToolCalls: true,
		RequiredToolChoice: "required", MessageName: true, Responses: true},
	// docs.x.ai: OpenAI-compatible chat and Responses APIs; the reference
	// was not in the corpus: max_tokens, and "system" for developer
	// messages, which every version accepts.
	"xai": {Name: "xai", BaseURL: "https://api.x.ai/v1", PricingType: "xai",
		StreamUsage: true, ParallelToolCalls: true, RequiredToolChoice: "required", MessageName: true, Responses: true},
	// docs.ollama.com OpenAI compatibility (docs/openai.md): base
	// http://localhost:11434/v1, the API key is required by SDKs but
	// ignored; supported fields include stream_options.include_usage and
	// max_tokens, not parallel_tool_calls; /v1/embeddings is served. The
	// catalog's "ollama/" names are not a LookupTarget preset: prices come
	// from the configuration (usually zero).
	"ollama": {Name: "ollama", BaseURL: "http://127.0.0.1:11434/v1",
		StreamUsage: true, RequiredToolChoice: "required", MessageName: true, Embeddings: true, Responses: true},
	// docs.vllm.ai OpenAI-compatible server: no well-known address (the
	// operator's server, http://HOST:8000/v1 by default); max_tokens,
	// stream_options.include_usage; chat templates know system, user,
	// assistant and tool roles only.
	"vllm": {Name: "vllm", StreamUsage: true, ParallelToolCalls: true, RequiredToolChoice: "required",
		MessageName: true, Embeddings: true},
}

// Preset returns the named preset.
func Preset(name string) (PresetInfo, bool) {
	p, ok := presets[name]
	return p, ok
}

// PresetNames returns the names of every preset, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// apply returns a Chat Completions body adjusted to p's quirks. body is
// returned unchanged when no quirk applies to it; otherwise its top-level
// members are re-encoded (their values kept byte for byte, but for those
// changed), in sorted order.
func (p *PresetInfo) apply(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, fmt.Errorf("openai: preset %s: %w", p.Name, errNotObject)
	}
	changed := false
	if v, ok := m["max_completion_tokens"]; ok && !p.MaxCompletionTokens {
		if _, both := m["max_tokens"]; !both {
			m["max_tokens"] = v
		}
		delete(m, "max_completion_tokens")
		changed = true
	}
	if _, ok := m["stream_options"]; ok && !p.StreamUsage {
		delete(m, "stream_options")
		changed = true
	}
	if _, ok := m["parallel_tool_calls"]; ok && !p.ParallelToolCalls {
		delete(m, "parallel_tool_calls")
		changed = true
	}
	if p.RequiredToolChoice != "" && p.RequiredToolChoice != "required" && bytes.Equal(bytes.TrimSpace(m["tool_choice"]), []byte(`"required"`)) {
		m["tool_choice"] = json.RawMessage(`"` + p.RequiredToolChoice + `"`)
		changed = true
	}
	if msgs, ok := m["messages"]; ok && (!p.DeveloperRole || !p.MessageName) {
		out, mc, err := p.applyMessages(msgs)
		if err != nil {
			return nil, err
		}
		if mc {
			m["messages"], changed = out, true
		}
	}
	if !changed {
		return body, nil
	}
	return json.Marshal(m)
}

// applyMessages renames the developer role and drops names as p requires.
func (p *PresetInfo) applyMessages(raw json.RawMessage) (json.RawMessage, bool, error) {
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, false, fmt.Errorf("openai: preset %s: messages: %w", p.Name, err)
	}
	changed := false
	for _, msg := range msgs {
		if !p.DeveloperRole && bytes.Equal(bytes.TrimSpace(msg["role"]), []byte(`"developer"`)) {
			msg["role"] = json.RawMessage(`"system"`)
			changed = true
		}
		if _, ok := msg["name"]; ok && !p.MessageName {
			delete(msg, "name")
			changed = true
		}
	}
	if !changed {
		return raw, false, nil
	}
	b, err := json.Marshal(msgs)
	return b, true, err
}
