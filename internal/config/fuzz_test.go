package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes the loader panic, and that every
// failure is a *Error with one line per problem. Secret files are never
// read: a fuzzed file:/dev/stdin must not block.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(DemoYAML("/tmp/demo"))
	noFiles := func(path string) (string, error) { return "", errors.New("no files while fuzzing") }
	env := func(name string) (string, bool) {
		if strings.HasPrefix(name, "U") {
			return "", false
		}
		return "v:" + name, true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("fuzz.yaml", data, env, noFiles)
		if err == nil {
			if c == nil || len(c.Providers) == 0 || len(c.Models) == 0 {
				t.Fatalf("parse = %+v, nil; want a config with providers and models", c)
			}
			return
		}
		var cerr *Error
		if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
			t.Fatalf("parse error = %T %v, want a *Error with problems", err, err)
		}
		if got := strings.Count(err.Error(), "\n") + 1; got < len(cerr.Problems) {
			t.Fatalf("Error() has %d lines, want at least %d", got, len(cerr.Problems))
		}
	})
}
