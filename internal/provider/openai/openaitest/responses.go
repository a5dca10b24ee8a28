package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	wire "github.com/airgw/airgw/internal/wire/openai"
)

// knownResponsesFields are the request fields of POST /v1/responses.
var knownResponsesFields = map[string]bool{
	"model": true, "input": true, "instructions": true, "stream": true, "stream_options": true,
	"max_output_tokens": true, "max_tool_calls": true, "temperature": true, "top_p": true,
	"top_logprobs": true, "tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"previous_response_id": true, "conversation": true, "store": true, "metadata": true,
	"reasoning": true, "text": true, "truncation": true, "user": true, "include": true,
	"background": true, "service_tier": true, "prompt": true, "prompt_cache_key": true,
	"prompt_cache_retention": true, "safety_identifier": true,
}

// responsesRequest is the part of a Responses request the Server reads.
type responsesRequest struct {
	Model  string          `json:"model"`
	Input  json.RawMessage `json:"input"`
	Stream bool            `json:"stream"`
}

// serveResponses validates and answers POST /v1/responses. The model
// selects the answer: "fixture:<name>" replays a recording,
// "error:<kind>" an error, "cut:K" streams K events of the echo and drops
// the connection; any other model echoes "echo: " + the input's last user
// text, streamed one word per response.output_text.delta when "stream" is
// set, with usage computed as for chat (see EchoResponsesUsage) in the
// response and in response.completed.
func (s *Server) serveResponses(w http.ResponseWriter, r *http.Request, idx int, rec *Request) {
	if e := unknownField(rec.Fields, knownResponsesFields); e != nil {
		writeError(w, e.status, e.body, nil)
		return
	}
	var req responsesRequest
	if err := json.Unmarshal(rec.Raw, &req); err != nil {
		writeError(w, 400, errorBody("Invalid request body: a field has the wrong type.", "invalid_request_error", "", "invalid_type"), nil)
		return
	}
	if req.Model == "" {
		writeError(w, 400, errorBody("Missing required parameter: 'model'.", "invalid_request_error", "model", "missing_required_parameter"), nil)
		return
	}
	text, ok := responsesInputText(req.Input)
	if !ok {
		writeError(w, 400, errorBody("Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter"), nil)
		return
	}
	if so := rec.Fields["stream_options"]; so != nil && string(so) != "null" && !req.Stream {
		writeError(w, 400, errorBody("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "invalid_request_error", "stream_options", ""), nil)
		return
	}
	kind, arg, _ := strings.Cut(req.Model, ":")
	cut := -1
	switch kind {
	case "fixture":
		if err := serveFixture(w, arg); err != nil {
			writeError(w, http.StatusNotFound, errorBody(err.Error(), "invalid_request_error", "model", "model_not_found"), nil)
		}
		return
	case "error":
		serveError(w, arg)
		return
	case "cut":
		k, err := strconv.Atoi(arg)
		if err != nil || k < 0 || !req.Stream {
			writeError(w, http.StatusBadRequest, errorBody("cut:K needs a number and stream: true", "invalid_request_error", "model", ""), nil)
			return
		}
		cut = k
	}
	s.echoResponse(w, r, idx, req, text, cut)
}

// EchoResponsesUsage returns the usage the Server reports for an echo of
// answer to an input whose text is input: input_tokens is its bytes / 4,
// plus 1; output_tokens the words of answer.
func EchoResponsesUsage(input, answer string) wire.ResponseUsage {
	u := wire.ResponseUsage{InputTokens: int64(len(input)/4 + 1), OutputTokens: int64(len(strings.Fields(answer))),
		InputTokensDetails: &wire.InputTokensDetails{}, OutputTokensDetails: &wire.OutputTokensDetail{}}
	u.TotalTokens = u.InputTokens + u.OutputTokens
	return u
}

// responsesInputText returns the text of a string input, or of the last
// user message of an array input; ok is false when input is missing or
// empty.
func responsesInputText(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, s != ""
	}
	var items []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &items) != nil || len(items) == 0 {
		return "", false
	}
	for i := len(items) - 1; i >= 0; i-- {
		if items[i].Role != "user" {
			continue
		}
		if json.Unmarshal(items[i].Content, &s) == nil {
			return s, true
		}
		var parts []struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(items[i].Content, &parts)
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String(), true
	}
	return "", true
}

// echoResponse answers with the echo; cut >= 0 drops a stream after cut
// events.
func (s *Server) echoResponse(w http.ResponseWriter, r *http.Request, idx int, req responsesRequest, input string, cut int) {
	n := idx + 1
	answer := "echo: " + input
	u := EchoResponsesUsage(input, answer)
	if s.cached > 0 {
		u.InputTokensDetails.CachedTokens = min(s.cached, u.InputTokens)
	}
	if s.reasoning > 0 {
		u.OutputTokens += s.reasoning
		u.TotalTokens += s.reasoning
		u.OutputTokensDetails.ReasoningTokens = s.reasoning
	}
	msgID := fmt.Sprintf("msg_openaitest_%d", n)
	done := wire.OutputItem{Type: wire.ItemMessage, ID: msgID, Role: "assistant",
		Content: []wire.OutputPart{{Type: wire.PartOutputText, Text: answer}}}
	resp := map[string]any{"id": fmt.Sprintf("resp_openaitest_%d", n), "object": "response", "created_at": 1700000000,
		"status": wire.ResponseCompleted, "model": req.Model, "output": []any{outputItemJSON(done, "completed")},
		"usage": u, "error": nil, "incomplete_details": nil}
	wu := &wire.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.TotalTokens,
		PromptTokensDetails:     &wire.PromptTokensDetails{CachedTokens: u.InputTokensDetails.CachedTokens},
		CompletionTokensDetails: &wire.CompletionTokensDetails{ReasoningTokens: u.OutputTokensDetails.ReasoningTokens}}
	h := w.Header()
	h.Set("X-Request-Id", fmt.Sprintf("req_openaitest_%d", n))
	if !req.Stream {
		b, _ := json.Marshal(resp)
		s.update(idx, func(q *Request) { q.Usage = wu })
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	inProgress := func() map[string]any {
		c := make(map[string]any, len(resp))
		for k, v := range resp {
			c[k] = v
		}
		c["status"], c["output"], c["usage"] = wire.ResponseInProgress, []any{}, nil
		return c
	}
	type event struct {
		name string
		data map[string]any
	}
	evs := []event{
		{wire.EventResponseCreated, map[string]any{"response": inProgress()}},
		{wire.EventResponseInProgress, map[string]any{"response": inProgress()}},
		{wire.EventOutputItemAdded, map[string]any{"output_index": 0, "item": outputItemJSON(wire.OutputItem{Type: wire.ItemMessage, ID: msgID, Role: "assistant"}, "in_progress")}},
		{"response.content_part.added", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": map[string]any{"type": wire.PartOutputText, "text": "", "annotations": []any{}}}},
	}
	for _, wd := range strings.SplitAfter(answer, " ") {
		evs = append(evs, event{wire.EventOutputTextDelta, map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "delta": wd}})
	}
	evs = append(evs,
		event{"response.output_text.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "text": answer}},
		event{"response.content_part.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": map[string]any{"type": wire.PartOutputText, "text": answer, "annotations": []any{}}}},
		event{"response.output_item.done", map[string]any{"output_index": 0, "item": outputItemJSON(done, "completed")}},
		event{wire.EventResponseCompleted, map[string]any{"response": resp}},
	)
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i, ev := range evs {
		if i == cut {
			_ = rc.Flush()
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		}
		if i == len(evs)-1 {
			// Recorded before the client can read the usage it reports.
			s.update(idx, func(q *Request) { q.Usage = wu })
		}
		ev.data["type"], ev.data["sequence_number"] = ev.name, i
		b, _ := json.Marshal(ev.data)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil || r.Context().Err() != nil {
			return
		}
	}
}

// outputItemJSON encodes a message output item as the API does.
func outputItemJSON(it wire.OutputItem, status string) map[string]any {
	content := []any{}
	for _, p := range it.Content {
		content = append(content, map[string]any{"type": p.Type, "text": p.Text, "annotations": []any{}, "logprobs": []any{}})
	}
	return map[string]any{"type": it.Type, "id": it.ID, "status": status, "role": it.Role, "content": content}
}
