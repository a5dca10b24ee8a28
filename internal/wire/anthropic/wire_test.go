package anthropic

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

	"github.com/google/go-cmp/cmp"
)

const fixtureDir = "../../provider/anthropic/anthropictest/testdata"

// generic decodes b into plain maps, for comparison, without the members
// whose value is null, false or "": encoders omit those.
func generic(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", b, err)
	}
	return dropEmpty(v)
}

func dropEmpty(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil || e == false || e == "" {
				delete(x, k)
				continue
			}
			x[k] = dropEmpty(e)
		}
	case []any:
		for i := range x {
			x[i] = dropEmpty(x[i])
		}
	}
	return v
}

// roundTrip decodes b into a new T, encodes it again and checks that no
// field was lost or invented: the wire types model every field the
// recorded traffic holds.
func roundTrip[T any](t *testing.T, name string, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: decode: %v", name, err)
	}
	out, err := json.Marshal(&v)
	if err != nil {
		t.Fatalf("%s: encode: %v", name, err)
	}
	if diff := cmp.Diff(generic(t, b), generic(t, out)); diff != "" {
		t.Errorf("%s: round trip changed the JSON (-recorded +encoded):\n%s", name, diff)
	}
	return v
}

func readFixture(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// sseData returns the data lines of an SSE body, one per event.
func sseData(body []byte) (names []string, data [][]byte) {
	for _, ev := range bytes.Split(body, []byte("\n\n")) {
		var name string
		for _, line := range bytes.Split(ev, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
				name = string(v)
			}
			if v, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				names = append(names, name)
				data = append(data, v)
			}
		}
	}
	return names, data
}

func TestFixturesRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.http"))
	if len(files) < 14 {
		t.Fatalf("found %d fixtures in %s, want the 14 shared ones", len(files), fixtureDir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".http")
		t.Run(name, func(t *testing.T) {
			resp, body := readFixture(t, f)
			switch {
			case resp.StatusCode >= 400:
				e := roundTrip[ErrorBody](t, name, body)
				if e.Type != "error" || e.Error.Type == "" || e.Error.Message == "" {
					t.Errorf("%s: error body = %+v", name, e)
				}
			case strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"):
				names, data := sseData(body)
				if len(data) < 5 {
					t.Fatalf("%s: %d events", name, len(data))
				}
				for i, d := range data {
					ev := roundTrip[StreamEvent](t, name, d)
					if ev.Type != names[i] {
						t.Errorf("%s: event %d named %q has type %q", name, i, names[i], ev.Type)
					}
				}
			default:
				m := roundTrip[MessagesResponse](t, name, body)
				if m.Type != "message" || m.StopReason == nil || len(m.Content) == 0 {
					t.Errorf("%s: message = %+v", name, m)
				}
			}
		})
	}
}

func TestRequestsRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.request.json")
	if len(files) == 0 {
		t.Fatal("no request fixtures in testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".request.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var rec struct {
				Body json.RawMessage `json:"body"`
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			r := roundTrip[MessagesRequest](t, name, rec.Body)
			if r.Model == "" || r.MaxTokens == 0 || len(r.Messages) == 0 {
				t.Errorf("%s: request = %+v", name, r)
			}
		})
	}
}

func TestContentBlockEncoding(t *testing.T) {
	tests := []struct {
		name  string
		block ContentBlock
		want  string
	}{
		{"text-empty", ContentBlock{Type: BlockText}, `{"type":"text","text":""}`},
		{"text-cached", ContentBlock{Type: BlockText, Text: "a", CacheControl: &CacheControl{Type: "ephemeral"}},
			`{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}`},
		{"image-base64", ContentBlock{Type: BlockImage, Source: &Source{Type: SourceBase64, MediaType: "image/png", Data: "iVBO"}},
			`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}`},
		{"image-url", ContentBlock{Type: BlockImage, Source: &Source{Type: SourceURL, URL: "https://x/y.png"}},
			`{"type":"image","source":{"type":"url","url":"https://x/y.png"}}`},
		{"tool-use-no-input", ContentBlock{Type: BlockToolUse, ID: "t1", Name: "f"}, `{"type":"tool_use","id":"t1","name":"f","input":{}}`},
		{"tool-result-string", ContentBlock{Type: BlockToolResult, ToolUseID: "t1", Content: &Content{Kind: ContentString, Text: "ok"}, IsError: true},
			`{"type":"tool_result","tool_use_id":"t1","content":"ok","is_error":true}`},
		{"tool-result-blocks", ContentBlock{Type: BlockToolResult, ToolUseID: "t1", Content: &Content{Kind: ContentBlocks, Blocks: []ContentBlock{{Type: BlockText, Text: "x"}}}},
			`{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"x"}]}`},
		{"thinking", ContentBlock{Type: BlockThinking, Thinking: "hm"}, `{"type":"thinking","thinking":"hm","signature":""}`},
		{"redacted", ContentBlock{Type: BlockRedactedThinking, Data: "xx"}, `{"type":"redacted_thinking","data":"xx"}`},
		{"document", ContentBlock{Type: BlockDocument, Source: &Source{Type: SourceText, MediaType: "text/plain", Data: "d"}, Title: "T"},
			`{"type":"document","source":{"type":"text","media_type":"text/plain","data":"d"},"title":"T"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.block)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("Marshal(%+v) = %s, want %s", tt.block, b, tt.want)
			}
			var back ContentBlock
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if tt.block.Type == BlockToolUse {
				tt.block.Input = json.RawMessage("{}")
			}
			if diff := cmp.Diff(tt.block, back); diff != "" {
				t.Errorf("Unmarshal(Marshal(%s)) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestContentDecoding(t *testing.T) {
	tests := []struct {
		in      string
		want    Content
		wantErr bool
	}{
		{`"hi"`, TextContent("hi"), false},
		{`[]`, BlocksContent(), false},
		{`[{"type":"text","text":"a"},{"type":"text","text":"b"}]`, BlocksContent(ContentBlock{Type: "text", Text: "a"}, ContentBlock{Type: "text", Text: "b"}), false},
		{`null`, Content{}, false},
		{`42`, Content{}, true},
		{`{"type":"text"}`, Content{}, true},
		{`nul`, Content{}, true},
	}
	for _, tt := range tests {
		var c Content
		err := json.Unmarshal([]byte(tt.in), &c)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, c); !tt.wantErr && diff != "" {
			t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
	c := BlocksContent(ContentBlock{Type: "text", Text: "a"}, ContentBlock{Type: "image"}, ContentBlock{Type: "text", Text: "b"})
	if got := c.String(); got != "ab" {
		t.Errorf("String() = %q, want %q", got, "ab")
	}
}

func TestRequestOmitsUnset(t *testing.T) {
	b, err := json.Marshal(MessagesRequest{Model: "m", MaxTokens: 5, Messages: []Message{{Role: RoleUser, Content: TextContent("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":5}`
	if string(b) != want {
		t.Errorf("Marshal(minimal request) = %s, want %s", b, want)
	}
}
