package bedrocktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

// post signs body for path with the Server's default keys and sends it;
// mod, when set, changes the signed request before it is sent.
func post(t *testing.T, s *Server, path, body string, mod func(*http.Request)) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	creds, _ := Credentials().Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), Service, Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const hello = `{"messages":[{"role":"user","content":[{"text":"hello"}]}]}`

func TestServerValidation(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		status  int
		errType string
		msg     string
	}{
		{"ok", "/model/m/converse", hello, 200, "", ""},
		{"thinking-not-claude", "/model/amazon.nova-pro-v1:0/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`, 400, "ValidationException", "extraneous key [thinking]"},
		{"thinking-small-budget", "/model/anthropic.claude-x/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":100}}}`, 400, "ValidationException", "greater than or equal to 1024"},
		{"thinking-over-max", "/model/anthropic.claude-x/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":1024},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`, 400, "ValidationException", "`max_tokens` must be greater than `thinking.budget_tokens`"},
		{"thinking-temperature", "/model/anthropic.claude-x/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"temperature":0.5},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`, 400, "ValidationException", "`temperature` may only be set to 1"},
		{"thinking-top-k", "/model/anthropic.claude-x/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"additionalModelRequestFields":{"top_k":3,"thinking":{"type":"enabled","budget_tokens":1024}}}`, 400, "ValidationException", "`top_k` must be unset"},
		{"thinking-ok", "/model/anthropic.claude-x/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":2000,"temperature":1},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`, 200, "", ""},
		{"output-schema-not-object", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"[1]"}}}}}`, 400, "ValidationException", "not a valid JSON object"},
		{"output-type", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"outputConfig":{"textFormat":{"type":"json","structure":{"jsonSchema":{"schema":"{}"}}}}}`, 400, "ValidationException", "outputConfig.textFormat.type"},
		{"output-claude-open-object", "/model/anthropic.claude-x/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{\"type\":\"object\"}"}}}}}`, 400, "ValidationException", "'additionalProperties' must be explicitly set to false"},
		{"output-ok", "/model/anthropic.claude-x/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{\"type\":\"object\",\"additionalProperties\":false}","name":"n"}}}}}`, 200, "", ""},
		{"unknown-path", "/model/m/chat", hello, 404, "UnknownOperationException", "Unknown operation"},
		{"not-json", "/model/m/converse", `[1]`, 400, "SerializationException", ""},
		{"unknown-field", "/model/m/converse", `{"messages":[],"model":"x"}`, 400, "ValidationException", "extraneous key [model]"},
		{"unknown-nested", "/model/m/converse", `{"messages":[{"role":"user","content":[{"txt":"a"}]}]}`, 400, "ValidationException", "Malformed input request"},
		{"empty-messages", "/model/m/converse", `{"messages":[]}`, 400, "ValidationException", "must start with a user message"},
		{"not-alternating", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":"b"}]}]}`, 400, "ValidationException", "alternate"},
		{"blank-text", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":" "}]}]}`, 400, "ValidationException", "is blank"},
		{"two-members", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"a","cachePoint":{"type":"default"}}]}]}`, 400, "ValidationException", "must set one of"},
		{"tools-without-config", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"f","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"text":"x"}]}}]}]}`, 400, "ValidationException", "toolConfig field must be defined"},
		{"orphan-result", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"b"}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[]}}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{}}}}]}}`, 400, "ValidationException", "does not match"},
		{"temperature", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"temperature":1.5}}`, 400, "ValidationException", "inferenceConfig.temperature"},
		{"tool-choice-two", "/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{}}}}],"toolChoice":{"auto":{},"any":{}}}}`, 400, "ValidationException", "toolChoice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			resp, b := post(t, s, tt.path, tt.body, nil)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), tt.errType) || !strings.Contains(string(b), tt.msg) {
				t.Errorf("POST %s %s = %d %q %s, want %d %s %q", tt.path, tt.body, resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b, tt.status, tt.errType, tt.msg)
			}
			if got := s.Requests()[0].Status; got != tt.status {
				t.Errorf("recorded status = %d", got)
			}
		})
	}
}

func TestServerSignature(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*http.Request)
		errType string
	}{
		{"valid", nil, ""},
		{"body", func(r *http.Request) {
			b := strings.Replace(hello, "hello", "HELLO", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		}, "InvalidSignatureException"},
		{"signature", func(r *http.Request) {
			r.Header.Set("Authorization", r.Header.Get("Authorization")[:len(r.Header.Get("Authorization"))-4]+"0000")
		}, "InvalidSignatureException"},
		{"no-date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, "IncompleteSignatureException"},
		{"bad-date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }, "IncompleteSignatureException"},
		{"scope-date", func(r *http.Request) {
			r.Header.Set("X-Amz-Date", time.Now().UTC().Add(-2*time.Minute).Format(amzDateFormat))
		}, "InvalidSignatureException"},
		{"no-auth", func(r *http.Request) { r.Header.Del("Authorization") }, "MissingAuthenticationTokenException"},
		{"algorithm", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, "IncompleteSignatureException"},
		{"incomplete", func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+AccessKey+"/20250101/us-east-1/bedrock/aws4_request")
		}, "IncompleteSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			resp, b := post(t, s, "/model/m/converse", hello, tt.mod)
			got := resp.Header.Get("X-Amzn-Errortype")
			if tt.errType == "" {
				if resp.StatusCode != 200 {
					t.Fatalf("valid request = %d %s", resp.StatusCode, b)
				}
				return
			}
			if !strings.HasPrefix(got, tt.errType) || resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d type %q body %s, want 403 %s", resp.StatusCode, got, b, tt.errType)
			}
			var eb wire.ErrorBody
			if json.Unmarshal(b, &eb) != nil || eb.Message == "" {
				t.Errorf("body %s is not {\"message\": ...}", b)
			}
		})
	}
}

func TestServerEchoStream(t *testing.T) {
	s := NewServer(t)
	resp, b := post(t, s, "/model/m/converse-stream", `{"messages":[{"role":"user","content":[{"text":"one two"}]}]}`, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(b)
	var types []string
	var text string
	for r.Len() > 0 {
		m, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, header(m, wire.HeaderEventType))
		var d wire.ContentBlockDeltaEvent
		if header(m, wire.HeaderEventType) == wire.EventContentBlockDelta && json.Unmarshal(m.Payload, &d) == nil {
			text += *d.Delta.Text
		}
		if !bytes.Contains(m.Payload, []byte(`"p":"`)) {
			t.Errorf("payload %s has no padding", m.Payload)
		}
	}
	want := "messageStart contentBlockDelta contentBlockDelta contentBlockDelta contentBlockStop messageStop metadata"
	if strings.Join(types, " ") != want || text != "echo: one two" {
		t.Errorf("events %v text %q", types, text)
	}
	u, ok := s.Usage()
	if !ok || u.InputTokens != 2 || u.OutputTokens != 3 {
		t.Errorf("Usage() = %+v, %v", u, ok)
	}
}

func TestFixturesLoad(t *testing.T) {
	for _, name := range FixtureNames() {
		status, h, body, err := LoadFixture(name)
		if err != nil || status == 0 || len(body) == 0 {
			t.Errorf("LoadFixture(%s) = %d, %v, %d bytes", name, status, err, len(body))
		}
		if h.Get("Content-Type") != "application/vnd.amazon.eventstream" {
			continue
		}
		frames, err := SplitFrames(body)
		want, err2 := LoadFrames(name)
		if err != nil || err2 != nil || len(frames) != len(want) {
			t.Errorf("%s: %d frames (%v), %d recorded (%v)", name, len(frames), err, len(want), err2)
		}
	}
}
