//go:build tools

// Package internal pins dependencies that are used by packages still being
// written, so that go.mod is settled before parallel work starts.
package internal

import (
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/openai/openai-go/v3"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
