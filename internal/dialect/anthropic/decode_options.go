package anthropic

import (
	"encoding/json"
	"strings"

	"github.com/airgw/airgw/internal/llm"
)

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
items:
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
					// An Anthropic provider runs it; nothing else can.
					d.keepNative("Anthropic's server and built-in tools (`" + typ + "`)")
					continue items
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
	if d.err != nil || len(items) == 0 {
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
