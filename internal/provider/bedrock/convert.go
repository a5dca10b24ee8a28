package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// maxTokenCount bounds any token count a provider reports; larger values
// are treated as a malformed response rather than billed.
const maxTokenCount = 1 << 40

// defaultThinkingBudget is the budget sent when thinking is enabled without
// one: Anthropic requires budget_tokens and 1024 is its minimum.
const defaultThinkingBudget = 1024

// defaultMaxTokens is added to the thinking budget for maxTokens when
// thinking is on and the client set no limit, as the anthropic adapter
// does with its default max_tokens.
const defaultMaxTokens = 4096

// family is the vendor of a Bedrock model, which decides the names of the
// model-specific fields sent in additionalModelRequestFields.
type family int

const (
	familyUnknown   family = iota // ARNs of application inference profiles, new vendors
	familyAnthropic               // anthropic.claude-*: top_k, thinking
	familyNova                    // amazon.nova-*: inferenceConfig.topK
	familyOther                   // meta, mistral, cohere, ...: top_k only
)

// modelFamily guesses the vendor from a model id, an inference profile id
// ("us.anthropic.claude-...") or a foundation-model ARN.
func modelFamily(model string) family {
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "anthropic."):
		return familyAnthropic
	case strings.Contains(m, "amazon.nova"):
		return familyNova
	case strings.Contains(m, "application-inference-profile/"), strings.Contains(m, "prompt/"):
		return familyUnknown
	default:
		return familyOther
	}
}

// toWire builds the Converse body for req. provider names the provider in
// Unsupported errors.
func toWire(provider string, req *llm.Request) (*wire.ConverseRequest, error) {
	unsupported := func(feature string) error { return llm.Unsupported(feature, provider, providerType) }
	if e := req.Untranslatable(provider, providerType); e != nil {
		return nil, e
	}
	if req.N > 1 {
		return nil, unsupported("n > 1")
	}
	if req.Seed != nil {
		return nil, unsupported("seed")
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls && len(req.Tools) > 0 {
		return nil, unsupported("parallel_tool_calls: false")
	}
	oc, err := outputConfig(req.ResponseFormat, unsupported)
	if err != nil {
		return nil, err
	}
	w := &wire.ConverseRequest{Messages: make([]wire.Message, 0, len(req.Messages)), OutputConfig: oc}
	hasToolBlocks := false
	for i := range req.Messages {
		m := &req.Messages[i]
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case llm.RoleSystem, llm.RoleDeveloper:
			blocks, err := systemBlocks(m, param)
			if err != nil {
				return nil, err
			}
			w.System = append(w.System, blocks...)
			continue
		case llm.RoleUser, llm.RoleAssistant, llm.RoleTool:
		default:
			return nil, llm.ParamError(param+".role", "role %q is not supported by Bedrock providers", m.Role)
		}
		role, blocks, err := messageBlocks(provider, m, param)
		if err != nil {
			return nil, err
		}
		if len(m.ToolCalls) > 0 || m.Role == llm.RoleTool {
			hasToolBlocks = true
		}
		if len(blocks) == 0 {
			return nil, llm.ParamError(param+".content", "is empty; Bedrock requires every message to have non-blank content")
		}
		// Converse requires alternating roles: consecutive messages of
		// one role (several tool results, a tool result then a user
		// message) become one message.
		if n := len(w.Messages); n > 0 && w.Messages[n-1].Role == role {
			w.Messages[n-1].Content = append(w.Messages[n-1].Content, blocks...)
			continue
		}
		w.Messages = append(w.Messages, wire.Message{Role: role, Content: blocks})
	}
	if err := toolConfig(w, req, hasToolBlocks, unsupported); err != nil {
		return nil, err
	}
	th, err := thinking(provider, req, unsupported)
	if err != nil {
		return nil, err
	}
	ic := &wire.InferenceConfig{Temperature: req.Temperature, TopP: req.TopP, StopSequences: req.Stop}
	switch {
	case req.MaxTokens > 0:
		n := req.MaxTokens
		ic.MaxTokens = &n
	case th != nil && th.Enabled:
		// Claude wants maxTokens above budget_tokens; the model's
		// default may not be.
		n := max(th.BudgetTokens, defaultThinkingBudget) + defaultMaxTokens
		ic.MaxTokens = &n
	}
	if ic.MaxTokens != nil || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		w.InferenceConfig = ic
	}
	extra, err := additionalFields(req, th, unsupported)
	if err != nil {
		return nil, err
	}
	w.AdditionalModelRequestFields = extra
	return w, nil
}

// outputConfig maps response_format json_schema to Converse's structured
// output (outputConfig.textFormat): the answer is text constrained to the
// schema, an ordinary text block with stopReason end_turn, billed as any
// answer. The schema travels as JSON text, with the format's name. Bedrock
// refuses a schema it cannot enforce, and models without structured
// output refuse the field, with a ValidationException whose message reaches
// the client. json_object, JSON without a schema, has no equivalent.
func outputConfig(rf *llm.ResponseFormat, unsupported func(string) error) (*wire.OutputConfig, error) {
	if rf == nil {
		return nil, nil
	}
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return nil, unsupported("response_format json_object (Bedrock's structured output needs a schema: send response_format json_schema with one)")
	case "json_schema":
		schema := bytes.TrimSpace(rf.Schema)
		if len(schema) == 0 || schema[0] != '{' || !json.Valid(schema) {
			return nil, llm.ParamError("response_format.json_schema.schema", "response_format json_schema needs a schema that is a JSON object")
		}
		return &wire.OutputConfig{TextFormat: &wire.OutputFormat{Type: wire.OutputFormatJSONSchema,
			Structure: wire.OutputFormatStructure{JSONSchema: &wire.JSONSchemaDefinition{Schema: string(schema), Name: rf.Name}}}}, nil
	default:
		return nil, llm.ParamError("response_format.type", "response_format type %q is not one of text, json_object or json_schema", rf.Type)
	}
}

// toolConfig sets w.ToolConfig from the request's tools and tool choice.
func toolConfig(w *wire.ConverseRequest, req *llm.Request, hasToolBlocks bool, unsupported func(string) error) error {
	if len(req.Tools) == 0 {
		return nil
	}
	tc := req.ToolChoice
	if tc != nil && tc.Mode == "none" {
		// Converse has no "none". Sending no tools forbids tool calls
		// exactly, but Bedrock requires toolConfig as soon as the
		// conversation holds tool calls or results.
		if hasToolBlocks {
			return unsupported(`tool_choice "none" in a conversation that already has tool calls`)
		}
		return nil
	}
	cfg := &wire.ToolConfig{Tools: make([]wire.Tool, 0, len(req.Tools))}
	for i, t := range req.Tools {
		schema := t.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		} else if !json.Valid(schema) {
			return llm.ParamError(fmt.Sprintf("tools[%d].function.parameters", i), "is not valid JSON")
		}
		cfg.Tools = append(cfg.Tools, wire.Tool{ToolSpec: &wire.ToolSpec{
			Name: t.Name, Description: t.Description, InputSchema: wire.InputSchema{JSON: schema},
		}})
	}
	if tc != nil {
		switch tc.Mode {
		case "", "auto":
			cfg.ToolChoice = &wire.ToolChoice{Auto: &struct{}{}}
		case "required":
			cfg.ToolChoice = &wire.ToolChoice{Any: &struct{}{}}
		case "function":
			cfg.ToolChoice = &wire.ToolChoice{Tool: &wire.ToolChoiceName{Name: tc.Name}}
		default:
			return llm.ParamError("tool_choice", "mode %q is not supported by Bedrock providers", tc.Mode)
		}
	}
	w.ToolConfig = cfg
	return nil
}

// thinking returns the thinking req asks for: its own, or the one its
// reasoning_effort maps to on a Claude model (llm.ClaudeThinking: the
// budgets Gemini gets, none and minimal off, what Claude refuses while
// thinking refused first); nil for none. Only Claude models take thinking:
// for others reasoning_effort is refused, naming the model. Model ids
// airgw cannot place (application inference profile ARNs) are given the
// benefit of the doubt, as for thinking.
func thinking(provider string, req *llm.Request, unsupported func(string) error) (*llm.Thinking, error) {
	if req.Thinking != nil || req.ReasoningEffort == "" {
		return req.Thinking, nil
	}
	if fam := modelFamily(req.Model); fam != familyAnthropic && fam != familyUnknown {
		return nil, unsupported(fmt.Sprintf("reasoning_effort for model %q (only Anthropic models on Bedrock take thinking)", req.Model))
	}
	return llm.ClaudeThinking(req, provider, providerType)
}

// additionalFields returns the model-specific fields: top_k and thinking
// (th, from thinking).
func additionalFields(req *llm.Request, th *llm.Thinking, unsupported func(string) error) (json.RawMessage, error) {
	fam := modelFamily(req.Model)
	fields := map[string]any{}
	if req.TopK != nil {
		if fam == familyNova {
			fields["inferenceConfig"] = map[string]int{"topK": *req.TopK}
		} else {
			fields["top_k"] = *req.TopK
		}
	}
	if th != nil {
		if fam != familyAnthropic && fam != familyUnknown {
			return nil, unsupported("thinking for this model (only Anthropic models on Bedrock)")
		}
		if th.Enabled {
			budget := th.BudgetTokens
			if budget <= 0 {
				budget = defaultThinkingBudget
			}
			fields["thinking"] = map[string]any{"type": "enabled", "budget_tokens": budget}
		} else {
			fields["thinking"] = map[string]any{"type": "disabled"}
		}
	}
	if len(fields) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("bedrock: encode additional fields: %w", err)
	}
	return b, nil
}

// systemBlocks turns a system or developer message into system blocks.
func systemBlocks(m *llm.Message, param string) ([]wire.SystemBlock, error) {
	var out []wire.SystemBlock
	for j, p := range m.Content {
		if p.Type != llm.PartText {
			return nil, llm.ParamError(fmt.Sprintf("%s.content[%d]", param, j), "a system message can only hold text on Bedrock providers")
		}
		if strings.TrimSpace(p.Text) != "" {
			t := p.Text
			out = append(out, wire.SystemBlock{Text: &t})
		}
		if p.CacheControl != "" {
			out = append(out, wire.SystemBlock{CachePoint: &wire.CachePoint{Type: wire.CachePointDefault}})
		}
	}
	return out, nil
}

// messageBlocks turns a user, assistant or tool message into a role and
// its content blocks.
func messageBlocks(provider string, m *llm.Message, param string) (string, []wire.ContentBlock, error) {
	if m.Role == llm.RoleTool {
		b, err := toolResult(provider, m, param)
		if err != nil {
			return "", nil, err
		}
		return wire.RoleUser, []wire.ContentBlock{b}, nil
	}
	role := wire.RoleUser
	if m.Role == llm.RoleAssistant {
		role = wire.RoleAssistant
	}
	var blocks []wire.ContentBlock
	for j, p := range m.Content {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case llm.PartText:
			if strings.TrimSpace(p.Text) == "" {
				// Bedrock rejects blank text blocks.
				break
			}
			blocks = append(blocks, wire.TextBlock(p.Text))
		case llm.PartImage:
			img, err := imageBlock(provider, p.ImageURL, pp)
			if err != nil {
				return "", nil, err
			}
			blocks = append(blocks, wire.ContentBlock{Image: img})
		case llm.PartThinking:
			if m.Role != llm.RoleAssistant {
				return "", nil, llm.ParamError(pp, "thinking parts belong to assistant messages")
			}
			blocks = append(blocks, wire.ContentBlock{ReasoningContent: &wire.ReasoningContent{
				ReasoningText: &wire.ReasoningText{Text: p.Text, Signature: p.Signature}}})
		case llm.PartRedactedThinking:
			if m.Role != llm.RoleAssistant {
				return "", nil, llm.ParamError(pp, "thinking parts belong to assistant messages")
			}
			data, err := base64.StdEncoding.DecodeString(p.Data)
			if err != nil {
				return "", nil, llm.ParamError(pp, "redacted thinking data is not base64")
			}
			blocks = append(blocks, wire.ContentBlock{ReasoningContent: &wire.ReasoningContent{RedactedContent: data}})
		default:
			return "", nil, llm.ParamError(pp, "content part type %q is not supported by Bedrock providers", p.Type)
		}
		if p.CacheControl != "" && len(blocks) > 0 {
			blocks = append(blocks, wire.ContentBlock{CachePoint: &wire.CachePoint{Type: wire.CachePointDefault}})
		}
	}
	for j, tc := range m.ToolCalls {
		input, err := toolInput(tc.Arguments)
		if err != nil {
			return "", nil, llm.ParamError(fmt.Sprintf("%s.tool_calls[%d].function.arguments", param, j), "%v", err)
		}
		blocks = append(blocks, wire.ContentBlock{ToolUse: &wire.ToolUseBlock{ToolUseID: tc.ID, Name: tc.Name, Input: input}})
	}
	return role, blocks, nil
}

// toolInput turns a tool call's arguments (JSON text) into Converse's
// input object. Empty arguments are an empty object.
func toolInput(args string) (json.RawMessage, error) {
	s := bytes.TrimSpace([]byte(args))
	if len(s) == 0 {
		return json.RawMessage(`{}`), nil
	}
	if !json.Valid(s) {
		return nil, fmt.Errorf("is not valid JSON")
	}
	if s[0] != '{' {
		return nil, fmt.Errorf("must be a JSON object")
	}
	return json.RawMessage(s), nil
}

// toolResult turns a tool message into a toolResult block: a JSON object
// as {json}, anything else as {text}; images as {image}.
func toolResult(provider string, m *llm.Message, param string) (wire.ContentBlock, error) {
	if m.ToolCallID == "" {
		return wire.ContentBlock{}, llm.ParamError(param+".tool_call_id", "is required")
	}
	tr := &wire.ToolResultBlock{ToolUseID: m.ToolCallID, Content: []wire.ToolResultContent{}, Status: wire.ToolResultSuccess}
	if m.IsError {
		tr.Status = wire.ToolResultError
	}
	for j, p := range m.Content {
		switch p.Type {
		case llm.PartText:
			if p.Text == "" {
				continue
			}
			if t := bytes.TrimSpace([]byte(p.Text)); len(t) > 0 && t[0] == '{' && json.Valid(t) {
				tr.Content = append(tr.Content, wire.ToolResultContent{JSON: json.RawMessage(t)})
				continue
			}
			s := p.Text
			tr.Content = append(tr.Content, wire.ToolResultContent{Text: &s})
		case llm.PartImage:
			img, err := imageBlock(provider, p.ImageURL, fmt.Sprintf("%s.content[%d]", param, j))
			if err != nil {
				return wire.ContentBlock{}, err
			}
			tr.Content = append(tr.Content, wire.ToolResultContent{Image: img})
		default:
			return wire.ContentBlock{}, llm.ParamError(fmt.Sprintf("%s.content[%d]", param, j), "content part type %q is not supported in a tool result", p.Type)
		}
	}
	return wire.ContentBlock{ToolResult: tr}, nil
}

// imageBlock decodes a data: URL. Bedrock cannot fetch URLs itself.
func imageBlock(provider, u, param string) (*wire.ImageBlock, error) {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return nil, llm.Unsupported("image URLs (send base64 data: URLs)", provider, providerType)
	}
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return nil, llm.ParamError(param, "image URL must be a data: URL")
	}
	meta, data, ok := strings.Cut(rest, ",")
	mediaType, enc, _ := strings.Cut(meta, ";")
	if !ok || enc != "base64" {
		return nil, llm.ParamError(param, "image data: URL must be base64 encoded")
	}
	var format string
	switch strings.ToLower(mediaType) {
	case "image/png":
		format = wire.ImagePNG
	case "image/jpeg", "image/jpg":
		format = wire.ImageJPEG
	case "image/gif":
		format = wire.ImageGIF
	case "image/webp":
		format = wire.ImageWebP
	default:
		return nil, llm.Unsupported(fmt.Sprintf("image type %q (png, jpeg, gif and webp are)", mediaType), provider, providerType)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, llm.ParamError(param, "image data is not valid base64")
	}
	return &wire.ImageBlock{Format: format, Source: wire.ImageSource{Bytes: b}}, nil
}

// marshalRequest encodes req as a Converse body.
func marshalRequest(provider string, req *llm.Request) ([]byte, error) {
	w, err := toWire(provider, req)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request cannot be encoded for a Bedrock provider", Err: err}
	}
	return b, nil
}
