package gemini

import (
	"net/http"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	"github.com/airgw/airgw/internal/provider/providertest"
)

// TestConformance runs the provider conformance suite against the Gemini
// adapter and its strict fake.
func TestConformance(t *testing.T) {
	fake := geminitest.NewServer(t, geminitest.WithUsageDetails(4, 3))
	connect := func(key string) func(string, *http.Client) llm.Provider {
		return func(base string, hc *http.Client) llm.Provider {
			c, err := New(Config{Name: "gem", BaseURL: base, APIKey: key, HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	providertest.Run(t, providertest.Adapter{
		Name:                  "gem",
		Upstream:              fake.URL(),
		Connect:               connect(geminitest.Key),
		ConnectBadCredentials: connect("AIzaSyWrong0123456789abcdefghijklmnopq"),
		Secrets:               []string{geminitest.Key, "AIzaSyWrong0123456789abcdefghijklmnopq"},
		Model:                 "gemini-echo",
		Usage:                 fake.Usage,
		CachedUsage:           true,
		ImageURLs:             false, // fileData takes only files uploaded to Google
		Errors: []providertest.ErrorCase{
			{Model: "error:429", Code: llm.CodeProviderRateLimited, RetryAfter: true},
			{Model: "error:500", Code: llm.CodeProviderUnavailable},
			{Model: "error:503", Code: llm.CodeProviderUnavailable},
			{Model: "error:504", Code: llm.CodeProviderTimeout},
			{Model: "error:403", Code: llm.CodeProviderAuthFailed},
			{Model: "error:400", Code: llm.CodeContextLengthExceeded},
			{Model: "error:404", Code: llm.CodeUpstreamInvalidRequest},
		},
		StreamErrors: []providertest.ErrorCase{
			{Model: "midstream-error:503", Code: llm.CodeProviderUnavailable},
			{Model: "midstream-error:500", Code: llm.CodeProviderUnavailable},
			{Model: "midstream-error:429", Code: llm.CodeProviderRateLimited, RetryAfter: true},
		},
		StreamFixtures: []string{"fixture:stream-text", "fixture:stream-usage-mid-stream", "fixture:stream-function-call",
			"fixture:stream-thinking-function-call", "fixture:vertex-stream-text"},
	})
}
