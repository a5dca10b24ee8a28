package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/pricing"
)

// BenchmarkReload measures the work of one reload, without the swap (an
// atomic store): load and validate the file, diff it against the running
// config, and build the runtime reusing every provider client, for a
// config of 5 providers and 50 models with 2 targets each:
//
//	go test -run XXX -bench Reload -benchmem ./internal/app/
func BenchmarkReload(b *testing.B) {
	var y strings.Builder
	y.WriteString("providers:\n")
	for p := range 5 {
		fmt.Fprintf(&y, "  p%d: {type: openai_compatible, base_url: \"https://llm%d.example.com/v1\", api_key: \"sk-%d\"}\n", p, p, p)
	}
	y.WriteString("models:\n")
	for m := range 50 {
		fmt.Fprintf(&y, "  m%d:\n    targets: [{provider: p%d, model: a%d, weight: 3}, {provider: p%d, model: b%d}]\n    price: {input_per_mtok: 1.5, output_per_mtok: 6}\n", m, m%5, m, (m+1)%5, m)
	}
	path := filepath.Join(b.TempDir(), "airgw.yaml")
	if err := os.WriteFile(path, []byte(y.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	running, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	_, _, cl, err := buildRuntime(running, pricing.Default(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		next, err := config.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		_ = config.Diff(running, next)
		if _, _, _, err := buildRuntime(next.WithStartupSettings(running), pricing.Default(), cl); err != nil {
			b.Fatal(err)
		}
	}
}
