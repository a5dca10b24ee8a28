package openai

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fastSeeds = []string{
	`[]`, `[ ]`, `[1]`, `[ 1 , "a" ,{"b":[2,3]} , [ ] ,null,true ]`, `["a\"],", "\\", "\u00e9"]`,
	"[\n\t{\"role\":\"user\",\"content\":\"hi\"}\r\n]", `[[[]],{}]`,
	`"plain"`, `""`, `"with \"escape\""`, `"é and 日本"`, "\"bad \xff utf8\"", `"\u0041"`,
}

// TestFastPaths: the decoder's fast paths give what encoding/json gives.
func TestFastPaths(t *testing.T) {
	for _, s := range fastSeeds {
		checkFast(t, []byte(s))
	}
}

func FuzzFastPaths(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if json.Valid([]byte(s)) {
			checkFast(t, []byte(s))
		}
	})
}

func checkFast(t *testing.T, raw []byte) {
	t.Helper()
	if got, ok := plainString(raw); ok {
		var want string
		if err := json.Unmarshal(raw, &want); err != nil || got != want {
			t.Errorf("plainString(%s) = %q, want %q (err %v)", raw, got, want, err)
		}
	}
	if len(raw) > 0 && raw[0] == '[' {
		var want []json.RawMessage
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("json.Unmarshal(%s): %v", raw, err)
		}
		got := splitArray(raw)
		if !cmp.Equal(got, want, cmp.Comparer(func(a, b json.RawMessage) bool { return string(a) == string(b) })) || (got == nil) != (want == nil) {
			t.Errorf("splitArray(%s) = %q, want %q", raw, got, want)
		}
	}
}

// BenchmarkDecodeChat decodes bench/run.sh's request and a conversation of
// ten messages.
func BenchmarkDecodeChat(b *testing.B) {
	small := `{"max_tokens":64,"messages":[{"content":"You are a concise assistant.","role":"system"},{"content":"Say hello to the benchmark in one short sentence.","role":"user"}],"model":"bench-model","temperature":0,"user":"bench-user"}`
	long := `{"model":"gpt-4o","temperature":0.2,"messages":[{"role":"system","content":"You answer questions about the documentation."}`
	for range 9 {
		long += `,{"role":"user","content":"How do I configure the audit spool so that a database outage of an hour loses nothing?"}`
	}
	long += `]}`
	for _, c := range []struct{ name, body string }{{"small", small}, {"ten_messages", long}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeChat([]byte(c.body), Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzSplitMessage: for valid JSON, splitMessage gives what json.Unmarshal
// into rawMessage gives, or declines.
func FuzzSplitMessage(f *testing.F) {
	for _, s := range []string{`{"role":"user","content":"hi"}`, ` { "role" : "assistant" , "content" : null , "tool_calls" : [ {"id":"a\"}"} ] } `,
		`{"Role":"user"}`, `{"r\u006fle":"user"}`, `{"role":"a","role":"b"}`, `{}`, `{"x":{"role":1},"content":[1,"]",{}]}`, `[]`, `"s"`, `{"refusal":-1.5e3,"name":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		var want rawMessage
		wantErr := json.Unmarshal(raw, &want)
		var got rawMessage
		if !splitMessage(raw, &got) {
			return
		}
		if wantErr != nil {
			t.Fatalf("splitMessage(%s) accepted what json.Unmarshal refuses: %v", raw, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("splitMessage(%s) = %+v, want %+v", raw, got, want)
		}
	})
}
