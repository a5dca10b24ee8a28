package anthropic

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/airgw/airgw/internal/llm"
)

var (
	toolNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	toolUseIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
)

// rawBlock holds the fields of every content block type; which ones apply
// depends on Type.
type rawBlock struct {
	Type         json.RawMessage `json:"type"`
	Text         json.RawMessage `json:"text"`
	Source       json.RawMessage `json:"source"`
	ID           json.RawMessage `json:"id"`
	Name         json.RawMessage `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    json.RawMessage `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      json.RawMessage `json:"is_error"`
	Thinking     json.RawMessage `json:"thinking"`
	Signature    json.RawMessage `json:"signature"`
	Data         json.RawMessage `json:"data"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// system decodes `system` into one leading system message: a string, or an
// array of text blocks (each keeping its cache_control).
func (d *decoder) system(raw json.RawMessage) []llm.Message {
	if isNull(raw) || d.err != nil {
		return nil
	}
	switch raw[0] {
	case '"':
		s := d.optString(raw, "system")
		if s == "" {
			return nil
		}
		return []llm.Message{{Role: llm.RoleSystem, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: s}}}}
	case '[':
	default:
		d.typeErr("system", "a string or an array of text blocks", raw)
		return nil
	}
	items := d.array(raw, "system")
	if d.tooMany("system", "blocks", len(items), d.lim.MaxParts) {
		return nil
	}
	var parts []llm.Part
	for i, it := range items {
		p := idx("system", i)
		var b rawBlock
		if !d.object(it, p, &b) {
			return nil
		}
		if typ := d.requiredString(b.Type, p+".type"); typ != "text" && d.err == nil {
			d.fail(llm.ParamError(p+".type", "`%s.type` must be \"text\": system prompts hold text blocks only; got %q", p, typ))
		}
		text := d.requiredString(b.Text, p+".text")
		cc := d.cacheControl(b.CacheControl, p+".cache_control")
		if d.err != nil {
			return nil
		}
		parts = append(parts, llm.Part{Type: llm.PartText, Text: text, CacheControl: cc})
	}
	if len(parts) == 0 {
		return nil
	}
	return []llm.Message{{Role: llm.RoleSystem, Content: parts}}
}

// cacheControl validates a cache_control object and returns its type.
func (d *decoder) cacheControl(raw json.RawMessage, param string) string {
	if isNull(raw) || d.err != nil {
		return ""
	}
	var cc struct {
		Type json.RawMessage `json:"type"`
		TTL  json.RawMessage `json:"ttl"`
	}
	if !d.object(raw, param, &cc) {
		return ""
	}
	typ := d.requiredString(cc.Type, param+".type")
	if d.err == nil && typ != "ephemeral" {
		d.fail(llm.ParamError(param+".type", "`%s.type` must be \"ephemeral\"; got %q", param, typ))
	}
	switch ttl := d.optString(cc.TTL, param+".ttl"); ttl {
	case "", "5m", "1h":
	default:
		d.fail(llm.ParamError(param+".ttl", "`%s.ttl` must be \"5m\" or \"1h\"; got %q", param, ttl))
	}
	return typ
}

func (d *decoder) messages(raw json.RawMessage) []llm.Message {
	if d.err != nil {
		return nil
	}
	if isNull(raw) {
		d.fail(llm.ParamError("messages", "`messages` is required: an array of {role, content} objects starting with a user turn"))
		return nil
	}
	items := d.array(raw, "messages")
	if d.err != nil {
		return nil
	}
	if len(items) == 0 {
		d.fail(llm.ParamError("messages", "`messages` must contain at least one message"))
		return nil
	}
	if d.tooMany("messages", "entries", len(items), d.lim.MaxMessages) {
		return nil
	}
	msgs := make([]llm.Message, 0, len(items))
	for i, it := range items {
		msgs = d.message(msgs, it, idx("messages", i), i == 0, i == len(items)-1)
		if d.err != nil {
			return nil
		}
	}
	return msgs
}

// message decodes one message and appends its neutral form to msgs: a user
// turn holding tool_result blocks becomes one tool message per result plus
// user messages for the blocks around them, in order.
func (d *decoder) message(msgs []llm.Message, raw json.RawMessage, param string, first, last bool) []llm.Message {
	var rm struct {
		Role    json.RawMessage `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if !d.object(raw, param, &rm) {
		return msgs
	}
	role := llm.Role(d.requiredString(rm.Role, param+".role"))
	if d.err != nil {
		return msgs
	}
	switch role {
	case llm.RoleUser, llm.RoleAssistant:
	case llm.RoleSystem:
		d.fail(llm.ParamError(param+".role", "`%s.role` is \"system\", but the Messages API takes the system prompt in the top-level `system` field; messages hold user and assistant turns only", param))
		return msgs
	default:
		d.fail(llm.ParamError(param+".role", "`%s.role` must be \"user\" or \"assistant\"; got %q", param, role))
		return msgs
	}
	if first && role != llm.RoleUser {
		d.fail(llm.ParamError(param+".role", "the first message must have role \"user\"; got %q", role))
		return msgs
	}
	cp := param + ".content"
	// Only a final assistant turn (a prefill) may be empty.
	mayBeEmpty := last && role == llm.RoleAssistant
	if isNull(rm.Content) {
		d.fail(llm.ParamError(cp, "`%s` is required: a string or an array of content blocks", cp))
		return msgs
	}
	switch rm.Content[0] {
	case '"':
		s := d.optString(rm.Content, cp)
		if d.err == nil && s == "" && !mayBeEmpty {
			d.fail(llm.ParamError(cp, "`%s` must not be empty", cp))
		}
		return append(msgs, llm.Message{Role: role, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: s}}})
	case '[':
	default:
		d.typeErr(cp, "a string or an array of content blocks", rm.Content)
		return msgs
	}
	items := d.array(rm.Content, cp)
	if d.tooMany(cp, "blocks", len(items), d.lim.MaxParts) {
		return msgs
	}
	if d.err == nil && len(items) == 0 && !mayBeEmpty {
		d.fail(llm.ParamError(cp, "`%s` must hold at least one content block", cp))
		return msgs
	}
	if role == llm.RoleAssistant {
		return append(msgs, d.assistant(items, cp))
	}
	return d.user(msgs, items, cp)
}

// user decodes the blocks of a user turn. Tool results become tool messages;
// the other blocks are grouped into user messages between them.
func (d *decoder) user(msgs []llm.Message, items []json.RawMessage, param string) []llm.Message {
	before := len(msgs)
	var cur []llm.Part
	flush := func() {
		if len(cur) > 0 {
			msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: cur})
			cur = nil
		}
	}
	for i, it := range items {
		p := idx(param, i)
		var b rawBlock
		if !d.object(it, p, &b) {
			return msgs
		}
		typ := d.requiredString(b.Type, p+".type")
		if d.err != nil {
			return msgs
		}
		switch typ {
		case "tool_result":
			flush()
			msgs = append(msgs, d.toolResult(&b, p))
		case "tool_use", "thinking", "redacted_thinking":
			d.fail(llm.ParamError(p+".type", "`%s.type` is %s, which only assistant messages may hold", p, typ))
		default:
			if part := d.block(&b, typ, p, true); part.Type != "" {
				cur = append(cur, part)
			}
		}
		if d.err != nil {
			return msgs
		}
	}
	flush()
	if len(msgs) == before && len(items) > 0 {
		// A turn of native-only blocks (a document alone) stays a turn,
		// empty in neutral terms: only an Anthropic provider serves it.
		msgs = append(msgs, llm.Message{Role: llm.RoleUser})
	}
	return msgs
}

// assistant decodes the blocks of an assistant turn: text and thinking into
// Content, tool_use into ToolCalls.
func (d *decoder) assistant(items []json.RawMessage, param string) llm.Message {
	m := llm.Message{Role: llm.RoleAssistant}
	for i, it := range items {
		p := idx(param, i)
		var b rawBlock
		if !d.object(it, p, &b) {
			return m
		}
		typ := d.requiredString(b.Type, p+".type")
		if d.err != nil {
			return m
		}
		switch typ {
		case "tool_use":
			m.ToolCalls = append(m.ToolCalls, d.toolUse(&b, p))
		case "thinking":
			text := d.requiredString(b.Thinking, p+".thinking")
			sig := d.requiredString(b.Signature, p+".signature")
			m.Content = append(m.Content, llm.Part{Type: llm.PartThinking, Text: text, Signature: sig})
		case "redacted_thinking":
			m.Content = append(m.Content, llm.Part{Type: llm.PartRedactedThinking, Data: d.nonEmptyString(b.Data, p+".data")})
		case "tool_result":
			d.fail(llm.ParamError(p+".type", "`%s.type` is tool_result, which only user messages may hold (send results in the next user turn)", p))
		case "image":
			d.fail(llm.ParamError(p+".type", "`%s.type` is image, which only user messages may hold", p))
		default:
			if part := d.block(&b, typ, p, false); part.Type != "" {
				m.Content = append(m.Content, part)
			}
		}
		if d.err != nil {
			return m
		}
	}
	return m
}

// block decodes a text or image block; image is allowed when images is
// true. A block only Anthropic can serve (a document, a server tool's) is
// recorded in the request's NativeOnly and returns a Part without a Type,
// which the caller leaves out.
func (d *decoder) block(b *rawBlock, typ, p string, images bool) llm.Part {
	switch typ {
	case "text":
		text := d.requiredString(b.Text, p+".text")
		return llm.Part{Type: llm.PartText, Text: text, CacheControl: d.cacheControl(b.CacheControl, p+".cache_control")}
	case "image":
		if !images {
			d.fail(llm.ParamError(p+".type", "`%s.type` is image, which is not allowed here", p))
			return llm.Part{}
		}
		url := d.imageSource(b.Source, p+".source")
		if url == "" {
			return llm.Part{} // a Files API image: native only
		}
		return llm.Part{Type: llm.PartImage, ImageURL: url, CacheControl: d.cacheControl(b.CacheControl, p+".cache_control")}
	case "document", "search_result", "container_upload", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
		"code_execution_tool_result", "mcp_tool_use", "mcp_tool_result":
		d.keepNative("`" + typ + "` content blocks")
	default:
		d.fail(llm.ParamError(p+".type", "`%s.type` must be one of text, image, tool_use, tool_result, thinking, redacted_thinking; got %q", p, typ))
	}
	return llm.Part{}
}

var imageMediaTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// imageSource returns the image as a data: URL (base64 source) or its URL.
func (d *decoder) imageSource(raw json.RawMessage, p string) string {
	var src struct {
		Type      json.RawMessage `json:"type"`
		MediaType json.RawMessage `json:"media_type"`
		Data      json.RawMessage `json:"data"`
		URL       json.RawMessage `json:"url"`
	}
	if !d.object(raw, p, &src) {
		return ""
	}
	typ := d.requiredString(src.Type, p+".type")
	if d.err != nil {
		return ""
	}
	switch typ {
	case "base64":
		mt := d.requiredString(src.MediaType, p+".media_type")
		if d.err == nil && !contains(imageMediaTypes, mt) {
			d.fail(llm.ParamError(p+".media_type", "`%s.media_type` must be one of %s; got %q", p, strings.Join(imageMediaTypes, ", "), mt))
		}
		data := d.nonEmptyString(src.Data, p+".data")
		if d.err == nil && !isBase64(data) {
			d.fail(llm.ParamError(p+".data", "`%s.data` must be standard base64 (A-Z, a-z, 0-9, +, / and = padding) without a data: prefix", p))
		}
		return "data:" + mt + ";base64," + data
	case "url":
		url := d.requiredString(src.URL, p+".url")
		if d.err == nil && !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
			d.fail(llm.ParamError(p+".url", "`%s.url` must be an http(s) URL; got %q", p, truncate(url, 40)))
		}
		return url
	case "file":
		d.keepNative("images from the Files API (`source.type` `file`)")
	default:
		d.fail(llm.ParamError(p+".type", "`%s.type` must be \"base64\" or \"url\"; got %q", p, typ))
	}
	return ""
}

// isBase64 reports whether s looks like standard, padded base64. It checks
// the alphabet and length without decoding, which would copy the image.
func isBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			pad++
		case pad > 0:
			return false // data after padding
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		default:
			return false
		}
	}
	return pad <= 2
}

func (d *decoder) toolUse(b *rawBlock, p string) llm.ToolCall {
	id := d.nonEmptyString(b.ID, p+".id")
	if d.err == nil && !toolUseIDRE.MatchString(id) {
		d.fail(llm.ParamError(p+".id", "`%s.id` may hold only a-z, A-Z, 0-9, _ and -; got %q", p, truncate(id, 40)))
	}
	name := d.nonEmptyString(b.Name, p+".name")
	d.cacheControl(b.CacheControl, p+".cache_control")
	if d.err != nil {
		return llm.ToolCall{}
	}
	if isNull(b.Input) || b.Input[0] != '{' {
		d.typeErr(p+".input", "an object (the tool's arguments)", b.Input)
		return llm.ToolCall{}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b.Input); err != nil {
		d.fail(llm.ParamError(p+".input", "`%s.input` is malformed: %v", p, err))
		return llm.ToolCall{}
	}
	if d.toolUseIDs == nil {
		d.toolUseIDs = make(map[string]bool)
	}
	d.toolUseIDs[id] = true
	return llm.ToolCall{ID: id, Name: name, Arguments: buf.String()}
}

// toolResult decodes a tool_result block into a tool message.
func (d *decoder) toolResult(b *rawBlock, p string) llm.Message {
	m := llm.Message{Role: llm.RoleTool, ToolCallID: d.nonEmptyString(b.ToolUseID, p+".tool_use_id")}
	if d.err == nil && !d.toolUseIDs[m.ToolCallID] {
		d.fail(llm.ParamError(p+".tool_use_id", "`%s.tool_use_id` is %q, but no earlier assistant message has a tool_use block with that id", p, truncate(m.ToolCallID, 64)))
		return m
	}
	if e := d.optBool(b.IsError, p+".is_error"); e != nil {
		m.IsError = *e
	}
	cc := d.cacheControl(b.CacheControl, p+".cache_control")
	if isNull(b.Content) || d.err != nil {
		return m
	}
	cp := p + ".content"
	switch b.Content[0] {
	case '"':
		m.Content, m.ContentIsString = []llm.Part{{Type: llm.PartText, Text: d.optString(b.Content, cp)}}, true
	case '[':
		items := d.array(b.Content, cp)
		if d.tooMany(cp, "blocks", len(items), d.lim.MaxParts) {
			return m
		}
		for i, it := range items {
			ip := idx(cp, i)
			var ib rawBlock
			if !d.object(it, ip, &ib) {
				return m
			}
			typ := d.requiredString(ib.Type, ip+".type")
			if d.err == nil && typ != "text" && typ != "image" && typ != "document" && typ != "search_result" {
				d.fail(llm.ParamError(ip+".type", "`%s.type` must be text or image inside a tool_result; got %q", ip, typ))
			}
			part := d.block(&ib, typ, ip, true)
			if d.err != nil {
				return m
			}
			if part.Type != "" {
				m.Content = append(m.Content, part)
			}
		}
	default:
		d.typeErr(cp, "a string or an array of text and image blocks", b.Content)
	}
	if cc != "" && len(m.Content) > 0 {
		m.Content[len(m.Content)-1].CacheControl = cc
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
