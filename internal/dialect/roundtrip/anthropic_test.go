package roundtrip

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	anth "github.com/airgw/airgw/internal/dialect/anthropic"
	"github.com/airgw/airgw/internal/llm"
	anthprov "github.com/airgw/airgw/internal/provider/anthropic"
)

func anthropicProvider(t *testing.T, up *upstream) llm.Provider {
	t.Helper()
	p, err := anthprov.New(anthprov.Config{Name: "claude", BaseURL: "http://upstream.invalid", APIKey: "sk-ant-roundtrip-0123456789", HTTPClient: up.client()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const messageReply = `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`

// FuzzAnthropicRequest: DecodeMessages → the Anthropic adapter's
// translation → DecodeMessages is a fixed point.
func FuzzAnthropicRequest(f *testing.F) {
	for _, b := range requestBodies(f, "../anthropic/testdata/fixtures/*.request.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"model":"m","max_tokens":2048,"stream":true,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],` +
		`"temperature":0.3,"top_p":0.8,"top_k":5,"stop_sequences":["X"],"metadata":{"user_id":"u"},"thinking":{"type":"enabled","budget_tokens":1024},` +
		`"tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]},` +
		`{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"r","is_error":true},{"type":"text","text":"next"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		want, err := anth.DecodeMessages(body, anth.Limits{})
		if err != nil {
			return
		}
		up := &upstream{contentType: "application/json", reply: []byte(messageReply)}
		chatOnce(t, anthropicProvider(t, up), translated(want))
		if up.sent == nil {
			return // refused before sending: checked by the adapter's own tests
		}
		got, err := anth.DecodeMessages(up.sent, anth.Limits{})
		if err != nil {
			t.Fatalf("the translation of a valid request does not decode: %v\nin:  %s\nout: %s", err, body, up.sent)
		}
		for _, r := range []*llm.Request{want, got} {
			r.Native, r.NativeOnly = nil, nil
		}
		if diff := cmp.Diff(want, got, sameJSON); diff != "" {
			t.Fatalf("request changed through the translation (-want +got):\n%s\nin:  %s\nout: %s", diff, body, up.sent)
		}
	})
}

// anthropicResponseFixtures are the recorded non-streaming answers.
func anthropicResponseFixtures(t testing.TB) [][]byte {
	files, err := filepath.Glob("../anthropic/testdata/fixtures/*.http")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, file := range files {
		if !strings.Contains(file, "stream") && !strings.Contains(file, "error") {
			out = append(out, responseBody(t, file))
		}
	}
	return out
}

// anthropicRoundTrip decodes body with the adapter and renders it with the
// dialect; nil when the adapter refuses body.
func anthropicRoundTrip(t *testing.T, body []byte) (*llm.Response, []byte) {
	t.Helper()
	req := &llm.Request{Model: "m", MaxTokens: 10, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "x"}}}}}
	r := chatOnce(t, anthropicProvider(t, &upstream{contentType: "application/json", reply: body}), req)
	if r == nil {
		return nil, nil
	}
	r.Native, r.Created = nil, 0 // the Messages API sends no creation time
	return r, write(t, func(w http.ResponseWriter) interface{ WriteResponse(*llm.Response) error } {
		return anth.NewWriter(w, "req_1")
	}, r)
}

// TestAnthropicRecordedResponses: every recorded answer reads the same
// after the dialect wrote it.
func TestAnthropicRecordedResponses(t *testing.T) {
	for i, body := range anthropicResponseFixtures(t) {
		want, out := anthropicRoundTrip(t, body)
		if want == nil {
			t.Fatalf("fixture %d does not decode", i)
		}
		got, _ := anthropicRoundTrip(t, out)
		if diff := cmp.Diff(want, got, sameJSON); diff != "" {
			t.Errorf("fixture %d changed through the dialect (-want +got):\n%s", i, diff)
		}
	}
}

// FuzzAnthropicResponse: the adapter's decoding and the dialect's writer
// reach a fixed point after one round (the writer fills in what clients
// require and a degenerate answer lacks: an id, a stop reason).
func FuzzAnthropicResponse(f *testing.F) {
	for _, b := range anthropicResponseFixtures(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		first, out := anthropicRoundTrip(t, body)
		if first == nil {
			return
		}
		want, out2 := anthropicRoundTrip(t, out)
		if want == nil {
			t.Fatalf("the dialect's rendering of a decoded response does not decode:\nin:  %s\nout: %s", body, out)
		}
		got, _ := anthropicRoundTrip(t, out2)
		if diff := cmp.Diff(want, got, sameJSON); diff != "" {
			t.Fatalf("response changed through the dialect (-want +got):\n%s\nin:  %s\nout: %s", diff, out, out2)
		}
	})
}
