package config

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
)

// secretSource is one secret as written: its value, and where the value
// came from, so that the effective config can name the source without the
// value.
type secretSource struct {
	value Secret
	env   string // VAR, when the file wrote exactly ${VAR} or ${VAR:-default}
	file  string // the path of a file: secret
}

// String is what the effective config shows for the secret: "" when it is
// empty, else [redacted], naming the variable or file it came from.
func (s secretSource) String() string {
	switch {
	case s.value == "":
		return ""
	case s.file != "":
		return "[redacted: file:" + s.file + "]"
	case s.env != "":
		return "[redacted: ${" + s.env + "}]"
	}
	return redacted
}

var envOnly = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}$`)

// envReference returns VAR when raw is exactly ${VAR} or ${VAR:-default}.
// Anything else (literal text, or a variable inside other text) returns "":
// the literal part could itself be secret. A default is never returned.
func envReference(raw string) string {
	if m := envOnly.FindStringSubmatch(raw); m != nil {
		return m[1]
	}
	return ""
}

// SecretFiles returns the paths of the file: secrets the config read, sorted,
// so that a watcher can notice a rotated credential.
func (c *Config) SecretFiles() []string {
	var out []string
	for _, s := range c.secrets {
		if s.file != "" && !slices.Contains(out, s.file) {
			out = append(out, s.file)
		}
	}
	slices.Sort(out)
	return out
}

// Effective returns the settings in force as a tree of maps
// (map[string]any), lists ([]any) and scalars (string, int64, float64,
// bool, nil) in the shape of the YAML file: providers, models and teams are
// keyed by name, every default is filled in, and durations, sizes and prices
// are written as a file writes them ("30s", "4MiB", "2.5"). No secret value
// is in it: a secret shows as [redacted], naming its source when it came
// from one variable or a file ("[redacted: ${OPENAI_API_KEY}]",
// "[redacted: file:/run/secrets/openai]"). Each call returns a fresh tree;
// its JSON encoding is the same for the same settings (keys are sorted).
func (c *Config) Effective() map[string]any {
	raw, err := json.Marshal(c)
	if err != nil {
		// Every field of Config marshals; this is a programming error.
		panic("config: marshal effective config: " + err.Error())
	}
	tree, _ := Normalize(raw).(map[string]any)
	for _, section := range []string{"providers", "models", "teams"} {
		tree[section] = byName(tree[section])
	}
	for p, s := range c.secrets {
		setSecret(tree, c, p, s.String())
	}
	return tree
}

// setSecret writes shown at the secret written at concrete path p. Secrets
// live at fixed places of the schema, so p is matched against them rather
// than split (names may contain dots).
func setSecret(tree map[string]any, c *Config, p, shown string) {
	if shown == "" {
		return // an empty secret is left as JSON encoded it
	}
	at := func(keys ...string) {
		node := tree
		for _, k := range keys[:len(keys)-1] {
			next, ok := node[k].(map[string]any)
			if !ok {
				return
			}
			node = next
		}
		node[keys[len(keys)-1]] = shown
	}
	switch p {
	case "auth.hmac_secret":
		at("auth", "hmac_secret")
		return
	case "admin.key":
		at("admin", "key")
		return
	case "alerts.webhook.secret":
		at("alerts", "webhook", "secret")
		return
	case "storage.postgres", "storage.redis":
		at("storage", p[len("storage."):])
		return
	}
	for i := range c.Providers {
		pr := &c.Providers[i]
		base := path{}.field("providers").entry(pr.Name)
		if p == base.field("api_key").concrete {
			at("providers", pr.Name, "api_key")
			return
		}
		for h := range pr.Headers {
			if p == base.field("headers").entry(h).concrete {
				at("providers", pr.Name, "headers", h)
				return
			}
		}
	}
}

// byName turns a list of objects with a "name" into an object keyed by it,
// as the file writes providers, models and teams.
func byName(v any) any {
	list, _ := v.([]any)
	out := make(map[string]any, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		delete(m, "name")
		out[name] = m
	}
	return out
}

// Normalize decodes JSON into the tree types Effective uses: integers as
// int64, other numbers as float64. It returns nil for invalid JSON. Trees
// from Effective and from Normalize(JSON of such a tree) compare equal.
func Normalize(data []byte) any {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return numbers(v)
}

func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}
