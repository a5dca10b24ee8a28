package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, expands, decodes and validates the configuration file at
// path, looking environment variables up with os.LookupEnv. Problems with
// the file's contents come back as a *Error listing all of them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse decodes and validates data as a configuration file. name is used in
// positions only. lookupEnv resolves ${VAR}; pass os.LookupEnv, or a fake in
// tests. file: secrets are read from disk, relative paths against the
// working directory. Every problem is returned at once as a *Error.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse(name, data, lookupEnv, readSecretFile)
}

// yamlLine picks the line out of yaml.v3's syntax errors, which look like
// "yaml: line 3: did not find expected key". Errors on line 1 carry no line.
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

func parse(name string, data []byte, lookupEnv func(string) (string, bool), readFile func(string) (string, error)) (*Config, error) {
	d := &decoder{
		file:      name,
		lookupEnv: lookupEnv,
		readFile:  readFile,
		positions: map[string]Pos{},
		failed:    map[string]bool{},
		secrets:   map[string]secretSource{},
	}
	fail := func(at Pos, msg string) (*Config, error) {
		return nil, &Error{Problems: []Problem{{Pos: at, Message: msg}}}
	}

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(Pos{File: name}, "the file is empty; see docs/configuration.md for a starting point")
		}
		line := 1
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil && m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
		return fail(Pos{File: name, Line: line}, "invalid YAML: "+yamlLine.ReplaceAllString(err.Error(), ""))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		at := Pos{File: name, Line: extra.Line, Col: extra.Column}
		if err != nil {
			return fail(Pos{File: name}, "invalid YAML after the first document: "+yamlLine.ReplaceAllString(err.Error(), ""))
		}
		return fail(at, "a second YAML document (after ---) is not allowed; airgw reads one document")
	}

	if len(doc.Content) == 0 {
		return fail(Pos{File: name}, "the file has no settings; see docs/configuration.md for a starting point")
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return fail(Pos{File: name, Line: root.Line, Col: root.Column}, "the file has no settings; see docs/configuration.md for a starting point")
	}
	rootPos := d.pos(root)
	if root.Kind != yaml.MappingNode {
		return fail(rootPos, "expected a mapping of sections such as server, providers and models at the top level, got "+describe(root))
	}

	c := defaults()
	d.root(root, c)
	d.validate(c, rootPos)
	if len(d.problems) > 0 {
		return nil, &Error{Problems: sortProblems(d.problems)}
	}
	c.hash = hashBytes(data)
	c.positions = d.positions
	c.secrets = d.secrets
	return c, nil
}

// DemoYAML returns the configuration that airgw serve --demo runs: SQLite in
// dataDir, a built-in demo provider, models demo-fast and demo-smart with
// explicit prices, and a team demo allowed both. It loads through Parse like
// any other file.
func DemoYAML(dataDir string) []byte {
	db := filepath.Join(dataDir, "airgw.db")
	return []byte(`# The configuration airgw serve --demo runs.
storage:
  sqlite: ` + quoteYAML(db) + `
  data_dir: ` + quoteYAML(dataDir) + `

providers:
  demo:
    type: demo

models:
  demo-fast:
    targets:
      - {provider: demo, model: demo-fast}
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60}
  demo-smart:
    targets:
      - {provider: demo, model: demo-smart}
    price: {input_per_mtok: 2.50, output_per_mtok: 10.00}

teams:
  demo:
    models: [demo-fast, demo-smart]
`)
}

// Demo parses DemoYAML(dataDir).
func Demo(dataDir string) (*Config, error) {
	return Parse("demo.yaml", DemoYAML(dataDir), func(string) (string, bool) { return "", false })
}

// quoteYAML writes s as a YAML double-quoted scalar that survives ${}
// expansion unchanged.
func quoteYAML(s string) string {
	return strconv.Quote(strings.ReplaceAll(s, "$", "$$"))
}
