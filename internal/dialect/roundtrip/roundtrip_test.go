package roundtrip

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

// upstream is an http.RoundTripper that records the body sent and answers
// every request with a fixed status, content type and body: the adapters
// under test never reach a network.
type upstream struct {
	sent        []byte
	contentType string
	reply       []byte
}

func (u *upstream) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	u.sent = b
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {u.contentType}},
		Body: io.NopCloser(bytes.NewReader(u.reply)), Request: r}, nil
}

func (u *upstream) client() *http.Client { return &http.Client{Transport: u} }

// translated returns req as a provider would see it from a client of the
// other dialect: no native body to forward.
func translated(req *llm.Request) *llm.Request {
	c := *req
	c.Native, c.NativeOnly = nil, nil
	return &c
}

// chatOnce sends req through p with up answering, returning the reply's
// response or nil.
func chatOnce(t *testing.T, p llm.Provider, req *llm.Request) *llm.Response {
	t.Helper()
	reply, err := p.Chat(context.Background(), req)
	if err != nil {
		return nil
	}
	if reply.Stream != nil {
		reply.Stream.Close()
		return nil
	}
	return reply.Response
}

// write renders resp with a dialect's writer and returns the body.
func write(t *testing.T, newWriter func(http.ResponseWriter) interface{ WriteResponse(*llm.Response) error }, resp *llm.Response) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := newWriter(rec).WriteResponse(resp); err != nil {
		t.Fatalf("WriteResponse: %v", err)
	}
	return rec.Body.Bytes()
}

// requestBodies returns the "body" of every recorded request matching
// pattern (relative to this package).
func requestBodies(t testing.TB, pattern string) [][]byte {
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Body json.RawMessage `json:"body"`
		}
		if json.Unmarshal(b, &rec) == nil && len(rec.Body) > 0 && rec.Body[0] == '{' {
			out = append(out, rec.Body)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no recorded requests match %s", pattern)
	}
	return out
}

// responseBody returns the body of a recorded .http response.
func responseBody(t testing.TB, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return b[i+4:]
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return b[i+2:]
	}
	return nil
}

// normalizeContent treats a message without content and one whose content
// is empty text alike: dialects write the first as "" (OpenAI) or omit it.
func normalizeContent(m *llm.Message) {
	for _, p := range m.Content {
		if p.Type != llm.PartText || p.Text != "" {
			return
		}
	}
	m.Content, m.ContentIsString = nil, false
}

// sameJSON compares raw JSON by value: a translation may re-encode it
// (whitespace, key order), never change it.
var sameJSON = cmp.Comparer(func(a, b json.RawMessage) bool {
	var x, y any
	ea, eb := json.Unmarshal(a, &x), json.Unmarshal(b, &y)
	if ea != nil || eb != nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	return cmp.Equal(x, y)
})
