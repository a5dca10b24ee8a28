package config

import "slices"

// This file is the one place that says which parts of the schema this
// version of airgw acts on. Everything in the schema is parsed and validated,
// so typos are caught everywhere, but a field listed here is then refused:
// a budget or policy that was accepted and silently ignored would give
// false safety. When a feature lands, delete its entry here and its
// "not yet supported" note in docs/configuration.md.

// unsupportedMessage is the problem reported for a field that is parsed but
// not acted on.
const unsupportedMessage = "not yet supported in this version of airgw; remove it"

// notYetSupported holds schema paths (map keys written as *) that are
// refused when present. It is never modified.
var notYetSupported = map[string]bool{
	"storage.postgres": true,
	"storage.redis":    true,

	"models.*.context_window": true,
}

// Provider types, the values of providers.*.type.
const (
	TypeOpenAI           = "openai"
	TypeOpenAICompatible = "openai_compatible"
	TypeDemo             = "demo"
	TypeAnthropic        = "anthropic"
	TypeAzureOpenAI      = "azure_openai"
	TypeGemini           = "gemini"
	TypeBedrock          = "bedrock"
)

// providerTypes lists every provider type the schema knows, in the order
// the documentation gives them.
var providerTypes = []string{TypeOpenAI, TypeOpenAICompatible, TypeDemo, TypeAnthropic, TypeAzureOpenAI, TypeGemini, TypeBedrock}

// supportedProviderType reports whether this version of airgw can call
// providers of type t.
func supportedProviderType(t string) bool { return slices.Contains(providerTypes, t) }

// Presets are the known OpenAI-compatible services, the values of
// providers.*.preset. The provider adapter holds their details; a test in
// internal/app keeps the two lists equal.
var Presets = []string{"deepseek", "fireworks", "groq", "mistral", "ollama", "openrouter", "together", "vllm", "xai"}
