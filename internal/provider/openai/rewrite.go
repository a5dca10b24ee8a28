package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Rewrite returns body (a client's Chat Completions request) with its
// top-level "model" set to model and, when stream is true,
// "stream_options.include_usage" set to true (other stream_options keys are
// kept). Every other byte of body is preserved: the values are spliced in
// place rather than decoded and re-encoded, so fields airgw does not model
// (logprobs, prediction, vendor extensions) reach the provider exactly as
// the client sent them. Duplicate keys are all rewritten.
//
// "metadata" is removed unless "store" is true: OpenAI refuses metadata
// without store ("The 'metadata' parameter is only allowed when 'store' is
// enabled"), and clients send it to airgw for airgw's own use (the request's
// purpose); airgw records it in the audit trail instead.
//
// body must be a JSON object. Rewrite checks its top-level structure but,
// for speed, not the syntax inside values (json.Valid alone would cost
// four times the rewrite): the dialect decoder has already parsed the body.
// Given valid JSON, the result is valid JSON.
func Rewrite(body []byte, model string, stream bool) ([]byte, error) {
	members, end, err := topLevelMembers(body)
	if err != nil {
		return nil, err
	}
	modelJSON, err := quote(model)
	if err != nil {
		return nil, fmt.Errorf("openai: rewrite: %w", err)
	}
	out := make([]byte, 0, len(body)+len(modelJSON)+40)
	last := 0
	sawModel, sawOptions := false, false
	store := storeEnabled(body, members)
	kept := len(members)
	for i, m := range members {
		var repl []byte
		switch m.key {
		case "metadata":
			if store {
				continue
			}
			// Cut the member with one adjacent comma: the one after it,
			// or, for the last member, the one before it.
			kept--
			switch {
			case i+1 < len(members):
				out = append(out, body[last:m.keyStart]...)
				last = members[i+1].keyStart
			case i > 0:
				out = append(out, body[last:members[i-1].valEnd]...)
				last = m.valEnd
			default:
				out = append(out, body[last:m.keyStart]...)
				last = m.valEnd
			}
			continue
		case "model":
			sawModel, repl = true, modelJSON
		case "stream_options":
			if !stream {
				continue
			}
			sawOptions = true
			repl, err = includeUsage(body[m.valStart:m.valEnd])
			if err != nil {
				return nil, err
			}
		default:
			continue
		}
		out = append(out, body[last:m.valStart]...)
		out = append(out, repl...)
		last = m.valEnd
	}
	// Missing keys go at the end of the object, before its closing brace.
	out = append(out, body[last:end]...)
	empty := kept == 0
	if !sawModel {
		if !empty {
			out = append(out, ',')
		}
		out = append(out, `"model":`...)
		out = append(out, modelJSON...)
		empty = false
	}
	if stream && !sawOptions {
		if !empty {
			out = append(out, ',')
		}
		out = append(out, `"stream_options":{"include_usage":true}`...)
	}
	out = append(out, body[end:]...)
	return out, nil
}

// storeEnabled reports whether the body's "store" member is true.
// Like JSON decoders, the last of duplicate members wins.
func storeEnabled(body []byte, members []member) bool {
	store := false
	for _, m := range members {
		if m.key == "store" {
			store = bytes.Equal(body[m.valStart:m.valEnd], []byte("true"))
		}
	}
	return store
}

// includeUsage returns a stream_options value with include_usage true.
func includeUsage(v []byte) ([]byte, error) {
	var opts map[string]json.RawMessage
	if err := json.Unmarshal(v, &opts); err != nil || opts == nil {
		// null or not an object: replace it.
		return []byte(`{"include_usage":true}`), nil
	}
	if u, ok := opts["include_usage"]; ok && bytes.Equal(bytes.TrimSpace(u), []byte("true")) && len(opts) == 1 {
		return v, nil
	}
	opts["include_usage"] = json.RawMessage("true")
	return json.Marshal(opts)
}

// quote returns s as a JSON string, as json.Marshal does: a model name
// (printable ASCII with nothing to escape) without json.Marshal's
// allocations.
func quote(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return json.Marshal(s)
		}
	}
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// knownKey returns the string of a top-level key of a Chat Completions
// request without allocating, or "" when it is not one of them.
func knownKey(k []byte) string {
	switch string(k) { // no allocation: the compiler compares the bytes
	case "model":
		return "model"
	case "messages":
		return "messages"
	case "stream":
		return "stream"
	case "stream_options":
		return "stream_options"
	case "metadata":
		return "metadata"
	case "store":
		return "store"
	case "max_tokens":
		return "max_tokens"
	case "max_completion_tokens":
		return "max_completion_tokens"
	case "temperature":
		return "temperature"
	case "user":
		return "user"
	case "tools":
		return "tools"
	case "input":
		return "input"
	}
	return ""
}

// member locates one top-level member of a JSON object.
type member struct {
	key                        string
	keyStart, valStart, valEnd int
}

var errNotObject = errors.New("openai: rewrite: body is not a JSON object")

// topLevelMembers returns the members of the JSON object in b and the index
// of its closing brace. It checks the object's top-level structure (and so
// never indexes out of range on malformed input) but not the syntax inside
// values: callers pass bodies that have already been decoded once.
func topLevelMembers(b []byte) (ms []member, end int, err error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, 0, errNotObject
	}
	ms = make([]member, 0, 16) // a request's members, in one allocation
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
			key := knownKey(b[ks+1 : ke-1])
			if key == "" {
				key = string(b[ks+1 : ke-1])
			}
			if bytes.IndexByte(b[ks:ke], '\\') >= 0 {
				if err := json.Unmarshal(b[ks:ke], &key); err != nil {
					return nil, 0, fmt.Errorf("openai: rewrite: %w", err)
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
