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
