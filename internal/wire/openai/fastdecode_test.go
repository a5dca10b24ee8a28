package openai

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeCompletion is bench/fakeprovider's completion.
const fakeCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_1"}`

// TestDecodeChatResponseFast: the usual completions take the fast path
// and decode as json.Unmarshal decodes them.
func TestDecodeChatResponseFast(t *testing.T) {
	for _, body := range []string{
		fakeCompletion,
		` { "id" : "x\u00e9\n", "choices" : [ { "index" : 1 , "message" : { "role" : "assistant" , "content" : null , "annotations" : [ ] } , "logprobs" : { } } , {"index":2,"message":{"content":"é ünïcode"},"finish_reason":null} ] , "usage" : null } `,
		`{"choices":[],"usage":{},"created":-0}`,
	} {
		var fast ChatResponse
		p := scanner{b: []byte(body)}
		if !p.chatResponse(&fast) || !p.end() {
			t.Errorf("fast path refused %s", body)
		}
		checkDecode(t, []byte(body))
	}
}

// checkDecode fails unless DecodeChatResponse gives json.Unmarshal's
// result and error for b.
func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	var want, got ChatResponse
	wantErr := json.Unmarshal(b, &want)
	err := DecodeChatResponse(b, &got)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("DecodeChatResponse(%q) error %v, want %v", b, err, wantErr)
	}
	if err == nil {
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("DecodeChatResponse(%q) differs from json.Unmarshal (-want +got):\n%s", b, d)
		}
	}
}

func FuzzDecodeChatResponse(f *testing.F) {
	f.Add([]byte(fakeCompletion))
	for _, s := range []string{`{"choices":[{"index":1e3}]}`, `{"id":"a","id":"b"}`, `{"ID":"a"}`, `{"choices":[{"index":01}]}`,
		`{"created":99999999999999999999}`, `{"usage":{"prompt_tokens":1.5}}`, `{"choices":null,"usage":{"prompt_tokens_details":null}}`,
		"{\"id\":\"\xff\"}", `{"choices":[{"message":{"content":[{"type":"text","text":"x"}]}}]}`, `{} x`, `null`, `{"choices":[{"logprobs":[ ]}]}`} {
		f.Add([]byte(s))
	}
	if files, _ := filepath.Glob("testdata/*.http"); len(files) > 0 {
		for _, name := range files {
			file, err := os.Open(name)
			if err != nil {
				f.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(file), nil)
			if err != nil {
				f.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			file.Close()
			if strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
				f.Add(body)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}

func BenchmarkDecodeChatResponse(b *testing.B) {
	body := []byte(fakeCompletion)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var w ChatResponse
			if err := DecodeChatResponse(body, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var w ChatResponse
			if err := json.Unmarshal(body, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
