package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/anthropic/anthropictest"
	"github.com/airgw/airgw/internal/sse"
	"github.com/google/go-cmp/cmp"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"replace", `{"model":"alias","max_tokens":5}`, `{"model":"claude-x","max_tokens":5}`},
		{"spacing-kept", "{ \"max_tokens\" : 5 ,\n \"model\" :\t\"alias\" , \"x\":[1, {\"model\":\"inner\"}] }",
			"{ \"max_tokens\" : 5 ,\n \"model\" :\t\"claude-x\" , \"x\":[1, {\"model\":\"inner\"}] }"},
		{"missing", `{"max_tokens":5}`, `{"max_tokens":5,"model":"claude-x"}`},
		{"empty", `{}`, `{"model":"claude-x"}`},
		{"duplicate", `{"model":"a","model":"b"}`, `{"model":"claude-x","model":"claude-x"}`},
		{"escaped-key", `{"mod\u0065l":"a"}`, `{"mod\u0065l":"claude-x"}`},
		{"non-string-model", `{"model":null,"n":1}`, `{"model":"claude-x","n":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rewrite([]byte(tt.in), "claude-x")
			if err != nil || string(got) != tt.want {
				t.Errorf("Rewrite(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"model"}`, `{"model":"a"} x`, `{"a":1,}`, `{"a":"unterminated}`} {
		if got, err := Rewrite([]byte(bad), "m"); err == nil {
			t.Errorf("Rewrite(%q) = %s, want an error", bad, got)
		}
	}
}

func TestCountBody(t *testing.T) {
	in := `{"model":"a","max_tokens":9,"stream":true,"system":[{"type":"text","text":"s"}],"temperature":1,"messages":[{"role":"user","content":"x"}],"tools":[],"thinking":{"type":"enabled","budget_tokens":1024}}`
	want := `{"model":"m","system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"x"}],"tools":[],"thinking":{"type":"enabled","budget_tokens":1024}}`
	if got, err := CountBody([]byte(in), "m"); err != nil || string(got) != want {
		t.Errorf("CountBody = %s, %v; want %s", got, err, want)
	}
}

// TestPassThrough sends an Anthropic client's body: the provider receives
// it byte for byte with only the model rewritten, and the answer carries
// the provider's bytes as Native.
func TestPassThrough(t *testing.T) {
	srv := anthropictest.NewServer(t)
	c := newClient(t, srv.URL())
	// Fields airgw does not model (a future content block field, a beta
	// context_management option), odd spacing and escapes.
	body := "{\"model\": \"my-alias\",\n  \"max_tokens\": 64, \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"caf\\u00e9\", \"future_field\": {\"a\": [1, 2.50]}}]}],\n  \"context_management\": {\"edits\": []}, \"system\": [{\"type\":\"text\",\"text\":\"s\",\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}]}"
	want := "{\"model\": \"fixture:messages-basic\",\n  \"max_tokens\": 64, \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"caf\\u00e9\", \"future_field\": {\"a\": [1, 2.50]}}]}],\n  \"context_management\": {\"edits\": []}, \"system\": [{\"type\":\"text\",\"text\":\"s\",\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}]}"
	req := userReq("fixture:messages-basic", "ignored: the native body wins")
	req.Native = &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: Endpoint, Body: json.RawMessage(body)}
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(srv.Requests()[0].Raw); got != want {
		t.Errorf("upstream body =\n%s\nwant\n%s", got, want)
	}
	_, _, fixture, _ := anthropictest.LoadFixture("messages-basic")
	if n := reply.Response.Native; n == nil || !bytes.Equal(n.Body, fixture) || n.Dialect != llm.DialectAnthropic {
		t.Errorf("response Native = %+v, want the provider's body", n)
	}

	// An OpenAI client's native body is not passed to an Anthropic provider.
	req.Native = &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: "/v1/chat/completions", Body: json.RawMessage(`{"model":"x","messages":[]}`)}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[1].Body; len(got.Messages) != 1 || got.MaxTokens != DefaultMaxTokens {
		t.Errorf("OpenAI-native request sent as %s, want a translation", srv.Requests()[1].Raw)
	}
}

// TestPassThroughStream checks that every upstream event, ping included,
// reaches an Anthropic client as Native, in order and byte for byte.
func TestPassThroughStream(t *testing.T) {
	for _, fixture := range []string{"messages-stream-thinking", "messages-stream-parallel-tool-use"} {
		t.Run(fixture, func(t *testing.T) {
			srv := anthropictest.NewServer(t)
			req := streamReq("fixture:" + fixture)
			req.Native = &llm.Native{Dialect: llm.DialectAnthropic, Endpoint: Endpoint,
				Body: json.RawMessage(`{"model":"x","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)}
			reply, err := newClient(t, srv.URL()).Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				ev, err := reply.Stream.Next()
				if err != nil {
					break
				}
				if ev.Native == nil {
					t.Fatalf("pass-through event without Native: %+v", ev)
				}
				got = append(got, string(ev.Native.Body))
			}
			_, _, body, _ := anthropictest.LoadFixture(fixture)
			var want []string
			r := sse.NewReader(bytes.NewReader(body))
			for {
				ev, err := r.Next()
				if err != nil {
					break
				}
				want = append(want, string(bytes.TrimSpace(ev.Data)))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("native events mismatch (-upstream +relayed):\n%s", diff)
			}
		})
	}
}
