package anthropic

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
)

// malformedCase is one entry of testdata/malformed.json, the corpus of
// malformed Messages bodies. Each must be refused with its code and param.
type malformedCase struct {
	Name  string   `json:"name"`
	Body  string   `json:"body"`
	Code  llm.Code `json:"code"`
	Param string   `json:"param"`
}

func loadMalformed(t testing.TB) []malformedCase {
	b, err := os.ReadFile("testdata/malformed.json")
	if err != nil {
		t.Fatal(err)
	}
	var cs []malformedCase
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatalf("testdata/malformed.json: %v", err)
	}
	return cs
}

// fixtureBodies returns the request bodies of the shared Anthropic fixtures,
// by file name.
func fixtureBodies(t testing.TB) map[string][]byte {
	files, err := filepath.Glob("testdata/fixtures/*.request.json")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Body json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".request.json")] = rec.Body
	}
	return out
}

func TestDecodeMessagesMalformed(t *testing.T) {
	cases := loadMalformed(t)
	if len(cases) < 40 {
		t.Fatalf("malformed corpus has %d cases, want at least 40", len(cases))
	}
	seen := make(map[string]bool)
	for _, tt := range cases {
		if seen[tt.Name] {
			t.Fatalf("malformed corpus repeats the name %q", tt.Name)
		}
		seen[tt.Name] = true
		t.Run(tt.Name, func(t *testing.T) {
			req, err := DecodeMessages([]byte(tt.Body), Limits{})
			if err == nil {
				t.Fatalf("DecodeMessages(%s) = %+v, want error", tt.Body, req)
			}
			e := llm.AsError(err)
			if e.Code != tt.Code || e.Param != tt.Param {
				t.Errorf("DecodeMessages(%s) = code %s param %q (%s), want code %s param %q", tt.Body, e.Code, e.Param, e.Message, tt.Code, tt.Param)
			}
			if s := e.Status(); s != 400 && s != 413 {
				t.Errorf("DecodeMessages(%s) status = %d, want 400 or 413", tt.Body, s)
			}
			if e.Message == "" || strings.Contains(e.Message, "%!") {
				t.Errorf("DecodeMessages(%s) message = %q, want a readable message", tt.Body, e.Message)
			}
			if e.Param != "" && !strings.Contains(e.Message, lastSegment(e.Param)) {
				t.Errorf("DecodeMessages(%s) message = %q, want it to name %q", tt.Body, e.Message, e.Param)
			}
		})
	}
}

// lastSegment is the field name a message must mention for param.
func lastSegment(param string) string {
	if i := strings.LastIndexAny(param, ".["); i >= 0 && param[i] == '.' {
		return param[i+1:]
	}
	if i := strings.Index(param, "["); i > 0 {
		return param[:i]
	}
	return param
}

func TestDecodeMessagesLimits(t *testing.T) {
	user := `{"role":"user","content":"x"}`
	blocks := strings.TrimSuffix(strings.Repeat(`{"type":"text","text":"x"},`, 4), ",")
	tool := `{"name":"f%d","input_schema":{"type":"object"}}`
	var tools []string
	for i := range 3 {
		tools = append(tools, strings.Replace(tool, "%d", string(rune('a'+i)), 1))
	}
	tests := []struct {
		name  string
		body  string
		lim   Limits
		param string
	}{
		{"messages", `{"model":"m","max_tokens":1,"messages":[` + strings.TrimSuffix(strings.Repeat(user+",", 11), ",") + `]}`, Limits{MaxMessages: 10}, "messages"},
		{"parts", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[` + blocks + `]}]}`, Limits{MaxParts: 3}, "messages[0].content"},
		{"system", `{"model":"m","max_tokens":1,"system":[` + blocks + `],"messages":[` + user + `]}`, Limits{MaxParts: 3}, "system"},
		{"tools", `{"model":"m","max_tokens":1,"tools":[` + strings.Join(tools, ",") + `],"messages":[` + user + `]}`, Limits{MaxTools: 2}, "tools"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeMessages([]byte(tt.body), tt.lim)
			if e := llm.AsError(err); e == nil || e.Code != llm.CodePayloadTooLarge || e.Param != tt.param {
				t.Errorf("DecodeMessages(%s, %+v) = %v, want payload_too_large on %s", tt.name, tt.lim, err, tt.param)
			}
		})
	}
}

func TestDecodeMessagesFixtures(t *testing.T) {
	bodies := fixtureBodies(t)
	if len(bodies) < 10 {
		t.Fatalf("found %d Anthropic fixture requests, want at least 10", len(bodies))
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			req, err := DecodeMessages(body, Limits{})
			if err != nil {
				t.Fatalf("DecodeMessages(%s) error = %v", name, err)
			}
			if req.Model == "" || req.MaxTokens == 0 || len(req.Messages) == 0 || !req.IncludeUsage {
				t.Errorf("DecodeMessages(%s) = %+v, want model, max_tokens, messages and IncludeUsage", name, req)
			}
		})
	}
}

func TestUnknownFields(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"none", `{"model":"m","max_tokens":1,"messages":[],"stream":true}`, nil},
		{"several", `{"model":"m","service_tier":"auto","container":"c","max_tokens":1,"cache_control":{"type":"ephemeral"}}`, []string{"cache_control", "container"}},
		{"empty_values", `{"model":"m","mcp_servers":[],"container":null,"context_management":{},"inference_geo":""}`, nil},
		{"not_an_object", `[1]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnknownFields([]byte(tt.body)); !cmp.Equal(got, tt.want) {
				t.Errorf("UnknownFields(%s) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
	// The fixtures' unmodelled fields are what a translation must refuse.
	bodies := fixtureBodies(t)
	if got := UnknownFields(bodies["error-400-invalid-request"]); !cmp.Equal(got, []string{"output_config"}) {
		t.Errorf("UnknownFields(error-400-invalid-request) = %q, want [output_config]", got)
	}
}

func TestDecodeCountTokens(t *testing.T) {
	req, err := DecodeCountTokens([]byte(`{"model":"m","system":"s","messages":[{"role":"user","content":"hi"}]}`), Limits{})
	if err != nil {
		t.Fatalf("DecodeCountTokens(no max_tokens) error = %v", err)
	}
	want := &llm.Request{Model: "m", Messages: []llm.Message{
		{Role: llm.RoleSystem, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "s"}}},
		{Role: llm.RoleUser, ContentIsString: true, Content: []llm.Part{{Type: llm.PartText, Text: "hi"}}},
	}}
	if req.Native == nil || req.Native.Endpoint != EndpointCountTokens {
		t.Errorf("DecodeCountTokens().Native = %+v, want endpoint %s", req.Native, EndpointCountTokens)
	}
	req.Native, req.NativeOnly = nil, nil
	if diff := cmp.Diff(want, req); diff != "" {
		t.Errorf("DecodeCountTokens() mismatch (-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ body, param string }{
		{`{"model":"m","stream":false,"messages":[{"role":"user","content":"hi"}]}`, "stream"},
		{`{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens"},
		{`{"model":"m","messages":[]}`, "messages"},
	} {
		_, err := DecodeCountTokens([]byte(tt.body), Limits{})
		if e := llm.AsError(err); e == nil || e.Param != tt.param {
			t.Errorf("DecodeCountTokens(%s) = %v, want an error on %s", tt.body, err, tt.param)
		}
	}
}

func FuzzDecodeMessages(f *testing.F) {
	for _, tt := range loadMalformed(f) {
		f.Add([]byte(tt.Body))
	}
	for _, b := range fixtureBodies(f) {
		f.Add(b)
	}
	for _, tt := range decodeCases() {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, decode := range []func([]byte, Limits) (*llm.Request, error){DecodeMessages, DecodeCountTokens} {
			req, err := decode(body, Limits{MaxMessages: 100, MaxParts: 100, MaxTools: 100})
			if err != nil {
				e := llm.AsError(err)
				if e.Code == llm.CodeInternal {
					t.Fatalf("decode(%q) = internal error %v", body, err)
				}
				if s := e.Status(); s != 400 && s != 413 {
					t.Fatalf("decode(%q) status = %d, want 400 or 413", body, s)
				}
				continue
			}
			if req.Model == "" || len(req.Messages) == 0 {
				t.Fatalf("decode(%q) accepted a request without model or messages", body)
			}
			for _, m := range req.Messages {
				for _, tc := range m.ToolCalls {
					if !json.Valid([]byte(tc.Arguments)) {
						t.Fatalf("decode(%q) tool call arguments %q are not JSON", body, tc.Arguments)
					}
				}
			}
		}
	})
}

func BenchmarkDecodeMessages(b *testing.B) {
	body := []byte(decodeCases()[3].body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMessages(body, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNativeOnlyContent checks that what only an Anthropic provider can
// serve (documents, server tools, Files API images) decodes, stays in the
// native body for pass-through, and is named in NativeOnly so that every
// other provider refuses it.
func TestNativeOnlyContent(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"document", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}},{"type":"text","text":"summarize"}]}]}`,
			[]string{"`document` content blocks"}},
		{"document_alone", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]}`,
			[]string{"`document` content blocks"}},
		{"file_image", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]}`,
			[]string{"images from the Files API (`source.type` `file`)"}},
		{"server_tool_and_field", `{"model":"m","max_tokens":10,"container":"c1","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},{"name":"f","input_schema":{"type":"object"}}]}`,
			[]string{"Anthropic's server and built-in tools (`web_search_20250305`)", "container"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeMessages([]byte(tt.body), Limits{})
			if err != nil {
				t.Fatalf("DecodeMessages = %v, want it decoded for pass-through", err)
			}
			if req.Native == nil || string(req.Native.Body) != tt.body || len(req.Messages) == 0 {
				t.Errorf("request = %+v, want the body kept and the turn counted", req)
			}
			if diff := cmp.Diff(tt.want, req.NativeOnly()); diff != "" {
				t.Errorf("NativeOnly() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
