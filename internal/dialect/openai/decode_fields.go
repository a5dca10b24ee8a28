package openai

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/airgw/airgw/internal/llm"
)

func asSyntax(err error, target **json.SyntaxError) bool      { return errors.As(err, target) }
func asType(err error, target **json.UnmarshalTypeError) bool { return errors.As(err, target) }

type rawMessage struct {
	Role       json.RawMessage `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       json.RawMessage `json:"name"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID json.RawMessage `json:"tool_call_id"`
	Refusal    json.RawMessage `json:"refusal"`
}

func (d *decoder) messages(raw json.RawMessage) []llm.Message {
	if isNull(raw) {
		d.fail(llm.ParamError("messages", "`messages` is required: an array of {role, content} objects"))
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
	if len(items) > d.lim.MaxMessages {
		d.fail(&llm.Error{Code: llm.CodePayloadTooLarge, Param: "messages",
			Message: "`messages` has " + itoa(len(items)) + " entries; the limit is " + itoa(d.lim.MaxMessages)})
		return nil
	}
	msgs := make([]llm.Message, 0, len(items))
	for i, it := range items {
		m := d.message(it, messageParam(i))
		if d.err != nil {
			return nil
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// msgParam holds the names of a message's fields for error messages.
type msgParam struct{ base, role, name, toolCalls, toolCallID, content string }

// msgParams are those of the first messages, built once rather than on
// every request.
var msgParams = func() (ps [32]msgParam) {
	for i := range ps {
		ps[i] = newMsgParam(i)
	}
	return ps
}()

func newMsgParam(i int) msgParam {
	b := idx("messages", i)
	return msgParam{b, b + ".role", b + ".name", b + ".tool_calls", b + ".tool_call_id", b + ".content"}
}

func messageParam(i int) *msgParam {
	if i < len(msgParams) {
		return &msgParams[i]
	}
	p := newMsgParam(i)
	return &p
}

func (d *decoder) message(raw json.RawMessage, mp *msgParam) llm.Message {
	param := mp.base
	var rm rawMessage
	if d.err != nil {
		return llm.Message{}
	}
	// The usual message object is split without another json.Unmarshal
	// (the body was validated whole); anything else goes through it.
	if !splitMessage(raw, &rm) {
		rm = rawMessage{}
		if !d.object(raw, param, &rm) {
			return llm.Message{}
		}
	}
	role := d.requiredString(rm.Role, mp.role)
	m := llm.Message{Role: llm.Role(role)}
	switch m.Role {
	case llm.RoleSystem, llm.RoleDeveloper, llm.RoleUser, llm.RoleAssistant, llm.RoleTool:
	case "function":
		d.fail(llm.ParamError(param+".role", "role `function` is deprecated and not supported; send tool results with role `tool` and `tool_call_id`"))
		return m
	default:
		if d.err == nil {
			d.fail(llm.ParamError(param+".role", "`%s.role` must be one of system, developer, user, assistant, tool; got %q", param, role))
		}
		return m
	}
	m.Name = d.optString(rm.Name, mp.name)
	if m.Role == llm.RoleAssistant {
		m.ToolCalls = d.toolCalls(rm.ToolCalls, mp.toolCalls)
	} else if !isNull(rm.ToolCalls) {
		d.fail(llm.ParamError(mp.toolCalls, "`tool_calls` is only valid on assistant messages"))
	}
	if m.Role == llm.RoleTool {
		m.ToolCallID = d.requiredString(rm.ToolCallID, mp.toolCallID)
	}
	// An assistant turn that only calls tools may have null content.
	contentOptional := m.Role == llm.RoleAssistant && (len(m.ToolCalls) > 0 || !isNull(rm.Refusal))
	m.Content, m.ContentIsString = d.content(rm.Content, mp.content, m.Role, contentOptional)
	return m
}

func (d *decoder) content(raw json.RawMessage, param string, role llm.Role, optional bool) ([]llm.Part, bool) {
	if d.err != nil {
		return nil, false
	}
	if isNull(raw) {
		if !optional {
			d.fail(llm.ParamError(param, "`%s` is required", param))
		}
		return nil, false
	}
	switch raw[0] {
	case '"':
		if s, ok := plainString(raw); ok {
			return []llm.Part{{Type: llm.PartText, Text: s}}, true
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			d.typeErr(param, "a string or an array of content parts", raw)
			return nil, false
		}
		return []llm.Part{{Type: llm.PartText, Text: s}}, true
	case '[':
	default:
		d.typeErr(param, "a string or an array of content parts", raw)
		return nil, false
	}
	items := d.array(raw, param)
	if len(items) > d.lim.MaxParts {
		d.fail(&llm.Error{Code: llm.CodePayloadTooLarge, Param: param,
			Message: "`" + param + "` has " + itoa(len(items)) + " parts; the limit is " + itoa(d.lim.MaxParts)})
		return nil, false
	}
	parts := make([]llm.Part, 0, len(items))
	for i, it := range items {
		p := d.part(it, idx(param, i), role)
		if d.err != nil {
			return nil, false
		}
		if p.Type != "" { // "" for a native-only part
			parts = append(parts, p)
		}
	}
	return parts, false
}

type rawPart struct {
	Type     json.RawMessage `json:"type"`
	Text     json.RawMessage `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
	Refusal  json.RawMessage `json:"refusal"`
}

func (d *decoder) part(raw json.RawMessage, param string, role llm.Role) llm.Part {
	var rp rawPart
	if !d.object(raw, param, &rp) {
		return llm.Part{}
	}
	typ := d.requiredString(rp.Type, param+".type")
	switch typ {
	case "text":
		text := d.requiredString(rp.Text, param+".text")
		return llm.Part{Type: llm.PartText, Text: text}
	case "image_url":
		if role != llm.RoleUser {
			d.fail(llm.ParamError(param+".type", "`%s.type` is image_url, but image parts are only allowed in user messages", param))
			return llm.Part{}
		}
		var img struct {
			URL    json.RawMessage `json:"url"`
			Detail json.RawMessage `json:"detail"`
		}
		if !d.object(rp.ImageURL, param+".image_url", &img) {
			return llm.Part{}
		}
		url := d.requiredString(img.URL, param+".image_url.url")
		detail := d.optString(img.Detail, param+".image_url.detail")
		if d.err != nil {
			return llm.Part{}
		}
		if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "data:image/") {
			d.fail(llm.ParamError(param+".image_url.url", "`image_url.url` must be an http(s) URL or a data:image/…;base64 URL"))
			return llm.Part{}
		}
		switch detail {
		case "", "auto", "low", "high":
		default:
			d.fail(llm.ParamError(param+".image_url.detail", "`image_url.detail` must be auto, low or high; got %q", detail))
		}
		return llm.Part{Type: llm.PartImage, ImageURL: url, ImageDetail: detail}
	case "refusal":
		if role != llm.RoleAssistant {
			d.fail(llm.ParamError(param+".type", "`%s.type` is refusal, but refusal parts are only allowed in assistant messages", param))
		}
		return llm.Part{Type: llm.PartText, Text: d.requiredString(rp.Refusal, param+".refusal")}
	case "input_audio", "file":
		if role != llm.RoleUser {
			d.fail(llm.ParamError(param+".type", "`%s.type` is %s, but %s parts are only allowed in user messages", param, typ, typ))
			return llm.Part{}
		}
		// OpenAI-family providers get the body as sent; others refuse it.
		d.keepNative("`" + typ + "` content parts")
	default:
		if d.err == nil {
			d.fail(llm.ParamError(param+".type", "`%s.type` must be text or image_url; got %q", param, typ))
		}
	}
	return llm.Part{}
}

func (d *decoder) toolCalls(raw json.RawMessage, param string) []llm.ToolCall {
	items := d.array(raw, param)
	var out []llm.ToolCall
	for i, it := range items {
		p := idx(param, i)
		var tc struct {
			ID       json.RawMessage `json:"id"`
			Type     json.RawMessage `json:"type"`
			Function json.RawMessage `json:"function"`
		}
		if !d.object(it, p, &tc) {
			return nil
		}
		id := d.requiredString(tc.ID, p+".id")
		if t := d.optString(tc.Type, p+".type"); t != "" && t != "function" && d.err == nil {
			d.fail(llm.ParamError(p+".type", "`%s.type` must be \"function\"; got %q", p, t))
		}
		var fn struct {
			Name      json.RawMessage `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if !d.object(tc.Function, p+".function", &fn) {
			return nil
		}
		name := d.requiredString(fn.Name, p+".function.name")
		args := d.requiredString(fn.Arguments, p+".function.arguments")
		if d.err != nil {
			return nil
		}
		out = append(out, llm.ToolCall{ID: id, Name: name, Arguments: args})
	}
	return out
}

func (d *decoder) tools(raw json.RawMessage) []llm.Tool {
	items := d.array(raw, "tools")
	if len(items) > d.lim.MaxTools {
		d.fail(&llm.Error{Code: llm.CodePayloadTooLarge, Param: "tools",
			Message: "`tools` has " + itoa(len(items)) + " entries; the limit is " + itoa(d.lim.MaxTools)})
		return nil
	}
	var out []llm.Tool
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		p := idx("tools", i)
		var t struct {
			Type     json.RawMessage `json:"type"`
			Function json.RawMessage `json:"function"`
		}
		if !d.object(it, p, &t) {
			return nil
		}
		if typ := d.requiredString(t.Type, p+".type"); typ != "function" && d.err == nil {
			d.fail(llm.ParamError(p+".type", "`%s.type` must be \"function\"; got %q", p, typ))
			return nil
		}
		var fn struct {
			Name        json.RawMessage `json:"name"`
			Description json.RawMessage `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      json.RawMessage `json:"strict"`
		}
		if !d.object(t.Function, p+".function", &fn) {
			return nil
		}
		tool := llm.Tool{
			Name:        d.requiredString(fn.Name, p+".function.name"),
			Description: d.optString(fn.Description, p+".function.description"),
			Strict:      d.optBool(fn.Strict, p+".function.strict"),
		}
		if d.err != nil {
			return nil
		}
		if !toolNameRE.MatchString(tool.Name) {
			d.fail(llm.ParamError(p+".function.name", "`%s.function.name` must be 1-64 characters of a-z, A-Z, 0-9, _ and -; got %q", p, tool.Name))
			return nil
		}
		if seen[tool.Name] {
			d.fail(llm.ParamError(p+".function.name", "tool name %q is declared twice", tool.Name))
			return nil
		}
		seen[tool.Name] = true
		if !isNull(fn.Parameters) {
			if fn.Parameters[0] != '{' {
				d.typeErr(p+".function.parameters", "a JSON Schema object", fn.Parameters)
				return nil
			}
			tool.Parameters = fn.Parameters
		}
		out = append(out, tool)
	}
	return out
}

func (d *decoder) toolChoice(raw json.RawMessage, tools []llm.Tool) *llm.ToolChoice {
	if isNull(raw) || d.err != nil {
		return nil
	}
	if raw[0] == '"' {
		mode := d.optString(raw, "tool_choice")
		switch mode {
		case "none", "auto":
		case "required":
			if len(tools) == 0 {
				d.fail(llm.ParamError("tool_choice", "`tool_choice` is \"required\" but no `tools` were given"))
			}
		default:
			d.fail(llm.ParamError("tool_choice", "`tool_choice` must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":…}}; got %q", mode))
		}
		return &llm.ToolChoice{Mode: mode}
	}
	var tc struct {
		Type     json.RawMessage `json:"type"`
		Function struct {
			Name json.RawMessage `json:"name"`
		} `json:"function"`
	}
	if !d.object(raw, "tool_choice", &tc) {
		return nil
	}
	if typ := d.requiredString(tc.Type, "tool_choice.type"); typ != "function" && d.err == nil {
		d.fail(llm.ParamError("tool_choice.type", "`tool_choice.type` must be \"function\"; got %q", typ))
	}
	name := d.requiredString(tc.Function.Name, "tool_choice.function.name")
	if d.err != nil {
		return nil
	}
	for _, t := range tools {
		if t.Name == name {
			return &llm.ToolChoice{Mode: "function", Name: name}
		}
	}
	d.fail(llm.ParamError("tool_choice.function.name", "`tool_choice` names function %q, which is not in `tools`", name))
	return nil
}

func (d *decoder) stop(raw json.RawMessage) []string {
	if isNull(raw) || d.err != nil {
		return nil
	}
	if raw[0] == '"' {
		return []string{d.optString(raw, "stop")}
	}
	items := d.array(raw, "stop")
	if d.err != nil {
		return nil
	}
	if len(items) > 4 {
		d.fail(llm.ParamError("stop", "`stop` may hold at most 4 sequences, got %d", len(items)))
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		out = append(out, d.optString(it, idx("stop", i)))
	}
	return out
}

func (d *decoder) responseFormat(raw json.RawMessage) *llm.ResponseFormat {
	if isNull(raw) || d.err != nil {
		return nil
	}
	var rf struct {
		Type       json.RawMessage `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	}
	if !d.object(raw, "response_format", &rf) {
		return nil
	}
	out := &llm.ResponseFormat{Type: d.requiredString(rf.Type, "response_format.type")}
	switch out.Type {
	case "text", "json_object":
	case "json_schema":
		var js struct {
			Name   json.RawMessage `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict json.RawMessage `json:"strict"`
		}
		if !d.object(rf.JSONSchema, "response_format.json_schema", &js) {
			return nil
		}
		out.Name = d.requiredString(js.Name, "response_format.json_schema.name")
		out.Strict = d.optBool(js.Strict, "response_format.json_schema.strict")
		if !isNull(js.Schema) {
			if js.Schema[0] != '{' {
				d.typeErr("response_format.json_schema.schema", "a JSON Schema object", js.Schema)
				return nil
			}
			out.Schema = js.Schema
		}
	default:
		if d.err == nil {
			d.fail(llm.ParamError("response_format.type", "`response_format.type` must be text, json_object or json_schema; got %q", out.Type))
		}
	}
	return out
}

func (d *decoder) streamOptions(raw json.RawMessage, stream bool) bool {
	if isNull(raw) || d.err != nil {
		return false
	}
	if !stream {
		d.fail(llm.ParamError("stream_options", "`stream_options` is only allowed when `stream` is true"))
		return false
	}
	var so struct {
		IncludeUsage json.RawMessage `json:"include_usage"`
	}
	if !d.object(raw, "stream_options", &so) {
		return false
	}
	b := d.optBool(so.IncludeUsage, "stream_options.include_usage")
	return b != nil && *b
}

func (d *decoder) metadata(raw json.RawMessage) map[string]string {
	if isNull(raw) || d.err != nil {
		return nil
	}
	if raw[0] != '{' {
		d.typeErr("metadata", "an object of string values", raw)
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		d.typeErr("metadata", "an object of string values", raw)
		return nil
	}
	if len(m) > 16 {
		d.fail(llm.ParamError("metadata", "`metadata` may hold at most 16 keys, got %d", len(m)))
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s := d.optString(v, "metadata."+k)
		if d.err != nil {
			return nil
		}
		if len(k) > 64 || len(s) > 512 {
			d.fail(llm.ParamError("metadata."+k, "metadata keys are limited to 64 characters and values to 512"))
			return nil
		}
		out[k] = s
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
