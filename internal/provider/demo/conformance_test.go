package demo

import (
	"net/http"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/providertest"
)

// TestConformance runs the provider conformance suite against the demo
// provider. It makes no HTTP calls, so the wire-level checks (error
// classes, cuts, splitting, transport failures) do not apply; its answers
// quote at most 400 bytes of the prompt, so neither do the large ones.
func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Adapter{
		Name:      "demo",
		Connect:   func(string, *http.Client) llm.Provider { return &Provider{Name: "demo"} },
		Model:     "demo-fast",
		ImageURLs: true,
		EchoLimit: 400,
	})
}
