package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// config is the fake's behaviour, fixed at start.
type config struct {
	latency       time.Duration // before the first byte
	chunks        int           // content chunks per stream, and completion tokens
	chunkInterval time.Duration // between streamed chunks
	promptTokens  int
}

const (
	maxBody        = 4 << 20 // request bodies above this get 413
	maxCachedModel = 64      // distinct model names whose bodies are kept
	idWidth        = 12      // digits of the per-response counter in the id
)

// handler serves the fake API. It is safe for concurrent use.
type handler struct {
	cfg     config
	created int64
	seq     atomic.Uint64
	bufs    sync.Pool // *[]byte request buffers

	mu     sync.RWMutex
	models map[string]*bodies
}

// bodies holds every response byte for one model, split around the
// response id so that the id can be written without building a new body.
type bodies struct {
	full   idSplit   // non-stream response
	events []idSplit // stream events without usage, ending with [DONE]
	usage  []idSplit // stream events with include_usage, ending with [DONE]
}

// idSplit is a byte string with the response id between pre and post;
// post may be empty for events that carry no id.
type idSplit struct {
	pre, post []byte
	hasID     bool
}

func newHandler(cfg config, now time.Time) http.Handler {
	h := &handler{cfg: cfg, created: now.Unix(), models: make(map[string]*bodies)}
	h.bufs.New = func() any { b := make([]byte, 0, 8<<10); return &b }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", h.chat)
	mux.HandleFunc("GET /v1/models", h.listModels)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

func (h *handler) chat(w http.ResponseWriter, r *http.Request) {
	if !hasBearer(r.Header.Get("Authorization")) {
		writeError(w, http.StatusUnauthorized, "invalid_api_key", "missing bearer key")
		return
	}
	bp := h.bufs.Get().(*[]byte)
	defer h.bufs.Put(bp)
	body, err := readBody(r.Body, (*bp)[:0])
	*bp = body[:0]
	if err != nil {
		if err == errTooLarge {
			writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large", "body too large")
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "cannot read body")
		return
	}
	model, ok := jsonString(body, "model")
	if !ok || len(model) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model is required")
		return
	}
	b := h.bodiesFor(model)
	stream := jsonTrue(body, "stream")
	includeUsage := stream && jsonTrue(body, "include_usage")

	if h.cfg.latency > 0 && !sleepCtx(r, h.cfg.latency) {
		return
	}
	var id [idWidth]byte
	h.nextID(&id)

	if !stream {
		hdr := w.Header()
		hdr["Content-Type"] = jsonContentType
		hdr["Content-Length"] = []string{strconv.Itoa(len(b.full.pre) + idWidth + len(b.full.post))}
		w.Write(b.full.pre)
		w.Write(id[:])
		w.Write(b.full.post)
		return
	}

	hdr := w.Header()
	hdr["Content-Type"] = sseContentType
	hdr["Cache-Control"] = noCache
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	events := b.events
	if includeUsage {
		events = b.usage
	}
	for i, ev := range events {
		// Pause before each content chunk after the first one, the way a
		// model emits tokens.
		if i > 1 && i <= h.cfg.chunks && h.cfg.chunkInterval > 0 && !sleepCtx(r, h.cfg.chunkInterval) {
			return
		}
		if _, err := w.Write(ev.pre); err != nil {
			return
		}
		if ev.hasID {
			w.Write(id[:])
			w.Write(ev.post)
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

var (
	jsonContentType = []string{"application/json"}
	sseContentType  = []string{"text/event-stream"}
	noCache         = []string{"no-cache"}
)

func (h *handler) nextID(id *[idWidth]byte) {
	n := h.seq.Add(1)
	for i := idWidth - 1; i >= 0; i-- {
		id[i] = byte('0' + n%10)
		n /= 10
	}
}

func (h *handler) listModels(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"object":"list","data":[{"id":"bench-model","object":"model","created":0,"owned_by":"bench"}]}`)
}

// bodiesFor returns the precomputed bodies for model, building them on first
// use. Only the first maxCachedModel names are kept.
func (h *handler) bodiesFor(model []byte) *bodies {
	h.mu.RLock()
	b := h.models[string(model)]
	h.mu.RUnlock()
	if b != nil {
		return b
	}
	b = buildBodies(h.cfg, h.created, string(model))
	h.mu.Lock()
	if len(h.models) < maxCachedModel {
		h.models[string(model)] = b
	}
	h.mu.Unlock()
	return b
}

// idMark stands for the response id in templates; it is replaced by the
// per-response counter.
const idMark = "\x00ID\x00"

func buildBodies(cfg config, created int64, model string) *bodies {
	q, _ := json.Marshal(model)
	quoted := string(q)
	words := make([]string, cfg.chunks)
	for i := range words {
		words[i] = tokenWord(i)
	}
	usage := `{"prompt_tokens":` + strconv.Itoa(cfg.promptTokens) +
		`,"completion_tokens":` + strconv.Itoa(cfg.chunks) +
		`,"total_tokens":` + strconv.Itoa(cfg.promptTokens+cfg.chunks) +
		`,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0}` +
		`,"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`
	content, _ := json.Marshal(strings.Join(words, ""))
	head := `"id":"chatcmpl-bench` + idMark + `","created":` + strconv.FormatInt(created, 10) +
		`,"model":` + quoted + `,"system_fingerprint":"fp_bench","service_tier":"default"`

	full := `{` + head + `,"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":` +
		string(content) + `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":` + usage + `}`

	chunk := func(delta, finish, usageField string) string {
		return "data: {" + head + `,"object":"chat.completion.chunk","choices":[{"index":0,"delta":` + delta +
			`,"logprobs":null,"finish_reason":` + finish + `}]` + usageField + "}\n\n"
	}
	build := func(withUsage bool) []idSplit {
		u := ""
		if withUsage {
			u = `,"usage":null`
		}
		evs := []string{chunk(`{"role":"assistant","content":"","refusal":null}`, "null", u)}
		for _, wd := range words {
			c, _ := json.Marshal(wd)
			evs = append(evs, chunk(`{"content":`+string(c)+`}`, "null", u))
		}
		evs = append(evs, chunk(`{}`, `"stop"`, u))
		if withUsage {
			evs = append(evs, "data: {"+head+`,"object":"chat.completion.chunk","choices":[],"usage":`+usage+"}\n\n")
		}
		evs = append(evs, "data: [DONE]\n\n")
		out := make([]idSplit, len(evs))
		for i, e := range evs {
			out[i] = splitID(e)
		}
		return out
	}
	return &bodies{full: splitID(full), events: build(false), usage: build(true)}
}

func splitID(s string) idSplit {
	pre, post, ok := strings.Cut(s, idMark)
	return idSplit{pre: []byte(pre), post: []byte(post), hasID: ok}
}

// tokenWord returns the i-th word of the fake completion, one token each.
func tokenWord(i int) string {
	words := [...]string{"Hello", " from", " the", " fake", " provider", ".", " This", " is", " a", " benchmark", " response", " with", " one", " token", " per", " chunk"}
	return words[i%len(words)]
}

func hasBearer(v string) bool {
	const p = "Bearer "
	return len(v) > len(p) && strings.EqualFold(v[:len(p)], p)
}

func sleepCtx(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": code, "code": code, "param": nil}})
	w.Write(b)
}

type tooLargeError struct{}

func (tooLargeError) Error() string { return "fakeprovider: request body too large" }

var errTooLarge error = tooLargeError{}

// readBody appends all of r to buf, up to maxBody bytes.
func readBody(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= maxBody {
				return buf, errTooLarge
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// jsonValue returns the bytes following the first occurrence of the object
// key "key" and its colon. It is a scan, not a parse: a string value that
// contains the quoted key can fool it, which is acceptable for a benchmark
// fake whose clients send small, well-formed requests.
func jsonValue(body []byte, key string) ([]byte, bool) {
	var pat [64]byte
	if len(key)+2 > len(pat) {
		return nil, false
	}
	pat[0] = '"'
	n := copy(pat[1:], key)
	pat[n+1] = '"'
	p := pat[:n+2]
	for rest := body; ; {
		i := bytes.Index(rest, p)
		if i < 0 {
			return nil, false
		}
		rest = skipSpace(rest[i+len(p):])
		if len(rest) > 0 && rest[0] == ':' {
			return skipSpace(rest[1:]), true
		}
	}
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// jsonTrue reports whether key's value is the literal true.
func jsonTrue(body []byte, key string) bool {
	v, ok := jsonValue(body, key)
	return ok && bytes.HasPrefix(v, []byte("true"))
}

// jsonString returns key's string value. Escaped strings are decoded with
// encoding/json; plain ones are returned without copying.
func jsonString(body []byte, key string) ([]byte, bool) {
	v, ok := jsonValue(body, key)
	if !ok || len(v) == 0 || v[0] != '"' {
		return nil, false
	}
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '"':
			return v[1:i], true
		case '\\':
			end := bytes.IndexByte(v[i:], '"')
			for end >= 0 {
				var s string
				if json.Unmarshal(v[:i+end+1], &s) == nil {
					return []byte(s), true
				}
				next := bytes.IndexByte(v[i+end+1:], '"')
				if next < 0 {
					break
				}
				end += next + 1
			}
			return nil, false
		}
	}
	return nil, false
}
