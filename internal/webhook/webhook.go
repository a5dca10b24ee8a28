// Package webhook delivers events to an operator's HTTP endpoint: JSON
// bodies, POSTed off the caller's path from a bounded queue, signed with
// HMAC-SHA-256 so the receiver can check they came from this gateway, and
// retried with doubling waits when the endpoint fails.
//
// A receiver verifies an event by computing
//
//	hex(HMAC-SHA-256(secret, X-Airgw-Timestamp + "." + body))
//
// and comparing it, in constant time, with X-Airgw-Signature after its
// "sha256=" prefix; it should refuse timestamps more than a few minutes
// old. X-Airgw-Event-Id is the same on every retry of one event.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Options configures a Sender.
type Options struct {
	URL    string
	Secret []byte
	// Timeout bounds one attempt. Default 5s.
	Timeout time.Duration
	// Retries is how many more attempts a failed event gets; the waits
	// start at 1s and double.
	Retries int
	// Client sends the requests; nil means a client that follows no
	// redirects.
	Client *http.Client
	// QueueSize bounds the events waiting; past it, new events are dropped
	// (and logged). Default 1024.
	QueueSize int
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives failed deliveries; nil discards them.
	Logger *slog.Logger
}

// Sender delivers events from one goroutine (Run). Enqueue is safe for
// concurrent use.
type Sender struct {
	o     Options
	queue chan event
}

type event struct {
	id   string
	body []byte
}

// New returns a Sender; call Run to deliver.
func New(o Options) *Sender {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{o: o, queue: make(chan event, o.QueueSize)}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue queues body for delivery without blocking; it reports false when
// the queue is full and the event was dropped.
func (s *Sender) Enqueue(body []byte) bool {
	var b [12]byte
	_, _ = rand.Read(b[:])
	select {
	case s.queue <- event{id: "evt_" + hex.EncodeToString(b[:]), body: body}:
		return true
	default:
		s.o.Logger.Error("webhook queue full; event dropped (it is in the log)", "url", s.o.URL)
		return false
	}
}

// Run delivers queued events until ctx is done, then tries what is still
// queued once each, within 5 s.
func (s *Sender) Run(ctx context.Context) {
	for {
		select {
		case ev := <-s.queue:
			s.deliver(ctx, ev)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case ev := <-s.queue:
					_ = s.attempt(dctx, ev)
				default:
					return
				}
			}
		}
	}
}

func (s *Sender) deliver(ctx context.Context, ev event) {
	wait := time.Second
	for try := 0; ; try++ {
		err := s.attempt(ctx, ev)
		if err == nil {
			return
		}
		if try >= s.o.Retries || !retryable(err) {
			s.o.Logger.Error("webhook delivery failed; giving up (the event is in the log)", "url", s.o.URL, "event_id", ev.id, "attempts", try+1, "err", err)
			return
		}
		if s.o.Sleep(ctx, wait) != nil {
			return
		}
		wait *= 2
	}
}

// statusError is a non-2xx answer.
type statusError struct{ status int }

func (e statusError) Error() string { return "endpoint answered " + strconv.Itoa(e.status) }

func retryable(err error) bool {
	if se, ok := err.(statusError); ok {
		return se.status >= 500 || se.status == http.StatusTooManyRequests || se.status == http.StatusRequestTimeout
	}
	return true // network errors and timeouts
}

func (s *Sender) attempt(ctx context.Context, ev event) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL, bytes.NewReader(ev.body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(s.o.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "airgw-webhook")
	req.Header.Set("X-Airgw-Event-Id", ev.id)
	req.Header.Set("X-Airgw-Timestamp", ts)
	req.Header.Set("X-Airgw-Signature", "sha256="+Sign(s.o.Secret, ts, ev.body))
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError{resp.StatusCode}
	}
	return nil
}

// Sign returns the hex HMAC-SHA-256 of timestamp "." body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (with or without its "sha256=" prefix)
// is body's signature at timestamp under secret, in constant time.
func Verify(secret []byte, timestamp string, body []byte, signature string) bool {
	got, err := hex.DecodeString(trimPrefix(signature, "sha256="))
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(Sign(secret, timestamp, body))
	return hmac.Equal(got, want)
}

func trimPrefix(s, p string) string {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
