package openai

import (
	"net/http"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/airgw/airgw/internal/provider/providertest"
)

// openaiErrors are the fake's error answers and the class each must map to.
var openaiErrors = []providertest.ErrorCase{
	{Model: "error:429", Code: llm.CodeProviderRateLimited, RetryAfter: true},
	{Model: "error:insufficient_quota", Code: llm.CodeProviderRateLimited},
	{Model: "error:500", Code: llm.CodeProviderUnavailable},
	{Model: "error:502", Code: llm.CodeProviderUnavailable},
	{Model: "error:503", Code: llm.CodeProviderUnavailable, RetryAfter: true},
	{Model: "error:408", Code: llm.CodeProviderUnavailable},
	{Model: "error:401", Code: llm.CodeProviderAuthFailed},
	{Model: "error:403", Code: llm.CodeProviderAuthFailed},
	{Model: "error:context_length", Code: llm.CodeContextLengthExceeded},
	{Model: "error:content_filter", Code: llm.CodeContentFiltered},
	{Model: "error:404", Code: llm.CodeUpstreamInvalidRequest},
}

// TestConformance runs the provider conformance suite against every
// flavour of the adapter: OpenAI, Azure OpenAI on both of its surfaces,
// and an OpenAI-compatible preset.
func TestConformance(t *testing.T) {
	flavours := []struct {
		name  string
		fake  []openaitest.Option
		cfg   func(*Config)
		extra []providertest.ErrorCase
		fix   []string
	}{
		{name: "openai", cfg: func(*Config) {},
			fix: []string{"fixture:chat-stream-with-usage", "fixture:chat-stream-tool-call-usage-gpt5", "fixture:chat-stream-multi-tool-gpt4o", "fixture:chat-stream-langchaingo"}},
		{name: "azure_deployments", fake: []openaitest.Option{openaitest.WithAzure("2024-10-21")},
			cfg:   func(c *Config) { c.Azure = &AzureConfig{APIVersion: "2024-10-21"} },
			extra: []providertest.ErrorCase{{Model: "error:azure_429", Code: llm.CodeProviderRateLimited, RetryAfter: true}, {Model: "error:azure_content_filter", Code: llm.CodeContentFiltered}},
			fix:   []string{"fixture:azure-chat-stream-tool-call-o4-mini", "fixture:azure-chat-stream-text-gpt5-mini"}},
		{name: "azure_v1", fake: []openaitest.Option{openaitest.WithAzure("v1")},
			cfg: func(c *Config) { c.Azure = &AzureConfig{APIVersion: "v1"} }},
		{name: "openai_compatible_groq", cfg: func(c *Config) { c.Preset = "groq" }},
		{name: "openai_compatible", cfg: func(c *Config) { c.Compatible = true }},
	}
	for _, f := range flavours {
		t.Run(f.name, func(t *testing.T) {
			fake := openaitest.NewServer(t, append(f.fake, openaitest.WithUsageDetails(3, 2))...)
			connect := func(key string) func(string, *http.Client) llm.Provider {
				return func(base string, hc *http.Client) llm.Provider {
					cfg := Config{Name: "oai-" + f.name, BaseURL: base, APIKey: key, HTTPClient: hc}
					f.cfg(&cfg)
					c, err := New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					return c
				}
			}
			providertest.Run(t, providertest.Adapter{
				Name:                  "oai-" + f.name,
				Upstream:              fake.URL(),
				Connect:               connect(openaitest.Key),
				ConnectBadCredentials: connect("sk-wrong-0123456789abcdef"),
				Secrets:               []string{openaitest.Key, "sk-wrong-0123456789abcdef"},
				Model:                 "gpt-echo",
				Usage:                 fake.Usage,
				CachedUsage:           true,
				ImageURLs:             true,
				Errors:                append(f.extra, openaiErrors...),
				StreamErrors:          []providertest.ErrorCase{{Model: "midstream-error", Code: llm.CodeProviderUnavailable}},
				StreamFixtures:        f.fix,
			})
		})
	}
}
