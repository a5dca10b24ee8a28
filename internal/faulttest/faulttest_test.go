package faulttest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// post sends one chat request for model and returns the status and body;
// err is the transport's error, if the Server answered nothing.
func post(ctx context.Context, t *testing.T, s *Server, model string, stream bool) (int, http.Header, string, error) {
	t.Helper()
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hello fault world"}]`
	if stream {
		body += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	body += "}"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// events returns the data of each SSE event in body.
func events(body string) []string {
	var out []string
	for _, ev := range strings.Split(body, "\n\n") {
		if d, ok := strings.CutPrefix(strings.TrimSpace(ev), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestAnswers(t *testing.T) {
	s := NewServer(t)
	tests := []struct {
		model      string
		stream     bool
		status     int
		contains   string
		done       bool // the stream ends with [DONE]
		events     int  // SSE events, when streaming
		retryAfter string
	}{
		{model: "ok", status: 200, contains: `"content":"echo: hello fault world"`},
		{model: "gpt-4o", status: 200, contains: `"completion_tokens":4`},
		{model: "ok", stream: true, status: 200, done: true, events: 8}, // role, 4 words, finish, usage, [DONE]
		{model: "status:500", status: 500, contains: `"type":"server_error"`},
		{model: "status:401", status: 401, contains: `"error"`},
		{model: "429:3", status: 429, contains: "rate_limit_exceeded", retryAfter: "3"},
		{model: "context", status: 400, contains: `"code":"context_length_exceeded"`},
		{model: "filter", status: 400, contains: `"code":"content_policy_violation"`},
		{model: "malformed", status: 200, contains: `"message":`},
		{model: "malformed", stream: true, status: 200, events: 1},
		{model: "cut:2", stream: true, status: 200, events: 2},
		{model: "cut:99", stream: true, status: 200, events: 7},
		{model: "cut:2", status: 400, contains: "needs a number of chunks"},
		{model: "slowfirst:1ms", stream: true, status: 200, done: true, events: 8},
		{model: "slowbody:1ms", status: 200, contains: "echo:"},
		{model: "status:abc", status: 400, contains: "needs an HTTP status"},
	}
	for _, tt := range tests {
		name := strings.ReplaceAll(tt.model, ":", "_")
		if tt.stream {
			name += "_stream"
		}
		t.Run(name, func(t *testing.T) {
			status, h, body, err := post(context.Background(), t, s, tt.model, tt.stream)
			if err != nil {
				t.Fatalf("post(%s) = %v, want an answer", tt.model, err)
			}
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("post(%s) = %d %s, want %d containing %q", tt.model, status, body, tt.status, tt.contains)
			}
			if got := h.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("post(%s) Retry-After = %q, want %q", tt.model, got, tt.retryAfter)
			}
			if !tt.stream || status != 200 {
				if status == 200 && !tt.stream && tt.model != "malformed" && !json.Valid([]byte(body)) {
					t.Errorf("post(%s) body = %s, want JSON", tt.model, body)
				}
				return
			}
			evs := events(body)
			if len(evs) != tt.events {
				t.Errorf("post(%s) events = %d %q, want %d", tt.model, len(evs), evs, tt.events)
			}
			if got := len(evs) > 0 && evs[len(evs)-1] == "[DONE]"; got != tt.done {
				t.Errorf("post(%s) ends with [DONE] = %v, want %v", tt.model, got, tt.done)
			}
			for _, ev := range evs {
				if ev != "[DONE]" && tt.model != "malformed" && !json.Valid([]byte(ev)) {
					t.Errorf("post(%s) event %q is not JSON", tt.model, ev)
				}
			}
		})
	}
}

func TestCountedFaults(t *testing.T) {
	s := NewServer(t)
	tests := []struct {
		model string
		want  []int // statuses, 0 for no answer
	}{
		{"fail:2", []int{503, 503, 200, 200}},
		{"429:0:1", []int{429, 200, 200}},
		{"reset-first:1", []int{0, 200}},
		{"reset", []int{0, 0}},
		{"flaky:30", []int{200, 200, 200, 503, 200, 200, 503, 200, 200, 503}},
		{"flaky:50", []int{200, 503, 200, 503}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.model, ":", "_"), func(t *testing.T) {
			var got []int
			for range tt.want {
				status, _, _, err := post(context.Background(), t, s, tt.model, false)
				if err != nil {
					status = 0
				}
				got = append(got, status)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("statuses of %s (-want +got):\n%s", tt.model, diff)
			}
			if n := s.Calls(tt.model); n != len(tt.want) {
				t.Errorf("Calls(%s) = %d, want %d", tt.model, n, len(tt.want))
			}
		})
	}
	if got, want := s.Total(), 25; got != want {
		t.Errorf("Total() = %d, want %d", got, want)
	}
}

func TestFlakyShare(t *testing.T) {
	// The sequence itself, without HTTP: exactly pct% of every 100 calls.
	for _, pct := range []int{0, 1, 30, 99, 100} {
		fails := 0
		for n := range 1000 {
			if (n+1)*pct/100 > n*pct/100 {
				fails++
			}
		}
		if fails != pct*10 {
			t.Errorf("flaky:%d fails %d of 1000, want %d", pct, fails, pct*10)
		}
	}
}

func TestCancelsAreSeen(t *testing.T) {
	s := NewServer(t)
	for _, model := range []string{"hang", "slowbody:1h", "slowfirst:1h", "stall:2"} {
		t.Run(strings.ReplaceAll(model, ":", "_"), func(t *testing.T) {
			before := len(s.Cancels())
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, _, _, err := post(ctx, t, s, model, strings.HasPrefix(model, "s"))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("post(%s) = %v, want the client's deadline", model, err)
			}
			cancelled := time.Now()
			deadline := time.Now().Add(2 * time.Second)
			for len(s.Cancels()) == before && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			cs := s.Cancels()
			if len(cs) != before+1 {
				t.Fatalf("Cancels() = %v, want one more for %s", cs, model)
			}
			c := cs[len(cs)-1]
			if c.Model != model || c.At.Before(start) || c.At.Sub(cancelled) > 100*time.Millisecond {
				t.Errorf("Cancels()[last] = %+v, want %s seen within 100ms of the cancel at %v", c, model, cancelled)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	s := NewServer(t)
	for _, tt := range []struct {
		name, path, auth, body string
		status                 int
	}{
		{"wrong_path", "/v1/completions", "Bearer " + Key, `{}`, 404},
		{"wrong_key", "/v1/chat/completions", "Bearer sk-nope", `{"model":"ok","messages":[{"role":"user","content":"x"}]}`, 401},
		{"no_messages", "/v1/chat/completions", "Bearer " + Key, `{"model":"ok"}`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(s.URL(), "/v1")+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", tt.auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("POST %s = %d, want %d", tt.path, resp.StatusCode, tt.status)
			}
		})
	}
	if n := s.Total(); n != 0 {
		t.Errorf("Total() = %d, want 0 (refused requests are not calls)", n)
	}
}

func TestFloodCountsSentBytes(t *testing.T) {
	s := NewServer(t)
	status, _, body, err := post(context.Background(), t, s, "flood:8", true)
	if err != nil || status != 200 {
		t.Fatalf("post(flood:8) = %d, %v", status, err)
	}
	evs := events(body)
	// role, 8 chunks, finish, usage, [DONE]
	if len(evs) != 12 || evs[len(evs)-1] != "[DONE]" {
		t.Errorf("flood:8 events = %d ending %q, want 12 ending [DONE]", len(evs), evs[len(evs)-1])
	}
	if got, want := s.Sent("flood:8"), int64(len(body)-len("data: [DONE]\n\n")); got != want || got < 8<<10 {
		t.Errorf("Sent(flood:8) = %d, want %d (every chunk but [DONE], over 8 KiB)", got, want)
	}
}

func TestHandshakeFaults(t *testing.T) {
	t.Run("untrusted_certificate", func(t *testing.T) {
		s := NewUntrustedTLSServer(t)
		if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
			t.Fatalf("URL() = %s, want https on 127.0.0.1", s.URL())
		}
		_, _, _, err := post(context.Background(), t, s, "ok", false)
		var certErr *tls.CertificateVerificationError
		if !errors.As(err, &certErr) {
			t.Errorf("post over untrusted TLS = %v, want a certificate verification error", err)
		}
		if n := s.Total(); n != 0 {
			t.Errorf("Total() = %d, want 0 (the handshake failed first)", n)
		}
	})
	t.Run("reset_during_handshake", func(t *testing.T) {
		r := NewResetListener(t)
		req, _ := http.NewRequest(http.MethodPost, r.HTTPSURL()+"/chat/completions", strings.NewReader(`{}`))
		_, err := http.DefaultClient.Do(req)
		if err == nil || !strings.Contains(err.Error(), "reset") && !errors.Is(err, io.EOF) {
			t.Errorf("POST over a reset handshake = %v, want a reset (or EOF)", err)
		}
		if r.Conns() < 1 {
			t.Errorf("Conns() = %d, want at least 1", r.Conns())
		}
	})
}
