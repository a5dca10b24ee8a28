// Package openai is the inbound spoke for clients that speak the OpenAI API:
// it decodes Chat Completions requests into llm.Request, validating every
// field with an error that names it, and encodes llm responses, stream
// events and errors back in OpenAI's wire format.
package openai

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"

	"github.com/airgw/airgw/internal/llm"
)

// Limits bound what one request may contain, before any provider is called.
type Limits struct {
	MaxMessages int // default 10,000
	MaxParts    int // content parts per message; default 1,000
	MaxTools    int // default 512
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessages <= 0 {
		l.MaxMessages = 10000
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 1000
	}
	if l.MaxTools <= 0 {
		l.MaxTools = 512
	}
	return l
}

// chatRequest holds the fields airgw inspects, undecoded, so that each can be
// checked with an error naming it. Fields airgw does not model (logprobs,
// presence_penalty, …) stay in the native body and pass through to
// OpenAI-family providers untouched.
type chatRequest struct {
	Model               json.RawMessage `json:"model"`
	Messages            json.RawMessage `json:"messages"`
	Tools               json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   json.RawMessage `json:"parallel_tool_calls"`
	MaxTokens           json.RawMessage `json:"max_tokens"`
	MaxCompletionTokens json.RawMessage `json:"max_completion_tokens"`
	Temperature         json.RawMessage `json:"temperature"`
	TopP                json.RawMessage `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	N                   json.RawMessage `json:"n"`
	Seed                json.RawMessage `json:"seed"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	Stream              json.RawMessage `json:"stream"`
	StreamOptions       json.RawMessage `json:"stream_options"`
	User                json.RawMessage `json:"user"`
	Metadata            json.RawMessage `json:"metadata"`
	PresencePenalty     json.RawMessage `json:"presence_penalty"`
	FrequencyPenalty    json.RawMessage `json:"frequency_penalty"`
	Functions           json.RawMessage `json:"functions"`
	FunctionCall        json.RawMessage `json:"function_call"`
	ReasoningEffort     json.RawMessage `json:"reasoning_effort"`
}

// DecodeChat decodes and validates a Chat Completions request body. Every
// failure is an *llm.Error of class invalid_request whose Param names the
// offending field (e.g. "messages[2].content[0].image_url.url").
func DecodeChat(body []byte, lim Limits) (*llm.Request, error) {
	lim = lim.withDefaults()
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, llm.ParamError("", "the request body is empty; send a JSON object with at least `model` and `messages`")
	}
	if body[0] != '{' {
		return nil, llm.ParamError("", "the request body must be a JSON object, got %s", jsonKind(body))
	}
	var cr chatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, syntaxError(body, err)
	}
	req := &llm.Request{Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", Body: body}}
	d := decoder{lim: lim}
	req.Model = d.requiredString(cr.Model, "model")
	if d.err == nil && req.Model == "" {
		d.fail(llm.ParamError("model", "`model` must not be empty; GET /v1/models lists the models this key may use"))
	}
	req.Messages = d.messages(cr.Messages)
	req.Tools = d.tools(cr.Tools)
	req.ToolChoice = d.toolChoice(cr.ToolChoice, req.Tools)
	req.ParallelToolCalls = d.optBool(cr.ParallelToolCalls, "parallel_tool_calls")
	if !isNull(cr.MaxCompletionTokens) {
		req.MaxTokens = d.positiveInt(cr.MaxCompletionTokens, "max_completion_tokens")
	} else {
		req.MaxTokens = d.positiveInt(cr.MaxTokens, "max_tokens")
	}
	req.Temperature = d.optRange(cr.Temperature, "temperature", 0, 2)
	req.TopP = d.optRange(cr.TopP, "top_p", 0, 1)
	d.optRange(cr.PresencePenalty, "presence_penalty", -2, 2)
	d.optRange(cr.FrequencyPenalty, "frequency_penalty", -2, 2)
	req.Stop = d.stop(cr.Stop)
	if n := d.positiveInt(cr.N, "n"); n > 128 {
		d.fail(llm.ParamError("n", "`n` must be at most 128, got %d", n))
	} else {
		req.N = n
	}
	if !isNull(cr.Seed) {
		s := int64(d.integer(cr.Seed, "seed", math.MinInt64, math.MaxInt64))
		req.Seed = &s
	}
	req.ResponseFormat = d.responseFormat(cr.ResponseFormat)
	if b := d.optBool(cr.Stream, "stream"); b != nil {
		req.Stream = *b
	}
	req.IncludeUsage = d.streamOptions(cr.StreamOptions, req.Stream)
	req.ReasoningEffort = d.optString(cr.ReasoningEffort, "reasoning_effort")
	req.User = d.optString(cr.User, "user")
	req.Metadata = d.metadata(cr.Metadata)
	if !isNull(cr.Functions) || !isNull(cr.FunctionCall) {
		d.fail(llm.ParamError("functions", "the deprecated `functions`/`function_call` fields are not supported; use `tools` and `tool_choice`"))
	}
	if d.err != nil {
		return nil, d.err
	}
	native := d.nativeOnly
	req.NativeOnly = func() []string { return append(slices.Clone(native), unmodeled(body)...) }
	return req, nil
}

// decoder accumulates the first error; later checks become no-ops.
type decoder struct {
	lim Limits
	err *llm.Error
	// nativeOnly lists the content only an OpenAI-family provider can
	// serve (audio and file parts): it passes through to one untouched,
	// and any other provider refuses it.
	nativeOnly []string
}

// keepNative records what only an OpenAI-family provider can serve.
func (d *decoder) keepNative(what string) {
	if !slices.Contains(d.nativeOnly, what) {
		d.nativeOnly = append(d.nativeOnly, what)
	}
}

func (d *decoder) fail(e *llm.Error) {
	if d.err == nil {
		d.err = e
	}
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func syntaxError(body []byte, err error) *llm.Error {
	var se *json.SyntaxError
	if ok := asSyntax(err, &se); ok {
		line, col := position(body, se.Offset)
		return llm.ParamError("", "the request body is not valid JSON: %s at line %d, column %d", se.Error(), line, col)
	}
	var te *json.UnmarshalTypeError
	if ok := asType(err, &te); ok {
		return llm.ParamError(te.Field, "`%s` must be %s, got a JSON %s", te.Field, goTypeName(te.Type.Kind().String()), te.Value)
	}
	return llm.ParamError("", "the request body is not valid JSON: %v", err)
}

func position(body []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(body)); i++ {
		if body[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func goTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a number"
}

func (d *decoder) typeErr(param, want string, raw json.RawMessage) {
	d.fail(llm.ParamError(param, "`%s` must be %s, got %s", param, want, jsonKind(raw)))
}

func (d *decoder) requiredString(raw json.RawMessage, param string) string {
	if isNull(raw) {
		d.fail(llm.ParamError(param, "`%s` is required", param))
		return ""
	}
	return d.optString(raw, param)
}

func (d *decoder) optString(raw json.RawMessage, param string) string {
	if isNull(raw) || d.err != nil {
		return ""
	}
	if raw[0] != '"' {
		d.typeErr(param, "a string", raw)
		return ""
	}
	if s, ok := plainString(raw); ok {
		return s
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.typeErr(param, "a string", raw)
	}
	return s
}

func (d *decoder) optBool(raw json.RawMessage, param string) *bool {
	if isNull(raw) || d.err != nil {
		return nil
	}
	switch string(raw) {
	case "true":
		b := true
		return &b
	case "false":
		b := false
		return &b
	}
	d.typeErr(param, "a boolean (true or false)", raw)
	return nil
}

func (d *decoder) number(raw json.RawMessage, param string) (float64, bool) {
	if isNull(raw) || d.err != nil {
		return 0, false
	}
	c := raw[0]
	if c != '-' && (c < '0' || c > '9') {
		d.typeErr(param, "a number", raw)
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) {
		d.fail(llm.ParamError(param, "`%s` is not a representable number", param))
		return 0, false
	}
	return f, true
}

func (d *decoder) optRange(raw json.RawMessage, param string, lo, hi float64) *float64 {
	f, ok := d.number(raw, param)
	if !ok {
		return nil
	}
	if f < lo || f > hi {
		d.fail(llm.ParamError(param, "`%s` must be between %g and %g, got %g", param, lo, hi, f))
		return nil
	}
	return &f
}

func (d *decoder) integer(raw json.RawMessage, param string, lo, hi float64) int {
	f, ok := d.number(raw, param)
	if !ok {
		return 0
	}
	if f != math.Trunc(f) {
		d.fail(llm.ParamError(param, "`%s` must be a whole number, got %g", param, f))
		return 0
	}
	if f < lo || f > hi || f > math.MaxInt64/2 || f < math.MinInt64/2 {
		d.fail(llm.ParamError(param, "`%s` is out of range: %g", param, f))
		return 0
	}
	return int(f)
}

// positiveInt decodes an optional integer ≥ 1; 0 means absent.
func (d *decoder) positiveInt(raw json.RawMessage, param string) int {
	if isNull(raw) {
		return 0
	}
	n := d.integer(raw, param, math.MinInt64/2, math.MaxInt32)
	if d.err == nil && n < 1 {
		d.fail(llm.ParamError(param, "`%s` must be at least 1, got %d", param, n))
	}
	return n
}

// object decodes raw as a JSON object into fields, reporting a type error
// against param otherwise.
func (d *decoder) object(raw json.RawMessage, param string, v any) bool {
	if d.err != nil {
		return false
	}
	if isNull(raw) || raw[0] != '{' {
		d.typeErr(param, "an object", raw)
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if asType(err, &te) {
			p := param + "." + te.Field
			d.fail(llm.ParamError(p, "`%s` must be %s, got a JSON %s", p, goTypeName(te.Type.Kind().String()), te.Value))
			return false
		}
		d.fail(llm.ParamError(param, "`%s` is malformed: %v", param, err))
		return false
	}
	return true
}

func (d *decoder) array(raw json.RawMessage, param string) []json.RawMessage {
	if d.err != nil || isNull(raw) {
		return nil
	}
	if raw[0] != '[' {
		d.typeErr(param, "an array", raw)
		return nil
	}
	return splitArray(raw) // raw was validated with the whole body
}

var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func idx(param string, i int) string { return param + "[" + strconv.Itoa(i) + "]" }
