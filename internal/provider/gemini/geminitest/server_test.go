package geminitest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, s *Server, path, key, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Goog-Api-Key", key)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestValidation checks that the fake refuses what the real API refuses,
// with Google's status and error shape.
func TestValidation(t *testing.T) {
	s := NewServer(t)
	const ok = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	const gen = "/models/gemini-echo:generateContent"
	tests := []struct {
		name, path, key, body string
		status                int
		contains              string
	}{
		{"ok", gen, Key, ok, 200, `"echo: hi"`},
		{"stream-needs-alt-sse", "/models/gemini-echo:streamGenerateContent", Key, ok, 400, "alt=sse"},
		{"unknown-method", "/models/gemini-echo:generate", Key, ok, 404, "NOT_FOUND"},
		{"no-key", gen, "", ok, 403, "PERMISSION_DENIED"},
		{"wrong-key", gen, "AIzaSyWrong", ok, 400, "API_KEY_INVALID"},
		{"unknown-field", gen, Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"temperature":1}`, 400, `Unknown name \"temperature\"`},
		{"no-contents", gen, Key, `{}`, 400, "contents is not specified"},
		{"bad-role", gen, Key, `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, 400, "valid role: user, model"},
		{"empty-parts", gen, Key, `{"contents":[{"role":"user","parts":[]}]}`, 400, "must not be empty"},
		{"orphan-function-response", gen, Key, `{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, 400, "does not answer a function call"},
		{"allowed-names-without-any", gen, Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO","allowedFunctionNames":["f"]}}}`, 400, "only when the mode is ANY"},
		{"foreign-signature", gen, Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"text":"y","thoughtSignature":"EqQBCkYIBxgCKkBSig=="}]},{"role":"user","parts":[{"text":"z"}]}]}`, 400, "Corrupted thought signature"},
		{"signature-not-base64", gen, Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"text":"y","thoughtSignature":"gemini:abc"}]},{"role":"user","parts":[{"text":"z"}]}]}`, 400, "Base64 decoding failed"},
		{"issued-signature", gen, Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"text":"y","thoughtSignature":"` + IssueSignature(3) + `"}]},{"role":"user","parts":[{"text":"z"}]}]}`, 200, "echo: z"},
		{"gemini-3-unsigned-call", "/models/gemini-3-flash-preview:generateContent", Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, 400, "Function call is missing a thought_signature"},
		{"gemini-3-skip-signature", "/models/gemini-3-flash-preview:generateContent", Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, 200, `"echo: "`},
		{"gemini-3-earlier-turn-unsigned", "/models/gemini-3-flash-preview:generateContent", Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]},{"role":"model","parts":[{"text":"done"}]},{"role":"user","parts":[{"text":"again"}]}]}`, 200, "echo: again"},
		{"gemini-2-unsigned-call", gen, Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, 200, `"echo: "`},
		{"schema-without-json-mime", gen, Key, `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"responseJsonSchema":{"type":"object"}}}`, 400, "response_mime_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s, tt.path, tt.key, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("POST %s = %d %s, want %d containing %q", tt.path, resp.StatusCode, body, tt.status, tt.contains)
			}
		})
	}
}

// TestFixtureReplay checks that recorded responses are served byte for
// byte, the \r\n\r\n separators of Gemini's streams included.
func TestFixtureReplay(t *testing.T) {
	s := NewServer(t)
	const body = `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`
	for _, c := range []struct{ name, action string }{
		{"generate-basic", "generateContent"}, {"error-429-resource-exhausted", "generateContent"},
		{"stream-text", "streamGenerateContent?alt=sse"}, {"stream-thinking-function-call", "streamGenerateContent?alt=sse"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, got := post(t, s, "/models/fixture:"+c.name+":"+c.action, Key, body)
			status, h, want, err := LoadFixture(c.name)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != status || !bytes.Equal([]byte(got), want) || resp.Header.Get("Content-Type") != h.Get("Content-Type") {
				t.Errorf("fixture %s replay = %d %q, want %d %q", c.name, resp.StatusCode, got, status, want)
			}
		})
	}
	if len(FixtureNames()) < 10 {
		t.Errorf("FixtureNames() = %v, want the recorded fixtures", FixtureNames())
	}
}
