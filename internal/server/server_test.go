package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/gateway"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/route"
	"github.com/airgw/airgw/internal/server"
)

// fakeAuth accepts the key "good" and remembers every key presented.
type fakeAuth struct {
	mu        sync.Mutex
	presented []string
}

func (f *fakeAuth) Authenticate(_ context.Context, presented string) (*keys.Key, error) {
	f.mu.Lock()
	f.presented = append(f.presented, presented)
	f.mu.Unlock()
	if presented == "good" {
		return &keys.Key{ID: "key_1", Name: "app"}, nil
	}
	return nil, &llm.Error{Code: llm.CodeAuthenticationFailed, Message: "the API key is not valid"}
}

func (f *fakeAuth) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.presented) == 0 {
		return "<none>"
	}
	return f.presented[len(f.presented)-1]
}

type fakeAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (f *fakeAudit) Write(r audit.Record) {
	f.mu.Lock()
	f.recs = append(f.recs, r)
	f.mu.Unlock()
}

func (f *fakeAudit) only(t *testing.T) audit.Record {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.recs) != 1 {
		t.Fatalf("audit records = %d, want 1", len(f.recs))
	}
	return f.recs[0]
}

// fakeProvider answers "ok" and counts calls.
type fakeProvider struct{ calls atomic.Int32 }

func (p *fakeProvider) Chat(_ context.Context, req *llm.Request) (*llm.Reply, error) {
	p.calls.Add(1)
	return &llm.Reply{Response: &llm.Response{ID: "r1", Model: req.Model, UsageReported: true,
		Usage:   llm.Usage{InputTokens: 10, OutputTokens: 1},
		Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartText, Text: "ok"}}}, FinishReason: llm.FinishStop}}}}, nil
}

type harness struct {
	srv   *server.Server
	auth  *fakeAuth
	audit *fakeAudit
	prov  *fakeProvider
}

func newHarness(t *testing.T, o server.Options) *harness {
	t.Helper()
	h := &harness{auth: &fakeAuth{}, audit: &fakeAudit{}, prov: &fakeProvider{}}
	p := pricing.Price{Input: 1_000_000, Output: 1_000_000}
	rt := &gateway.Runtime{
		Routes:  route.NewTable(route.NewRoute("m", []route.Target{{Provider: "up", Client: h.prov, Model: "up-model", Weight: 1, Price: &p}})),
		Timeout: time.Minute,
	}
	gw := gateway.New(rt, gateway.Options{Auth: h.auth, Audit: h.audit})
	h.srv = server.New(gw, o)
	return h
}

const hello = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

func (h *harness) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, r)
	return w
}

func chatRequest(body string, header map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

// errorBody is the OpenAI error envelope.
type errorBody struct {
	Error struct {
		Message   string `json:"message"`
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", w.Body, err)
	}
	return e
}

var requestID = regexp.MustCompile(`^req_[0-9a-f]{24}$`)

func TestAPIKeyExtraction(t *testing.T) {
	tests := []struct {
		name          string
		header        map[string]string
		wantPresented string
		wantStatus    int
	}{
		{"bearer", map[string]string{"Authorization": "Bearer good"}, "good", 200},
		{"bearer_lowercase", map[string]string{"Authorization": "bearer good"}, "good", 200},
		{"bearer_uppercase", map[string]string{"Authorization": "BEARER good"}, "good", 200},
		{"bearer_padded", map[string]string{"Authorization": "Bearer   good  "}, "good", 200},
		{"x_api_key", map[string]string{"X-Api-Key": "good"}, "good", 200},
		{"x_api_key_padded", map[string]string{"x-api-key": " good "}, "good", 200},
		{"bearer_wins", map[string]string{"Authorization": "Bearer good", "X-Api-Key": "other"}, "good", 200},
		{"basic", map[string]string{"Authorization": "Basic Z29vZDo="}, "", 401},
		{"basic_with_x_api_key", map[string]string{"Authorization": "Basic Z29vZDo=", "X-Api-Key": "good"}, "", 401},
		{"bearer_empty", map[string]string{"Authorization": "Bearer "}, "", 401},
		{"bearer_no_space", map[string]string{"Authorization": "Bearergood"}, "", 401},
		{"raw_key", map[string]string{"Authorization": "good"}, "", 401},
		{"none", nil, "", 401},
		{"wrong_key", map[string]string{"Authorization": "Bearer bad"}, "bad", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, server.Options{})
			w := h.do(chatRequest(hello, tt.header))
			if got := h.auth.last(); got != tt.wantPresented {
				t.Errorf("key presented for %v = %q, want %q", tt.header, got, tt.wantPresented)
			}
			if w.Code != tt.wantStatus {
				t.Errorf("POST with %v = %d %s, want %d", tt.header, w.Code, w.Body, tt.wantStatus)
			}
			if tt.wantStatus == 401 {
				if e := decodeError(t, w); e.Error.Code != string(llm.CodeAuthenticationFailed) {
					t.Errorf("POST with %v code = %q, want authentication_failed", tt.header, e.Error.Code)
				}
				if n := h.prov.calls.Load(); n != 0 {
					t.Errorf("POST with %v provider calls = %d, want 0", tt.header, n)
				}
			}
		})
	}
}

func TestModelsUsesSameKeyExtraction(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"bearer", map[string]string{"Authorization": "Bearer good"}, 200},
		{"x_api_key", map[string]string{"X-Api-Key": "good"}, 200},
		{"basic", map[string]string{"Authorization": "Basic Z29vZDo="}, 401},
		{"none", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, server.Options{})
			r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := h.do(r)
			if w.Code != tt.want {
				t.Fatalf("GET /v1/models with %v = %d %s, want %d", tt.header, w.Code, w.Body, tt.want)
			}
			if tt.want == 200 && !strings.Contains(w.Body.String(), `"id":"m"`) {
				t.Errorf("GET /v1/models with %v = %s, want model m listed", tt.header, w.Body)
			}
			if tt.want == 401 && w.Header().Get("X-Should-Retry") != "false" {
				t.Errorf("GET /v1/models with %v X-Should-Retry = %q, want false", tt.header, w.Header().Get("X-Should-Retry"))
			}
		})
	}
}

func TestRequestIDOnEveryResponse(t *testing.T) {
	auth := map[string]string{"Authorization": "Bearer good"}
	tests := []struct {
		name    string
		req     func() *http.Request
		status  int
		isError bool
	}{
		{"chat_ok", func() *http.Request { return chatRequest(hello, auth) }, 200, false},
		{"chat_401", func() *http.Request { return chatRequest(hello, nil) }, 401, true},
		{"chat_400", func() *http.Request { return chatRequest(`{"model":"m"}`, auth) }, 400, true},
		{"chat_413", func() *http.Request { return chatRequest(`{"model":"`+strings.Repeat("x", 200)+`"}`, auth) }, 413, true},
		{"chat_415", func() *http.Request {
			return chatRequest(hello, map[string]string{"Authorization": "Bearer good", "Content-Type": "multipart/form-data; boundary=x"})
		}, 415, true},
		{"not_found", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/v2/nothing", nil) }, 404, true},
		{"method", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/v1/chat/completions", nil) }, 405, true},
		{"models_401", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/v1/models", nil) }, 401, true},
		{"healthz", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/healthz", nil) }, 200, false},
		{"readyz", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/readyz", nil) }, 200, false},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, server.Options{MaxBody: 128})
			w := h.do(tt.req())
			if w.Code != tt.status {
				t.Fatalf("%s = %d %s, want %d", tt.name, w.Code, w.Body, tt.status)
			}
			id := w.Header().Get("X-Request-Id")
			if !requestID.MatchString(id) {
				t.Fatalf("%s X-Request-Id = %q, want req_ and 24 hex digits", tt.name, id)
			}
			if other, dup := seen[id]; dup {
				t.Errorf("%s X-Request-Id = %q, the same as %s's, want a fresh id", tt.name, id, other)
			}
			seen[id] = tt.name
			if tt.isError {
				if e := decodeError(t, w); e.Error.RequestID != id {
					t.Errorf("%s error request_id = %q, want the header's %q", tt.name, e.Error.RequestID, id)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s Content-Type = %q, want application/json", tt.name, ct)
				}
			}
		})
	}
}

func TestClientHeadersAreNotEchoed(t *testing.T) {
	spoof := map[string]string{
		"X-Request-Id":      "req_000000000000000000000000",
		"X-Airgw-Provider":  "evil",
		"X-Airgw-Model":     "evil-model",
		"X-Airgw-Cost-Usd":  "0.000000000",
		"X-Airgw-Attempts":  "9",
		"X-Should-Retry":    "true",
		"X-Forwarded-For":   "10.9.9.9",
		"X-Real-Ip":         "10.9.9.9",
		"X-Airgw-Tags":      "t",
		"Authorization":     "Bearer good",
		"X-Airgw-Purpose":   "p",
		"X-Airgw-Something": "x",
	}
	tests := []struct {
		name     string
		key      string
		wantProv string // our X-Airgw-Provider; "" when no provider was chosen
	}{
		{"success", "Bearer good", "up"},
		{"refused", "Bearer bad", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, server.Options{})
			hdr := map[string]string{}
			for k, v := range spoof {
				hdr[k] = v
			}
			hdr["Authorization"] = tt.key
			w := h.do(chatRequest(hello, hdr))
			if got := w.Header().Get("X-Request-Id"); got == spoof["X-Request-Id"] || !requestID.MatchString(got) {
				t.Errorf("X-Request-Id = %q, want a fresh id, not the client's %q", got, spoof["X-Request-Id"])
			}
			if got := w.Header().Get("X-Airgw-Provider"); got != tt.wantProv {
				t.Errorf("X-Airgw-Provider = %q, want %q", got, tt.wantProv)
			}
			for _, k := range []string{"X-Airgw-Model", "X-Airgw-Cost-Usd", "X-Airgw-Attempts", "X-Should-Retry", "X-Forwarded-For", "X-Real-Ip", "X-Airgw-Something", "Authorization"} {
				if got := w.Header().Get(k); got == spoof[k] {
					t.Errorf("%s = %q, want not the client's value echoed", k, got)
				}
			}
			rec := h.audit.only(t)
			if rec.RequestID != w.Header().Get("X-Request-Id") {
				t.Errorf("audit request id = %q, want the response's %q", rec.RequestID, w.Header().Get("X-Request-Id"))
			}
			// Forwarding headers are not trusted: the peer address is.
			if rec.ClientIP != "192.0.2.1" {
				t.Errorf("audit client ip = %q, want the peer 192.0.2.1", rec.ClientIP)
			}
		})
	}
}

func TestNotFoundNamesRoutes(t *testing.T) {
	for _, tt := range []struct{ method, path string }{
		{"GET", "/"},
		{"POST", "/chat/completions"},
		{"POST", "/v1/completions"},
		{"GET", "/v1/chat/completions/extra"},
		{"POST", "/v1/audio/speech"},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			h := newHarness(t, server.Options{})
			w := h.do(httptest.NewRequest(tt.method, tt.path, strings.NewReader(hello)))
			e := decodeError(t, w)
			if w.Code != 404 || e.Error.Code != string(llm.CodeNotFound) {
				t.Fatalf("%s %s = %d %q, want 404 not_found", tt.method, tt.path, w.Code, e.Error.Code)
			}
			for _, want := range []string{"POST /v1/chat/completions", "GET /v1/models", tt.path} {
				if !strings.Contains(e.Error.Message, want) {
					t.Errorf("%s %s message = %q, want it to name %q", tt.method, tt.path, e.Error.Message, want)
				}
			}
			if h.prov.calls.Load() != 0 || h.auth.last() != "<none>" {
				t.Errorf("%s %s reached the pipeline, want it refused before", tt.method, tt.path)
			}
		})
	}
}

func TestWrongMethod(t *testing.T) {
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/chat/completions"},
		{"PUT", "/v1/chat/completions"},
		{"DELETE", "/v1/chat/completions"},
		{"POST", "/v1/models"},
		{"POST", "/healthz"},
		{"DELETE", "/readyz"},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			h := newHarness(t, server.Options{})
			w := h.do(httptest.NewRequest(tt.method, tt.path, nil))
			e := decodeError(t, w)
			if w.Code != 405 || e.Error.Code != string(llm.CodeMethodNotAllowed) {
				t.Errorf("%s %s = %d %q, want 405 method_not_allowed", tt.method, tt.path, w.Code, e.Error.Code)
			}
			if !strings.Contains(e.Error.Message, tt.method) {
				t.Errorf("%s %s message = %q, want it to name the method", tt.method, tt.path, e.Error.Message)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	const limit = 1024
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2*limit) + `"}]}`
	tests := []struct {
		name          string
		body          string
		contentLength int64 // -1: unknown (chunked)
		wantStatus    int
	}{
		{"declared_over", big, int64(len(big)), 413},
		{"chunked_over", big, -1, 413},
		{"at_limit", hello + strings.Repeat(" ", limit-len(hello)), int64(limit), 200},
		{"one_over", hello + strings.Repeat(" ", limit-len(hello)+1), -1, 413},
		{"small", hello, int64(len(hello)), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, server.Options{MaxBody: limit})
			r := chatRequest(tt.body, map[string]string{"Authorization": "Bearer good"})
			r.ContentLength = tt.contentLength
			w := h.do(r)
			if w.Code != tt.wantStatus {
				t.Fatalf("POST %d bytes (limit %d) = %d %s, want %d", len(tt.body), limit, w.Code, w.Body, tt.wantStatus)
			}
			if tt.wantStatus != 413 {
				return
			}
			e := decodeError(t, w)
			if e.Error.Code != string(llm.CodePayloadTooLarge) || !strings.Contains(e.Error.Message, "1 KiB") || !strings.Contains(e.Error.Message, "server.max_body") {
				t.Errorf("POST %d bytes error = %q %q, want payload_too_large naming 1 KiB and server.max_body", len(tt.body), e.Error.Code, e.Error.Message)
			}
			if w.Header().Get("X-Should-Retry") != "false" {
				t.Errorf("POST %d bytes X-Should-Retry = %q, want false", len(tt.body), w.Header().Get("X-Should-Retry"))
			}
			if n := h.prov.calls.Load(); n != 0 {
				t.Errorf("POST %d bytes provider calls = %d, want 0", len(tt.body), n)
			}
			if rec := h.audit.only(t); rec.Status != 413 || rec.ErrorClass != string(llm.CodePayloadTooLarge) {
				t.Errorf("POST %d bytes audit = %d %q, want 413 payload_too_large", len(tt.body), rec.Status, rec.ErrorClass)
			}
		})
	}
}

// TestSizeLimitsBeforeKey: a request over a size limit is refused as such
// whatever its key (DESIGN.md §2: size limits first), so that a client
// learns the fix that applies to it, and nothing past the limit is read.
func TestSizeLimitsBeforeKey(t *testing.T) {
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`
	for _, auth := range []string{"", "Bearer wrong", "Bearer good"} {
		h := newHarness(t, server.Options{MaxBody: 1024})
		hdr := map[string]string{}
		if auth != "" {
			hdr["Authorization"] = auth
		}
		w := h.do(chatRequest(big, hdr))
		if e := decodeError(t, w); w.Code != 413 || e.Error.Code != string(llm.CodePayloadTooLarge) {
			t.Errorf("oversized body with Authorization %q = %d %q, want 413 payload_too_large", auth, w.Code, e.Error.Code)
		}
		hdr["X-Big"] = strings.Repeat("h", server.MaxHeaderBytes)
		w = h.do(chatRequest(hello, hdr))
		if e := decodeError(t, w); w.Code != 431 || e.Error.Code != string(llm.CodeRequestHeaderTooLarge) {
			t.Errorf("oversized headers with Authorization %q = %d %q, want 431 request_header_too_large", auth, w.Code, e.Error.Code)
		}
		if n := h.prov.calls.Load(); n != 0 {
			t.Errorf("provider calls = %d, want 0", n)
		}
	}
}

func TestDefaultBodyLimit(t *testing.T) {
	h := newHarness(t, server.Options{})
	r := chatRequest(hello, map[string]string{"Authorization": "Bearer good"})
	r.ContentLength = 4<<20 + 1
	w := h.do(r)
	if e := decodeError(t, w); w.Code != 413 || !strings.Contains(e.Error.Message, "4 MiB") {
		t.Errorf("POST declaring 4 MiB + 1 with default limit = %d %q, want 413 naming 4 MiB", w.Code, e.Error.Message)
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t, server.Options{Ready: func(context.Context) map[string]error {
		return map[string]error{"database": errors.New("down")} // liveness ignores dependencies
	}})
	w := h.do(httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != 200 || w.Body.String() != `{"status":"ok"}` || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("GET /healthz = %d %q %q, want 200 application/json {\"status\":\"ok\"}", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestReadyz(t *testing.T) {
	type report struct {
		Status  string            `json:"status"`
		Failing map[string]string `json:"failing"`
	}
	tests := []struct {
		name       string
		ready      func(context.Context) map[string]error
		wantStatus int
		want       report
	}{
		{"no_checks", nil, 200, report{Status: "ready"}},
		{"healthy", func(context.Context) map[string]error {
			return map[string]error{"database": nil, "cache": nil}
		}, 200, report{Status: "ready"}},
		{"database_down", func(context.Context) map[string]error {
			return map[string]error{"database": errors.New("database is locked"), "cache": nil}
		}, 503, report{Status: "unavailable", Failing: map[string]string{"database": "unavailable"}}},
		{"deadline", func(ctx context.Context) map[string]error {
			if _, ok := ctx.Deadline(); !ok {
				return map[string]error{"deadline": errors.New("no deadline on the readiness context")}
			}
			return map[string]error{"deadline": nil}
		}, 200, report{Status: "ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, server.Options{Ready: tt.ready})
			w := h.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if w.Code != tt.wantStatus {
				t.Errorf("GET /readyz = %d %s, want %d", w.Code, w.Body, tt.wantStatus)
			}
			var got report
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("GET /readyz body %q: %v", w.Body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GET /readyz body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestMetadataHeaders(t *testing.T) {
	long := strings.Repeat("p", 300)
	tag64 := strings.Repeat("t", 64)
	var many []string
	for i := range 20 {
		many = append(many, "t"+string(rune('a'+i)))
	}
	tests := []struct {
		name        string
		header      map[string]string
		wantTags    []string
		wantPurpose string
		wantUser    string
	}{
		{"none", nil, nil, "", ""},
		{"simple", map[string]string{"X-Airgw-Tags": "a,b", "X-Airgw-Purpose": "triage", "X-Airgw-User": "u-1"}, []string{"a", "b"}, "triage", "u-1"},
		{"trim", map[string]string{"X-Airgw-Tags": "  a , b  ,c ", "X-Airgw-Purpose": "  triage  "}, []string{"a", "b", "c"}, "triage", ""},
		{"drop_empty", map[string]string{"X-Airgw-Tags": ",a,, ,b,"}, []string{"a", "b"}, "", ""},
		{"only_commas", map[string]string{"X-Airgw-Tags": " , , "}, nil, "", ""},
		{"cap_count", map[string]string{"X-Airgw-Tags": strings.Join(many, ",")}, many[:16], "", ""},
		{"cap_length", map[string]string{"X-Airgw-Tags": "ok," + tag64 + "," + tag64 + "x,end"}, []string{"ok", tag64, "end"}, "", ""},
		{"purpose_cap", map[string]string{"X-Airgw-Purpose": long, "X-Airgw-User": long}, nil, long[:256], long[:256]},
		{"purpose_exact", map[string]string{"X-Airgw-Purpose": long[:256]}, nil, long[:256], ""},
		// A cut must not split a multi-byte character: 85 × "€" is 255 bytes.
		{"purpose_cap_utf8", map[string]string{"X-Airgw-Purpose": strings.Repeat("€", 100)}, nil, strings.Repeat("€", 85), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, server.Options{})
			hdr := map[string]string{"Authorization": "Bearer good"}
			for k, v := range tt.header {
				hdr[k] = v
			}
			w := h.do(chatRequest(hello, hdr))
			if w.Code != 200 {
				t.Fatalf("POST with %s = %d %s, want 200", tt.name, w.Code, w.Body)
			}
			rec := h.audit.only(t)
			if diff := cmp.Diff(tt.wantTags, rec.Tags); diff != "" {
				t.Errorf("tags(%q) mismatch (-want +got):\n%s", tt.header["X-Airgw-Tags"], diff)
			}
			if rec.Purpose != tt.wantPurpose || !utf8.ValidString(rec.Purpose) {
				t.Errorf("purpose(%d bytes) = %q (%d bytes), want %q (%d bytes)", len(tt.header["X-Airgw-Purpose"]), rec.Purpose, len(rec.Purpose), tt.wantPurpose, len(tt.wantPurpose))
			}
			if rec.EndUser != tt.wantUser {
				t.Errorf("end user(%d bytes) = %q, want %q", len(tt.header["X-Airgw-User"]), rec.EndUser, tt.wantUser)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	h := newHarness(t, server.Options{})
	want := []string{"POST /v1/chat/completions", "POST /v1/responses", "POST /v1/embeddings", "POST /v1/messages", "POST /v1/messages/count_tokens"}
	if diff := cmp.Diff(want, h.srv.Routes()); diff != "" {
		t.Errorf("Routes() mismatch (-want +got):\n%s", diff)
	}
}

// TestOverTheWire runs the handler behind a real HTTP server, as clients
// see it: a chunked body over the limit and the request id.
func TestOverTheWire(t *testing.T) {
	h := newHarness(t, server.Options{MaxBody: 64})
	ts := httptest.NewServer(h.srv)
	defer ts.Close()

	pr := strings.NewReader(hello + strings.Repeat(" ", 100))
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", struct{ *strings.Reader }{pr}) // hide the length
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer good")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("POST = %v", err)
	}
	defer resp.Body.Close()
	var e errorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("POST body: %v", err)
	}
	if resp.StatusCode != 413 || e.Error.Code != string(llm.CodePayloadTooLarge) || e.Error.RequestID != resp.Header.Get("X-Request-Id") || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("POST chunked 152 bytes (limit 64) = %d %q id %q/%q, want 413 payload_too_large with matching request ids",
			resp.StatusCode, e.Error.Code, e.Error.RequestID, resp.Header.Get("X-Request-Id"))
	}
	if n := h.prov.calls.Load(); n != 0 {
		t.Errorf("provider calls = %d, want 0", n)
	}
}
