package bedrock

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
	"github.com/airgw/airgw/internal/provider/providertest"
)

// TestConformance runs the provider conformance suite against the Bedrock
// adapter and its strict fake, which checks every SigV4 signature.
func TestConformance(t *testing.T) {
	fake := bedrocktest.NewServer(t, bedrocktest.WithCacheUsage(6, 2))
	const wrongSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY"
	connect := func(secret string) func(string, *http.Client) llm.Provider {
		return func(base string, hc *http.Client) llm.Provider {
			c, err := New(context.Background(), Config{Name: "bedrock-us", Region: bedrocktest.Region, BaseURL: base, HTTPClient: hc,
				Credentials: credentials.NewStaticCredentialsProvider(bedrocktest.AccessKey, secret, "")})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	providertest.Run(t, providertest.Adapter{
		Name:                  "bedrock-us",
		Upstream:              fake.URL(),
		Connect:               connect(bedrocktest.SecretKey),
		ConnectBadCredentials: connect(wrongSecret),
		Secrets:               []string{bedrocktest.SecretKey, wrongSecret},
		Model:                 "anthropic.claude-echo-v1",
		Usage:                 fake.Usage,
		CachedUsage:           true,
		ImageURLs:             false, // Converse takes image bytes or S3 locations only
		Errors: []providertest.ErrorCase{
			{Model: "error:429", Code: llm.CodeProviderRateLimited},
			{Model: "error:500", Code: llm.CodeProviderUnavailable},
			{Model: "error:503", Code: llm.CodeProviderUnavailable},
			{Model: "error:408", Code: llm.CodeProviderTimeout},
			{Model: "error:424", Code: llm.CodeProviderError},
			{Model: "error:403", Code: llm.CodeProviderAuthFailed},
			{Model: "error:context", Code: llm.CodeContextLengthExceeded},
			{Model: "error:400", Code: llm.CodeUpstreamInvalidRequest},
			{Model: "error:404", Code: llm.CodeUpstreamInvalidRequest},
		},
		StreamErrors: []providertest.ErrorCase{
			{Model: "exception:throttling", Code: llm.CodeProviderRateLimited},
			{Model: "exception:serviceUnavailable", Code: llm.CodeProviderUnavailable},
			{Model: "exception:internalServer", Code: llm.CodeProviderUnavailable},
			{Model: "exception:modelStreamError", Code: llm.CodeProviderUnavailable},
			{Model: "exception:validation", Code: llm.CodeContextLengthExceeded},
		},
		StreamFixtures: []string{"fixture:converse-stream-text", "fixture:converse-stream-thinking", "fixture:converse-stream-code-interpreter"},
	})
}
