package geminitest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/llm"
	wire "github.com/airgw/airgw/internal/wire/gemini"
)

//go:embed testdata/*.http
var fixtureFS embed.FS

// FixtureNames returns the names of the recorded responses the Server can
// replay ("generate-basic", "stream-text", ...).
func FixtureNames() []string {
	ents, _ := fixtureFS.ReadDir("testdata")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".http"))
	}
	slices.Sort(names)
	return names
}

// LoadFixture returns the recorded status, headers and body of the named
// fixture.
func LoadFixture(name string) (status int, header http.Header, body []byte, err error) {
	raw, err := fixtureFS.ReadFile(path.Join("testdata", name+".http"))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("geminitest: no fixture %q", name)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("geminitest: fixture %s: %w", name, err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("geminitest: fixture %s: %w", name, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// serveFixture replays a fixture; SSE bodies are written one event at a
// time (split after each blank line, \r\n\r\n or \n\n) with a flush after
// each, as the real server streams them.
func serveFixture(w http.ResponseWriter, name string) error {
	status, h, body, err := LoadFixture(name)
	if err != nil {
		return err
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	if !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		_, _ = w.Write(body)
		return nil
	}
	rc := http.NewResponseController(w)
	for len(body) > 0 {
		n := len(body)
		if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
			n = i + 4
		} else if i := bytes.Index(body, []byte("\n\n")); i >= 0 {
			n = i + 2
		}
		_, _ = w.Write(body[:n])
		_ = rc.Flush()
		body = body[n:]
	}
	return nil
}

// answer dispatches on the model.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, idx int, model string, stream bool, b *wire.Request) {
	kind, arg, _ := strings.Cut(model, ":")
	switch kind {
	case "fixture":
		if err := serveFixture(w, arg); err != nil {
			newError(http.StatusNotFound, "NOT_FOUND", "models/%s is not found for API version v1beta: %v", model, err).write(w)
		}
	case "error":
		serveError(w, arg)
	case "slow":
		d, err := time.ParseDuration(arg)
		if err != nil {
			invalid("geminitest: bad slow duration %q", arg).write(w)
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		s.echo(w, r, idx, model, stream, b, -1, nil)
	case "midstream-error":
		e := streamError(arg)
		if e == nil || !stream {
			invalid("geminitest: midstream-error:<429|500|503> needs streamGenerateContent").write(w)
			return
		}
		s.echo(w, r, idx, model, stream, b, midstreamAfter, e)
	case "cut":
		k, err := strconv.Atoi(arg)
		if err != nil || k < 0 || !stream {
			invalid("geminitest: cut:K needs a number and streamGenerateContent").write(w)
			return
		}
		s.echo(w, r, idx, model, stream, b, k, nil)
	default:
		s.echo(w, r, idx, model, stream, b, -1, nil)
	}
}

// midstreamAfter is the number of echo chunks a "midstream-error:" stream
// sends before its error.
const midstreamAfter = 2

// streamError returns the error a "midstream-error:<kind>" stream ends
// with, nil for an unknown kind. Gemini reports a failure after the
// stream has started as one more SSE event holding Google's error object,
// {"error": {"code", "message", "status"}}, and ends the body: the HTTP
// status (200) was sent long before. The 503 is the recorded
// error-503-unavailable body, which was captured in such a stream.
func streamError(kind string) *wire.Status {
	switch kind {
	case "429":
		return &wire.Status{Code: 429, Status: "RESOURCE_EXHAUSTED", Message: "Resource has been exhausted (e.g. check quota).",
			Details: []json.RawMessage{json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}`)}}
	case "500":
		return &wire.Status{Code: 500, Status: "INTERNAL", Message: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"}
	case "503":
		_, _, body, err := LoadFixture("error-503-unavailable")
		var eb wire.ErrorBody
		if err != nil || json.Unmarshal(body, &eb) != nil {
			return nil
		}
		return &eb.Error
	}
	return nil
}

// serveError answers with the error of the given HTTP status.
func serveError(w http.ResponseWriter, kind string) {
	var e *apiError
	switch kind {
	case "400":
		e = invalid("The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).")
	case "403":
		_ = serveFixture(w, "error-403-permission-denied")
		return
	case "404":
		_ = serveFixture(w, "error-404-unknown-model")
		return
	case "429":
		e = newError(http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.")
		e.body.Details = []json.RawMessage{
			json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}`),
			json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}`),
		}
	case "500":
		e = newError(http.StatusInternalServerError, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
	case "503":
		_ = serveFixture(w, "error-503-unavailable")
		return
	case "504":
		e = newError(http.StatusGatewayTimeout, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")
	default:
		e = invalid("geminitest: unknown error kind %q", kind)
	}
	e.write(w)
}

// lastUserText returns the text of the last user turn.
func lastUserText(req *wire.Request) string {
	for i := len(req.Contents) - 1; i >= 0; i-- {
		c := req.Contents[i]
		if c.Role != wire.RoleUser {
			continue
		}
		var b strings.Builder
		for _, p := range c.Parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

// EchoUsage returns the usage an echo answer reports: promptTokenCount is
// the bytes of text in the system instruction and contents divided by 4,
// plus 1; candidatesTokenCount is the number of words of the answer.
func EchoUsage(req *wire.Request, answer string) wire.UsageMetadata {
	var chars int
	if req.SystemInstruction != nil {
		for _, p := range req.SystemInstruction.Parts {
			chars += len(p.Text)
		}
	}
	for _, c := range req.Contents {
		for _, p := range c.Parts {
			chars += len(p.Text)
		}
	}
	u := wire.UsageMetadata{PromptTokenCount: int64(chars/4 + 1), CandidatesTokenCount: int64(len(strings.Fields(answer)))}
	u.TotalTokenCount = u.PromptTokenCount + u.CandidatesTokenCount
	return u
}

// neutral is the documented mapping of Gemini usage to llm.Usage.
func neutral(u *wire.UsageMetadata) *llm.Usage {
	return &llm.Usage{InputTokens: u.PromptTokenCount + u.ToolUsePromptTokenCount, OutputTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CacheReadTokens: u.CachedContentTokenCount, ReasoningTokens: u.ThoughtsTokenCount}
}

// echo answers deterministically; cut >= 0 drops a stream after cut
// chunks, or, with fail, sends fail as an error event there and ends it.
func (s *Server) echo(w http.ResponseWriter, r *http.Request, idx int, model string, stream bool, req *wire.Request, cut int, fail *wire.Status) {
	n := idx + 1
	id := fmt.Sprintf("geminitest-%d", n)
	answer := "echo: " + lastUserText(req)
	var call *wire.Part
	last := req.Contents[len(req.Contents)-1]
	var fc *wire.FunctionCallingConfig
	if req.ToolConfig != nil {
		fc = req.ToolConfig.FunctionCallingConfig
	}
	if len(req.Tools) > 0 && len(req.Tools[0].FunctionDeclarations) > 0 && last.Role == wire.RoleUser && last.Parts[0].FunctionResponse == nil &&
		(fc == nil || fc.Mode != wire.ModeNone) {
		name := req.Tools[0].FunctionDeclarations[0].Name
		if fc != nil && len(fc.AllowedFunctionNames) > 0 {
			name = fc.AllowedFunctionNames[0]
		}
		call = &wire.Part{FunctionCall: &wire.FunctionCall{Name: name, Args: json.RawMessage("{}")}}
		if strings.HasPrefix(model, "gemini-3") {
			call.ThoughtSignature = IssueSignature(n)
		}
		answer = "{}"
	}
	total := EchoUsage(req, answer)
	if s.cached > 0 {
		total.CachedContentTokenCount = min(s.cached, total.PromptTokenCount)
	}
	total.ThoughtsTokenCount = s.thoughts
	total.TotalTokenCount += s.thoughts
	h := w.Header()
	h.Set("Server-Timing", "gfet4t7; dur=1")
	resp := func(parts []wire.Part, finish wire.FinishReason, u wire.UsageMetadata) wire.Response {
		return wire.Response{Candidates: []wire.Candidate{{Content: &wire.Content{Role: wire.RoleModel, Parts: parts}, FinishReason: finish}},
			UsageMetadata: &u, ModelVersion: model, ResponseID: id}
	}
	if !stream {
		parts := []wire.Part{{Text: answer}}
		if call != nil {
			parts = []wire.Part{*call}
		}
		b, _ := json.Marshal(resp(parts, wire.FinishStop, total))
		s.update(idx, func(q *Request) { q.Usage = neutral(&total) })
		h.Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(b)
		return
	}
	var chunks []wire.Response
	if call != nil {
		chunks = append(chunks, resp([]wire.Part{*call}, wire.FinishStop, total))
	} else {
		words := strings.SplitAfter(answer, " ")
		var sofar int64
		for i, wd := range words {
			sofar += int64(len(strings.Fields(wd)))
			u := total
			u.CandidatesTokenCount = sofar
			u.TotalTokenCount = u.PromptTokenCount + u.CandidatesTokenCount + u.ThoughtsTokenCount
			var finish wire.FinishReason
			if i == len(words)-1 {
				finish = wire.FinishStop
			}
			chunks = append(chunks, resp([]wire.Part{{Text: wd}}, finish, u))
		}
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Content-Disposition", "attachment")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	failNow := func() {
		b, _ := json.Marshal(wire.ErrorBody{Error: *fail})
		fmt.Fprintf(w, "data: %s\r\n\r\n", b)
		_ = rc.Flush()
	}
	for i, c := range chunks {
		if i == cut && fail != nil {
			failNow()
			return
		}
		if i == cut {
			_ = rc.Flush()
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		}
		b, _ := json.Marshal(&c)
		if _, err := fmt.Fprintf(w, "data: %s\r\n\r\n", b); err != nil {
			return
		}
		s.update(idx, func(q *Request) { q.Usage = neutral(c.UsageMetadata) })
		if err := rc.Flush(); err != nil || r.Context().Err() != nil {
			return
		}
	}
	if cut >= len(chunks) && fail != nil {
		failNow()
		return
	}
	if cut >= len(chunks) {
		_ = rc.Flush()
		panic(http.ErrAbortHandler)
	}
}

// EmbedDims is the vector size of echo embeddings when the request sets no
// outputDimensionality.
const EmbedDims = 8

// Embedding returns the deterministic unit vector the Server answers for
// text: dims values derived from an FNV hash of the text.
func Embedding(text string, dims int) []float32 {
	if dims <= 0 {
		dims = EmbedDims
	}
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d:%s", i, text)
		x := float64(h.Sum64()%2001)/1000 - 1
		v[i] = float32(x)
		norm += x * x
	}
	if norm > 0 {
		for i := range v {
			v[i] = float32(float64(v[i]) / math.Sqrt(norm))
		}
	}
	return v
}

// embed answers embedContent and batchEmbedContents.
func (s *Server) embed(w http.ResponseWriter, idx int, rec *Request) {
	if kind, ok := strings.CutPrefix(rec.Model, "error:"); ok {
		serveError(w, kind)
		return
	}
	var reqs []wire.EmbedContentRequest
	dec := json.NewDecoder(bytes.NewReader(rec.Raw))
	dec.DisallowUnknownFields()
	if rec.Action == "embedContent" {
		var one wire.EmbedContentRequest
		if err := dec.Decode(&one); err != nil {
			invalid("Invalid JSON payload received. %v", err).write(w)
			return
		}
		reqs = []wire.EmbedContentRequest{one}
	} else {
		var batch wire.BatchEmbedContentsRequest
		if err := dec.Decode(&batch); err != nil {
			invalid("Invalid JSON payload received. %v", err).write(w)
			return
		}
		if len(batch.Requests) == 0 || len(batch.Requests) > 100 {
			invalid("* BatchEmbedContentsRequest.requests: between 1 and 100 requests are allowed").write(w)
			return
		}
		for i, q := range batch.Requests {
			if q.Model != "models/"+rec.Model {
				invalid("* BatchEmbedContentsRequest.requests[%d].model: the model must be models/%s, as in the URL", i, rec.Model).write(w)
				return
			}
		}
		reqs = batch.Requests
	}
	vecs := make([]wire.ContentEmbedding, len(reqs))
	for i, q := range reqs {
		var text strings.Builder
		for _, p := range q.Content.Parts {
			text.WriteString(p.Text)
		}
		if text.Len() == 0 {
			invalid("* EmbedContentRequest.content: contents must not be empty").write(w)
			return
		}
		vecs[i] = wire.ContentEmbedding{Values: Embedding(text.String(), q.OutputDimensionality)}
	}
	var b []byte
	if rec.Action == "embedContent" {
		b, _ = json.Marshal(wire.EmbedContentResponse{Embedding: vecs[0]})
	} else {
		b, _ = json.Marshal(wire.BatchEmbedContentsResponse{Embeddings: vecs})
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b)
}
