package cli

import (
	"os"
	"strings"
	"testing"
)

// TestOperationsDocShowsHelp keeps docs/operations.md honest: the output of
// `airgw help` it quotes is the usage text the binary prints.
func TestOperationsDocShowsHelp(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```\n"+strings.TrimRight(usage, "\n")+"\n```") {
		t.Error("docs/operations.md (## The CLI) does not quote the current `airgw help` output; paste it from `go run ./cmd/airgw help`")
	}
}
