package bedrocktest

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/airgw/airgw/internal/provider/providertest"
	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// EchoUsage returns the usage the Server reports for an echo answer to b
// (before WithCacheUsage): one input token per word of every text block
// and tool result, one output token per word of the answer (one for a
// tool call).
func EchoUsage(b *wire.ConverseRequest) wire.TokenUsage {
	var in int64
	for _, s := range b.System {
		if s.Text != nil {
			in += int64(len(strings.Fields(*s.Text)))
		}
	}
	for _, m := range b.Messages {
		for _, c := range m.Content {
			switch {
			case c.Text != nil:
				in += int64(len(strings.Fields(*c.Text)))
			case c.ToolResult != nil, c.ToolUse != nil, c.Image != nil:
				in++
			}
		}
	}
	out := int64(1)
	if _, text := echoAnswer(b); text != "" {
		out = int64(len(strings.Fields(text)))
	}
	return wire.TokenUsage{InputTokens: in, OutputTokens: out, TotalTokens: in + out}
}

// echoAnswer returns the tool to call, or the text to answer.
func echoAnswer(b *wire.ConverseRequest) (tool *wire.ToolSpec, text string) {
	last := b.Messages[len(b.Messages)-1]
	if b.ToolConfig != nil && last.Role == wire.RoleUser {
		hasResult := false
		for _, c := range last.Content {
			if c.ToolResult != nil {
				hasResult = true
			}
		}
		if !hasResult {
			for _, t := range b.ToolConfig.Tools {
				if t.ToolSpec != nil {
					return t.ToolSpec, ""
				}
			}
		}
	}
	var lastText string
	for _, m := range b.Messages {
		if m.Role != wire.RoleUser {
			continue
		}
		for _, c := range m.Content {
			if c.Text != nil {
				lastText = *c.Text
			}
		}
	}
	answer := "echo: " + lastText
	if oc := b.OutputConfig; oc != nil && oc.TextFormat != nil && oc.TextFormat.Structure.JSONSchema != nil {
		if j, err := providertest.SchemaInstance(json.RawMessage(oc.TextFormat.Structure.JSONSchema.Schema), answer); err == nil {
			return nil, string(j) // structured output: JSON of the schema
		}
	}
	return nil, answer
}

func (s *Server) usageFor(b *wire.ConverseRequest) wire.TokenUsage {
	u := EchoUsage(b)
	u.CacheReadInputTokens, u.CacheWriteInputTokens = s.cacheRead, s.cacheWrite
	u.TotalTokens += s.cacheRead + s.cacheWrite
	return u
}

// answer dispatches on the model id.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, idx int, rec *Request) {
	w.Header().Set("X-Amzn-Requestid", "bedrocktest-"+strconv.Itoa(idx))
	if rec.Operation == "invoke" {
		s.embed(w, idx, rec)
		return
	}
	stream := rec.Operation == "converse-stream"
	kind, arg, _ := strings.Cut(rec.ModelID, ":")
	switch kind {
	case "fixture":
		if err := s.serveFixture(w, idx, arg); err != nil {
			(&apiError{http.StatusNotFound, "ResourceNotFoundException", err.Error()}).write(w)
		}
	case "error":
		serveError(s, w, idx, arg)
	case "slow":
		d, err := time.ParseDuration(arg)
		if err != nil {
			validation("bedrocktest: bad slow duration %q", arg).write(w)
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		s.echo(w, idx, rec.Body, stream, -1, "")
	case "cut", "exception":
		if !stream {
			validation("bedrocktest: %s needs converse-stream", kind).write(w)
			return
		}
		if kind == "exception" {
			if _, ok := exceptionTypes[arg]; !ok {
				validation("bedrocktest: unknown exception kind %q", arg).write(w)
				return
			}
			s.echo(w, idx, rec.Body, true, 3, arg)
			return
		}
		k, err := strconv.Atoi(arg)
		if err != nil || k < 0 {
			validation("bedrocktest: cut:K needs a number").write(w)
			return
		}
		s.echo(w, idx, rec.Body, true, k, "")
	default:
		s.echo(w, idx, rec.Body, stream, -1, "")
	}
}

// echo answers b. For a stream, cut ≥ 0 stops after that many frames:
// with exception set, an exception frame follows; otherwise the
// connection is broken.
func (s *Server) echo(w http.ResponseWriter, idx int, b *wire.ConverseRequest, stream bool, cut int, exception string) {
	tool, text := echoAnswer(b)
	usage := s.usageFor(b)
	stop := wire.StopEndTurn
	if tool != nil {
		stop = wire.StopToolUse
	}
	if !stream {
		msg := wire.Message{Role: wire.RoleAssistant}
		if tool != nil {
			msg.Content = []wire.ContentBlock{{ToolUse: &wire.ToolUseBlock{ToolUseID: "tooluse_bedrocktest0", Name: tool.Name, Input: json.RawMessage(`{}`)}}}
		} else {
			msg.Content = []wire.ContentBlock{wire.TextBlock(text)}
		}
		body, _ := json.Marshal(wire.ConverseResponse{Output: wire.ConverseOutput{Message: &msg}, StopReason: stop,
			Usage: &usage, Metrics: &wire.Metrics{LatencyMs: 7}})
		s.setUsage(idx, &usage)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
		return
	}
	events := []streamEvent{{wire.EventMessageStart, wire.MessageStartEvent{Role: wire.RoleAssistant}}}
	if tool != nil {
		events = append(events,
			streamEvent{wire.EventContentBlockStart, wire.ContentBlockStartEvent{Start: wire.BlockStart{ToolUse: &wire.ToolUseStart{ToolUseID: "tooluse_bedrocktest0", Name: tool.Name}}}},
			streamEvent{wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{Delta: wire.BlockDelta{ToolUse: &wire.ToolUseDelta{Input: "{}"}}}})
	} else {
		for _, word := range strings.SplitAfter(text, " ") {
			if word == "" {
				continue
			}
			events = append(events, streamEvent{wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{Delta: wire.BlockDelta{Text: &word}}})
		}
	}
	events = append(events,
		streamEvent{wire.EventContentBlockStop, wire.ContentBlockStopEvent{}},
		streamEvent{wire.EventMessageStop, wire.MessageStopEvent{StopReason: stop}},
		streamEvent{wire.EventMetadata, wire.MetadataEvent{Usage: &usage, Metrics: &wire.Metrics{LatencyMs: 7}}})
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := eventstream.NewEncoder()
	for i, ev := range events {
		if cut >= 0 && i == cut {
			if exception != "" {
				x := exceptionTypes[exception]
				_ = enc.Encode(w, ExceptionFrame(x.typ, x.msg))
				_ = rc.Flush()
				return
			}
			_ = rc.Flush()
			panic(http.ErrAbortHandler) // break the connection mid-stream
		}
		if ev.typ == wire.EventMetadata {
			s.setUsage(idx, &usage) // before the client can read it
		}
		_ = enc.Encode(w, EventFrame(ev.typ, ev.payload))
		_ = rc.Flush()
	}
}

type streamEvent struct {
	typ     string
	payload any
}

// padding is the "p" member Bedrock adds to every payload.
const padding = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// EventFrame returns an event message of type eventType whose payload is
// v encoded as JSON, with a padding member "p" as Bedrock sends.
func EventFrame(eventType string, v any) eventstream.Message {
	b, _ := json.Marshal(v)
	if len(b) > 1 && b[0] == '{' {
		pad := padding[:1+len(b)%len(padding)]
		sep := ","
		if len(b) == 2 {
			sep = ""
		}
		b = append([]byte(`{"p":"`+pad+`"`+sep), b[1:]...)
	}
	var h eventstream.Headers
	h.Set(wire.HeaderEventType, eventstream.StringValue(eventType))
	h.Set(wire.HeaderContentType, eventstream.StringValue("application/json"))
	h.Set(wire.HeaderMessageType, eventstream.StringValue(wire.MessageTypeEvent))
	return eventstream.Message{Headers: h, Payload: b}
}

// ExceptionFrame returns an exception message as ConverseStream sends it
// mid-stream.
func ExceptionFrame(exceptionType, message string) eventstream.Message {
	b, _ := json.Marshal(wire.ExceptionEvent{Message: message})
	var h eventstream.Headers
	h.Set(wire.HeaderExceptionType, eventstream.StringValue(exceptionType))
	h.Set(wire.HeaderContentType, eventstream.StringValue("application/json"))
	h.Set(wire.HeaderMessageType, eventstream.StringValue(wire.MessageTypeException))
	return eventstream.Message{Headers: h, Payload: b}
}

// EncodeFrames encodes messages as an event stream body.
func EncodeFrames(msgs ...eventstream.Message) []byte {
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	for _, m := range msgs {
		_ = enc.Encode(&buf, m)
	}
	return buf.Bytes()
}

// EmbedVector returns the deterministic vector the Server answers for
// text: dims values in [-1, 1] derived from an FNV hash of text.
func EmbedVector(text string, dims int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(text))
	x := h.Sum64()
	v := make([]float32, dims)
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = float32(math.Round((float64(x%2001)/1000-1)*1000) / 1000)
	}
	return v
}

// embed answers InvokeModel for the Titan and Cohere embedding models.
func (s *Server) embed(w http.ResponseWriter, idx int, rec *Request) {
	m := rec.ModelID
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasPrefix(m, "error:"):
		serveError(s, w, idx, strings.TrimPrefix(m, "error:"))
	case strings.HasPrefix(m, "amazon.titan-embed-text"):
		var req wire.TitanEmbedRequest
		d := json.NewDecoder(bytes.NewReader(rec.Raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil || req.InputText == "" {
			validation("Malformed input request: #: required key [inputText] not found, please reformat your request.").write(w)
			return
		}
		dims := 1024
		if req.Dimensions != 0 {
			if req.Dimensions != 256 && req.Dimensions != 512 && req.Dimensions != 1024 {
				validation("Malformed input request: #/dimensions: %d is not a valid enum value, please reformat your request.", req.Dimensions).write(w)
				return
			}
			dims = req.Dimensions
		}
		n := int64(len(strings.Fields(req.InputText)))
		s.setUsage(idx, &wire.TokenUsage{InputTokens: n})
		w.Header().Set(wire.HeaderInputTokenCount, strconv.FormatInt(n, 10))
		b, _ := json.Marshal(wire.TitanEmbedResponse{Embedding: EmbedVector(req.InputText, dims), InputTextTokenCount: n})
		_, _ = w.Write(b)
	case strings.HasPrefix(m, "cohere.embed"):
		var req wire.CohereEmbedRequest
		if err := json.Unmarshal(rec.Raw, &req); err != nil || len(req.Texts) == 0 || len(req.Texts) > 96 || req.InputType == "" {
			validation("Malformed input request: texts (1 to 96) and input_type are required, please reformat your request.").write(w)
			return
		}
		var n int64
		vecs := make([][]float32, len(req.Texts))
		for i, t := range req.Texts {
			n += int64(len(strings.Fields(t)))
			vecs[i] = EmbedVector(t, 1024)
		}
		raw, _ := json.Marshal(vecs)
		s.setUsage(idx, &wire.TokenUsage{InputTokens: n})
		w.Header().Set(wire.HeaderInputTokenCount, strconv.FormatInt(n, 10))
		b, _ := json.Marshal(wire.CohereEmbedResponse{ID: "bedrocktest", ResponseType: "embeddings_floats", Texts: req.Texts, Embeddings: raw})
		_, _ = w.Write(b)
	default:
		validation("The provided model identifier is invalid.").write(w)
	}
}
