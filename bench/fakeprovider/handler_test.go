package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestJSONScan(t *testing.T) {
	tests := []struct {
		body        string
		model       string
		stream, inc bool
	}{
		{`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`, "gpt-4o", true, true},
		{`{ "model" : "m1", "stream" : false }`, "m1", false, false},
		{"{\n  \"stream\":\ttrue,\n  \"model\": \"a\\\"b\"\n}", `a"b`, true, false},
		{`{"messages":[{"content":"model"}],"model":"x"}`, "x", false, false},
		{`{"model":"x","stream_options":{"include_usage":false}}`, "x", false, false},
		{`{"stream":true}`, "", true, false},
	}
	for _, tt := range tests {
		m, _ := jsonString([]byte(tt.body), "model")
		if string(m) != tt.model {
			t.Errorf("jsonString(%s, model) = %q, want %q", tt.body, m, tt.model)
		}
		if got := jsonTrue([]byte(tt.body), "stream"); got != tt.stream {
			t.Errorf("jsonTrue(%s, stream) = %v, want %v", tt.body, got, tt.stream)
		}
		if got := jsonTrue([]byte(tt.body), "include_usage"); got != tt.inc {
			t.Errorf("jsonTrue(%s, include_usage) = %v, want %v", tt.body, got, tt.inc)
		}
	}
}

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer anything")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestNonStream(t *testing.T) {
	srv := httptest.NewServer(newHandler(config{chunks: 4, promptTokens: 12}, time.Unix(1700000000, 0)))
	defer srv.Close()
	var ids []string
	for range 2 {
		resp := post(t, srv.URL, `{"model":"bench-model","messages":[]}`)
		var c completion
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if c.Object != "chat.completion" || c.Model != "bench-model" || c.Created != 1700000000 || len(c.Choices) != 1 {
			t.Errorf("response = %+v, want a chat.completion for bench-model", c)
		}
		if got, want := c.Choices[0].Message.Content, "Hello from the fake"; got != want {
			t.Errorf("content = %q, want %q", got, want)
		}
		if c.Usage == nil || c.Usage.PromptTokens != 12 || c.Usage.CompletionTokens != 4 || c.Usage.TotalTokens != 16 {
			t.Errorf("usage = %+v, want 12 + 4 = 16", c.Usage)
		}
		ids = append(ids, c.ID)
	}
	if ids[0] == ids[1] {
		t.Errorf("ids = %v, want distinct", ids)
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key: status %d, want 401", resp.StatusCode)
	}
}

func TestStream(t *testing.T) {
	srv := httptest.NewServer(newHandler(config{chunks: 3, promptTokens: 5}, time.Unix(1700000000, 0)))
	defer srv.Close()
	for _, includeUsage := range []bool{false, true} {
		body := `{"model":"m","stream":true}`
		if includeUsage {
			body = `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`
		}
		resp := post(t, srv.URL, body)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type = %q, want text/event-stream", ct)
		}
		var content strings.Builder
		var events, usage int
		var done bool
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				t.Fatalf("line %q, want data: events only", line)
			}
			if done {
				t.Fatalf("event %q after [DONE]", data)
			}
			if data == "[DONE]" {
				done = true
				continue
			}
			events++
			var c completion
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				t.Fatalf("chunk %q: %v", data, err)
			}
			if c.Object != "chat.completion.chunk" {
				t.Errorf("object = %q, want chat.completion.chunk", c.Object)
			}
			for _, ch := range c.Choices {
				content.WriteString(ch.Delta.Content)
			}
			if c.Usage != nil {
				usage++
				if c.Usage.CompletionTokens != 3 || c.Usage.PromptTokens != 5 || len(c.Choices) != 0 {
					t.Errorf("usage chunk = %+v, want 5 + 3 tokens and no choices", c)
				}
			}
		}
		wantUsage := 0
		if includeUsage {
			wantUsage = 1
		}
		// role chunk + 3 content chunks + finish chunk (+ usage chunk)
		if !done || events != 5+wantUsage || usage != wantUsage {
			t.Errorf("include_usage=%v: events=%d usage=%d done=%v, want %d, %d, true", includeUsage, events, usage, done, 5+wantUsage, wantUsage)
		}
		if got := content.String(); got != "Hello from the" {
			t.Errorf("content = %q, want %q", got, "Hello from the")
		}
	}
}
