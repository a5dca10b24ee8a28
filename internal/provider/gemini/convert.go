package gemini

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

// providerType is the configuration type of this adapter, named in
// feature_not_supported errors.
const providerType = "gemini"

// toWire translates a neutral request to a generateContent body. Every
// failure is an *llm.Error: invalid_request for a malformed request,
// feature_not_supported for what Gemini cannot do.
func (c *Client) toWire(req *llm.Request) (*wire.Request, error) {
	if e := req.Untranslatable(c.name, providerType); e != nil {
		return nil, e
	}
	w := &wire.Request{Contents: make([]wire.Content, 0, len(req.Messages))}
	callNames := make(map[string]string) // tool call id → function name, from earlier assistant turns
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case llm.RoleSystem, llm.RoleDeveloper:
			if w.SystemInstruction == nil {
				w.SystemInstruction = &wire.Content{}
			}
			for _, p := range m.Content {
				if p.Type != llm.PartText {
					return nil, llm.Unsupported(fmt.Sprintf("%s parts in system messages", p.Type), c.name, providerType)
				}
				if p.Text != "" {
					w.SystemInstruction.Parts = append(w.SystemInstruction.Parts, wire.Part{Text: p.Text})
				}
			}
		case llm.RoleUser:
			parts, err := c.userParts(i, m)
			if err != nil {
				return nil, err
			}
			if len(parts) > 0 {
				w.Contents = append(w.Contents, wire.Content{Role: wire.RoleUser, Parts: parts})
			}
		case llm.RoleAssistant:
			parts, err := c.modelParts(i, m, validatesSignatures(req.Model))
			if err != nil {
				return nil, err
			}
			for _, tc := range m.ToolCalls {
				callNames[tc.ID] = tc.Name
			}
			if len(parts) > 0 {
				w.Contents = append(w.Contents, wire.Content{Role: wire.RoleModel, Parts: parts})
			}
		case llm.RoleTool:
			p, err := c.toolResult(i, m, callNames)
			if err != nil {
				return nil, err
			}
			// Results of one turn's parallel calls go in one user turn:
			// Gemini wants as many functionResponse parts as there were
			// functionCall parts.
			if n := len(w.Contents); n > 0 && w.Contents[n-1].Role == wire.RoleUser && w.Contents[n-1].Parts[0].FunctionResponse != nil {
				w.Contents[n-1].Parts = append(w.Contents[n-1].Parts, p)
			} else {
				w.Contents = append(w.Contents, wire.Content{Role: wire.RoleUser, Parts: []wire.Part{p}})
			}
		default:
			return nil, llm.ParamError(fmt.Sprintf("messages[%d].role", i), "message %d has role %q, which airgw cannot send to Gemini", i, m.Role)
		}
	}
	if w.SystemInstruction != nil && len(w.SystemInstruction.Parts) == 0 {
		w.SystemInstruction = nil
	}
	if err := c.toolsToWire(w, req); err != nil {
		return nil, err
	}
	g, err := c.generationConfig(req)
	if err != nil {
		return nil, err
	}
	w.GenerationConfig = g
	return w, nil
}

// userParts translates the content of a user message.
func (c *Client) userParts(i int, m *llm.Message) ([]wire.Part, error) {
	parts := make([]wire.Part, 0, len(m.Content))
	for j, p := range m.Content {
		switch p.Type {
		case llm.PartText:
			if p.Text != "" {
				parts = append(parts, wire.Part{Text: p.Text})
			}
		case llm.PartImage:
			blob, err := c.imageBlob(p.ImageURL, fmt.Sprintf("messages[%d].content[%d]", i, j))
			if err != nil {
				return nil, err
			}
			parts = append(parts, wire.Part{InlineData: blob})
		default:
			return nil, llm.Unsupported(fmt.Sprintf("%s parts in user messages", p.Type), c.name, providerType)
		}
	}
	return parts, nil
}

// imageBlob turns a base64 data: URL into inline data. Gemini's fileData
// only takes files uploaded to its File API, so http(s) URLs are refused.
func (c *Client) imageBlob(u, param string) (*wire.Blob, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			return nil, llm.Unsupported("image URLs (send base64 data: URLs)", c.name, providerType)
		}
		return nil, llm.ParamError(param, "the image URL must be a data: URL or an http(s) URL")
	}
	meta, data, ok := strings.Cut(rest, ",")
	mime, isB64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isB64 || mime == "" || strings.Contains(mime, ";") {
		return nil, llm.ParamError(param, "the image data: URL must have the form data:<media type>;base64,<data>")
	}
	if _, err := base64.StdEncoding.DecodeString(data); err != nil {
		return nil, llm.ParamError(param, "the image data: URL does not hold valid base64")
	}
	return &wire.Blob{MIMEType: mime, Data: data}, nil
}

// modelParts translates an assistant message: reasoning, text, then
// function calls. A thinking part with a signature and no text (how
// appendPart keeps the signature Gemini attaches to a text or
// functionCall part) gives its signature to the next part sent. Only
// signatures Gemini produced are sent (ownSignature): another provider's
// would make Gemini refuse the request. With skipSigs (Gemini 3 models), a
// function call step left without a signature gets Google's skipSignature
// on its first call, as Gemini 3 refuses it otherwise.
func (c *Client) modelParts(i int, m *llm.Message, skipSigs bool) ([]wire.Part, error) {
	parts := make([]wire.Part, 0, len(m.Content)+len(m.ToolCalls))
	var sigs []string
	next := func(p wire.Part) {
		if len(sigs) > 0 {
			p.ThoughtSignature, sigs = sigs[0], sigs[1:]
		}
		parts = append(parts, p)
	}
	for _, p := range m.Content {
		switch p.Type {
		case llm.PartText:
			if p.Text != "" {
				next(wire.Part{Text: p.Text})
			}
		case llm.PartThinking:
			sig := ownSignature(p.Signature)
			if p.Text == "" {
				if sig != "" {
					sigs = append(sigs, sig)
				}
				continue
			}
			parts = append(parts, wire.Part{Text: p.Text, Thought: true, ThoughtSignature: sig})
		case llm.PartRedactedThinking:
			// Another provider's encrypted reasoning means nothing to Gemini.
		default:
			return nil, llm.Unsupported(fmt.Sprintf("%s parts in assistant messages", p.Type), c.name, providerType)
		}
	}
	for j, tc := range m.ToolCalls {
		args, err := argsObject(tc.Arguments)
		if err != nil {
			return nil, llm.ParamError(fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments", i, j),
				"the arguments of tool call %q in message %d are not a JSON object: %v", tc.ID, i, err)
		}
		p := wire.Part{FunctionCall: &wire.FunctionCall{Name: tc.Name, Args: args}}
		if j == 0 && skipSigs && len(sigs) == 0 {
			p.ThoughtSignature = skipSignature
		}
		next(p)
	}
	return parts, nil
}

// argsObject validates tool call arguments; empty text means no arguments.
func argsObject(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("got %T", v)
	}
	return json.RawMessage(s), nil
}

// toolResult translates a tool message to a functionResponse part, naming
// the function of the call it answers. A result that is a JSON object is
// sent as is; anything else is wrapped as {"result": ...} ({"error": ...}
// for a failed call), since Gemini takes only objects.
func (c *Client) toolResult(i int, m *llm.Message, callNames map[string]string) (wire.Part, error) {
	name, ok := callNames[m.ToolCallID]
	if !ok {
		return wire.Part{}, llm.ParamError(fmt.Sprintf("messages[%d].tool_call_id", i),
			"message %d answers tool call %q, which no earlier assistant message made", i, m.ToolCallID)
	}
	for _, p := range m.Content {
		if p.Type != llm.PartText {
			return wire.Part{}, llm.Unsupported(fmt.Sprintf("%s parts in tool results", p.Type), c.name, providerType)
		}
	}
	text := m.Text()
	key := "result"
	if m.IsError {
		key = "error"
	}
	var resp json.RawMessage
	trimmed := strings.TrimSpace(text)
	switch {
	case !m.IsError && strings.HasPrefix(trimmed, "{") && json.Valid([]byte(trimmed)):
		resp = json.RawMessage(trimmed)
	case json.Valid([]byte(trimmed)) && trimmed != "":
		resp = json.RawMessage(`{"` + key + `":` + trimmed + `}`)
	default:
		b, _ := json.Marshal(map[string]string{key: text})
		resp = b
	}
	return wire.Part{FunctionResponse: &wire.FunctionResponse{Name: name, Response: resp}}, nil
}

// toolsToWire sets tools and toolConfig.
func (c *Client) toolsToWire(w *wire.Request, req *llm.Request) error {
	if len(req.Tools) == 0 {
		if tc := req.ToolChoice; tc != nil && (tc.Mode == "required" || tc.Mode == "function") {
			return llm.ParamError("tool_choice", "tool_choice %q needs tools", tc.Mode)
		}
		return nil
	}
	if p := req.ParallelToolCalls; p != nil && !*p {
		// Gemini has no switch for it: it may always call several.
		return llm.Unsupported("parallel_tool_calls: false", c.name, providerType)
	}
	decls := make([]wire.FunctionDeclaration, 0, len(req.Tools))
	for i, t := range req.Tools {
		if t.Name == "" {
			return llm.ParamError(fmt.Sprintf("tools[%d].function.name", i), "tool %d has no name", i)
		}
		d := wire.FunctionDeclaration{Name: t.Name, Description: t.Description}
		if len(t.Parameters) > 0 && string(t.Parameters) != "null" {
			p, err := convertSchema(t.Parameters)
			if err != nil {
				if e := (*unsupportedKeyword)(nil); errors.As(err, &e) {
					return llm.Unsupported(fmt.Sprintf("JSON Schema keyword %q (in the parameters of tool %s)", e.keyword, t.Name), c.name, providerType)
				}
				return llm.ParamError(fmt.Sprintf("tools[%d].function.parameters", i), "the parameters of tool %s are not a valid JSON Schema object: %v", t.Name, err)
			}
			d.Parameters = p
		}
		decls = append(decls, d)
	}
	w.Tools = []wire.Tool{{FunctionDeclarations: decls}}
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	fc := &wire.FunctionCallingConfig{}
	switch tc.Mode {
	case "", "auto":
		fc.Mode = wire.ModeAuto
	case "none":
		fc.Mode = wire.ModeNone
	case "required":
		fc.Mode = wire.ModeAny
	case "function":
		if tc.Name == "" {
			return llm.ParamError("tool_choice", "tool_choice names no function")
		}
		fc.Mode, fc.AllowedFunctionNames = wire.ModeAny, []string{tc.Name}
	default:
		return llm.ParamError("tool_choice", "tool_choice %q is not one of none, auto, required or a function", tc.Mode)
	}
	w.ToolConfig = &wire.ToolConfig{FunctionCallingConfig: fc}
	return nil
}

// generationConfig maps sampling, limits, output format and thinking; nil
// when nothing is set.
func (c *Client) generationConfig(req *llm.Request) (*wire.GenerationConfig, error) {
	g := &wire.GenerationConfig{
		Temperature:     req.Temperature,
		TopP:            req.TopP,
		TopK:            req.TopK,
		MaxOutputTokens: req.MaxTokens,
		StopSequences:   req.Stop,
		Seed:            req.Seed,
	}
	if req.N > 1 {
		g.CandidateCount = req.N
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			g.ResponseMIMEType = "application/json"
		case "json_schema":
			g.ResponseMIMEType = "application/json"
			if len(rf.Schema) > 0 && string(rf.Schema) != "null" {
				if !json.Valid(rf.Schema) || strings.TrimSpace(string(rf.Schema))[0] != '{' {
					return nil, llm.ParamError("response_format.json_schema.schema", "the response schema is not a JSON object")
				}
				g.ResponseJSONSchema = rf.Schema
			}
		default:
			return nil, llm.ParamError("response_format.type", "response_format type %q is not one of text, json_object or json_schema", rf.Type)
		}
	}
	switch {
	case req.Thinking != nil && req.Thinking.Enabled:
		tc := &wire.ThinkingConfig{IncludeThoughts: ptr(true)}
		if req.Thinking.BudgetTokens > 0 {
			tc.ThinkingBudget = ptr(req.Thinking.BudgetTokens)
		}
		g.ThinkingConfig = tc
	case req.Thinking != nil:
		g.ThinkingConfig = &wire.ThinkingConfig{ThinkingBudget: ptr(0)}
	case req.ReasoningEffort != "":
		// The budgets are Google's own (llm.ReasoningBudget).
		b, e := llm.ReasoningBudget(req.ReasoningEffort)
		if e != nil {
			return nil, e
		}
		g.ThinkingConfig = &wire.ThinkingConfig{ThinkingBudget: ptr(b)}
	}
	if b, _ := json.Marshal(g); string(b) == "{}" {
		return nil, nil
	}
	return g, nil
}

func ptr[T any](v T) *T { return &v }
