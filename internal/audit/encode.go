package audit

import (
	"encoding/json"
	"strconv"
	"time"
)

// The spool encodes two values per request (the in-flight mark and the
// record, whose bytes the hash chain covers); json.Marshal's reflection
// was a sixth of the spool's CPU. appendRecord and appendMark write the
// same bytes as json.Marshal, field by field (TestAppendMatchesMarshal),
// and report false for what only json.Marshal writes exactly: a change
// (raw JSON that json.Marshal compacts), bodies, a time it refuses.

// appendRecord appends json.Marshal(r) to b.
func appendRecord(b []byte, r *Record) ([]byte, bool) {
	if r.Change != nil || r.Bodies != nil || !jsonTime(r.Start) || !jsonTime(r.End) {
		return b, false
	}
	e := encoder{b: append(b, '{')}
	e.str("kind", r.Kind, true)
	e.str("request_id", r.RequestID, false)
	e.time("start", r.Start)
	e.time("end", r.End)
	e.str("key_id", r.KeyID, true)
	e.str("key_name", r.KeyName, true)
	e.str("team", r.Team, true)
	e.str("end_user", r.EndUser, true)
	e.str("purpose", r.Purpose, true)
	e.strs("tags", r.Tags)
	e.str("client_ip", r.ClientIP, true)
	e.str("dialect", r.Dialect, false)
	e.str("endpoint", r.Endpoint, false)
	e.bool("stream", r.Stream, false)
	e.str("requested_model", r.RequestedModel, true)
	e.str("provider", r.Provider, true)
	e.str("served_model", r.ServedModel, true)
	if len(r.Attempts) > 0 {
		e.key("attempts")
		e.b = append(e.b, '[')
		for i := range r.Attempts {
			a := &r.Attempts[i]
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b, e.more = append(e.b, '{'), false
			e.int("start_ms", a.StartMillis, true)
			e.str("provider", a.Provider, false)
			e.str("model", a.Model, false)
			e.int("status", int64(a.Status), false)
			e.str("error_class", a.ErrorClass, true)
			e.int("latency_ms", a.LatencyMillis, false)
			e.b = append(e.b, '}')
		}
		e.b, e.more = append(e.b, ']'), true
	}
	e.int("status", int64(r.Status), false)
	e.str("error_class", r.ErrorClass, true)
	e.int("input_tokens", r.InputTokens, false)
	e.int("output_tokens", r.OutputTokens, false)
	e.int("cache_read_tokens", r.CacheReadTokens, false)
	e.int("cache_write_tokens", r.CacheWriteTokens, false)
	e.int("reasoning_tokens", r.ReasoningTokens, false)
	e.bool("usage_estimated", r.UsageEstimated, false)
	e.int("cost_nano_usd", r.CostNanoUSD, false)
	e.int("ttft_ms", r.TTFTMillis, true)
	e.int("latency_ms", r.LatencyMillis, false)
	if len(r.Policies) > 0 {
		e.key("policies")
		e.b = append(e.b, '[')
		for i := range r.Policies {
			d := &r.Policies[i]
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b, e.more = append(e.b, '{'), false
			e.str("policy", d.Policy, false)
			e.str("action", d.Action, false)
			e.str("detail", d.Detail, true)
			e.b = append(e.b, '}')
		}
		e.b, e.more = append(e.b, ']'), true
	}
	e.str("chain", r.Chain, true)
	e.int("seq", r.Seq, true)
	e.str("prev_hash", r.PrevHash, true)
	e.str("hash", r.Hash, true)
	return append(e.b, '}'), true
}

// appendMark appends json.Marshal(m) to b.
func appendMark(b []byte, m *mark) ([]byte, bool) {
	if !jsonTime(m.Start) {
		return b, false
	}
	e := encoder{b: append(b, '{')}
	e.time("s", m.Start)
	e.str("k", m.KeyID, true)
	e.str("kn", m.KeyName, true)
	e.str("t", m.Team, true)
	e.str("u", m.EndUser, true)
	e.str("p", m.Purpose, true)
	e.strs("tg", m.Tags)
	e.str("ip", m.ClientIP, true)
	e.str("d", m.Dialect, true)
	e.str("e", m.Endpoint, true)
	e.bool("st", m.Stream, true)
	e.str("m", m.RequestedModel, true)
	e.str("pr", m.Provider, true)
	e.str("sm", m.ServedModel, true)
	return append(e.b, '}'), true
}

// jsonTime reports whether t is written by appendTime as json.Marshal
// writes it: json.Marshal refuses years outside 0–9999 and zone offsets
// of a day or more.
func jsonTime(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off > -86400 && off < 86400
}

// encoder appends the members of one JSON object.
type encoder struct {
	b    []byte
	more bool // a member was written: the next needs a comma
}

// key writes "k": (keys are plain ASCII).
func (e *encoder) key(k string) {
	if e.more {
		e.b = append(e.b, ',')
	}
	e.more = true
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *encoder) str(k, v string, omitEmpty bool) {
	if omitEmpty && v == "" {
		return
	}
	e.key(k)
	e.b = appendString(e.b, v)
}

func (e *encoder) strs(k string, vs []string) {
	if len(vs) == 0 {
		return // omitempty
	}
	e.key(k)
	e.b = append(e.b, '[')
	for i, v := range vs {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendString(e.b, v)
	}
	e.b = append(e.b, ']')
}

func (e *encoder) int(k string, v int64, omitEmpty bool) {
	if omitEmpty && v == 0 {
		return
	}
	e.key(k)
	e.b = strconv.AppendInt(e.b, v, 10)
}

func (e *encoder) bool(k string, v, omitEmpty bool) {
	if omitEmpty && !v {
		return
	}
	e.key(k)
	e.b = strconv.AppendBool(e.b, v)
}

// time writes t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds); jsonTime(t) holds.
func (e *encoder) time(k string, t time.Time) {
	e.key(k)
	e.b = append(e.b, '"')
	e.b = t.AppendFormat(e.b, time.RFC3339Nano)
	e.b = append(e.b, '"')
}

// appendString appends s as json.Marshal quotes it: printable ASCII other
// than " \ < > & as is, anything else through json.Marshal itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
