package openai

import (
	"encoding/json"
	"strconv"
)

// DecodeChatResponse decodes a completion into a zero w as json.Unmarshal
// does.
// The usual shape (the fields of ChatResponse, Choice, Message and Usage,
// in any order) is read without reflection, about four times faster: on a
// pass-through the gateway decodes every response only to read its usage
// and its choices. Anything else (another field, a duplicate key, a tool
// call, a number that is not an integer, malformed JSON) is left to
// json.Unmarshal, which decides, so the result and the error are always
// json.Unmarshal's.
func DecodeChatResponse(b []byte, w *ChatResponse) error {
	p := scanner{b: b}
	if p.chatResponse(w) && p.end() {
		return nil
	}
	*w = ChatResponse{} // what the fast path filled in
	return json.Unmarshal(b, w)
}

// scanner reads JSON values from b at i; each method returns false, and
// the caller gives up, on anything it does not handle.
type scanner struct {
	b []byte
	i int
}

func (p *scanner) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// end reports whether only white space is left.
func (p *scanner) end() bool {
	p.space()
	return p.i == len(p.b)
}

// peek returns the next byte after white space, or 0 at the end.
func (p *scanner) peek() byte {
	p.space()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// null consumes a null literal.
func (p *scanner) null() bool {
	if p.peek() == 'n' && len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// object reads an object, calling member for each key with the scanner at
// its value. A key with an escape gives up, and so does a key seen twice
// (json.Unmarshal merges duplicates).
func (p *scanner) object(member func(key []byte) bool) bool {
	if p.peek() != '{' {
		return false
	}
	p.i++
	var buf [12][]byte
	seen := buf[:0]
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		key := p.key()
		if key == nil {
			return false
		}
		for _, k := range seen {
			if string(k) == string(key) {
				return false
			}
		}
		seen = append(seen, key)
		if p.peek() != ':' {
			return false
		}
		p.i++
		if !member(key) {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// key returns the bytes of a key with no escape, or nil.
func (p *scanner) key() []byte {
	if p.peek() != '"' {
		return nil
	}
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			k := p.b[p.i+1 : j : j]
			p.i = j + 1
			return k
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil
		}
	}
	return nil
}

// str reads a string into s, or null (s unchanged, as json.Unmarshal
// leaves it).
func (p *scanner) str(s *string) bool {
	if p.null() {
		return true
	}
	if p.peek() != '"' {
		return false
	}
	start, escaped := p.i, false
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '\\':
			escaped = true
			j++ // the escaped byte cannot end the string
		case c == '"':
			p.i = j + 1
			if t := p.b[start+1 : j]; !escaped && plain(t) {
				*s = string(t)
				return true
			}
			// Escapes or non-ASCII text: json.Unmarshal decodes this one
			// string, and checks it.
			return json.Unmarshal(p.b[start:p.i], s) == nil
		case c < 0x20:
			return false
		}
	}
	return false
}

// int reads an integer (no fraction, no exponent), or null.
func (p *scanner) int(n *int64) bool {
	if p.null() {
		return true
	}
	p.space()
	j := p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	d := j
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == d || j-d > 1 && p.b[d] == '0' || j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E') {
		return false
	}
	v, err := strconv.ParseInt(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		return false
	}
	*n, p.i = v, j
	return true
}

// empty reads null, [] or {} into r as json.RawMessage keeps them.
func (p *scanner) empty(r *json.RawMessage) bool {
	if p.null() {
		*r = json.RawMessage("null")
		return true
	}
	open := p.peek()
	if open != '[' && open != '{' {
		return false
	}
	start := p.i
	p.i++
	if c := p.peek(); open == '[' && c != ']' || open == '{' && c != '}' {
		return false
	}
	p.i++
	*r = append(json.RawMessage(nil), p.b[start:p.i]...) // as is, spaces included
	return true
}

func (p *scanner) chatResponse(w *ChatResponse) bool {
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return p.str(&w.ID)
		case "object":
			return p.str(&w.Object)
		case "created":
			return p.int(&w.Created)
		case "model":
			return p.str(&w.Model)
		case "system_fingerprint":
			return p.str(&w.SystemFingerprint)
		case "service_tier":
			return p.str(&w.ServiceTier)
		case "usage":
			if p.null() {
				return true
			}
			w.Usage = new(Usage)
			return p.usage(w.Usage)
		case "choices":
			if p.null() {
				return true
			}
			if p.peek() != '[' {
				return false
			}
			p.i++
			w.Choices = make([]Choice, 0, 1)
			if p.peek() == ']' {
				p.i++
				return true
			}
			for {
				w.Choices = append(w.Choices, Choice{})
				if !p.choice(&w.Choices[len(w.Choices)-1]) {
					return false
				}
				switch p.peek() {
				case ',':
					p.i++
				case ']':
					p.i++
					return true
				default:
					return false
				}
			}
		}
		return false
	})
}

func (p *scanner) choice(c *Choice) bool {
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "index":
			var n int64
			ok := p.int(&n)
			c.Index = int(n)
			return ok && int64(c.Index) == n
		case "finish_reason":
			return p.str(&c.FinishReason)
		case "logprobs":
			return p.empty(&c.Logprobs)
		case "message":
			return p.message(&c.Message)
		}
		return false
	})
}

func (p *scanner) message(m *Message) bool {
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "role":
			return p.str(&m.Role)
		case "name":
			return p.str(&m.Name)
		case "tool_call_id":
			return p.str(&m.ToolCallID)
		case "content":
			if p.null() {
				m.Content = Content{}
				return true
			}
			m.Content = Content{Kind: ContentString}
			return p.peek() == '"' && p.str(&m.Content.Text)
		case "refusal":
			if p.null() {
				return true
			}
			m.Refusal = new(string)
			return p.str(m.Refusal)
		case "annotations":
			return p.empty(&m.Annotations)
		}
		return false
	})
}

func (p *scanner) usage(u *Usage) bool {
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "prompt_tokens":
			return p.int(&u.PromptTokens)
		case "completion_tokens":
			return p.int(&u.CompletionTokens)
		case "total_tokens":
			return p.int(&u.TotalTokens)
		case "prompt_tokens_details":
			if p.null() {
				return true
			}
			d := new(PromptTokensDetails)
			u.PromptTokensDetails = d
			return p.object(func(key []byte) bool {
				switch string(key) {
				case "cached_tokens":
					return p.int(&d.CachedTokens)
				case "audio_tokens":
					return p.int(&d.AudioTokens)
				}
				return false
			})
		case "completion_tokens_details":
			if p.null() {
				return true
			}
			d := new(CompletionTokensDetails)
			u.CompletionTokensDetails = d
			return p.object(func(key []byte) bool {
				switch string(key) {
				case "reasoning_tokens":
					return p.int(&d.ReasoningTokens)
				case "audio_tokens":
					return p.int(&d.AudioTokens)
				case "accepted_prediction_tokens":
					return p.int(&d.AcceptedPredictionTokens)
				case "rejected_prediction_tokens":
					return p.int(&d.RejectedPredictionTokens)
				}
				return false
			})
		}
		return false
	})
}
