package anthropic

import (
	"net/http"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	"github.com/airgw/airgw/internal/provider/providertest"
)

// TestConformance runs the provider conformance suite against the
// Anthropic adapter and its strict fake.
func TestConformance(t *testing.T) {
	fake := anthropictest.NewServer(t, anthropictest.WithUsageDetails(5, 2))
	connect := func(key string) func(string, *http.Client) llm.Provider {
		return func(base string, hc *http.Client) llm.Provider {
			c, err := New(Config{Name: "claude", BaseURL: base, APIKey: key, HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	providertest.Run(t, providertest.Adapter{
		Name:                  "claude",
		Upstream:              fake.URL(),
		Connect:               connect(anthropictest.Key),
		ConnectBadCredentials: connect("sk-ant-api03-wrong-0123456789"),
		Secrets:               []string{anthropictest.Key, "sk-ant-api03-wrong-0123456789"},
		Model:                 "claude-echo",
		Usage:                 fake.Usage,
		CachedUsage:           true,
		ImageURLs:             true,
		Errors: []providertest.ErrorCase{
			{Model: "error:429", Code: llm.CodeProviderRateLimited, RetryAfter: true},
			{Model: "error:529", Code: llm.CodeProviderUnavailable},
			{Model: "error:500", Code: llm.CodeProviderUnavailable},
			{Model: "error:401", Code: llm.CodeProviderAuthFailed},
			{Model: "error:403", Code: llm.CodeProviderAuthFailed},
			{Model: "error:context", Code: llm.CodeContextLengthExceeded},
			{Model: "error:400", Code: llm.CodeUpstreamInvalidRequest},
			{Model: "error:404", Code: llm.CodeUpstreamInvalidRequest},
			{Model: "error:413", Code: llm.CodePayloadTooLarge},
		},
		StreamErrors: []providertest.ErrorCase{{Model: "midstream-error", Code: llm.CodeProviderUnavailable}},
		StreamFixtures: []string{"fixture:messages-stream-text", "fixture:messages-stream-thinking",
			"fixture:messages-stream-parallel-tool-use", "fixture:messages-stream-tool-use-input-json", "fixture:messages-stream-thinking-long"},
	})
}
