package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDocsExamples keeps docs/configuration.md honest: every complete
// example (one with both providers and models) must load, and the error
// output shown under "Reading an error" must be what the loader prints.
func TestDocsExamples(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Skipf("docs not found: %v", err)
	}
	// blocks[i] is {info string, body} of each fenced block, in order.
	var blocks [][2]string
	var cur *[2]string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &[2]string{strings.TrimPrefix(trimmed, "```"), ""}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur[1] += line
		}
	}
	env := func(name string) (string, bool) { return "sk-" + name, true }
	checked := 0
	for i, b := range blocks {
		if b[0] != "yaml" {
			continue
		}
		text := b[1]
		if strings.HasPrefix(text, "# Every problem") {
			if i+1 >= len(blocks) {
				t.Fatal("the bad example has no output block after it")
			}
			_, err := Parse("airgw.yaml", []byte(text), env)
			want := strings.Split(strings.TrimSpace(blocks[i+1][1]), "\n")
			if err == nil {
				t.Fatalf("Parse(docs bad example) = nil, want errors")
			}
			if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("docs error output is stale (-docs +loader):\n%s", diff)
			}
			checked++
			continue
		}
		if !regexp.MustCompile(`(?m)^providers:`).MatchString(text) || !regexp.MustCompile(`(?m)^models:`).MatchString(text) {
			continue
		}
		if _, err := Parse("example.yaml", []byte(text), env); err != nil {
			t.Errorf("Parse(docs example %d) = %v, want no error; example:\n%s", i, err, text)
		}
		checked++
	}
	if checked < 3 {
		t.Errorf("checked %d docs examples, want at least 3", checked)
	}
}

// TestDocsRestartOnly keeps the restart table of docs/configuration.md in
// step with RestartOnlySettings: every setting read only at startup is
// listed there.
func TestDocsRestartOnly(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Skipf("docs not found: %v", err)
	}
	doc := string(data)
	start := strings.Index(doc, "## Reloading")
	if start < 0 {
		t.Fatal("docs/configuration.md has no \"## Reloading\" section")
	}
	section := doc[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	for _, p := range RestartOnlySettings() {
		if !strings.Contains(section, "`"+p+"`") {
			t.Errorf("docs/configuration.md, Reloading: the restart-only setting `%s` is not listed", p)
		}
	}
}
