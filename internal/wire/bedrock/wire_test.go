package bedrock

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// strict decodes b into v, refusing members v does not model.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// jsonEqual compares raw JSON values by their compact form.
var jsonEqual = cmp.Comparer(func(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
})

// emptySlices treats an empty and a nil system prompt alike ("system": []
// is sent by some SDKs and omitted on re-encoding).
var emptySlices = cmp.FilterValues(func(a, b []SystemBlock) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

// roundTrip checks that v re-encodes to a body that decodes to the same
// value: nothing the types accept is lost on the way out.
func roundTrip[T any](t *testing.T, name string, v *T) {
	t.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: Marshal: %v", name, err)
	}
	var back T
	if err := strict(out, &back); err != nil {
		t.Fatalf("%s: decode of re-encoded body: %v", name, err)
	}
	if d := cmp.Diff(*v, back, jsonEqual, emptySlices); d != "" {
		t.Errorf("%s: round trip (-first +second):\n%s", name, d)
	}
}

func TestRequestFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.request.json")
	if len(files) < 8 {
		t.Fatalf("found %d request fixtures, want at least 8", len(files))
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
			var req ConverseRequest
			if err := strict(rec.Body, &req); err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			if len(req.Messages) == 0 {
				t.Fatal("no messages decoded")
			}
			for i, m := range req.Messages {
				for j, b := range m.Content {
					if n := b.Members(); n != 1 {
						t.Errorf("messages[%d].content[%d] has %d members, want 1", i, j, n)
					}
				}
			}
			var fields map[string]json.RawMessage
			_ = json.Unmarshal(rec.Body, &fields)
			for k := range fields {
				if !strings.Contains(strings.Join(RequestFields, ","), k) {
					t.Errorf("field %q missing from RequestFields", k)
				}
			}
			roundTrip(t, name, &req)
		})
	}
}

func TestResponseFixtures(t *testing.T) {
	tests := []struct {
		name   string
		stop   string
		usage  TokenUsage
		blocks int
	}{
		{"converse-basic", StopEndTurn, TokenUsage{InputTokens: 7, OutputTokens: 30, TotalTokens: 37}, 1},
		{"converse-tool-use", StopToolUse, TokenUsage{InputTokens: 571, OutputTokens: 22, TotalTokens: 593, ServerToolUsage: json.RawMessage(`{}`)}, 1},
		{"converse-thinking-claude", StopEndTurn, TokenUsage{InputTokens: 42, OutputTokens: 313, TotalTokens: 355}, 2},
		{"converse-cache-read", StopEndTurn, TokenUsage{InputTokens: 2, OutputTokens: 5, TotalTokens: 1329,
			CacheReadInputTokens: 1322, CacheReadInputTokenCount: 1322, ServerToolUsage: json.RawMessage(`{}`)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + tt.name + ".response.json")
			if err != nil {
				t.Fatal(err)
			}
			var r ConverseResponse
			if err := strict(raw, &r); err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			if r.StopReason != tt.stop {
				t.Errorf("stopReason = %q, want %q", r.StopReason, tt.stop)
			}
			if d := cmp.Diff(tt.usage, *r.Usage); d != "" {
				t.Errorf("usage (-want +got):\n%s", d)
			}
			if r.Output.Message == nil || len(r.Output.Message.Content) != tt.blocks {
				t.Fatalf("output.message = %+v, want %d blocks", r.Output.Message, tt.blocks)
			}
			u := r.Usage
			if got := u.InputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens + u.OutputTokens; got != u.TotalTokens {
				t.Errorf("input+cache+output = %d, want totalTokens %d (inputTokens excludes cached tokens)", got, u.TotalTokens)
			}
			roundTrip(t, tt.name, &r)
		})
	}
}

func TestThinkingResponse(t *testing.T) {
	raw, _ := os.ReadFile("testdata/converse-thinking-claude.response.json")
	var r ConverseResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	rc := r.Output.Message.Content[0].ReasoningContent
	if rc == nil || rc.ReasoningText == nil || !strings.HasPrefix(rc.ReasoningText.Signature, "Eu4CCkgIBxAB") ||
		!strings.HasPrefix(rc.ReasoningText.Text, "This is a straightforward") {
		t.Errorf("content[0] = %+v, want reasoningText with text and signature", r.Output.Message.Content[0])
	}
}

func TestToolUseResponse(t *testing.T) {
	raw, _ := os.ReadFile("testdata/converse-tool-use.response.json")
	var r ConverseResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	tu := r.Output.Message.Content[0].ToolUse
	want := &ToolUseBlock{ToolUseID: "tooluse_Mj06ft-ITJik1Otgpkc1uA", Name: "temperature",
		Input: json.RawMessage(`{"city": "London", "date": "2022-01-01"}`)}
	if d := cmp.Diff(want, tu, jsonEqual); d != "" {
		t.Errorf("toolUse (-want +got):\n%s", d)
	}
}

// frame is one line of a .frames.jsonl fixture.
type frame struct {
	Headers map[string]string `json:"headers"`
	Payload json.RawMessage   `json:"payload"`
}

func TestStreamFrames(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.frames.jsonl")
	if len(files) != 3 {
		t.Fatalf("found %d frame fixtures, want 3", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".frames.jsonl")
		t.Run(name, func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			sc := bufio.NewScanner(fh)
			sc.Buffer(nil, 1<<20)
			var types []string
			for sc.Scan() {
				var fr frame
				if err := json.Unmarshal(sc.Bytes(), &fr); err != nil {
					t.Fatal(err)
				}
				if fr.Headers[HeaderMessageType] != MessageTypeEvent || fr.Headers[HeaderContentType] != "application/json" {
					t.Errorf("headers = %v", fr.Headers)
				}
				et := fr.Headers[HeaderEventType]
				types = append(types, et)
				var v any
				switch et {
				case EventMessageStart:
					v = &MessageStartEvent{}
				case EventContentBlockStart:
					v = &ContentBlockStartEvent{}
				case EventContentBlockDelta:
					v = &ContentBlockDeltaEvent{}
				case EventContentBlockStop:
					v = &ContentBlockStopEvent{}
				case EventMessageStop:
					v = &MessageStopEvent{}
				case EventMetadata:
					v = &MetadataEvent{}
				default:
					t.Fatalf("unknown event type %q", et)
				}
				if err := strict(fr.Payload, v); err != nil {
					t.Errorf("%s payload %s: %v", et, fr.Payload, err)
				}
				if d, ok := v.(*ContentBlockDeltaEvent); ok {
					dl := d.Delta
					n := 0
					for _, set := range []bool{dl.Text != nil, dl.ToolUse != nil, dl.ReasoningContent != nil, dl.ToolResult != nil} {
						if set {
							n++
						}
					}
					if n != 1 {
						t.Errorf("delta %s has %d members, want 1", fr.Payload, n)
					}
				}
			}
			if len(types) < 4 || types[0] != EventMessageStart || types[len(types)-2] != EventMessageStop || types[len(types)-1] != EventMetadata {
				t.Errorf("event sequence = %v, want messageStart ... messageStop, metadata", types)
			}
		})
	}
}

func TestToolChoiceEncoding(t *testing.T) {
	tests := []struct {
		name string
		tc   ToolChoice
		want string
	}{
		{"auto", ToolChoice{Auto: &struct{}{}}, `{"auto":{}}`},
		{"any", ToolChoice{Any: &struct{}{}}, `{"any":{}}`},
		{"tool", ToolChoice{Tool: &ToolChoiceName{Name: "f"}}, `{"tool":{"name":"f"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.tc)
			if err != nil || string(b) != tt.want {
				t.Errorf("Marshal(%+v) = %s, %v, want %s", tt.tc, b, err, tt.want)
			}
		})
	}
}

func TestBlobsAreBase64(t *testing.T) {
	b := ContentBlock{Image: &ImageBlock{Format: ImagePNG, Source: ImageSource{Bytes: []byte{0x89, 'P', 'N', 'G'}}}}
	out, _ := json.Marshal(b)
	if want := `{"image":{"format":"png","source":{"bytes":"iVBORw=="}}}`; string(out) != want {
		t.Errorf("Marshal(image) = %s, want %s", out, want)
	}
	rc := ContentBlock{ReasoningContent: &ReasoningContent{RedactedContent: []byte("opaque")}}
	out, _ = json.Marshal(rc)
	if want := `{"reasoningContent":{"redactedContent":"b3BhcXVl"}}`; string(out) != want {
		t.Errorf("Marshal(redacted) = %s, want %s", out, want)
	}
}
