package openai

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/openai"
)

// maxTokenCount bounds any token count a provider reports; larger values
// are treated as a malformed response rather than billed.
const maxTokenCount = 1 << 40

// untranslatable refuses what a translated request (one from another
// dialect) asks for that Chat Completions cannot do: top_k, and extended
// thinking with a token budget (OpenAI's reasoning models take
// reasoning_effort instead), besides whatever the client's dialect could
// not carry over (Request.NativeOnly).
func (c *Client) untranslatable(req *llm.Request) *llm.Error {
	if e := req.Untranslatable(c.name, c.typ); e != nil {
		return e
	}
	switch {
	case req.TopK != nil:
		return llm.Unsupported("`top_k`", c.name, c.typ)
	case req.Thinking != nil && req.Thinking.Enabled:
		return llm.Unsupported("`thinking` (extended thinking with a token budget; OpenAI models take reasoning_effort)", c.name, c.typ)
	}
	return nil
}

// toWire builds the wire request for req. compat selects the
// openai_compatible dialect (see Config.Compatible).
func toWire(req *llm.Request, compat bool) (*wire.ChatRequest, error) {
	w := &wire.ChatRequest{
		Model:       req.Model,
		Messages:    make([]wire.Message, 0, len(req.Messages)),
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Seed:        req.Seed,
		User:        req.User,
		// Set only by OpenAI clients, whose requests usually pass through;
		// a translated one must not lose it.
		ReasoningEffort: req.ReasoningEffort,
		Stream:          req.Stream,
	}
	for i := range req.Messages {
		m, err := messageToWire(&req.Messages[i], compat)
		if err != nil {
			return nil, llm.ParamError(fmt.Sprintf("messages[%d]", i), "%v", err)
		}
		w.Messages = append(w.Messages, m)
	}
	for _, t := range req.Tools {
		w.Tools = append(w.Tools, wire.Tool{Type: "function", Function: wire.FunctionDef{
			Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict,
		}})
	}
	if len(w.Tools) > 0 {
		// OpenAI rejects parallel_tool_calls without tools.
		w.ParallelToolCalls = req.ParallelToolCalls
	}
	if tc := req.ToolChoice; tc != nil && len(w.Tools) > 0 {
		// Likewise tool_choice; without tools it can only mean "none".
		if tc.Mode == "function" {
			w.ToolChoice = &wire.ToolChoice{Function: tc.Name}
		} else {
			w.ToolChoice = &wire.ToolChoice{Mode: tc.Mode}
		}
	}
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		if compat {
			w.MaxTokens = &n
		} else {
			w.MaxCompletionTokens = &n
		}
	}
	if len(req.Stop) > 0 {
		w.Stop = wire.Stop(req.Stop)
	}
	if req.N > 1 {
		n := req.N
		w.N = &n
	}
	if rf := req.ResponseFormat; rf != nil {
		w.ResponseFormat = &wire.ResponseFormat{Type: rf.Type}
		if rf.Type == wire.FormatJSONSchema {
			w.ResponseFormat.JSONSchema = &wire.JSONSchema{Name: rf.Name, Schema: rf.Schema, Strict: rf.Strict}
		}
	}
	if req.Stream {
		// Always ask for usage, so that every stream can be priced; the
		// client dialect strips it when the client did not ask.
		w.StreamOptions = &wire.StreamOptions{IncludeUsage: true}
	}
	return w, nil
}

// marshalRequest encodes req as a Chat Completions body.
func marshalRequest(req *llm.Request, compat bool) ([]byte, error) {
	w, err := toWire(req, compat)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeInvalidRequest, Message: "the request cannot be encoded for an OpenAI provider", Err: err}
	}
	return b, nil
}

func messageToWire(m *llm.Message, compat bool) (wire.Message, error) {
	w := wire.Message{Role: string(m.Role), Name: m.Name, ToolCallID: m.ToolCallID}
	content := m.Content
	if m.Role == llm.RoleAssistant {
		// Reasoning of earlier turns (another provider's thinking blocks)
		// has no place in Chat Completions and does not change the answer.
		content = slices.DeleteFunc(slices.Clone(content), func(p llm.Part) bool {
			return p.Type == llm.PartThinking || p.Type == llm.PartRedactedThinking
		})
	}
	if m.Role == llm.RoleTool && m.IsError {
		// Chat Completions has no error flag on tool results: say it in
		// the content, so that the model still learns that the call failed.
		content = append([]llm.Part{{Type: llm.PartText, Text: "Error: "}}, content...)
	}
	if compat && m.Role == llm.RoleDeveloper {
		w.Role = wire.RoleSystem // most compatible servers predate "developer"
	}
	for _, tc := range m.ToolCalls {
		w.ToolCalls = append(w.ToolCalls, wire.ToolCall{ID: tc.ID, Type: "function",
			Function: wire.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
	}
	textOnly := true
	for _, p := range content {
		if p.Type != llm.PartText {
			textOnly = false
		}
	}
	switch {
	case len(content) == 0 && len(m.ToolCalls) > 0:
		// content null: an assistant turn that only calls tools.
	case len(content) == 0:
		w.Content = wire.TextContent("")
	case textOnly && (m.ContentIsString || m.IsError || compat):
		var b strings.Builder
		for _, p := range content {
			b.WriteString(p.Text)
		}
		w.Content = wire.TextContent(b.String())
	default:
		parts := make([]wire.ContentPart, 0, len(content))
		for _, p := range content {
			switch p.Type {
			case llm.PartText:
				parts = append(parts, wire.ContentPart{Type: wire.PartText, Text: p.Text})
			case llm.PartImage:
				if p.ImageURL == "" {
					return w, fmt.Errorf("image part without a URL")
				}
				parts = append(parts, wire.ContentPart{Type: wire.PartImageURL,
					ImageURL: &wire.ImageURL{URL: p.ImageURL, Detail: p.ImageDetail}})
			default:
				return w, fmt.Errorf("content part type %q is not supported by OpenAI providers", p.Type)
			}
		}
		w.Content = wire.PartsContent(parts...)
	}
	return w, nil
}

// decodeResponse decodes a 2xx non-streaming body.
func decodeResponse(provider, key string, status int, body []byte) (*llm.Response, *llm.Error) {
	var w wire.ChatResponse
	if err := wire.DecodeChatResponse(body, &w); err != nil {
		if e := streamedErrorBody(provider, key, status, body); e != nil {
			return nil, e
		}
		return nil, malformed(provider, status, "response is not a chat completion", err)
	}
	if len(w.Choices) == 0 {
		if e := streamedErrorBody(provider, key, status, body); e != nil {
			return nil, e
		}
		return nil, malformed(provider, status, "response has no choices", nil)
	}
	r := &llm.Response{
		ID:                w.ID,
		Model:             w.Model,
		Created:           w.Created,
		SystemFingerprint: w.SystemFingerprint,
		Choices:           make([]llm.Choice, 0, len(w.Choices)),
		Native:            &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: endpoint, Body: body},
	}
	for _, c := range w.Choices {
		r.Choices = append(r.Choices, llm.Choice{
			Index:        c.Index,
			Message:      messageFromWire(&c.Message),
			FinishReason: llm.FinishReason(c.FinishReason),
		})
	}
	if w.Usage != nil {
		u, err := usageFromWire(w.Usage)
		if err != nil {
			return nil, malformed(provider, status, "response has invalid usage", err)
		}
		r.Usage, r.UsageReported = u, true
	}
	return r, nil
}

func messageFromWire(w *wire.Message) llm.Message {
	// A completion's message is the assistant's, whatever role a
	// compatible server writes.
	m := llm.Message{Role: llm.RoleAssistant, Name: w.Name, ToolCallID: w.ToolCallID}
	switch w.Content.Kind {
	case wire.ContentString:
		m.Content = []llm.Part{{Type: llm.PartText, Text: w.Content.Text}}
		m.ContentIsString = true
	case wire.ContentParts:
		for _, p := range w.Content.Parts {
			if p.Type == wire.PartText {
				m.Content = append(m.Content, llm.Part{Type: llm.PartText, Text: p.Text})
			}
		}
	}
	for _, tc := range w.ToolCalls {
		m.ToolCalls = append(m.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	return m
}

// usageFromWire maps OpenAI usage to llm.Usage, rejecting counts no
// provider could bill (negative or absurdly large).
func usageFromWire(w *wire.Usage) (llm.Usage, error) {
	u := llm.Usage{InputTokens: w.PromptTokens, OutputTokens: w.CompletionTokens}
	if d := w.PromptTokensDetails; d != nil {
		u.CacheReadTokens = d.CachedTokens
	}
	if d := w.CompletionTokensDetails; d != nil {
		u.ReasoningTokens = d.ReasoningTokens
	}
	for _, n := range []int64{u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.ReasoningTokens, w.TotalTokens} {
		if n < 0 || n > maxTokenCount {
			return llm.Usage{}, fmt.Errorf("token count %d out of range", n)
		}
	}
	return u, nil
}

func malformed(provider string, status int, what string, err error) *llm.Error {
	return &llm.Error{Code: llm.CodeProviderError, Provider: provider, UpstreamStatus: status, Sent: true,
		Message: fmt.Sprintf("provider %s sent a malformed response: %s", provider, what), Err: err}
}
