package openai

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// Writer writes a chat response, stream or error to an OpenAI client. It is
// used by one request's goroutine only.
type Writer struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	requestID string
	written   bool
	streaming bool
	buf       []byte
}

// NewWriter returns a Writer for one request; requestID is echoed in every
// error body.
func NewWriter(w http.ResponseWriter, requestID string) *Writer {
	return &Writer{w: w, rc: http.NewResponseController(w), requestID: requestID}
}

// Header returns the response headers, to be set before the first write.
func (w *Writer) Header() http.Header { return w.w.Header() }

// Written reports whether any part of the response has been sent.
func (w *Writer) Written() bool { return w.written }

// SetWriteDeadline bounds the writes still to come; the zero time removes
// the bound. The gateway uses it so that a client that stopped reading
// cannot hold a request past its deadline.
func (w *Writer) SetWriteDeadline(t time.Time) error { return w.rc.SetWriteDeadline(t) }

// WriteResponse writes a complete chat completion. A response that an
// OpenAI-family provider produced is sent as the provider encoded it.
func (w *Writer) WriteResponse(resp *llm.Response) error {
	var body []byte
	if resp.Native != nil && resp.Native.Dialect == llm.DialectOpenAI {
		body = resp.Native.Body
	} else {
		var err error
		body, err = json.Marshal(completionFrom(resp))
		if err != nil {
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

// WriteEvent writes one chunk of a stream, sending the SSE headers first.
// Each event is flushed as it is written.
func (w *Writer) WriteEvent(ev *llm.Event) error {
	if !w.streaming {
		h := w.w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.streaming, w.written = true, true
		w.w.WriteHeader(http.StatusOK)
	}
	w.buf = append(w.buf[:0], "data: "...)
	if ev.Native != nil && ev.Native.Dialect == llm.DialectOpenAI {
		w.buf = append(w.buf, ev.Native.Body...)
	} else {
		b, err := json.Marshal(chunkFrom(ev))
		if err != nil {
			return err
		}
		w.buf = append(w.buf, b...)
	}
	w.buf = append(w.buf, '\n', '\n')
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	return w.rc.Flush()
}

// EndStream ends a stream: with `data: [DONE]` when err is nil, otherwise
// with an error event and no [DONE], so that a client never mistakes a
// broken stream for a complete one.
func (w *Writer) EndStream(e *llm.Error) error {
	if !w.streaming {
		if e != nil {
			w.WriteError(e)
			return nil
		}
		// An empty but clean stream still needs its headers.
		w.streaming, w.written = true, true
		w.w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.w.WriteHeader(http.StatusOK)
	}
	if e == nil {
		if _, err := w.w.Write([]byte("data: [DONE]\n\n")); err != nil {
			return err
		}
		return w.rc.Flush()
	}
	b, _ := json.Marshal(errorBody(e, w.requestID))
	w.buf = append(append(append(w.buf[:0], "data: "...), b...), '\n', '\n')
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	return w.rc.Flush()
}

// WriteError writes e as an OpenAI error response. It must be called before
// anything else was written; afterwards use EndStream.
func (w *Writer) WriteError(e *llm.Error) {
	if w.streaming {
		_ = w.EndStream(e)
		return
	}
	WriteError(w.w, e, w.requestID)
	w.written = true
}

// WriteError writes e to w in OpenAI's error shape with the matching status,
// Retry-After and x-should-retry headers.
func WriteError(w http.ResponseWriter, e *llm.Error, requestID string) {
	body, _ := json.Marshal(errorBody(e, requestID))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Seconds() + 0.999)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	if e.ClientRetryUseless() {
		h.Set("X-Should-Retry", "false")
	}
	status := e.Status()
	if status == llm.StatusClientClosedRequest {
		status = http.StatusBadRequest // never sent: the client is gone
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type errorEnvelope struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message   string  `json:"message"`
	Type      string  `json:"type"`
	Param     *string `json:"param"`
	Code      string  `json:"code"`
	RequestID string  `json:"request_id,omitempty"`
	Policy    string  `json:"policy,omitempty"`
}

func errorBody(e *llm.Error, requestID string) errorEnvelope {
	obj := errorObject{Message: e.Message, Type: e.Code.OpenAIType(), Code: string(e.Code), RequestID: requestID, Policy: e.Policy}
	if e.Param != "" {
		p := e.Param
		obj.Param = &p
	}
	return errorEnvelope{Error: obj}
}

type completion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []choice `json:"choices"`
	Usage             *usage   `json:"usage,omitempty"`
	SystemFingerprint *string  `json:"system_fingerprint"`
}

type choice struct {
	Index        int        `json:"index"`
	Message      messageOut `json:"message"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type messageOut struct {
	Role      string        `json:"role"`
	Content   *string       `json:"content"`
	Refusal   *string       `json:"refusal"`
	ToolCalls []toolCallOut `json:"tool_calls,omitempty"`
}

type toolCallOut struct {
	Index    *int     `json:"index,omitempty"`
	ID       string   `json:"id,omitempty"`
	Type     string   `json:"type,omitempty"`
	Function function `json:"function"`
}

type function struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type usage struct {
	PromptTokens            int64             `json:"prompt_tokens"`
	CompletionTokens        int64             `json:"completion_tokens"`
	TotalTokens             int64             `json:"total_tokens"`
	PromptTokensDetails     promptDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails completionDetails `json:"completion_tokens_details"`
}

type promptDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

type completionDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

func usageFrom(u llm.Usage) *usage {
	return &usage{
		PromptTokens:            u.InputTokens,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             u.InputTokens + u.OutputTokens,
		PromptTokensDetails:     promptDetails{CachedTokens: u.CacheReadTokens},
		CompletionTokensDetails: completionDetails{ReasoningTokens: u.ReasoningTokens},
	}
}

func completionFrom(r *llm.Response) completion {
	c := completion{ID: r.ID, Object: "chat.completion", Created: r.Created, Model: r.Model, Choices: make([]choice, 0, len(r.Choices))}
	if r.SystemFingerprint != "" {
		c.SystemFingerprint = &r.SystemFingerprint
	}
	if r.UsageReported {
		c.Usage = usageFrom(r.Usage)
	}
	for _, ch := range r.Choices {
		m := messageOut{Role: "assistant"}
		if len(ch.Message.Content) > 0 || len(ch.Message.ToolCalls) == 0 {
			text := ch.Message.Text()
			m.Content = &text
		}
		for _, tc := range ch.Message.ToolCalls {
			m.ToolCalls = append(m.ToolCalls, toolCallOut{ID: tc.ID, Type: "function", Function: function{Name: tc.Name, Arguments: tc.Arguments}})
		}
		fr := string(ch.FinishReason)
		c.Choices = append(c.Choices, choice{Index: ch.Index, Message: m, FinishReason: &fr})
	}
	return c
}

type chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint *string       `json:"system_fingerprint,omitempty"`
	Choices           []chunkChoice `json:"choices"`
	Usage             *usage        `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int       `json:"index"`
	Delta        delta     `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type delta struct {
	Role      string        `json:"role,omitempty"`
	Content   *string       `json:"content,omitempty"`
	ToolCalls []toolCallOut `json:"tool_calls,omitempty"`
}

func chunkFrom(ev *llm.Event) chunk {
	c := chunk{ID: ev.ID, Object: "chat.completion.chunk", Created: ev.Created, Model: ev.Model, Choices: []chunkChoice{}}
	if ev.Usage != nil {
		c.Usage = usageFrom(*ev.Usage)
	}
	hasDelta := ev.Role != "" || ev.Text != "" || len(ev.ToolCalls) > 0 || ev.FinishReason != ""
	if !hasDelta {
		return c // a usage-only chunk has no choices
	}
	cc := chunkChoice{Index: ev.Index, Delta: delta{Role: string(ev.Role)}}
	if ev.Text != "" || ev.Role != "" {
		t := ev.Text
		cc.Delta.Content = &t
	}
	for _, tc := range ev.ToolCalls {
		i := tc.Index
		out := toolCallOut{Index: &i, ID: tc.ID, Function: function{Name: tc.Name, Arguments: tc.Arguments}}
		if tc.ID != "" {
			out.Type = "function"
		}
		cc.Delta.ToolCalls = append(cc.Delta.ToolCalls, out)
	}
	if ev.FinishReason != "" {
		fr := string(ev.FinishReason)
		cc.FinishReason = &fr
	}
	c.Choices = append(c.Choices, cc)
	return c
}

// Model is one entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// WriteModels writes the model list in OpenAI's shape.
func WriteModels(w http.ResponseWriter, ids []string, created int64) {
	list := struct {
		Object string  `json:"object"`
		Data   []Model `json:"data"`
	}{Object: "list", Data: make([]Model, 0, len(ids))}
	for _, id := range ids {
		list.Data = append(list.Data, Model{ID: id, Object: "model", Created: created, OwnedBy: "airgw"})
	}
	body, _ := json.Marshal(list)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
