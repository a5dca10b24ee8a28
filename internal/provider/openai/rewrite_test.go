package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/google/go-cmp/cmp"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, in string
		stream   bool
		want     string
	}{
		{"model-only", `{"model":"alias","messages":[]}`, false, `{"model":"gpt-4o","messages":[]}`},
		{"keeps-bytes", "{ \"logprobs\" : true,\n \"model\" :\t\"alias\" , \"prediction\":{\"type\":\"content\",\"content\":\"x \\\" y\"}, \"x_vendor\": [1, 2.50, {\"model\":\"inner\"}] }", false,
			"{ \"logprobs\" : true,\n \"model\" :\t\"gpt-4o\" , \"prediction\":{\"type\":\"content\",\"content\":\"x \\\" y\"}, \"x_vendor\": [1, 2.50, {\"model\":\"inner\"}] }"},
		{"stream-adds-options", `{"model":"a","stream":true}`, true, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`},
		{"stream-forces-true", `{"stream_options":{"include_usage":false},"model":"a","stream":true}`, true, `{"stream_options":{"include_usage":true},"model":"gpt-4o","stream":true}`},
		{"stream-keeps-other-options", `{"model":"a","stream_options":{"include_obfuscation":false}}`, true, `{"model":"gpt-4o","stream_options":{"include_obfuscation":false,"include_usage":true}}`},
		{"stream-already-true", `{"model":"a","stream_options": {"include_usage": true}}`, true, `{"model":"gpt-4o","stream_options": {"include_usage": true}}`},
		{"stream-options-null", `{"model":"a","stream_options":null}`, true, `{"model":"gpt-4o","stream_options":{"include_usage":true}}`},
		{"no-stream-keeps-options", `{"model":"a","stream_options":{"include_usage":false}}`, false, `{"model":"gpt-4o","stream_options":{"include_usage":false}}`},
		{"missing-model", `{"messages":[]}`, false, `{"messages":[],"model":"gpt-4o"}`},
		{"empty-object", ` {} `, true, ` {"model":"gpt-4o","stream_options":{"include_usage":true}} `},
		{"duplicate-model", `{"model":"a","model":"b"}`, false, `{"model":"gpt-4o","model":"gpt-4o"}`},
		{"escaped-key", `{"mod\u0065l":"a"}`, false, `{"mod\u0065l":"gpt-4o"}`},
		{"model-not-string", `{"model":null,"n":1}`, false, `{"model":"gpt-4o","n":1}`},
		{"metadata-first-dropped", `{"metadata":{"purpose":"x"},"model":"a","n":1}`, false, `{"model":"gpt-4o","n":1}`},
		{"metadata-middle-dropped", `{"model":"a", "metadata" : {"purpose":"x"} , "n":1}`, false, `{"model":"gpt-4o", "n":1}`},
		{"metadata-last-dropped", `{"model":"a","metadata":{"purpose":"x"}}`, false, `{"model":"gpt-4o"}`},
		{"metadata-only-dropped", `{"metadata":{}}`, false, `{"model":"gpt-4o"}`},
		{"metadata-kept-with-store", `{"model":"a","store":true,"metadata":{"k":"v"}}`, false, `{"model":"gpt-4o","store":true,"metadata":{"k":"v"}}`},
		{"metadata-dropped-store-false", `{"model":"a","store":false,"metadata":{"k":"v"}}`, false, `{"model":"gpt-4o","store":false}`},
		{"unicode", `{"model":"a","messages":[{"role":"user","content":"héllo \u2028 世界"}]}`, false, `{"model":"gpt-4o","messages":[{"role":"user","content":"héllo \u2028 世界"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rewrite([]byte(tt.in), "gpt-4o", tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Rewrite(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"model":`, `{} {}`, `null`} {
		if _, err := Rewrite([]byte(bad), "m", true); err == nil {
			t.Errorf("Rewrite(%q) = nil error, want error", bad)
		}
	}
}

// rewriteMap is the straightforward implementation Rewrite is checked and
// benchmarked against.
func rewriteMap(body []byte, model string, stream bool) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	mb, _ := json.Marshal(model)
	m["model"] = mb
	if string(m["store"]) != "true" {
		delete(m, "metadata")
	}
	if stream {
		opts, err := includeUsage(m["stream_options"])
		if err != nil {
			return nil, err
		}
		m["stream_options"] = opts
	}
	return json.Marshal(m)
}

// TestPassThrough sends a client body through Chat: unknown fields reach
// the provider byte for byte, the model is rewritten.
func TestPassThrough(t *testing.T) {
	srv := openaitest.NewServer(t)
	c := newClient(t, srv.URL())
	body := `{"model":"my-alias","messages":[{"role":"user","content":"hi there"}],"logprobs":true,"top_logprobs":2,` +
		`"prediction":{"type":"content","content":"hi  there"},"metadata":{"k":"v"},"stream":true,"temperature":0.70}`
	req := userReq("echo", "ignored: the native body is sent")
	req.Stream = true
	req.Native = &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", Body: json.RawMessage(body)}
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, reply.Stream)
	if err != nil || got.Text != "echo: hi there" || got.Usage == nil {
		t.Fatalf("pass-through stream = %+v, %v", got, err)
	}
	sent := string(srv.Requests()[0].Raw)
	want := strings.Replace(strings.Replace(body, `"my-alias"`, `"echo"`, 1), `"temperature":0.70}`, `"temperature":0.70,"stream_options":{"include_usage":true}}`, 1)
	want = strings.Replace(want, `"metadata":{"k":"v"},`, "", 1) // metadata without store is refused by OpenAI
	if sent != want {
		t.Errorf("sent body = %s, want %s", sent, want)
	}
	// Another dialect's native body is not passed through.
	req.Native = &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: "/v1/messages", Body: json.RawMessage(`{"max_tokens":5}`)}
	reply, err = c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	reply.Stream.Close()
	if sent := srv.Requests()[1].Fields; sent["max_tokens"] != nil || sent["messages"] == nil {
		t.Errorf("anthropic native body was forwarded: %v", sent)
	}
}

func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		`{"model":"a","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":false,"x":1}}`,
		`{"mod\u0065l":1,"model":[1,{"a":"}"}],"stream_options":null}`,
		`{}`, `[]`, `{"a":"\\\"","b":-1.5e3,"c":true,"d":null}`, ` { "model" : "x" } `,
	} {
		f.Add([]byte(s), "gpt-4o", true)
		f.Add([]byte(s), "a<b>&\"c\u00e9\n", false)
	}
	f.Fuzz(func(t *testing.T, body []byte, model string, stream bool) {
		got, err := Rewrite(body, model, stream)
		valid := json.Valid(body)
		var obj map[string]json.RawMessage
		isObj := valid && json.Unmarshal(body, &obj) == nil && obj != nil
		if err != nil {
			if isObj {
				t.Fatalf("Rewrite(%q) = %v for a valid object", body, err)
			}
			return
		}
		if !isObj {
			// Syntax inside values is not checked; the output is as
			// invalid as the input, but there was no panic.
			return
		}
		if !json.Valid(got) {
			t.Fatalf("Rewrite(%q) = %q, not valid JSON", body, got)
		}
		want, err := rewriteMap(body, model, stream)
		if err != nil {
			return
		}
		var a, b any
		json.Unmarshal(want, &a)
		json.Unmarshal(got, &b)
		if !cmp.Equal(a, b) {
			t.Fatalf("Rewrite(%q) = %s, means something else than %s", body, got, want)
		}
	})
}

var benchBody = func() []byte {
	var b bytes.Buffer
	b.WriteString(`{"model":"alias","stream":true,"stream_options":{"include_usage":false},"temperature":0.2,"messages":[`)
	for i := range 20 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"role":"user","content":"` + strings.Repeat("lorem ipsum dolor sit amet ", 40) + `"}`)
	}
	b.WriteString(`],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`)
	return b.Bytes()
}()

func BenchmarkRewrite(b *testing.B) {
	b.Run("small", func(b *testing.B) {
		// bench/loadgen's body.
		body := []byte(`{"max_tokens":64,"messages":[{"content":"You are a concise assistant.","role":"system"},{"content":"Say hello to the benchmark in one short sentence.","role":"user"}],"model":"bench-model","temperature":0,"user":"bench-user"}`)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Rewrite(body, "bench-model", false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("splice", func(b *testing.B) {
		b.SetBytes(int64(len(benchBody)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Rewrite(benchBody, "gpt-4o", true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.SetBytes(int64(len(benchBody)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rewriteMap(benchBody, "gpt-4o", true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeResponse decodes bench/fakeprovider's plain completion.
func BenchmarkDecodeResponse(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_1"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeResponse("p", "", 200, body); err != nil {
			b.Fatal(err)
		}
	}
}
