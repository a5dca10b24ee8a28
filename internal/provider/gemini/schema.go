package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Tool parameters go to Gemini as "parameters", an OpenAPI 3.0 Schema in
// Gemini's subset, which the API checks strictly. convertSchema rewrites a
// client's JSON Schema into it:
//
//   - type names are upper-cased ("object" → "OBJECT"), and a type list of
//     one type plus "null" becomes that type with nullable: true;
//   - keywords that only annotate or only loosen validation are dropped:
//     $schema, $id, $comment, additionalProperties, examples, readOnly,
//     writeOnly, deprecated, strict (strippedKeywords);
//   - every other keyword outside Gemini's subset ($ref, $defs, oneOf,
//     allOf, not, const, patternProperties, ...) fails with
//     *unsupportedKeyword, which the adapter reports as
//     feature_not_supported naming the keyword, rather than changing what
//     the tool accepts.
//
// Structured output (response_format json_schema) does not go through
// here: it is sent unchanged as responseJsonSchema, which takes JSON Schema.

// allowedKeywords is Gemini's Schema subset.
var allowedKeywords = map[string]bool{
	"type": true, "format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "properties": true, "required": true, "minProperties": true,
	"maxProperties": true, "minLength": true, "maxLength": true, "pattern": true, "example": true,
	"anyOf": true, "propertyOrdering": true, "default": true, "items": true, "minimum": true, "maximum": true,
}

// strippedKeywords are dropped without changing which arguments are valid
// in practice: annotations, and additionalProperties (Gemini never invents
// properties a schema does not declare).
var strippedKeywords = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "additionalProperties": true, "examples": true,
	"readOnly": true, "writeOnly": true, "deprecated": true, "strict": true,
}

// unsupportedKeyword reports a JSON Schema keyword Gemini cannot take.
type unsupportedKeyword struct{ keyword string }

func (e *unsupportedKeyword) Error() string { return "unsupported JSON Schema keyword " + e.keyword }

// maxSchemaDepth bounds recursion on hostile schemas.
const maxSchemaDepth = 64

// convertSchema returns the Gemini form of the JSON Schema raw.
func convertSchema(raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the schema is not an object")
	}
	out, err := convertNode(m, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func convertNode(m map[string]any, depth int) (map[string]any, error) {
	if depth > maxSchemaDepth {
		return nil, errors.New("the schema is nested too deeply")
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch {
		case strippedKeywords[k]:
			continue
		case !allowedKeywords[k]:
			return nil, &unsupportedKeyword{k}
		}
		switch k {
		case "type":
			t, nullable, err := convertType(v)
			if err != nil {
				return nil, err
			}
			out["type"] = t
			if nullable {
				out["nullable"] = true
			}
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, errors.New("properties is not an object")
			}
			conv := make(map[string]any, len(props))
			for name, p := range props {
				pm, ok := p.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("property %q is not a schema object", name)
				}
				c, err := convertNode(pm, depth+1)
				if err != nil {
					return nil, err
				}
				conv[name] = c
			}
			out[k] = conv
		case "items":
			im, ok := v.(map[string]any)
			if !ok {
				return nil, errors.New("items is not a schema object")
			}
			c, err := convertNode(im, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = c
		case "anyOf":
			list, ok := v.([]any)
			if !ok {
				return nil, errors.New("anyOf is not an array")
			}
			conv := make([]any, 0, len(list))
			for _, s := range list {
				sm, ok := s.(map[string]any)
				if !ok {
					return nil, errors.New("anyOf holds a non-object")
				}
				c, err := convertNode(sm, depth+1)
				if err != nil {
					return nil, err
				}
				conv = append(conv, c)
			}
			out[k] = conv
		default:
			out[k] = v
		}
	}
	return out, nil
}

var schemaTypes = []string{"string", "number", "integer", "boolean", "array", "object"}

// convertType maps "string" or ["string", "null"] to "STRING" (nullable).
func convertType(v any) (string, bool, error) {
	switch t := v.(type) {
	case string:
		if !slices.Contains(schemaTypes, strings.ToLower(t)) {
			return "", false, fmt.Errorf("type %q is not one of %s", t, strings.Join(schemaTypes, ", "))
		}
		return strings.ToUpper(t), false, nil
	case []any:
		var name string
		nullable := false
		for _, e := range t {
			s, ok := e.(string)
			switch {
			case !ok:
				return "", false, errors.New("type list holds a non-string")
			case s == "null":
				nullable = true
			case name != "":
				return "", false, &unsupportedKeyword{"type (a list of several non-null types)"}
			default:
				name = s
			}
		}
		if name == "" {
			return "", false, &unsupportedKeyword{`type "null"`}
		}
		n, _, err := convertType(name)
		return n, nullable, err
	default:
		return "", false, errors.New("type is neither a string nor a list")
	}
}
