package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readFixture returns the recorded response in testdata/name.http.
func readFixture(t *testing.T, name string) (*http.Response, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// sseData returns the data of each event of an SSE body.
func sseData(body []byte) [][]byte {
	var out [][]byte
	for _, line := range bytes.Split(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\n")) {
		if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			out = append(out, d)
		}
	}
	return out
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func fixtureNames(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", "*.http"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var names []string
	for _, p := range m {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".http"))
	}
	return names
}

// TestResponseFixtures decodes every recorded response strictly: a field
// the wire types lack fails the test.
func TestResponseFixtures(t *testing.T) {
	for _, name := range fixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			resp, body := readFixture(t, name)
			if resp.StatusCode != http.StatusOK {
				var e ErrorBody
				if err := strictDecode(body, &e); err != nil {
					t.Fatalf("decode error body: %v", err)
				}
				if e.Error.Code != resp.StatusCode || e.Error.Status == "" || e.Error.Message == "" {
					t.Errorf("error body = %+v, want code %d with status and message", e.Error, resp.StatusCode)
				}
				return
			}
			chunks := [][]byte{body}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				chunks = sseData(body)
			}
			if len(chunks) == 0 {
				t.Fatal("no chunks")
			}
			for i, c := range chunks {
				var r Response
				if err := strictDecode(c, &r); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
				if len(r.Candidates) == 0 || r.ResponseID == "" || r.ModelVersion == "" {
					t.Errorf("chunk %d = %+v, want candidates, responseId and modelVersion", i, r)
				}
			}
		})
	}
}

// TestRequestFixtures decodes every recorded request body strictly and
// checks that encoding it again gives the same JSON.
func TestRequestFixtures(t *testing.T) {
	m, _ := filepath.Glob(filepath.Join("testdata", "*.request.json"))
	for _, p := range m {
		name := strings.TrimSuffix(filepath.Base(p), ".request.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var rec struct {
				URL  string          `json:"url"`
				Body json.RawMessage `json:"body"`
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(rec.URL, "aiplatform") && bytes.Contains(rec.Body, []byte(`"function_call"`)) {
				t.Skip("Vertex AI request in proto (snake_case) field names, which these types do not model")
			}
			var req Request
			if err := strictDecode(rec.Body, &req); err != nil {
				t.Fatalf("decode: %v", err)
			}
			again, err := json.Marshal(&req)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			_ = json.Unmarshal(rec.Body, &want)
			_ = json.Unmarshal(again, &got)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("re-encoded request differs (-recorded +encoded):\n%s", d)
			}
		})
	}
}

func TestFinishReasonDecode(t *testing.T) {
	tests := []struct {
		in   string
		want FinishReason
		ok   bool
	}{
		{`"STOP"`, FinishStop, true},
		{`1`, FinishStop, true},
		{`2`, FinishMaxTokens, true},
		{`5`, FinishOther, true},
		{`6`, FinishLanguage, true},
		{`8`, FinishProhibitedContent, true},
		{`99`, "ENUM_99", true},
		{`null`, "", true},
		{`true`, "", false},
		{`1.5`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var c Candidate
			err := json.Unmarshal([]byte(`{"finishReason":`+tt.in+`}`), &c)
			if (err == nil) != tt.ok {
				t.Fatalf("Unmarshal(%s) error = %v, want ok %v", tt.in, err, tt.ok)
			}
			if tt.ok && c.FinishReason != tt.want {
				t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, c.FinishReason, tt.want)
			}
		})
	}
}

func TestEnumIntFixture(t *testing.T) {
	_, body := readFixture(t, "generate-enum-int-langchaingo")
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if got := r.Candidates[0].FinishReason; got != FinishStop {
		t.Errorf("finishReason = %q, want STOP", got)
	}
	want := UsageMetadata{PromptTokenCount: 7, CandidatesTokenCount: 9, TotalTokenCount: 16}
	got := *r.UsageMetadata
	got.PromptTokensDetails, got.CandidatesTokensDetails = nil, nil
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("usage (-want +got):\n%s", d)
	}
}

func TestRetryDelay(t *testing.T) {
	_, body := readFixture(t, "error-429-resource-exhausted")
	var e ErrorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if got, want := e.Error.RetryDelay(), 34400*time.Millisecond; got != want {
		t.Errorf("RetryDelay() = %v, want %v", got, want)
	}
	if e.Error.Status != "RESOURCE_EXHAUSTED" {
		t.Errorf("status = %q", e.Error.Status)
	}
	info := Status{Details: []json.RawMessage{json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}`)}}
	if got := info.Reason(); got != "API_KEY_INVALID" {
		t.Errorf("Reason() = %q, want API_KEY_INVALID", got)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"34.4s", 34400 * time.Millisecond, true},
		{"2s", 2 * time.Second, true},
		{"0.5s", 500 * time.Millisecond, true},
		{"2", 0, false},
		{"-1s", 0, false},
		{"xs", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v, want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestEmbedRoundTrip(t *testing.T) {
	req := BatchEmbedContentsRequest{Requests: []EmbedContentRequest{{Model: "models/text-embedding-004",
		Content: Content{Parts: []Part{{Text: "hi"}}}, OutputDimensionality: 8}}}
	b, err := json.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"hi"}]},"outputDimensionality":8}]}`
	if string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var resp BatchEmbedContentsResponse
	if err := strictDecode([]byte(`{"embeddings":[{"values":[0.5,-1]}]}`), &resp); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]float32{0.5, -1}, resp.Embeddings[0].Values); d != "" {
		t.Errorf("values (-want +got):\n%s", d)
	}
}
