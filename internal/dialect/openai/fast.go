package openai

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The decoder checks each field in a second pass over values that the
// first pass (json.Unmarshal into chatRequest) has already validated as
// JSON. Most of them are plain strings and arrays of objects, for which
// another json.Unmarshal (a validity scan, reflection, a copy) costs more
// than the field's own check: these fast paths take the common shapes
// straight from the bytes and leave every other case to encoding/json,
// with the same result.

// plainString returns the string that the JSON string raw holds when it
// has no escape and is valid UTF-8 (json.Unmarshal would give the same
// string; it replaces invalid UTF-8, so that case is left to it). raw must
// be valid JSON.
func plainString(raw []byte) (string, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	in := raw[1 : n-1]
	if bytes.IndexByte(in, '\\') >= 0 || !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// splitArray returns the elements of the JSON array raw, as
// json.Unmarshal into []json.RawMessage would (each without surrounding
// white space), sharing raw's bytes. raw must be valid JSON starting with
// '['.
func splitArray(raw []byte) []json.RawMessage {
	items := []json.RawMessage{} // not nil, as json.Unmarshal gives for []
	depth, start, inString := 0, -1, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth == 1 { // the array itself
				continue
			}
		case ']', '}':
			depth--
			if depth == 0 { // the array's end
				if start >= 0 {
					items = append(items, trimSpace(raw[start:i]))
				}
				return items
			}
		case ',':
			if depth == 1 {
				items = append(items, trimSpace(raw[start:i]))
				start = -1
				continue
			}
		}
		if depth >= 1 && start < 0 {
			start = i
		}
	}
	return items
}

func trimSpace(b []byte) []byte {
	return bytes.TrimRight(b, " \t\n\r")
}

// splitMessage fills rm from the JSON object raw as json.Unmarshal would,
// sharing raw's bytes. It returns false, leaving the object to
// json.Unmarshal, when a key has an escape or names a field only without
// regard to case (json.Unmarshal matches those too), or raw is not an
// object. raw must be valid JSON.
func splitMessage(raw []byte, rm *rawMessage) bool {
	n := len(raw)
	if n < 2 || raw[0] != '{' {
		return false
	}
	i := skipWS(raw, 1)
	if i < n && raw[i] == '}' {
		return true
	}
	for i < n && raw[i] == '"' {
		j := i + 1
		for j < n && raw[j] != '"' {
			if raw[j] == '\\' {
				return false
			}
			j++
		}
		if j >= n {
			return false
		}
		key := raw[i+1 : j]
		i = skipWS(raw, j+1)
		if i >= n || raw[i] != ':' {
			return false
		}
		vs := skipWS(raw, i+1)
		i = skipValue(raw, vs)
		if i > n || i <= vs {
			return false
		}
		val := json.RawMessage(raw[vs:i:i])
		switch string(key) {
		case "role":
			rm.Role = val
		case "content":
			rm.Content = val
		case "name":
			rm.Name = val
		case "tool_calls":
			rm.ToolCalls = val
		case "tool_call_id":
			rm.ToolCallID = val
		case "refusal":
			rm.Refusal = val
		default:
			for _, f := range [...]string{"role", "content", "name", "tool_calls", "tool_call_id", "refusal"} {
				if bytes.EqualFold(key, []byte(f)) {
					return false
				}
			}
		}
		i = skipWS(raw, i)
		if i < n && raw[i] == ',' {
			i = skipWS(raw, i+1)
			continue
		}
		return i < n && raw[i] == '}'
	}
	return false
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(b) + 1
	case '{', '[':
		depth, inString := 0, false
		for j := i; j < len(b); j++ {
			c := b[j]
			if inString {
				switch c {
				case '\\':
					j++
				case '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b) + 1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}
