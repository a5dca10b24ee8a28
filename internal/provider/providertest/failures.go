package providertest

// The failure checks of the suite: error classes, mid-stream errors and
// cuts, transport failures.

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// checkError checks what every classified error must hold.
func (s *suite) checkError(t *testing.T, e *llm.Error, want llm.Code) {
	t.Helper()
	if e.Code != want {
		t.Errorf("error = %v (code %s), want %s", e, e.Code, want)
	}
	if e.Provider != s.a.Name || e.Message == "" {
		t.Errorf("error = %+v, want Provider %q and a message", e, s.a.Name)
	}
	for _, secret := range s.a.Secrets {
		if secret != "" && (strings.Contains(e.Message, secret) || strings.Contains(e.Error(), secret)) {
			t.Errorf("error %q contains a credential", e.Error())
		}
	}
}

func (s *suite) errors(t *testing.T) {
	for _, c := range s.a.Errors {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", c.Model, stream), func(t *testing.T) {
				s.relay(mode{})
				reply, err := s.p.Chat(context.Background(), s.request(c.Model, stream, userText(prompt)))
				if err == nil {
					// An error status must fail Chat itself: a stream that
					// has not started can still be retried or fall back.
					if reply.Stream != nil {
						reply.Stream.Close()
					}
					t.Fatalf("Chat(%s) succeeded, want a %s error before any answer", c.Model, c.Code)
				}
				e := asError(t, err, "Chat("+c.Model+")")
				s.checkError(t, e, c.Code)
				if c.RetryAfter && e.RetryAfter <= 0 {
					t.Errorf("error RetryAfter = %v, want the upstream's retry hint", e.RetryAfter)
				}
				if !e.Sent || e.UpstreamStatus < 400 {
					t.Errorf("error Sent %v, UpstreamStatus %d; want the upstream's answer recorded", e.Sent, e.UpstreamStatus)
				}
				s.checkOneCall(t)
			})
		}
	}
	if s.a.ConnectBadCredentials != nil {
		t.Run("bad_credentials", func(t *testing.T) {
			s.relay(mode{})
			p := s.a.ConnectBadCredentials(s.proxy.baseURL(), s.hc)
			_, err := p.Chat(context.Background(), s.request(s.a.Model, false, userText(prompt)))
			s.checkError(t, asError(t, err, "Chat(bad credentials)"), llm.CodeProviderAuthFailed)
			s.checkOneCall(t)
		})
	}
}

// streamErrors checks failures the provider reports after a stream has
// started: every adapter with an upstream must declare at least one, the
// stream must have delivered events before it, and the failure must be an
// error (which a dialect turns into an explicit error event), never a
// clean end.
func (s *suite) streamErrors(t *testing.T) {
	if len(s.a.StreamErrors) == 0 {
		t.Fatal("Adapter.StreamErrors is empty: give the fake a model whose stream fails midway with the provider's error event, and list it")
	}
	for _, c := range s.a.StreamErrors {
		t.Run(c.Model, func(t *testing.T) {
			s.relay(mode{})
			res, err := s.chat(t, context.Background(), s.request(c.Model, true, userText(prompt)))
			if err == nil {
				t.Fatalf("stream %s ended cleanly with %+v, want a %s error", c.Model, res, c.Code)
			}
			e := asError(t, err, "stream "+c.Model)
			s.checkError(t, e, c.Code)
			if res.Events == 0 {
				t.Errorf("stream %s failed before any event, want a failure after the stream started", c.Model)
			}
			if !e.Sent {
				t.Errorf("stream %s error Sent = false, want true: the request reached the provider", c.Model)
			}
			if c.RetryAfter && e.RetryAfter <= 0 {
				t.Errorf("error RetryAfter = %v, want the upstream's retry hint", e.RetryAfter)
			}
		})
	}
}

func (s *suite) cut(t *testing.T) {
	s.relay(mode{})
	res, err := s.chat(t, context.Background(), s.request("cut:2", true, userText(prompt+" and more words to come")))
	if err == nil {
		t.Fatalf("cut stream ended cleanly with %+v, want stream_interrupted", res)
	}
	e := asError(t, err, "cut stream")
	s.checkError(t, e, llm.CodeStreamInterrupted)
	if !e.Sent {
		t.Error("cut stream error Sent = false, want true: the request reached the provider")
	}
}

// transport checks failures below HTTP: nothing listening, and a deadline
// that passes before the answer.
func (s *suite) transport(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		p := s.a.Connect(s.deadURL(t), s.hc)
		_, err := p.Chat(context.Background(), s.request(s.a.Model, false, userText(prompt)))
		e := asError(t, err, "Chat(unreachable)")
		s.checkError(t, e, llm.CodeProviderUnavailable)
		if e.Sent {
			t.Error("error Sent = true for a connection that was refused, want false (safe to retry)")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		s.relay(mode{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		for _, stream := range []bool{false, true} {
			_, err := s.chat(t, ctx, s.request("slow:1m", stream, userText(prompt)))
			s.checkError(t, asError(t, err, "Chat(slow)"), llm.CodeProviderTimeout)
		}
	})
}

// split reads each recorded stream whole, then relayed in pieces of every
// size from 1 byte, and requires the same result each time.
func (s *suite) split(t *testing.T) {
	models := append([]string{s.a.Model}, s.a.StreamFixtures...)
	for _, model := range models {
		t.Run(model, func(t *testing.T) {
			req := s.request(model, true, userText(prompt))
			s.relay(mode{})
			want, err := s.chat(t, context.Background(), req)
			if err != nil {
				t.Fatalf("stream %s error = %v, want a complete stream", model, err)
			}
			if want.Events == 0 {
				t.Fatalf("stream %s had no events", model)
			}
			for _, piece := range []int{1, 2, 3, 5, 8, 13, 64, 1021} {
				s.relay(mode{piece: piece})
				got, err := s.chat(t, context.Background(), req)
				if err != nil {
					t.Fatalf("stream %s in pieces of up to %d bytes: error %v", model, piece, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("stream %s in pieces of up to %d bytes = %+v, want %+v", model, piece, got, want)
				}
			}
		})
	}
}

// deadURL returns the upstream URL moved to a local port where nothing
// listens.
func (s *suite) deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	u, err := url.Parse(s.a.Upstream)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}
