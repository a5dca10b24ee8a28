// Package anthropic is the inbound spoke for clients that speak Anthropic's
// Messages API: it decodes POST /v1/messages and /v1/messages/count_tokens
// bodies into llm.Request, validating every field with an error that names
// it, and encodes llm responses, stream events, errors and model lists back
// in Anthropic's wire format, including the exact SSE event sequence the
// official SDKs accumulate.
//
// The package defines its own small wire structs rather than sharing a wire
// package, so that the client-facing shape and the provider-facing shape can
// evolve apart.
package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/airgw/airgw/internal/llm"
)

// Endpoints of the requests this package decodes, as recorded in
// llm.Native.Endpoint.
const (
	EndpointMessages    = "/v1/messages"
	EndpointCountTokens = "/v1/messages/count_tokens"
)

// Limits bound what one request may contain, before any provider is called.
// A zero field takes its default.
type Limits struct {
	MaxMessages int // default 10,000
	MaxParts    int // content blocks per message (and per tool result); default 1,000
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

// messagesRequest holds the top-level fields airgw models, undecoded, so that
// each can be checked with an error naming it. Fields airgw does not model
// (service_tier, container, mcp_servers, …) stay in the native body; see
// UnknownFields.
type messagesRequest struct {
	Model         json.RawMessage `json:"model"`
	MaxTokens     json.RawMessage `json:"max_tokens"`
	Messages      json.RawMessage `json:"messages"`
	System        json.RawMessage `json:"system"`
	Tools         json.RawMessage `json:"tools"`
	ToolChoice    json.RawMessage `json:"tool_choice"`
	StopSequences json.RawMessage `json:"stop_sequences"`
	Temperature   json.RawMessage `json:"temperature"`
	TopP          json.RawMessage `json:"top_p"`
	TopK          json.RawMessage `json:"top_k"`
	Thinking      json.RawMessage `json:"thinking"`
	Metadata      json.RawMessage `json:"metadata"`
	Stream        json.RawMessage `json:"stream"`
}

// modeledFields are the top-level fields DecodeMessages maps to llm.Request;
// kept sorted for binary search.
var modeledFields = []string{
	"max_tokens", "messages", "metadata", "model", "stop_sequences", "stream",
	"system", "temperature", "thinking", "tool_choice", "tools", "top_k", "top_p",
}

// DecodeMessages decodes and validates a Messages API request body. Every
// failure is an *llm.Error (invalid_request, payload_too_large or
// feature_not_supported) whose Param names the offending field, e.g.
// "messages[2].content[0].source.media_type".
//
// The returned request always has IncludeUsage set (Anthropic streams always
// carry usage) and Native set to the body as sent, so that an Anthropic
// provider can forward fields airgw does not model; UnknownFields lists them.
func DecodeMessages(body []byte, lim Limits) (*llm.Request, error) {
	return decode(body, lim, false)
}

// DecodeCountTokens decodes and validates a POST /v1/messages/count_tokens
// body: the same fields as DecodeMessages, except that max_tokens is
// optional and stream is refused. Native.Endpoint is EndpointCountTokens.
func DecodeCountTokens(body []byte, lim Limits) (*llm.Request, error) {
	return decode(body, lim, true)
}

// UnknownFields returns, sorted, the names of the top-level fields of body
// that DecodeMessages does not model and that ask for something: fields
// holding their type's empty value (null, false, 0, "", [] or {}) are left
// out, and so is service_tier, which changes nothing in the answer (another
// provider has tiers of its own). They reach an Anthropic provider through
// Native untouched; a provider translating the request to another wire
// format refuses them (llm.Request.NativeOnly is this list). It returns nil
// for a body that is not a JSON object.
func UnknownFields(body []byte) []string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil
	}
	var out []string
	for k, v := range m {
		if _, ok := slices.BinarySearch(modeledFields, k); ok || k == "service_tier" || llm.EmptyJSON(v) {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func decode(body []byte, lim Limits, countTokens bool) (*llm.Request, error) {
	lim = lim.withDefaults()
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, llm.ParamError("", "the request body is empty; send a JSON object with at least `model`, `max_tokens` and `messages`")
	}
	if body[0] != '{' {
		return nil, llm.ParamError("", "the request body must be a JSON object, got %s", jsonKind(body))
	}
	var mr messagesRequest
	if err := json.Unmarshal(body, &mr); err != nil {
		return nil, syntaxError(body, err)
	}
	endpoint := EndpointMessages
	if countTokens {
		endpoint = EndpointCountTokens
	}
	req := &llm.Request{
		Native:       &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: endpoint, Body: body},
		IncludeUsage: !countTokens,
	}
	d := decoder{lim: lim}
	req.Model = d.requiredString(mr.Model, "model")
	if d.err == nil && req.Model == "" {
		d.fail(llm.ParamError("model", "`model` must not be empty; GET /v1/models lists the models this key may use"))
	}
	if countTokens {
		req.MaxTokens = d.positiveInt(mr.MaxTokens, "max_tokens")
		if !isNull(mr.Stream) && d.err == nil {
			d.fail(llm.ParamError("stream", "`stream` is not accepted by /v1/messages/count_tokens, which never streams; remove it"))
		}
	} else {
		if isNull(mr.MaxTokens) && d.err == nil {
			d.fail(llm.ParamError("max_tokens", "`max_tokens` is required: the most tokens the model may generate, an integer of at least 1"))
		}
		req.MaxTokens = d.positiveInt(mr.MaxTokens, "max_tokens")
		if b := d.optBool(mr.Stream, "stream"); b != nil {
			req.Stream = *b
		}
	}
	system := d.system(mr.System)
	msgs := d.messages(mr.Messages)
	if len(system) > 0 {
		req.Messages = append(system, msgs...)
	} else {
		req.Messages = msgs
	}
	req.Tools = d.tools(mr.Tools)
	req.ToolChoice, req.ParallelToolCalls = d.toolChoice(mr.ToolChoice, req.Tools)
	req.Stop = d.stopSequences(mr.StopSequences)
	req.Temperature = d.optRange(mr.Temperature, "temperature", 0, 1)
	req.TopP = d.optRange(mr.TopP, "top_p", 0, 1)
	if !isNull(mr.TopK) {
		k := d.integer(mr.TopK, "top_k", 0, math.MaxInt32)
		if d.err == nil {
			req.TopK = &k
		}
	}
	req.Thinking = d.thinking(mr.Thinking, req.MaxTokens)
	req.User, req.Metadata = d.metadata(mr.Metadata)
	if d.err != nil {
		return nil, d.err
	}
	native := d.nativeOnly
	req.NativeOnly = func() []string { return append(slices.Clone(native), UnknownFields(body)...) }
	return req, nil
}

// decoder accumulates the first error; later checks become no-ops.
type decoder struct {
	lim Limits
	err *llm.Error
	// toolUseIDs are the tool_use ids of the assistant turns decoded so far,
	// which later tool_result blocks must reference.
	toolUseIDs map[string]bool
	// nativeOnly lists the content only an Anthropic provider can serve
	// (documents, server tools, Files API images): it passes through to
	// one untouched, and any other provider refuses it.
	nativeOnly []string
}

// keepNative records what only an Anthropic provider can serve.
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
	if errors.As(err, &se) {
		line, col := position(body, se.Offset)
		return llm.ParamError("", "the request body is not valid JSON: %s at line %d, column %d", se.Error(), line, col)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
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

// nonEmptyString decodes a required string that must not be empty.
func (d *decoder) nonEmptyString(raw json.RawMessage, param string) string {
	s := d.requiredString(raw, param)
	if d.err == nil && s == "" {
		d.fail(llm.ParamError(param, "`%s` must not be empty", param))
	}
	return s
}

func (d *decoder) optString(raw json.RawMessage, param string) string {
	if isNull(raw) || d.err != nil {
		return ""
	}
	if raw[0] != '"' {
		d.typeErr(param, "a string", raw)
		return ""
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

// integer decodes a whole number within [lo, hi].
func (d *decoder) integer(raw json.RawMessage, param string, lo, hi float64) int {
	f, ok := d.number(raw, param)
	if !ok {
		return 0
	}
	if f != math.Trunc(f) {
		d.fail(llm.ParamError(param, "`%s` must be a whole number, got %g", param, f))
		return 0
	}
	if f < lo || f > hi {
		d.fail(llm.ParamError(param, "`%s` must be between %g and %g, got %g", param, lo, hi, f))
		return 0
	}
	return int(f)
}

// positiveInt decodes an optional integer ≥ 1; 0 means absent.
func (d *decoder) positiveInt(raw json.RawMessage, param string) int {
	if isNull(raw) || d.err != nil {
		return 0
	}
	f, ok := d.number(raw, param)
	if !ok {
		return 0
	}
	if f != math.Trunc(f) {
		d.fail(llm.ParamError(param, "`%s` must be a whole number, got %g", param, f))
		return 0
	}
	if f < 1 {
		d.fail(llm.ParamError(param, "`%s` must be at least 1, got %g", param, f))
		return 0
	}
	if f > math.MaxInt32 {
		d.fail(llm.ParamError(param, "`%s` must be at most %d, got %g", param, math.MaxInt32, f))
		return 0
	}
	return int(f)
}

// object decodes raw as a JSON object into v, reporting a type error against
// param otherwise.
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
		if errors.As(err, &te) {
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
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		d.fail(llm.ParamError(param, "`%s` is malformed: %v", param, err))
		return nil
	}
	return items
}

// tooMany reports a payload_too_large error when n exceeds limit.
func (d *decoder) tooMany(param, what string, n, limit int) bool {
	if n <= limit {
		return false
	}
	d.fail(&llm.Error{Code: llm.CodePayloadTooLarge, Param: param,
		Message: fmt.Sprintf("`%s` has %d %s; the limit is %d", param, n, what, limit)})
	return true
}

func unsupported(param, format string, args ...any) *llm.Error {
	return &llm.Error{Code: llm.CodeFeatureNotSupported, Param: param, NoClientRetry: true, Message: fmt.Sprintf(format, args...)}
}

func idx(param string, i int) string { return param + "[" + strconv.Itoa(i) + "]" }
