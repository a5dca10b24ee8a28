package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Rewrite returns body (a client's Messages request) with its top-level
// "model" set to model, added when absent. Every other byte of body is
// preserved: the value is spliced in place rather than decoded and
// re-encoded, so fields airgw does not model (beta features, server tools,
// cache_control placement, key order, whitespace) reach the provider
// exactly as the client sent them. Duplicate "model" keys are all
// rewritten.
//
// body must be a JSON object. Rewrite checks its top-level structure but,
// for speed, not the syntax inside values: the dialect decoder has already
// parsed the body. Given valid JSON, the result is valid JSON.
func Rewrite(body []byte, model string) ([]byte, error) {
	members, end, err := topLevelMembers(body)
	if err != nil {
		return nil, err
	}
	modelJSON, err := json.Marshal(model)
	if err != nil {
		return nil, fmt.Errorf("anthropic: rewrite: %w", err)
	}
	out := make([]byte, 0, len(body)+len(modelJSON)+10)
	last := 0
	sawModel := false
	for _, m := range members {
		if m.key != "model" {
			continue
		}
		sawModel = true
		out = append(out, body[last:m.valStart]...)
		out = append(out, modelJSON...)
		last = m.valEnd
	}
	out = append(out, body[last:end]...)
	if !sawModel {
		if len(members) > 0 {
			out = append(out, ',')
		}
		out = append(out, `"model":`...)
		out = append(out, modelJSON...)
	}
	out = append(out, body[end:]...)
	return out, nil
}

// countFields are the members of a Messages request that count_tokens
// accepts: the prompt. Others (max_tokens, stream, sampling, metadata)
// are refused there as extra inputs.
var countFields = map[string]bool{
	"messages": true, "system": true, "tools": true, "tool_choice": true, "thinking": true,
	"mcp_servers": true, "context_management": true, "output_config": true, "output_format": true,
}

// CountBody returns the count_tokens body for a client's Messages request:
// model set to model, and the prompt's members copied byte for byte.
func CountBody(body []byte, model string) ([]byte, error) {
	members, _, err := topLevelMembers(body)
	if err != nil {
		return nil, err
	}
	modelJSON, err := json.Marshal(model)
	if err != nil {
		return nil, fmt.Errorf("anthropic: count body: %w", err)
	}
	out := make([]byte, 0, len(body)+len(modelJSON)+10)
	out = append(out, `{"model":`...)
	out = append(out, modelJSON...)
	for _, m := range members {
		if countFields[m.key] {
			out = append(out, ',')
			out = append(out, body[m.keyStart:m.valEnd]...)
		}
	}
	return append(out, '}'), nil
}

// member locates one top-level member of a JSON object.
type member struct {
	key                        string
	keyStart, valStart, valEnd int
}

var errNotObject = errors.New("anthropic: rewrite: body is not a JSON object")

// topLevelMembers returns the members of the JSON object in b and the index
// of its closing brace. It checks the object's top-level structure (and so
// never indexes out of range on malformed input) but not the syntax inside
// values: callers pass bodies that have already been decoded once.
func topLevelMembers(b []byte) (ms []member, end int, err error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, 0, errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		end = i
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return nil, 0, errNotObject
			}
			ks := i
			ke := skipString(b, ks)
			if ke > len(b) || ke-ks < 2 {
				return nil, 0, errNotObject
			}
			key := string(b[ks+1 : ke-1])
			if bytes.IndexByte(b[ks:ke], '\\') >= 0 {
				if err := json.Unmarshal(b[ks:ke], &key); err != nil {
					return nil, 0, fmt.Errorf("anthropic: rewrite: %w", err)
				}
			}
			i = skipSpace(b, ke)
			if i >= len(b) || b[i] != ':' {
				return nil, 0, errNotObject
			}
			vs := skipSpace(b, i+1)
			if vs >= len(b) {
				return nil, 0, errNotObject
			}
			ve := skipValue(b, vs)
			if ve <= vs || ve > len(b) {
				return nil, 0, errNotObject
			}
			ms = append(ms, member{key: key, keyStart: ks, valStart: vs, valEnd: ve})
			i = skipSpace(b, ve)
			if i >= len(b) {
				return nil, 0, errNotObject
			}
			if b[i] == '}' {
				end = i
				break
			}
			if b[i] != ',' {
				return nil, 0, errNotObject
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, end+1) != len(b) {
		return nil, 0, errNotObject // trailing data
	}
	return ms, end, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i], or
// len(b)+1 when it does not end.
func skipString(b []byte, i int) int {
	i++
	for i < len(b) {
		j := bytes.IndexAny(b[i:], `"\`)
		if j < 0 {
			return len(b) + 1 // unterminated
		}
		i += j
		if b[i] == '\\' {
			i += 2
			continue
		}
		return i + 1
	}
	return len(b) + 1 // unterminated
}

// skipValue returns the index just past the value starting at b[i], or
// len(b)+1 when the value does not end.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b) + 1 // unbalanced
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' &&
			b[i] != '\n' && b[i] != '\r' && b[i] != '\t' {
			i++
		}
		return i
	}
}
