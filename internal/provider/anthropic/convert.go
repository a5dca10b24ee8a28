package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/anthropic"
)

// providerType names this adapter in Unsupported errors.
const providerType = "anthropic"

// minThinkingBudget is the smallest budget_tokens the API accepts; it is
// used when a request enables thinking without a budget (the API has no
// default of its own).
const minThinkingBudget = 1024

// maxTokenCount bounds any token count a provider reports; larger values
// are treated as a malformed response rather than billed.
const maxTokenCount = 1 << 40

// toWire translates a neutral request (typically from an OpenAI client)
// into a Messages request:
//
//   - system and developer messages, wherever they are, become "system"
//     (a string for one plain message, text blocks otherwise);
//   - consecutive tool results become one user message of tool_result
//     blocks (is_error kept), and messages of the same role that end up
//     adjacent are merged, as the API wants roles to alternate;
//   - assistant tool calls become tool_use blocks (their JSON arguments
//     become the input object; invalid JSON is a 400 naming the message);
//   - data: URL images become base64 sources, http(s) ones url sources;
//     ImageDetail has no equivalent and is ignored, as are Message.Name
//     and Tool.Strict;
//   - max_tokens, required by the API, is defMax when the client set none
//     (raised above the thinking budget when thinking is on);
//   - tool_choice required becomes "any", a named function "tool", and
//     ParallelToolCalls false sets disable_parallel_tool_use;
//   - User becomes metadata.user_id.
//
// reasoning_effort becomes extended thinking (see llm.ClaudeThinking),
// response_format json_schema JSON outputs (see outputConfig).
//
// Features the API cannot serve are refused with llm.Unsupported rather
// than dropped: n > 1, response_format json_object and seed.
func toWire(req *llm.Request, provider string, defMax int) (*wire.MessagesRequest, error) {
	if err := unsupported(req, provider); err != nil {
		return nil, err
	}
	w := &wire.MessagesRequest{
		Model:         req.Model,
		Temperature:   req.Temperature,
		TopP:          req.TopP,
		TopK:          req.TopK,
		StopSequences: req.Stop,
		Stream:        req.Stream,
	}
	if err := messagesToWire(w, req.Messages); err != nil {
		return nil, err
	}
	for _, t := range req.Tools {
		schema := t.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		w.Tools = append(w.Tools, wire.Tool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	if len(w.Tools) > 0 {
		// Without tools, a tool choice can only mean "none": leave it out.
		if tc := req.ToolChoice; tc != nil {
			switch tc.Mode {
			case "auto", "":
				w.ToolChoice = &wire.ToolChoice{Type: wire.ToolChoiceAuto}
			case "none":
				w.ToolChoice = &wire.ToolChoice{Type: wire.ToolChoiceNone}
			case "required":
				w.ToolChoice = &wire.ToolChoice{Type: wire.ToolChoiceAny}
			case "function":
				w.ToolChoice = &wire.ToolChoice{Type: wire.ToolChoiceTool, Name: tc.Name}
			default:
				return nil, llm.ParamError("tool_choice", "tool_choice %q is not one of auto, none, required or a function", tc.Mode)
			}
		}
		if p := req.ParallelToolCalls; p != nil && !*p {
			if w.ToolChoice == nil {
				w.ToolChoice = &wire.ToolChoice{Type: wire.ToolChoiceAuto}
			}
			if w.ToolChoice.Type != wire.ToolChoiceNone {
				t := true
				w.ToolChoice.DisableParallelToolUse = &t
			}
		}
	}
	w.MaxTokens = req.MaxTokens
	th := req.Thinking
	if th == nil && req.ReasoningEffort != "" {
		var err error
		if th, err = llm.ClaudeThinking(req, provider, providerType); err != nil {
			return nil, err
		}
	}
	if th != nil {
		if th.Enabled {
			budget := th.BudgetTokens
			if budget <= 0 {
				budget = minThinkingBudget
			}
			w.Thinking = &wire.Thinking{Type: wire.ThinkingEnabled, BudgetTokens: budget}
			if w.MaxTokens <= 0 && budget >= defMax {
				w.MaxTokens = budget + defMax
			}
		} else {
			w.Thinking = &wire.Thinking{Type: wire.ThinkingDisabled}
		}
	}
	if w.MaxTokens <= 0 {
		w.MaxTokens = defMax
	}
	if req.User != "" {
		w.Metadata = &wire.Metadata{UserID: req.User}
	}
	oc, err := outputConfig(req.ResponseFormat)
	if err != nil {
		return nil, err
	}
	w.OutputConfig = oc
	return w, nil
}

// noJSONObject names, in feature_not_supported errors, the JSON mode
// without a schema, which Claude lacks.
const noJSONObject = "response_format json_object (Claude's JSON outputs need a schema: send response_format json_schema with one)"

// outputConfig maps response_format json_schema to Claude's JSON outputs,
// output_config.format: the model's answer is then text constrained to the
// schema (constrained decoding, as OpenAI's strict mode), in an ordinary
// text block with stop_reason end_turn, streamed as text deltas and billed
// as any answer. The schema goes as the client wrote it: Claude refuses
// what it cannot enforce (objects without additionalProperties: false,
// numeric and string bounds, recursion) with a 400 that reaches the client
// with Claude's message, and older models refuse the field. The schema's
// name has no place in the API and is not sent. nil for no format (or
// "text").
func outputConfig(rf *llm.ResponseFormat) (json.RawMessage, error) {
	if rf == nil {
		return nil, nil
	}
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_schema":
		schema := bytes.TrimSpace(rf.Schema)
		if len(schema) == 0 || schema[0] != '{' || !json.Valid(schema) {
			return nil, llm.ParamError("response_format.json_schema.schema", "response_format json_schema needs a schema that is a JSON object")
		}
		type format struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		}
		return json.Marshal(struct {
			Format format `json:"format"`
		}{format{"json_schema", schema}})
	default:
		return nil, llm.ParamError("response_format.type", "response_format type %q is not one of text, json_object or json_schema", rf.Type)
	}
}

// unsupported refuses the request features the Messages API cannot serve.
func unsupported(req *llm.Request, provider string) *llm.Error {
	switch {
	case req.N > 1:
		return llm.Unsupported("n > 1 (several choices)", provider, providerType)
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object":
		return llm.Unsupported(noJSONObject, provider, providerType)
	case req.Seed != nil:
		return llm.Unsupported("seed", provider, providerType)
	}
	return nil
}

// messagesToWire sets w's system prompt and messages from msgs.
func messagesToWire(w *wire.MessagesRequest, msgs []llm.Message) error {
	var system []wire.ContentBlock
	nsys, plainSys := 0, true // system messages, and whether all were plain strings
	for i := range msgs {
		m := &msgs[i]
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case llm.RoleSystem, llm.RoleDeveloper:
			nsys++
			plainSys = plainSys && plainText(m)
			for _, p := range m.Content {
				if p.Type != llm.PartText {
					return llm.ParamError(param, "a %s message may hold only text, not %s", m.Role, p.Type)
				}
				if p.Text == "" && p.CacheControl == "" {
					continue // the API refuses empty text blocks
				}
				system = append(system, textBlock(p))
			}
		case llm.RoleUser:
			c, err := userContent(m)
			if err != nil {
				return llm.ParamError(param, "%v", err)
			}
			appendMessage(w, wire.RoleUser, c)
		case llm.RoleAssistant:
			c, err := assistantContent(m)
			if err != nil {
				return llm.ParamError(param, "%v", err)
			}
			appendMessage(w, wire.RoleAssistant, c)
		case llm.RoleTool:
			b, err := toolResult(m)
			if err != nil {
				return llm.ParamError(param, "%v", err)
			}
			appendMessage(w, wire.RoleUser, wire.BlocksContent(b))
		default:
			return llm.ParamError(param+".role", "role %q cannot be sent to an Anthropic provider", m.Role)
		}
	}
	switch {
	case nsys == 1 && plainSys && len(system) <= 1:
		w.System = wire.TextContent(msgs[firstSystem(msgs)].Text())
	case len(system) > 0:
		w.System = wire.BlocksContent(system...)
	}
	if w.Messages == nil {
		w.Messages = []wire.Message{}
	}
	return nil
}

// firstSystem returns the index of the first system or developer message.
func firstSystem(msgs []llm.Message) int {
	for i := range msgs {
		if msgs[i].Role == llm.RoleSystem || msgs[i].Role == llm.RoleDeveloper {
			return i
		}
	}
	return -1
}

// appendMessage adds a message, merging it into the previous one when both
// have the same role.
func appendMessage(w *wire.MessagesRequest, role string, c wire.Content) {
	if n := len(w.Messages); n > 0 && w.Messages[n-1].Role == role {
		prev := &w.Messages[n-1]
		prev.Content = wire.BlocksContent(append(blocksOf(prev.Content), blocksOf(c)...)...)
		return
	}
	w.Messages = append(w.Messages, wire.Message{Role: role, Content: c})
}

// blocksOf returns c as blocks.
func blocksOf(c wire.Content) []wire.ContentBlock {
	if c.Kind == wire.ContentString {
		if c.Text == "" {
			return nil
		}
		return []wire.ContentBlock{{Type: wire.BlockText, Text: c.Text}}
	}
	return c.Blocks
}

func textBlock(p llm.Part) wire.ContentBlock {
	return wire.ContentBlock{Type: wire.BlockText, Text: p.Text, CacheControl: cacheControl(p.CacheControl)}
}

func cacheControl(s string) *wire.CacheControl {
	if s == "" {
		return nil
	}
	return &wire.CacheControl{Type: s}
}

// plainText reports whether m's content can be sent as a string.
func plainText(m *llm.Message) bool {
	if !m.ContentIsString {
		return false
	}
	for _, p := range m.Content {
		if p.Type != llm.PartText || p.CacheControl != "" {
			return false
		}
	}
	return true
}

// partsToBlocks converts text and image parts; empty text parts are
// dropped, as the API refuses empty text blocks.
func partsToBlocks(parts []llm.Part) ([]wire.ContentBlock, error) {
	out := make([]wire.ContentBlock, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case llm.PartText:
			if p.Text == "" && p.CacheControl == "" {
				continue
			}
			out = append(out, textBlock(p))
		case llm.PartImage:
			src, err := imageSource(p.ImageURL)
			if err != nil {
				return nil, err
			}
			out = append(out, wire.ContentBlock{Type: wire.BlockImage, Source: src, CacheControl: cacheControl(p.CacheControl)})
		default:
			return nil, fmt.Errorf("content part type %q is not allowed here", p.Type)
		}
	}
	return out, nil
}

func userContent(m *llm.Message) (wire.Content, error) {
	if plainText(m) {
		return wire.TextContent(m.Text()), nil
	}
	b, err := partsToBlocks(m.Content)
	if err != nil {
		return wire.Content{}, err
	}
	return wire.BlocksContent(b...), nil
}

func assistantContent(m *llm.Message) (wire.Content, error) {
	if len(m.ToolCalls) == 0 && plainText(m) {
		return wire.TextContent(m.Text()), nil
	}
	out := make([]wire.ContentBlock, 0, len(m.Content)+len(m.ToolCalls))
	for _, p := range m.Content {
		switch p.Type {
		case llm.PartThinking:
			out = append(out, wire.ContentBlock{Type: wire.BlockThinking, Thinking: p.Text, Signature: p.Signature})
		case llm.PartRedactedThinking:
			out = append(out, wire.ContentBlock{Type: wire.BlockRedactedThinking, Data: p.Data})
		case llm.PartText:
			if p.Text == "" && p.CacheControl == "" {
				continue
			}
			out = append(out, textBlock(p))
		default:
			return wire.Content{}, fmt.Errorf("an assistant message may not hold %s parts", p.Type)
		}
	}
	for j, tc := range m.ToolCalls {
		input := bytes.TrimSpace([]byte(tc.Arguments))
		if len(input) == 0 {
			input = []byte("{}")
		}
		if !json.Valid(input) || input[0] != '{' {
			return wire.Content{}, fmt.Errorf("tool_calls[%d] (%s): function.arguments must be a JSON object, got %.40q", j, tc.Name, tc.Arguments)
		}
		out = append(out, wire.ContentBlock{Type: wire.BlockToolUse, ID: tc.ID, Name: tc.Name, Input: json.RawMessage(input)})
	}
	return wire.BlocksContent(out...), nil
}

func toolResult(m *llm.Message) (wire.ContentBlock, error) {
	if m.ToolCallID == "" {
		return wire.ContentBlock{}, fmt.Errorf("a tool message needs tool_call_id")
	}
	b := wire.ContentBlock{Type: wire.BlockToolResult, ToolUseID: m.ToolCallID, IsError: m.IsError}
	switch {
	case len(m.Content) == 0:
	case plainText(m):
		c := wire.TextContent(m.Text())
		b.Content = &c
	default:
		blocks, err := partsToBlocks(m.Content)
		if err != nil {
			return b, err
		}
		c := wire.BlocksContent(blocks...)
		b.Content = &c
	}
	return b, nil
}

// imageSource maps an image URL: a base64 data: URL to a base64 source,
// an http(s) URL to a url source.
func imageSource(u string) (*wire.Source, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 || mediaType == "" || data == "" {
			return nil, fmt.Errorf("image data: URL must be data:<media type>;base64,<data>")
		}
		return &wire.Source{Type: wire.SourceBase64, MediaType: mediaType, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &wire.Source{Type: wire.SourceURL, URL: u}, nil
	}
	return nil, fmt.Errorf("image_url must be an http(s) URL or a base64 data: URL")
}

// marshalRequest encodes req as a Messages body.
func marshalRequest(req *llm.Request, provider string, defMax int) ([]byte, error) {
	w, err := toWire(req, provider, defMax)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request cannot be encoded for an Anthropic provider", Err: err}
	}
	return b, nil
}

// marshalCount encodes req as a count_tokens body.
func marshalCount(req *llm.Request, provider string, defMax int) ([]byte, error) {
	w, err := toWire(req, provider, defMax)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(wire.CountTokensRequest{Model: w.Model, Messages: w.Messages, System: w.System,
		Tools: w.Tools, ToolChoice: w.ToolChoice, Thinking: w.Thinking, OutputConfig: w.OutputConfig})
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request cannot be encoded for an Anthropic provider", Err: err}
	}
	return b, nil
}

// decodeResponse decodes a 2xx non-streaming body. The body travels as the
// Response's Native, for an Anthropic client to receive unchanged.
func decodeResponse(provider, key string, status int, body []byte) (*llm.Response, *llm.Error) {
	var w wire.MessagesResponse
	if err := json.Unmarshal(body, &w); err != nil {
		if e := errorInBody(provider, key, status, body); e != nil {
			return nil, e
		}
		return nil, malformed(provider, status, "response is not a message", err)
	}
	if w.Type != "message" {
		if e := errorInBody(provider, key, status, body); e != nil {
			return nil, e
		}
		return nil, malformed(provider, status, fmt.Sprintf("response type is %q, not message", w.Type), nil)
	}
	u, err := usageFromWire(w.Usage)
	if err != nil {
		return nil, malformed(provider, status, "response has invalid usage", err)
	}
	r := &llm.Response{
		ID:      w.ID,
		Model:   w.Model,
		Created: time.Now().Unix(), // the API sends no creation time
		Choices: []llm.Choice{{
			Message:      messageFromWire(w.Content),
			FinishReason: finishReason(w.StopReason),
		}},
		Usage:         u,
		UsageReported: true,
		Native:        &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: Endpoint, Body: body},
	}
	if w.StopSequence != nil {
		r.StopSequence = *w.StopSequence
	}
	return r, nil
}

// messageFromWire maps response content blocks to an assistant message:
// text, thinking (with its signature) and redacted thinking become parts,
// tool_use blocks tool calls. Server tool blocks (web search and its
// results) have no neutral form and are left out; an Anthropic client gets
// them through Native.
func messageFromWire(blocks []wire.ContentBlock) llm.Message {
	m := llm.Message{Role: llm.RoleAssistant}
	for _, b := range blocks {
		switch b.Type {
		case wire.BlockText:
			m.Content = append(m.Content, llm.Part{Type: llm.PartText, Text: b.Text})
		case wire.BlockThinking:
			m.Content = append(m.Content, llm.Part{Type: llm.PartThinking, Text: b.Thinking, Signature: b.Signature})
		case wire.BlockRedactedThinking:
			m.Content = append(m.Content, llm.Part{Type: llm.PartRedactedThinking, Data: b.Data})
		case wire.BlockToolUse:
			args := string(b.Input)
			if args == "" {
				args = "{}"
			}
			m.ToolCalls = append(m.ToolCalls, llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		}
	}
	return m
}

// finishReason maps a stop_reason to OpenAI's vocabulary: end_turn,
// stop_sequence and pause_turn (a server tool paused a long turn) are
// "stop", max_tokens and a full context window "length", tool_use
// "tool_calls", refusal "content_filter".
func finishReason(stop *string) llm.FinishReason {
	if stop == nil {
		return ""
	}
	switch *stop {
	case wire.StopMaxTokens, wire.StopContextLimit:
		return llm.FinishLength
	case wire.StopToolUse:
		return llm.FinishToolCalls
	case wire.StopRefusal:
		return llm.FinishContentFilter
	default:
		return llm.FinishStop
	}
}

// usageFromWire maps Anthropic usage to llm.Usage. The API's input_tokens
// excludes the tokens read from and written to the prompt cache; airgw's
// InputTokens is every prompt token, so it is the sum of the three.
// Counts no provider could bill (negative or absurdly large) are refused.
func usageFromWire(w wire.Usage) (llm.Usage, error) {
	for _, n := range []int64{w.InputTokens, w.CacheReadInputTokens, w.CacheCreationInputTokens, w.OutputTokens} {
		if n < 0 || n > maxTokenCount {
			return llm.Usage{}, fmt.Errorf("token count %d out of range", n)
		}
	}
	return llm.Usage{
		InputTokens:      w.InputTokens + w.CacheReadInputTokens + w.CacheCreationInputTokens,
		OutputTokens:     w.OutputTokens,
		CacheReadTokens:  w.CacheReadInputTokens,
		CacheWriteTokens: w.CacheCreationInputTokens,
	}, nil
}

// decodeCount decodes a count_tokens answer.
func decodeCount(provider string, status int, body []byte) (int64, error) {
	var w wire.CountTokensResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return 0, malformed(provider, status, "token count is not JSON", err)
	}
	if w.InputTokens < 0 || w.InputTokens > maxTokenCount {
		return 0, malformed(provider, status, fmt.Sprintf("token count %d out of range", w.InputTokens), nil)
	}
	return w.InputTokens, nil
}

func malformed(provider string, status int, what string, err error) *llm.Error {
	return &llm.Error{Code: llm.CodeProviderError, Provider: provider, UpstreamStatus: status, Sent: true,
		Message: fmt.Sprintf("provider %s sent a malformed response: %s", provider, what), Err: err}
}
