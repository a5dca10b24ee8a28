package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
)

const thinkingSignature = "Eu4CCkgIBxABGAIqQCc4A+JUj/DJn5X49FRHzzGDqrWoZCEii+cINeYRllo7Bo/OAwNyoXVhdYlz6QWIvPH6vI4DjESc8A+763hdOrsSDGdnYb2cUg2snS0JHhoMNmdJjpWvdqyx3ZLsIjCckLSkej9YJ8DPw0O0oZVKk2lislUos8h5RxV0hY4VqRMGJURQDdIsCdAfaAiIERoq0wEPzjKdWsopjbXYav/Uf/WryRkQBlVHa3M2YSrTSyQQknCmVwQ2OHN/sm+pKw/mEvEm4Qu5xHyD4R65iHAPqzHvu7O+clxFaZHacaaD7tCkJycs5V3F1zD4JofRXoDu/CXu//xdQdkd3v22JQiKk9xNGT4ZbLF46c7gwVLxCuJys14p2c406ehsb0/8AkZC9JmRD2od7ZH+CXd030TQPcXqf11M/Y2p3BHXRxyFXpkjQdrrsLWTBHbUnPkjl8YDNAyF5Bz4mVQtRXb3u8QXSrrGvCwrGAE="

func TestFixtureResponses(t *testing.T) {
	tests := []struct {
		fixture string
		check   func(t *testing.T, r *llm.Response)
		usage   llm.Usage
	}{
		{"converse-basic", func(t *testing.T, r *llm.Response) {
			if got := r.Choices[0].Message.Text(); !strings.HasPrefix(got, "Hello! How can I assist you today?") {
				t.Errorf("text = %q", got)
			}
		}, llm.Usage{InputTokens: 7, OutputTokens: 30}},
		{"converse-tool-use", func(t *testing.T, r *llm.Response) {
			want := []llm.ToolCall{{ID: "tooluse_Mj06ft-ITJik1Otgpkc1uA", Name: "temperature", Arguments: `{"city":"London","date":"2022-01-01"}`}}
			if d := cmp.Diff(want, r.Choices[0].Message.ToolCalls); d != "" || r.Choices[0].FinishReason != llm.FinishToolCalls {
				t.Errorf("tool calls (-want +got):\n%s finish %q", d, r.Choices[0].FinishReason)
			}
		}, llm.Usage{InputTokens: 571, OutputTokens: 22}},
		{"converse-thinking-claude", func(t *testing.T, r *llm.Response) {
			parts := r.Choices[0].Message.Content
			if len(parts) != 2 || parts[0].Type != llm.PartThinking || parts[0].Signature != thinkingSignature ||
				!strings.HasPrefix(parts[0].Text, "This is a straightforward question") ||
				parts[1].Type != llm.PartText || !strings.HasPrefix(parts[1].Text, "Here are the basic steps") {
				t.Errorf("parts = %+v", parts)
			}
		}, llm.Usage{InputTokens: 42, OutputTokens: 313}},
		// inputTokens (2) excludes the 1322 tokens read from the cache:
		// totalTokens 1329 = 2 + 1322 + 5.
		{"converse-cache-read", func(t *testing.T, r *llm.Response) {
			if got := r.Choices[0].Message.Text(); got != "21" {
				t.Errorf("text = %q", got)
			}
		}, llm.Usage{InputTokens: 1324, OutputTokens: 5, CacheReadTokens: 1322}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			srv := bedrocktest.NewServer(t)
			c := newClient(t, srv)
			reply, err := c.Chat(context.Background(), userReq("fixture:"+tt.fixture, "hi"))
			if err != nil {
				t.Fatal(err)
			}
			r := reply.Response
			tt.check(t, r)
			if d := cmp.Diff(tt.usage, r.Usage); d != "" || !r.UsageReported {
				t.Errorf("usage (-want +got):\n%s", d)
			}
			if fake, _ := srv.Usage(); fake != r.Usage {
				t.Errorf("usage = %+v, fake reported %+v", r.Usage, fake)
			}
		})
	}
}

func TestFixtureStreams(t *testing.T) {
	tests := []struct {
		fixture string
		want    collected
	}{
		{"converse-stream-text", collected{Role: llm.RoleAssistant,
			Text:   `The capital of France is Paris. Paris is not only the capital city but also the most populous city in France, and it is a major center for culture, commerce, fashion, and international diplomacy. Known for its historical landmarks, such as the Eiffel Tower, the Louvre Museum, and Notre-Dame Cathedral, Paris is often referred to as "The City of Light" or "The City of Love."`,
			Finish: llm.FinishStop, Usage: &llm.Usage{InputTokens: 13, OutputTokens: 82}}},
		{"converse-stream-code-interpreter", collected{Role: llm.RoleAssistant,
			// The nova_code_interpreter blocks ran on Bedrock's side and
			// are left out; the caller's tool is call 0.
			Calls:  map[int]llm.ToolCall{0: {ID: "tooluse_ptgCcZ0uQu-UUMz0abqoWw", Name: "final_result", Arguments: `{"result":7006652.0}`}},
			Finish: llm.FinishToolCalls, Usage: &llm.Usage{InputTokens: 1002, OutputTokens: 59}}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			srv := bedrocktest.NewServer(t)
			c := newClient(t, srv)
			req := userReq("fixture:"+tt.fixture, "hi")
			req.Stream = true
			reply, err := c.Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(t, reply.Stream)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Events" }, cmp.Ignore())); d != "" {
				t.Errorf("stream (-want +got):\n%s", d)
			}
		})
	}
}

func TestFixtureStreamThinking(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	req := userReq("fixture:converse-stream-thinking", "Hello")
	req.Stream = true
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	s := reply.Stream
	defer s.Close()
	var got collected
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Thinking != "":
			got.Thinking += ev.Thinking
			order = appendOnce(order, "thinking")
		case ev.ThinkingSignature != "":
			got.Signature = ev.ThinkingSignature
			order = appendOnce(order, "signature")
		case ev.Text != "":
			got.Text += ev.Text
			order = appendOnce(order, "text")
		}
	}
	if !strings.HasPrefix(got.Thinking, `The user has greeted me with a simple "Hello".`) || len(got.Signature) != 496 ||
		!strings.HasPrefix(got.Signature, "Eu0CCkgIBxAB") || got.Text != "Hello! It's nice to meet you. How can I help you today?" {
		t.Errorf("stream = %+v", got)
	}
	if d := cmp.Diff([]string{"thinking", "signature", "text"}, order); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
}

func appendOnce(list []string, s string) []string {
	if len(list) > 0 && list[len(list)-1] == s {
		return list
	}
	return append(list, s)
}

// TestFixtureFramesMatchBinary decodes each recorded binary body with the
// adapter's frame reader and compares it with the decoded .frames.jsonl.
func TestFixtureFramesMatchBinary(t *testing.T) {
	for _, name := range []string{"converse-stream-text", "converse-stream-thinking", "converse-stream-code-interpreter"} {
		t.Run(name, func(t *testing.T) {
			_, h, body, err := bedrocktest.LoadFixture(name)
			if err != nil {
				t.Fatal(err)
			}
			if h.Get("Content-Type") != contentEventStream {
				t.Errorf("Content-Type = %q", h.Get("Content-Type"))
			}
			want, err := bedrocktest.LoadFrames(name)
			if err != nil {
				t.Fatal(err)
			}
			fr := newFrameReader(bytes.NewReader(body))
			for i := 0; ; i++ {
				m, err := fr.next()
				if err == io.EOF {
					if i != len(want) {
						t.Errorf("decoded %d frames, want %d", i, len(want))
					}
					return
				}
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if i >= len(want) {
					t.Fatalf("more frames than recorded")
				}
				for k, v := range want[i].Headers {
					if got := header(m, k); got != v {
						t.Errorf("frame %d header %s = %q, want %q", i, k, got, v)
					}
				}
				var a, b any
				_ = json.Unmarshal(m.Payload, &a)
				_ = json.Unmarshal(want[i].Payload, &b)
				if d := cmp.Diff(b, a); d != "" {
					t.Errorf("frame %d payload (-want +got):\n%s", i, d)
				}
			}
		})
	}
}

func TestFixtureErrors(t *testing.T) {
	tests := []struct {
		fixture string
		stream  bool
		code    llm.Code
		status  int
		message string
	}{
		{"error-400-invalid-model", false, llm.CodeUpstreamInvalidRequest, 400, "The provided model identifier is invalid."},
		{"error-400-invalid-model-stream", true, llm.CodeUpstreamInvalidRequest, 400, "The provided model identifier is invalid."},
		{"error-403-access-denied", false, llm.CodeProviderAuthFailed, 403, "AccessDeniedException"},
		{"error-429-throttling", true, llm.CodeProviderRateLimited, 429, "throttling"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			srv := bedrocktest.NewServer(t)
			c := newClient(t, srv)
			req := userReq("fixture:"+tt.fixture, "hi")
			req.Stream = tt.stream
			_, err := c.Chat(context.Background(), req)
			e := asError(t, err)
			if e.Code != tt.code || e.UpstreamStatus != tt.status || !e.Sent || e.Provider != "bedrock-us" || !strings.Contains(e.Message, tt.message) {
				t.Errorf("error = %+v, want %s %d containing %q", e, tt.code, tt.status, tt.message)
			}
			if tt.code == llm.CodeProviderRateLimited && e.RetryAfter != 0 {
				t.Errorf("RetryAfter = %v, want none (Bedrock sends no Retry-After)", e.RetryAfter)
			}
			if tt.code == llm.CodeProviderAuthFailed && strings.Contains(e.Message, "You don't have access") {
				t.Errorf("auth message %q repeats the upstream body", e.Message)
			}
		})
	}
}

func TestFixtureStatusesRecorded(t *testing.T) {
	for _, name := range bedrocktest.FixtureNames() {
		status, h, _, err := bedrocktest.LoadFixture(name)
		if err != nil {
			t.Fatal(err)
		}
		if h.Get("X-Fixture-Body-Encoding") != "" {
			t.Errorf("%s: X-Fixture-Body-Encoding not stripped", name)
		}
		if strings.HasPrefix(name, "error-") == (status == http.StatusOK) {
			t.Errorf("%s: status %d", name, status)
		}
	}
	if n := len(bedrocktest.FixtureNames()); n != 11 {
		t.Errorf("FixtureNames() has %d names, want the 11 recorded responses", n)
	}
}
