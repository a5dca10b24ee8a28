package openai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// ResponsesEndpoint is the path of the OpenAI Responses API, recorded as
// the Native.Endpoint of decoded Responses requests.
const ResponsesEndpoint = "/v1/responses"

// responsesRequest holds the fields of a Responses request that airgw
// checks; everything else passes through to the provider untouched.
type responsesRequest struct {
	Model           json.RawMessage `json:"model"`
	Input           json.RawMessage `json:"input"`
	Stream          json.RawMessage `json:"stream"`
	MaxOutputTokens json.RawMessage `json:"max_output_tokens"`
	User            json.RawMessage `json:"user"`
	Metadata        json.RawMessage `json:"metadata"`
	Instructions    json.RawMessage `json:"instructions"`
}

// DecodeResponses decodes a Responses API request body for pass-through:
// it checks the fields airgw relies on ("model" a non-empty string,
// "input" a non-empty string or array, "stream" a boolean,
// "max_output_tokens" at least 1, "user" a string, "metadata" string
// values) and returns a request whose Native (endpoint ResponsesEndpoint)
// is the body. Failures are *llm.Error of class invalid_request naming the
// field.
//
// Only OpenAI-family providers serve such a request, forwarding Native;
// NativeOnly names the Responses API itself, so that every adapter that
// would translate it refuses it with feature_not_supported. Messages holds the text of "instructions" and of the input (a
// string, or the text of its message items) for token estimates only, and
// MaxTokens is max_output_tokens.
func DecodeResponses(body []byte) (*llm.Request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, llm.ParamError("", "the request body is empty; send a JSON object with at least `model` and `input`")
	}
	if body[0] != '{' {
		return nil, llm.ParamError("", "the request body must be a JSON object, got %s", jsonKind(body))
	}
	var rr responsesRequest
	if err := json.Unmarshal(body, &rr); err != nil {
		return nil, syntaxError(body, err)
	}
	// A Responses stream always reports usage, in its terminal event
	// (response.completed): the client always gets it.
	req := &llm.Request{Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: ResponsesEndpoint, Body: body}, IncludeUsage: true}
	d := decoder{lim: Limits{}.withDefaults()}
	req.Model = d.requiredString(rr.Model, "model")
	if d.err == nil && req.Model == "" {
		d.fail(llm.ParamError("model", "`model` must not be empty; GET /v1/models lists the models this key may use"))
	}
	if s := d.optString(rr.Instructions, "instructions"); s != "" {
		req.Messages = append(req.Messages, textMessage(llm.RoleSystem, s))
	}
	req.Messages = append(req.Messages, d.responsesInput(rr.Input)...)
	if b := d.optBool(rr.Stream, "stream"); b != nil {
		req.Stream = *b
	}
	req.MaxTokens = d.positiveInt(rr.MaxOutputTokens, "max_output_tokens")
	req.User = d.optString(rr.User, "user")
	req.Metadata = d.metadata(rr.Metadata)
	if d.err != nil {
		return nil, d.err
	}
	req.NativeOnly = responsesOnly
	return req, nil
}

// responsesOnly is the NativeOnly of every Responses request: nothing of
// it can be translated to another provider's API.
func responsesOnly() []string { return []string{"the Responses API (POST /v1/responses)"} }

func textMessage(role llm.Role, text string) llm.Message {
	return llm.Message{Role: role, Content: []llm.Part{{Type: llm.PartText, Text: text}}, ContentIsString: true}
}

// responsesItem is the part of an input item read for estimates.
type responsesItem struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// responsesInput checks "input" and returns its text as messages.
func (d *decoder) responsesInput(raw json.RawMessage) []llm.Message {
	if d.err != nil {
		return nil
	}
	if isNull(raw) {
		d.fail(llm.ParamError("input", "`input` is required: a string or an array of input items"))
		return nil
	}
	if raw[0] == '"' {
		s := d.optString(raw, "input")
		if d.err == nil && s == "" {
			d.fail(llm.ParamError("input", "`input` must not be empty"))
		}
		return []llm.Message{textMessage(llm.RoleUser, s)}
	}
	items := d.array(raw, "input")
	if d.err != nil {
		return nil
	}
	if len(items) == 0 {
		d.fail(llm.ParamError("input", "`input` must contain at least one item"))
		return nil
	}
	if len(items) > d.lim.MaxMessages {
		d.fail(&llm.Error{Code: llm.CodePayloadTooLarge, Param: "input",
			Message: "`input` has " + itoa(len(items)) + " items; the limit is " + itoa(d.lim.MaxMessages)})
		return nil
	}
	var msgs []llm.Message
	for i, it := range items {
		if it[0] != '{' {
			d.typeErr(idx("input", i), "an object", it)
			return nil
		}
		var ri responsesItem
		if json.Unmarshal(it, &ri) != nil {
			continue // another item type; the provider judges it
		}
		role := llm.Role(ri.Role)
		if role == "" {
			role = llm.RoleUser // function_call_output and other items
		}
		if text := itemText(ri.Content); text != "" {
			msgs = append(msgs, textMessage(role, text))
		}
	}
	return msgs
}

// itemText returns the text of a message item's content: a string, or the
// "text" of its parts.
func itemText(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b []byte
	for _, p := range parts {
		b = append(b, p.Text...)
	}
	return string(b)
}

// ResponsesWriter writes a Responses API reply to a client: the provider's
// response or event stream as it was sent, and errors in OpenAI's shape.
// It implements the gateway's Output and is used by one request's
// goroutine only.
//
// Stream events from an OpenAI-family provider carry their SSE block in
// Native.Body ("event: NAME\ndata: DATA", see the openai provider's
// ResponsesEndpoint); the writer sends it followed by the blank line that
// ends an event. A stream that breaks ends with an "error" event (type,
// code, message, param, sequence_number, request_id), never with
// response.completed.
type ResponsesWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	requestID string
	written   bool
	streaming bool
	events    int64 // events written, the next sequence number
	buf       []byte
}

// NewResponsesWriter returns a ResponsesWriter for one request; requestID
// is echoed in every error.
func NewResponsesWriter(w http.ResponseWriter, requestID string) *ResponsesWriter {
	return &ResponsesWriter{w: w, rc: http.NewResponseController(w), requestID: requestID}
}

// Header returns the response headers, to be set before the first write.
func (w *ResponsesWriter) Header() http.Header { return w.w.Header() }

// Written reports whether any part of the response has been sent.
func (w *ResponsesWriter) Written() bool { return w.written }

// SetWriteDeadline bounds the writes still to come; the zero time removes
// the bound. The gateway uses it so that a client that stopped reading
// cannot hold a request past its deadline.
func (w *ResponsesWriter) SetWriteDeadline(t time.Time) error { return w.rc.SetWriteDeadline(t) }

// WriteResponse writes a complete response: the provider's body when it
// was a Responses API body, otherwise a minimal response object built from
// resp (one message with its text, then its function calls, and usage).
func (w *ResponsesWriter) WriteResponse(resp *llm.Response) error {
	var body []byte
	if n := resp.Native; n != nil && n.Dialect == llm.DialectOpenAI && n.Endpoint == ResponsesEndpoint {
		body = n.Body
	} else {
		var err error
		if body, err = json.Marshal(responseObjectFrom(resp)); err != nil {
			return err
		}
	}
	h := w.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.written = true
	w.w.WriteHeader(http.StatusOK)
	_, err := w.w.Write(body)
	return err
}

func (w *ResponsesWriter) startStream() {
	if w.streaming {
		return
	}
	h := w.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.streaming, w.written = true, true
	w.w.WriteHeader(http.StatusOK)
}

// WriteEvent writes one stream event and flushes it. An event without a
// native Responses block is sent as response.output_text.delta when it
// carries text and skipped otherwise.
func (w *ResponsesWriter) WriteEvent(ev *llm.Event) error {
	w.startStream()
	if n := ev.Native; n != nil && n.Dialect == llm.DialectOpenAI && n.Endpoint == ResponsesEndpoint {
		w.buf = append(append(w.buf[:0], n.Body...), '\n', '\n')
	} else if ev.Text != "" {
		b, err := json.Marshal(textDelta{Type: "response.output_text.delta", Delta: ev.Text, SequenceNumber: w.events})
		if err != nil {
			return err
		}
		w.buf = appendEvent(w.buf[:0], "response.output_text.delta", b)
	} else {
		return nil
	}
	w.events++
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	return w.rc.Flush()
}

// EndStream ends a stream. A clean end writes nothing more: a Responses
// stream ends after its terminal event. An error is written as an "error"
// event.
func (w *ResponsesWriter) EndStream(e *llm.Error) error {
	if !w.streaming {
		if e != nil {
			w.WriteError(e)
			return nil
		}
		w.startStream()
		return w.rc.Flush()
	}
	if e == nil {
		return w.rc.Flush()
	}
	ev := errorEvent{Type: "error", Code: string(e.Code), Message: e.Message, SequenceNumber: w.events, RequestID: w.requestID}
	if e.Param != "" {
		p := e.Param
		ev.Param = &p
	}
	b, _ := json.Marshal(ev)
	w.buf = appendEvent(w.buf[:0], "error", b)
	w.events++
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	return w.rc.Flush()
}

// WriteError writes e as an OpenAI error response, or, once a stream has
// started, ends it with an error event.
func (w *ResponsesWriter) WriteError(e *llm.Error) {
	if w.streaming {
		_ = w.EndStream(e)
		return
	}
	WriteError(w.w, e, w.requestID)
	w.written = true
}

// appendEvent appends one SSE event; data is one line of JSON.
func appendEvent(dst []byte, name string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}

type textDelta struct {
	Type           string `json:"type"`
	Delta          string `json:"delta"`
	SequenceNumber int64  `json:"sequence_number"`
}

// errorEvent is the Responses stream's "error" event, with airgw's
// request id.
type errorEvent struct {
	Type           string  `json:"type"`
	Code           string  `json:"code"`
	Message        string  `json:"message"`
	Param          *string `json:"param"`
	SequenceNumber int64   `json:"sequence_number"`
	RequestID      string  `json:"request_id,omitempty"`
}

type responseObject struct {
	ID        string          `json:"id"`
	Object    string          `json:"object"`
	CreatedAt int64           `json:"created_at"`
	Status    string          `json:"status"`
	Model     string          `json:"model"`
	Output    []any           `json:"output"`
	Usage     *responsesUsage `json:"usage"`
}

type responsesUsage struct {
	InputTokens         int64            `json:"input_tokens"`
	InputTokensDetails  map[string]int64 `json:"input_tokens_details"`
	OutputTokens        int64            `json:"output_tokens"`
	OutputTokensDetails map[string]int64 `json:"output_tokens_details"`
	TotalTokens         int64            `json:"total_tokens"`
}

// responseObjectFrom builds a Responses object from a neutral response.
func responseObjectFrom(r *llm.Response) responseObject {
	o := responseObject{ID: r.ID, Object: "response", CreatedAt: r.Created, Status: "completed", Model: r.Model, Output: []any{}}
	if r.UsageReported {
		u := r.Usage
		o.Usage = &responsesUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.InputTokens + u.OutputTokens,
			InputTokensDetails:  map[string]int64{"cached_tokens": u.CacheReadTokens},
			OutputTokensDetails: map[string]int64{"reasoning_tokens": u.ReasoningTokens}}
	}
	if len(r.Choices) == 0 {
		return o
	}
	ch := r.Choices[0]
	if ch.FinishReason == llm.FinishLength || ch.FinishReason == llm.FinishContentFilter {
		o.Status = "incomplete"
	}
	if text := ch.Message.Text(); text != "" || len(ch.Message.ToolCalls) == 0 {
		o.Output = append(o.Output, map[string]any{"type": "message", "role": "assistant", "status": "completed",
			"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}})
	}
	for _, tc := range ch.Message.ToolCalls {
		o.Output = append(o.Output, map[string]any{"type": "function_call", "call_id": tc.ID, "name": tc.Name,
			"arguments": tc.Arguments, "status": "completed"})
	}
	return o
}
