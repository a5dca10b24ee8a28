package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/airgw/airgw/internal/llm"
)

// The client's native body travels to providers of its own dialect with
// only the model rewritten (llm.Native), and the Responses API travels only
// that way. A rule that changes the request must change that body too, or
// the provider would see the original.

// skipKeys are JSON members whose string values are identifiers, enums or
// opaque payloads, never prose that could carry personal data: redacting
// them could only break the request (a base64 image, a signature).
var skipKeys = map[string]bool{
	"model": true, "role": true, "type": true, "id": true, "call_id": true,
	"tool_call_id": true, "tool_use_id": true, "signature": true, "data": true,
	"media_type": true, "encrypted_content": true, "previous_response_id": true,
	"service_tier": true, "reasoning_effort": true, "detail": true,
	"encoding_format": true, "format": true,
}

// redactNative redacts every prose string of the native body in place and
// reports whether it changed. Matches are counted into found only when the
// provider-neutral request had none (the native body holds the same text).
func redactNative(p *PII, s *Subject, found counts) (bool, error) {
	n := nativeOf(s)
	if n == nil || !p.mayHold(n.Body) {
		return false, nil // the body was decoded once already: it is JSON
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(n.Body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return false, err
	}
	extra := counts{}
	v, changed := redactValue(p, "", v, extra)
	if !changed {
		return false, nil
	}
	body, err := marshal(v)
	if err != nil {
		return false, err
	}
	n.Body = body
	if len(found) == 0 {
		for d, c := range extra {
			found[d] += c
		}
	}
	return true, nil
}

func redactValue(p *PII, key string, v any, found counts) (any, bool) {
	switch x := v.(type) {
	case string:
		if skipKeys[key] || strings.HasPrefix(x, "data:") {
			return x, false
		}
		out, ms := p.redact(x)
		found.add(ms)
		return out, len(ms) > 0
	case map[string]any:
		changed := false
		for k, e := range x {
			if nv, c := redactValue(p, k, e, found); c {
				x[k], changed = nv, true
			}
		}
		return x, changed
	case []any:
		changed := false
		for i, e := range x {
			if nv, c := redactValue(p, key, e, found); c {
				x[i], changed = nv, true
			}
		}
		return x, changed
	}
	return v, false
}

// marshal encodes v without HTML escaping, so text the client sent with
// < and & reaches the provider as it was.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func nativeOf(s *Subject) *llm.Native {
	if s.Embed != nil {
		return s.Embed.Native
	}
	if s.Chat != nil {
		return s.Chat.Native
	}
	return nil
}

// maxTokensFields are the native names of max_tokens by endpoint; the first
// is the one added when the body has none.
var maxTokensFields = map[string][]string{
	"/v1/chat/completions": {"max_completion_tokens", "max_tokens"},
	"/v1/responses":        {"max_output_tokens"},
	"/v1/messages":         {"max_tokens"},
}

var errNotObject = errors.New("policy: the native body is not a JSON object")

// setMaxTokens sets max_tokens to n in req and in its native body.
func setMaxTokens(req *llm.Request, n int) error {
	req.MaxTokens = n
	nat := req.Native
	if nat == nil {
		return nil
	}
	names, ok := maxTokensFields[nat.Endpoint]
	if !ok {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(nat.Body, &m); err != nil || m == nil {
		return errNotObject
	}
	val, _ := json.Marshal(n)
	set := false
	for _, name := range names {
		if _, ok := m[name]; ok {
			m[name], set = val, true
		}
	}
	if !set {
		m[names[0]] = val
	}
	body, err := marshal(m)
	if err != nil {
		return err
	}
	nat.Body = body
	return nil
}
