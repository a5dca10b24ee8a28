package bedrocktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/airgw/airgw/internal/provider/providertest"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// validate checks the path and body of a signed request as Bedrock does.
func validate(r *http.Request, rec *Request) *apiError {
	if rec.Operation == "" {
		return &apiError{http.StatusNotFound, "UnknownOperationException", fmt.Sprintf("Unknown operation %s %s", r.Method, rec.Path)}
	}
	if r.Method != http.MethodPost {
		return &apiError{http.StatusMethodNotAllowed, "UnknownOperationException", "Method not allowed"}
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(mt) != "application/json" {
		return &apiError{http.StatusUnsupportedMediaType, "UnsupportedMediaTypeException", "Unsupported Media Type"}
	}
	if rec.Fields == nil {
		return &apiError{http.StatusBadRequest, "SerializationException", "Unexpected token in JSON body"}
	}
	if rec.Operation == "invoke" {
		return nil
	}
	keys := make([]string, 0, len(rec.Fields))
	for k := range rec.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(wire.RequestFields, k) {
			return validation("Malformed input request: extraneous key [%s] is not permitted, please reformat your request.", k)
		}
	}
	var b wire.ConverseRequest
	d := json.NewDecoder(bytes.NewReader(rec.Raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&b); err != nil {
		return validation("Malformed input request: %s, please reformat your request.", strings.TrimPrefix(err.Error(), "json: "))
	}
	if e := validateMessages(&b); e != nil {
		return e
	}
	if e := validateConfig(&b); e != nil {
		return e
	}
	if _, e := outputSchema(rec.ModelID, &b); e != nil {
		return e
	}
	return validateThinking(rec.ModelID, &b)
}

// outputSchema returns the JSON schema of a structured output request
// (outputConfig.textFormat), nil when there is none, or Bedrock's refusal:
// the schema must be JSON text holding an object, and Claude models apply
// their JSON outputs rules to it.
func outputSchema(model string, b *wire.ConverseRequest) (json.RawMessage, *apiError) {
	oc := b.OutputConfig
	if oc == nil {
		return nil, nil
	}
	tf := oc.TextFormat
	if tf == nil {
		return nil, validation("1 validation error detected: Value null at 'outputConfig.textFormat' failed to satisfy constraint: Member must not be null")
	}
	if tf.Type != wire.OutputFormatJSONSchema {
		return nil, validation("1 validation error detected: Value '%s' at 'outputConfig.textFormat.type' failed to satisfy constraint: Member must satisfy enum value set: [json_schema]", tf.Type)
	}
	js := tf.Structure.JSONSchema
	if js == nil {
		return nil, validation("The OutputFormatStructure at outputConfig.textFormat.structure must set jsonSchema.")
	}
	schema := json.RawMessage(js.Schema)
	if t := bytes.TrimSpace(schema); len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return nil, validation("The json schema definition at outputConfig.textFormat.structure.jsonSchema.schema is not a valid JSON object.")
	}
	if strings.Contains(strings.ToLower(model), "anthropic.") {
		if p := providertest.ClaudeSchemaProblem(schema); p != "" {
			return nil, validation("The model returned the following errors: output_config.format.%s", p)
		}
	}
	return schema, nil
}

// validateThinking checks additionalModelRequestFields.thinking as Bedrock
// does: other vendors' models refuse the key, and Claude applies its own
// rules (a budget of at least 1024 tokens below maxTokens; no temperature
// other than 1, top_p below 0.95, top_k or forced tool use alongside),
// whose messages Bedrock passes on.
func validateThinking(model string, b *wire.ConverseRequest) *apiError {
	var extra struct {
		Thinking *struct {
			Type         string `json:"type"`
			BudgetTokens int    `json:"budget_tokens"`
		} `json:"thinking"`
		TopK *int `json:"top_k"`
	}
	if len(b.AdditionalModelRequestFields) == 0 || json.Unmarshal(b.AdditionalModelRequestFields, &extra) != nil || extra.Thinking == nil {
		return nil
	}
	if !strings.Contains(strings.ToLower(model), "anthropic.") {
		return validation("The model returned the following errors: Malformed input request: extraneous key [thinking] is not permitted, please reformat your request.")
	}
	th := extra.Thinking
	if th.Type != "enabled" {
		return nil
	}
	const prefix = "The model returned the following errors: "
	if th.BudgetTokens < 1024 {
		return validation(prefix + "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
	}
	var temperature, topP *float64
	if ic := b.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil && *ic.MaxTokens <= th.BudgetTokens {
			return validation(prefix + "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
		}
		temperature, topP = ic.Temperature, ic.TopP
	}
	forced := b.ToolConfig != nil && b.ToolConfig.ToolChoice != nil && (b.ToolConfig.ToolChoice.Any != nil || b.ToolConfig.ToolChoice.Tool != nil)
	const doc = " Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility"
	switch {
	case temperature != nil && *temperature != 1:
		return validation(prefix + "`temperature` may only be set to 1 when thinking is enabled." + doc)
	case topP != nil && *topP < 0.95:
		return validation(prefix + "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled." + doc)
	case extra.TopK != nil:
		return validation(prefix + "`top_k` must be unset when thinking is enabled." + doc)
	case forced:
		return validation(prefix + "Thinking may not be enabled when tool_choice forces tool use.")
	}
	return nil
}

func validateMessages(b *wire.ConverseRequest) *apiError {
	if len(b.Messages) == 0 || b.Messages[0].Role != wire.RoleUser {
		return validation("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	hasToolBlocks := false
	for i, m := range b.Messages {
		if m.Role != wire.RoleUser && m.Role != wire.RoleAssistant {
			return validation("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", m.Role, i+1)
		}
		if i > 0 && b.Messages[i-1].Role == m.Role {
			return validation("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.")
		}
		if len(m.Content) == 0 {
			return validation("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		for j, c := range m.Content {
			if c.Members() != 1 {
				return validation("The ContentBlock object at messages.%d.content.%d must set one of the following keys: text, image, toolUse, toolResult, document, video, cachePoint, reasoningContent.", i, j)
			}
			if c.Text != nil && strings.TrimSpace(*c.Text) == "" {
				return validation("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			}
			if c.CachePoint != nil && j == 0 {
				return validation("A cachePoint at messages.%d.content.0 must follow another content block.", i)
			}
			if c.ToolUse != nil {
				hasToolBlocks = true
				if m.Role != wire.RoleAssistant {
					return validation("toolUse blocks are only allowed in assistant messages (messages.%d.content.%d).", i, j)
				}
				var obj map[string]json.RawMessage
				if json.Unmarshal(c.ToolUse.Input, &obj) != nil || obj == nil {
					return validation("The input of the toolUse at messages.%d.content.%d must be a JSON object.", i, j)
				}
			}
			if c.ToolResult != nil {
				hasToolBlocks = true
				if e := validateToolResult(b, i, j, c.ToolResult); e != nil {
					return e
				}
			}
			if c.ReasoningContent != nil && m.Role != wire.RoleAssistant {
				return validation("reasoningContent blocks are only allowed in assistant messages (messages.%d.content.%d).", i, j)
			}
			if c.Image != nil && !slices.Contains([]string{wire.ImagePNG, wire.ImageJPEG, wire.ImageGIF, wire.ImageWebP}, c.Image.Format) {
				return validation("1 validation error detected: Value '%s' at 'messages.%d.member.content.%d.member.image.format' failed to satisfy constraint: Member must satisfy enum value set: [gif, jpeg, png, webp]", c.Image.Format, i+1, j+1)
			}
		}
	}
	if hasToolBlocks && b.ToolConfig == nil {
		return validation("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
	}
	for i, s := range b.System {
		n := 0
		for _, set := range []bool{s.Text != nil, s.CachePoint != nil, s.GuardContent != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return validation("The SystemContentBlock at system.%d must set exactly one key.", i)
		}
	}
	return nil
}

// validateToolResult checks that a toolResult answers a toolUse of the
// previous assistant turn.
func validateToolResult(b *wire.ConverseRequest, i, j int, tr *wire.ToolResultBlock) *apiError {
	if b.Messages[i].Role != wire.RoleUser {
		return validation("toolResult blocks are only allowed in user messages (messages.%d.content.%d).", i, j)
	}
	if tr.Status != "" && tr.Status != wire.ToolResultSuccess && tr.Status != wire.ToolResultError {
		return validation("Value '%s' at 'messages.%d.member.content.%d.member.toolResult.status' failed to satisfy constraint: Member must satisfy enum value set: [success, error]", tr.Status, i+1, j+1)
	}
	for k, c := range tr.Content {
		n := 0
		for _, set := range []bool{c.Text != nil, c.JSON != nil, c.Image != nil, c.Document != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return validation("The ToolResultContentBlock at messages.%d.content.%d.toolResult.content.%d must set exactly one key.", i, j, k)
		}
	}
	if i == 0 {
		return validation("The number of toolResult blocks at messages.%d.content exceeds the number of toolUse blocks of previous turn.", i)
	}
	for _, c := range b.Messages[i-1].Content {
		if c.ToolUse != nil && c.ToolUse.ToolUseID == tr.ToolUseID {
			return nil
		}
	}
	return validation("The toolUseId %s at messages.%d.content.%d does not match any toolUse block of the previous turn.", tr.ToolUseID, i, j)
}

func validateConfig(b *wire.ConverseRequest) *apiError {
	if ic := b.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil && *ic.MaxTokens < 1 {
			return validation("1 validation error detected: Value '%d' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1", *ic.MaxTokens)
		}
		if ic.Temperature != nil && (*ic.Temperature < 0 || *ic.Temperature > 1) {
			return validation("1 validation error detected: Value '%g' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1", *ic.Temperature)
		}
		if ic.TopP != nil && (*ic.TopP < 0 || *ic.TopP > 1) {
			return validation("1 validation error detected: Value '%g' at 'inferenceConfig.topP' failed to satisfy constraint: Member must have value less than or equal to 1", *ic.TopP)
		}
	}
	if tc := b.ToolConfig; tc != nil {
		if len(tc.Tools) == 0 {
			return validation("1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1")
		}
		for i, t := range tc.Tools {
			if t.ToolSpec != nil {
				if t.ToolSpec.Name == "" || !json.Valid(t.ToolSpec.InputSchema.JSON) {
					return validation("The toolSpec at toolConfig.tools.%d needs a name and a JSON inputSchema.", i)
				}
			}
		}
		if ch := tc.ToolChoice; ch != nil {
			n := 0
			for _, set := range []bool{ch.Auto != nil, ch.Any != nil, ch.Tool != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return validation("The toolChoice must set exactly one of auto, any, tool.")
			}
		}
	}
	if len(b.AdditionalModelRequestFields) > 0 && bytes.TrimSpace(b.AdditionalModelRequestFields)[0] != '{' {
		return validation("The additionalModelRequestFields field must be a JSON object.")
	}
	return nil
}
