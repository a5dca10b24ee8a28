package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/airgw/airgw/internal/sse"
)

// chunkSeeds returns every data payload of the recorded streams.
func chunkSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range openaitest.FixtureNames() {
		_, h, body, err := openaitest.LoadFixture(name)
		if err != nil {
			t.Fatal(err)
		}
		if !isEventStream(h) {
			continue
		}
		r := sse.NewReader(bytes.NewReader(body))
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			out = append(out, bytes.Clone(ev.Data))
		}
	}
	return out
}

func FuzzDecodeChunk(f *testing.F) {
	for _, s := range chunkSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"error":{"message":"x","type":"server_error","code":500}}`))
	f.Add([]byte(`{"choices":[{"index":1,"delta":{"tool_calls":[{"index":3,"function":{"arguments":"{"}}]}}],"usage":{"prompt_tokens":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, e := decodeChunk("oai", "sk-key-12345678", data)
		if e != nil {
			if !e.Code.Known() || e.Provider != "oai" || !e.Sent {
				t.Fatalf("decodeChunk(%q) error = %+v, want a known class", data, e)
			}
			return
		}
		for i, ev := range evs {
			if i == 0 && (ev.Native == nil || !bytes.Equal(ev.Native.Body, data)) {
				t.Fatalf("decodeChunk(%q) first event Native = %v, want the chunk", data, ev.Native)
			}
			if ev.Usage != nil && (ev.Usage.InputTokens < 0 || ev.Usage.OutputTokens < 0) {
				t.Fatalf("decodeChunk(%q) usage = %+v", data, ev.Usage)
			}
		}
		if len(evs) > 0 && !json.Valid(data) {
			t.Fatalf("decodeChunk(%q) accepted invalid JSON", data)
		}
	})
}

func BenchmarkStreamDecode(b *testing.B) {
	_, _, body, err := openaitest.LoadFixture("chat-stream-no-usage")
	if err != nil {
		b.Fatal(err)
	}
	br := bytes.NewReader(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		br.Reset(body)
		s := newStream(context.Background(), func() {}, "oai", "", io.NopCloser(br), false)
		for {
			_, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

func FuzzResponsesStream(f *testing.F) {
	for _, name := range openaitest.FixtureNames() {
		if _, h, body, _ := openaitest.LoadFixture(name); isEventStream(h) && bytes.Contains(body, []byte("event: response.")) {
			f.Add(body)
		}
	}
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"code\":7,\"message\":\"x\"}\n\n"))
	f.Add([]byte("data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":-1}}}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := newResponsesStream(context.Background(), func() {}, "oai", "sk-key-12345678", io.NopCloser(bytes.NewReader(body)))
		for range 10000 {
			ev, err := s.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *llm.Error
				if !errors.As(err, &e) || !e.Code.Known() || e.Provider != "oai" {
					t.Fatalf("stream error = %v, want a classified *llm.Error", err)
				}
				return
			}
			if ev.Native == nil || !bytes.HasPrefix(ev.Native.Body, []byte("event: ")) {
				t.Fatalf("event Native = %+v, want an SSE block", ev.Native)
			}
			if u := ev.Usage; u != nil && (u.InputTokens < 0 || u.OutputTokens < 0 || u.ReasoningTokens < 0) {
				t.Fatalf("usage = %+v", u)
			}
		}
		t.Fatalf("stream of %d bytes did not end", len(body))
	})
}

func FuzzSetModel(f *testing.F) {
	for _, s := range []string{`{"model":"a","input":"x"}`, `{}`, ` { "input" : [1,2] } `, `{"model":{"x":1},"model":2}`, `[]`, `{"a":"\"}"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := SetModel(body, "m\"x")
		if err != nil || !json.Valid(body) {
			return
		}
		var got struct {
			Model string `json:"model"`
		}
		if err := json.Unmarshal(out, &got); err != nil || got.Model != "m\"x" {
			t.Fatalf("SetModel(%s) = %s (%v), want valid JSON with the model", body, out, err)
		}
	})
}

// FuzzDecodeEmbeddings feeds arbitrary bytes as an embeddings answer, in
// both encodings: a decoded answer has vectors and sane usage, a refusal
// is classified.
func FuzzDecodeEmbeddings(f *testing.F) {
	_, _, body, err := openaitest.LoadFixture("embeddings-dimensions")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body, true)
	f.Add([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-2e-3]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}`), false)
	f.Add([]byte(`{"data":[{"index":5,"embedding":"AAAA"}],"usage":{"prompt_tokens":-1}}`), true)
	f.Fuzz(func(t *testing.T, body []byte, b64 bool) {
		r, err := decodeEmbeddings("oai", openaitest.Key, 200, body, b64)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || !e.Code.Known() || e.Provider != "oai" {
				t.Fatalf("decodeEmbeddings error = %v, want a classified *llm.Error", err)
			}
			return
		}
		if r.Usage.InputTokens < 0 {
			t.Fatalf("decodeEmbeddings(%q) usage = %+v", body, r.Usage)
		}
	})
}
