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
			cur = append(cur, d.block(&b, typ, p, true))
		}
		if d.err != nil {
			return msgs
		}
	}
	flush()
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
			m.Content = append(m.Content, d.block(&b, typ, p, false))
		}
		if d.err != nil {
			return m
		}
	}
	return m
}

// block decodes a text, image or unsupported block; image is allowed when
// images is true.
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
		return llm.Part{Type: llm.PartImage, ImageURL: url, CacheControl: d.cacheControl(b.CacheControl, p+".cache_control")}
	case "document", "search_result", "container_upload", "server_tool_use", "web_search_tool_result", "mcp_tool_use", "mcp_tool_result":
		d.fail(unsupported(p+".type", "content blocks of type `%s` (at `%s.type`) are not supported by airgw yet; send text, image, tool_use or tool_result blocks", typ, p))
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
		d.fail(unsupported(p+".type", "image sources of type `file` (Files API, at `%s.type`) are not supported by airgw yet; send the image as base64 or a URL", p))
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
			m.Content = append(m.Content, part)
		}
	default:
		d.typeErr(cp, "a string or an array of text and image blocks", b.Content)
	}
	if cc != "" && len(m.Content) > 0 {
		m.Content[len(m.Content)-1].CacheControl = cc
	}
	return m
}

// serverToolPrefixes are the type prefixes of Anthropic's server tools and
// client tools with a schema of their own, which airgw cannot translate.
var serverToolPrefixes = []string{"web_search_", "web_fetch_", "code_execution_", "bash_", "text_editor_", "computer_", "memory_", "tool_search_", "mcp_"}

func (d *decoder) tools(raw json.RawMessage) []llm.Tool {
	items := d.array(raw, "tools")
	if d.tooMany("tools", "entries", len(items), d.lim.MaxTools) {
		return nil
	}
	var out []llm.Tool
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		p := idx("tools", i)
		var t struct {
			Type         json.RawMessage `json:"type"`
			Name         json.RawMessage `json:"name"`
			Description  json.RawMessage `json:"description"`
			InputSchema  json.RawMessage `json:"input_schema"`
			Strict       json.RawMessage `json:"strict"`
			CacheControl json.RawMessage `json:"cache_control"`
		}
		if !d.object(it, p, &t) {
			return nil
		}
		if typ := d.optString(t.Type, p+".type"); typ != "" && typ != "custom" && d.err == nil {
			for _, pre := range serverToolPrefixes {
				if strings.HasPrefix(typ, pre) {
					d.fail(unsupported(p+".type", "Anthropic server and built-in tools (`%s.type` %q) are not supported by airgw yet; declare a custom tool with name and input_schema", p, typ))
					return nil
				}
			}
			d.fail(llm.ParamError(p+".type", "`%s.type` must be \"custom\" or absent for a tool with name and input_schema; got %q", p, typ))
			return nil
		}
		tool := llm.Tool{
			Name:        d.requiredString(t.Name, p+".name"),
			Description: d.optString(t.Description, p+".description"),
			Strict:      d.optBool(t.Strict, p+".strict"),
		}
		d.cacheControl(t.CacheControl, p+".cache_control")
		if d.err != nil {
			return nil
		}
		if !toolNameRE.MatchString(tool.Name) {
			d.fail(llm.ParamError(p+".name", "`%s.name` must be 1-64 characters of a-z, A-Z, 0-9, _ and -; got %q", p, truncate(tool.Name, 70)))
			return nil
		}
		if seen[tool.Name] {
			d.fail(llm.ParamError(p+".name", "tool name %q is declared twice; `%s.name` must be unique", tool.Name, p))
			return nil
		}
		seen[tool.Name] = true
		tool.Parameters = d.inputSchema(t.InputSchema, p+".input_schema")
		if d.err != nil {
			return nil
		}
		out = append(out, tool)
	}
	return out
}

func (d *decoder) inputSchema(raw json.RawMessage, p string) json.RawMessage {
	if isNull(raw) {
		d.fail(llm.ParamError(p, "`%s` is required: a JSON Schema object with \"type\": \"object\"", p))
		return nil
	}
	var s struct {
		Type json.RawMessage `json:"type"`
	}
	if !d.object(raw, p, &s) {
		return nil
	}
	if typ := d.requiredString(s.Type, p+".type"); typ != "object" && d.err == nil {
		d.fail(llm.ParamError(p+".type", "`%s.type` must be \"object\": tool inputs are always objects; got %q", p, typ))
	}
	return raw
}

// toolChoice maps tool_choice to the neutral choice and, when
// disable_parallel_tool_use is true, ParallelToolCalls=false.
func (d *decoder) toolChoice(raw json.RawMessage, tools []llm.Tool) (*llm.ToolChoice, *bool) {
	if isNull(raw) || d.err != nil {
		return nil, nil
	}
	var tc struct {
		Type                   json.RawMessage `json:"type"`
		Name                   json.RawMessage `json:"name"`
		DisableParallelToolUse json.RawMessage `json:"disable_parallel_tool_use"`
	}
	if !d.object(raw, "tool_choice", &tc) {
		return nil, nil
	}
	typ := d.requiredString(tc.Type, "tool_choice.type")
	var parallel *bool
	if dp := d.optBool(tc.DisableParallelToolUse, "tool_choice.disable_parallel_tool_use"); dp != nil && *dp {
		f := false
		parallel = &f
	}
	if d.err != nil {
		return nil, nil
	}
	var out *llm.ToolChoice
	switch typ {
	case "auto":
		out = &llm.ToolChoice{Mode: "auto"}
	case "none":
		out = &llm.ToolChoice{Mode: "none"}
	case "any":
		out = &llm.ToolChoice{Mode: "required"}
	case "tool":
		name := d.nonEmptyString(tc.Name, "tool_choice.name")
		if d.err != nil {
			return nil, nil
		}
		if !hasTool(tools, name) {
			d.fail(llm.ParamError("tool_choice.name", "`tool_choice.name` names tool %q, which is not in `tools`", truncate(name, 70)))
			return nil, nil
		}
		out = &llm.ToolChoice{Mode: "function", Name: name}
	default:
		d.fail(llm.ParamError("tool_choice.type", "`tool_choice.type` must be auto, any, tool or none; got %q", typ))
		return nil, nil
	}
	if (typ == "any" || typ == "tool") && len(tools) == 0 {
		d.fail(llm.ParamError("tool_choice.type", "`tool_choice.type` is %q but no `tools` were given", typ))
		return nil, nil
	}
	return out, parallel
}

func hasTool(tools []llm.Tool, name string) bool {
	for _, t := range tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

func (d *decoder) stopSequences(raw json.RawMessage) []string {
	items := d.array(raw, "stop_sequences")
	if d.err != nil || items == nil {
		return nil
	}
	if d.tooMany("stop_sequences", "entries", len(items), 1000) {
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		p := idx("stop_sequences", i)
		s := d.requiredString(it, p)
		if d.err == nil && strings.TrimSpace(s) == "" {
			d.fail(llm.ParamError(p, "`%s` must contain a non-whitespace character", p))
		}
		out = append(out, s)
	}
	return out
}

// minThinkingBudget is Anthropic's smallest budget_tokens.
const minThinkingBudget = 1024

func (d *decoder) thinking(raw json.RawMessage, maxTokens int) *llm.Thinking {
	if isNull(raw) || d.err != nil {
		return nil
	}
	var th struct {
		Type         json.RawMessage `json:"type"`
		BudgetTokens json.RawMessage `json:"budget_tokens"`
	}
	if !d.object(raw, "thinking", &th) {
		return nil
	}
	switch typ := d.requiredString(th.Type, "thinking.type"); typ {
	case "enabled":
		if isNull(th.BudgetTokens) {
			d.fail(llm.ParamError("thinking.budget_tokens", "`thinking.budget_tokens` is required when thinking is enabled: at least %d and less than `max_tokens`", minThinkingBudget))
			return nil
		}
		b := d.positiveInt(th.BudgetTokens, "thinking.budget_tokens")
		if d.err != nil {
			return nil
		}
		if b < minThinkingBudget {
			d.fail(llm.ParamError("thinking.budget_tokens", "`thinking.budget_tokens` must be at least %d, got %d", minThinkingBudget, b))
			return nil
		}
		if maxTokens > 0 && b >= maxTokens {
			d.fail(llm.ParamError("thinking.budget_tokens", "`thinking.budget_tokens` (%d) must be less than `max_tokens` (%d): thinking counts toward max_tokens", b, maxTokens))
			return nil
		}
		return &llm.Thinking{Enabled: true, BudgetTokens: b}
	case "adaptive":
		// The model decides how much to think: an enabled budget left to
		// the provider.
		return &llm.Thinking{Enabled: true}
	case "disabled":
		return &llm.Thinking{}
	default:
		if d.err == nil {
			d.fail(llm.ParamError("thinking.type", "`thinking.type` must be \"enabled\", \"adaptive\" or \"disabled\"; got %q", typ))
		}
	}
	return nil
}

// metadata returns metadata.user_id as the end user and every other key
// (airgw's own, such as "purpose") as string metadata.
func (d *decoder) metadata(raw json.RawMessage) (string, map[string]string) {
	if isNull(raw) || d.err != nil {
		return "", nil
	}
	if raw[0] != '{' {
		d.typeErr("metadata", "an object such as {\"user_id\": \"…\"}", raw)
		return "", nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		d.typeErr("metadata", "an object of string values", raw)
		return "", nil
	}
	if len(m) > 16 {
		d.fail(llm.ParamError("metadata", "`metadata` may hold at most 16 keys, got %d", len(m)))
		return "", nil
	}
	var user string
	var out map[string]string
	for k, v := range m {
		p := "metadata." + k
		s := d.optString(v, p)
		if d.err != nil {
			return "", nil
		}
		if k == "user_id" {
			if len(s) > 256 {
				d.fail(llm.ParamError(p, "`metadata.user_id` is limited to 256 characters, got %d", len(s)))
				return "", nil
			}
			user = s
			continue
		}
		if len(k) > 64 || len(s) > 512 {
			d.fail(llm.ParamError(p, "metadata keys are limited to 64 characters and values to 512 (`%s`)", truncate(p, 80)))
			return "", nil
		}
		if out == nil {
			out = make(map[string]string, len(m))
		}
		out[k] = s
	}
	return user, out
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
