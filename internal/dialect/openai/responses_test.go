package openai

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

func TestDecodeResponses(t *testing.T) {
	tests := []struct {
		name string
		body string
		want llm.Request // Native is checked separately
	}{
		{"string-input", `{"model":"gpt-5","input":"hi"}`,
			llm.Request{Model: "gpt-5", IncludeUsage: true, Messages: []llm.Message{textMessage(llm.RoleUser, "hi")}}},
		{"items-stream-limits", `{"model":"gpt-5","instructions":"be brief","stream":true,"max_output_tokens":100,"user":"u","metadata":{"purpose":"p"},` +
			`"input":[{"role":"developer","content":"sys"},{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"x"},{"type":"input_text","text":"b"}]},` +
			`{"type":"function_call_output","call_id":"c","output":"42"}],"reasoning":{"effort":"low"}}`,
			llm.Request{Model: "gpt-5", Stream: true, IncludeUsage: true, MaxTokens: 100, User: "u", Metadata: map[string]string{"purpose": "p"},
				Messages: []llm.Message{textMessage(llm.RoleSystem, "be brief"), textMessage(llm.RoleDeveloper, "sys"), textMessage(llm.RoleUser, "ab")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeResponses([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeResponses(%s) = %v", tt.body, err)
			}
			if n := got.Native; n == nil || n.Endpoint != ResponsesEndpoint || n.Dialect != llm.DialectOpenAI || string(n.Body) != tt.body {
				t.Errorf("Native = %+v, want the body for %s", n, ResponsesEndpoint)
			}
			if got.NativeOnly == nil || len(got.NativeOnly()) != 1 || !strings.Contains(got.NativeOnly()[0], "Responses API") {
				t.Errorf("NativeOnly does not name the Responses API: a translating provider would serve it")
			}
			got.Native, got.NativeOnly = nil, nil
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("DecodeResponses(%s) (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestDecodeResponsesMalformed(t *testing.T) {
	tests := []struct{ name, body, param string }{
		{"empty", ``, ""},
		{"not-object", `"x"`, ""},
		{"syntax", `{"model":"m",}`, ""},
		{"no-model", `{"input":"x"}`, "model"},
		{"empty-model", `{"model":"","input":"x"}`, "model"},
		{"model-array", `{"model":["m"],"input":"x"}`, "model"},
		{"no-input", `{"model":"m"}`, "input"},
		{"null-input", `{"model":"m","input":null}`, "input"},
		{"empty-input", `{"model":"m","input":""}`, "input"},
		{"empty-items", `{"model":"m","input":[]}`, "input"},
		{"input-number", `{"model":"m","input":3}`, "input"},
		{"item-not-object", `{"model":"m","input":["x"]}`, "input[0]"},
		{"stream-string", `{"model":"m","input":"x","stream":"yes"}`, "stream"},
		{"max-output-zero", `{"model":"m","input":"x","max_output_tokens":0}`, "max_output_tokens"},
		{"max-output-fraction", `{"model":"m","input":"x","max_output_tokens":1.5}`, "max_output_tokens"},
		{"user-number", `{"model":"m","input":"x","user":1}`, "user"},
		{"metadata-number", `{"model":"m","input":"x","metadata":{"a":1}}`, "metadata.a"},
		{"instructions-object", `{"model":"m","input":"x","instructions":{}}`, "instructions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeResponses([]byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeResponses(%s) = %+v, want error", tt.body, req)
			}
			e := llm.AsError(err)
			if e.Code != llm.CodeInvalidRequest || e.Param != tt.param {
				t.Errorf("DecodeResponses(%s) = code %s param %q (%s), want invalid_request param %q", tt.body, e.Code, e.Param, e.Message, tt.param)
			}
			if e.Param != "" && !strings.Contains(e.Message, lastSegment(e.Param)) {
				t.Errorf("DecodeResponses(%s) message = %q, want it to name %q", tt.body, e.Message, e.Param)
			}
		})
	}
}

// responsesBlock is a native event as the openai provider produces it.
func responsesBlock(name, data string) *llm.Event {
	return &llm.Event{Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: ResponsesEndpoint, Body: []byte("event: " + name + "\ndata: " + data)}}
}

func TestResponsesWriterStream(t *testing.T) {
	created := `{"type":"response.created","response":{"id":"r","status":"in_progress"},"sequence_number":0}`
	delta := `{"type":"response.output_text.delta","delta":"Hi","sequence_number":1}`
	completed := `{"type":"response.completed","response":{"id":"r","status":"completed","usage":{"input_tokens":1,"output_tokens":1}},"sequence_number":2}`
	tests := []struct {
		name   string
		events []*llm.Event
		end    *llm.Error
		want   string
	}{
		{"clean", []*llm.Event{responsesBlock("response.created", created), responsesBlock("response.output_text.delta", delta), responsesBlock("response.completed", completed)}, nil,
			"event: response.created\ndata: " + created + "\n\nevent: response.output_text.delta\ndata: " + delta + "\n\nevent: response.completed\ndata: " + completed + "\n\n"},
		{"cut", []*llm.Event{responsesBlock("response.created", created), responsesBlock("response.output_text.delta", delta)},
			&llm.Error{Code: llm.CodeStreamInterrupted, Message: "provider p ended the stream before it was complete"},
			"event: response.created\ndata: " + created + "\n\nevent: response.output_text.delta\ndata: " + delta + "\n\n" +
				`event: error` + "\n" + `data: {"type":"error","code":"stream_interrupted","message":"provider p ended the stream before it was complete","param":null,"sequence_number":2,"request_id":"req-1"}` + "\n\n"},
		{"neutral-text", []*llm.Event{{Text: "Hi"}, {Usage: &llm.Usage{InputTokens: 1}}}, nil,
			"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\",\"sequence_number\":0}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := NewResponsesWriter(rec, "req-1")
			for _, ev := range tt.events {
				if err := w.WriteEvent(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.EndStream(tt.end); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("stream =\n%s\nwant\n%s", got, tt.want)
			}
			if !w.Written() || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
				t.Errorf("Written %v, Content-Type %q", w.Written(), rec.Header().Get("Content-Type"))
			}
			if tt.end != nil && strings.Contains(rec.Body.String()[strings.Index(rec.Body.String(), "event: error"):], "response.completed") {
				t.Errorf("a cut stream must not end with response.completed")
			}
		})
	}
}

func TestResponsesWriterResponse(t *testing.T) {
	native := `{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":3,"output_tokens":4}}`
	tests := []struct {
		name string
		resp *llm.Response
		want string
	}{
		{"native", &llm.Response{Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: ResponsesEndpoint, Body: json.RawMessage(native)}}, native},
		{"neutral", &llm.Response{ID: "r", Model: "m", Created: 5, UsageReported: true, Usage: llm.Usage{InputTokens: 3, OutputTokens: 4, CacheReadTokens: 1},
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartText, Text: "hi"}},
				ToolCalls: []llm.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}}, FinishReason: llm.FinishToolCalls}}},
			`{"id":"r","object":"response","created_at":5,"status":"completed","model":"m","output":[{"content":[{"annotations":[],"text":"hi","type":"output_text"}],"role":"assistant","status":"completed","type":"message"},{"arguments":"{}","call_id":"c","name":"f","status":"completed","type":"function_call"}],"usage":{"input_tokens":3,"input_tokens_details":{"cached_tokens":1},"output_tokens":4,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":7}}`},
		{"chat-native-is-not-reused", &llm.Response{ID: "r", Choices: []llm.Choice{{FinishReason: llm.FinishLength}},
			Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", Body: json.RawMessage(`{}`)}},
			`{"id":"r","object":"response","created_at":0,"status":"incomplete","model":"","output":[{"content":[{"annotations":[],"text":"","type":"output_text"}],"role":"assistant","status":"completed","type":"message"}],"usage":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := NewResponsesWriter(rec, "req-1").WriteResponse(tt.resp); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tt.want || rec.Code != 200 {
				t.Errorf("WriteResponse = %d %s\nwant 200 %s", rec.Code, got, tt.want)
			}
		})
	}
}

func TestResponsesWriterError(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewResponsesWriter(rec, "req-9")
	w.WriteError(&llm.Error{Code: llm.CodeModelNotFound, Param: "model", Message: "model `x` is not configured"})
	var body struct {
		Error struct {
			Code      string  `json:"code"`
			Param     *string `json:"param"`
			RequestID string  `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 404 || body.Error.Code != "model_not_found" || body.Error.RequestID != "req-9" || body.Error.Param == nil || !w.Written() {
		t.Errorf("WriteError = %d %s", rec.Code, rec.Body)
	}
	// EndStream with an error before any event writes the error response.
	rec = httptest.NewRecorder()
	_ = NewResponsesWriter(rec, "req-9").EndStream(&llm.Error{Code: llm.CodeProviderUnavailable, Message: "down"})
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"provider_unavailable"`) {
		t.Errorf("EndStream(error) before events = %d %s", rec.Code, rec.Body)
	}
	// After an event, WriteError ends the stream with an error event.
	rec = httptest.NewRecorder()
	w = NewResponsesWriter(rec, "req-9")
	_ = w.WriteEvent(responsesBlock("response.created", `{"type":"response.created"}`))
	w.WriteError(&llm.Error{Code: llm.CodeClientCancelled, Message: "gone"})
	if !strings.HasSuffix(rec.Body.String(), "\n\n") || !strings.Contains(rec.Body.String(), "event: error\ndata: {\"type\":\"error\",\"code\":\"client_cancelled\"") {
		t.Errorf("stream after WriteError = %s", rec.Body)
	}
}

func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{`{"model":"m","input":"hi"}`, `{"model":"m","input":[{"role":"user","content":"x"}],"stream":true,"max_output_tokens":5}`,
		`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":"1"}],"metadata":{"purpose":"p"}}`,
		`{"model":"m","input":[]}`, `{"input":"x"}`, `{"model":"m","input":["x"]}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeResponses(body)
		if err != nil {
			e := llm.AsError(err)
			if s := e.Code.Status(); (s != 400 && s != 413) || e.Message == "" {
				t.Fatalf("DecodeResponses(%q) = %v, want a named 400 or 413", body, err)
			}
			return
		}
		if req.Model == "" || req.Native == nil || req.Native.Endpoint != ResponsesEndpoint || req.MaxTokens < 0 {
			t.Fatalf("DecodeResponses(%q) = %+v, want a model and Native", body, req)
		}
	})
}
