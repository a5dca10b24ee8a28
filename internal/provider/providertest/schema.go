package providertest

import (
	"encoding/json"
	"fmt"
	"slices"
)

// SchemaInstance returns a JSON value that satisfies the JSON Schema
// schema, as a strict fake answers a request for structured output: every
// required property (every property when none is listed), the first enum
// or const value, text for the first string and "" for the others, 0, false,
// null and [] for the other types, the first branch of anyOf and oneOf. It
// fails on a schema that is not a JSON object.
func SchemaInstance(schema json.RawMessage, text string) ([]byte, error) {
	var s map[string]any
	if err := json.Unmarshal(schema, &s); err != nil || s == nil {
		return nil, fmt.Errorf("providertest: the schema is not a JSON object")
	}
	first := true
	return json.Marshal(instance(s, text, &first))
}

func instance(s map[string]any, text string, first *bool) any {
	if v, ok := s["const"]; ok {
		return v
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if alts, ok := s[k].([]any); ok && len(alts) > 0 {
			if a, ok := alts[0].(map[string]any); ok {
				return instance(a, text, first)
			}
		}
	}
	typ, _ := s["type"].(string)
	if ts, ok := s["type"].([]any); ok && len(ts) > 0 {
		typ, _ = ts[0].(string)
	}
	switch typ {
	case "object", "":
		props, _ := s["properties"].(map[string]any)
		var names []string
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if n, ok := r.(string); ok {
					names = append(names, n)
				}
			}
		} else {
			for n := range props {
				names = append(names, n)
			}
			slices.Sort(names)
		}
		out := make(map[string]any, len(names))
		for _, n := range names {
			p, _ := props[n].(map[string]any)
			out[n] = instance(p, text, first)
		}
		return out
	case "string":
		if *first {
			*first = false
			return text
		}
		return ""
	case "integer", "number":
		return 0
	case "boolean":
		return false
	case "array":
		return []any{}
	}
	return nil
}

// ClaudeSchemaProblem returns what Claude's JSON outputs (Anthropic's
// output_config.format, Bedrock's outputConfig.textFormat for Claude)
// refuse in schema, in the API's words; "" when nothing. Every object must
// set additionalProperties to false.
func ClaudeSchemaProblem(schema json.RawMessage) string {
	var s any
	if err := json.Unmarshal(schema, &s); err != nil {
		return "the schema is not valid JSON"
	}
	if _, ok := s.(map[string]any); !ok {
		return "the schema must be a JSON object"
	}
	return objectProblem(s, "schema")
}

func objectProblem(v any, at string) string {
	switch x := v.(type) {
	case map[string]any:
		if x["type"] == "object" {
			if ap, ok := x["additionalProperties"].(bool); !ok || ap {
				return fmt.Sprintf("%s: For 'object' type, 'additionalProperties' must be explicitly set to false", at)
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p := objectProblem(x[k], at+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range x {
			if p := objectProblem(e, fmt.Sprintf("%s.%d", at, i)); p != "" {
				return p
			}
		}
	}
	return ""
}
