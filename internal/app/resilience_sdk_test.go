package app

// What an application using the official OpenAI SDK (openai-go, with its
// own retries on: 2, the default) sees of airgw's failure classes: the SDK
// retries 408, 409, 429 and 5xx unless the answer says x-should-retry:
// false, so airgw's headers decide whether a failing provider gets hammered
// by every client's retries.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

func hello(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("resilience is a feature")}}
}

// TestResilienceSDKNoHammering: when a client retry cannot help (the
// gateway's credential refused, or the provider down with its breaker now
// open), the SDK makes one request, not three.
func TestResilienceSDKNoHammering(t *testing.T) {
	r := startRig(t, `routing: {retries: 0, timeout: 10s, breaker: {consecutive_failures: 1, cooldown: 30s}}
models:
  auth: {targets: [{provider: fault, model: "status:401"}], @P@}
  down: {targets: [{provider: fault, model: "status:503"}], @P@}
`)
	sdk := r.client(r.keys["app"], option.WithMaxRetries(2))
	tests := []struct {
		alias, upstream string
		status          int
		code            string
		calls           int // gateway requests the SDK made in all
	}{
		{"auth", "status:401", 502, "provider_auth_failed", 1},
		{"down", "status:503", 503, "provider_unavailable", 1}, // its failure opened the breaker
		{"down", "status:503", 503, "provider_unavailable", 2}, // breaker open: no upstream call
	}
	for i, tt := range tests {
		_, err := sdk.Chat.Completions.New(context.Background(), hello(tt.alias))
		apiErr := sdkError(t, err)
		if apiErr.StatusCode != tt.status || apiErr.Code != tt.code {
			t.Errorf("call %d (%s) = %d %s, want %d %s", i, tt.alias, apiErr.StatusCode, apiErr.Code, tt.status, tt.code)
		}
		if got := apiErr.Response.Header.Get("X-Should-Retry"); got != "false" {
			t.Errorf("call %d (%s) X-Should-Retry = %q, want false", i, tt.alias, got)
		}
		if n := countRequests(t, r, tt.alias, apiErr.Response.Header.Get("X-Request-Id")); n != tt.calls {
			t.Errorf("after call %d, gateway requests for %s = %d, want %d (the SDK did not retry)", i, tt.alias, n, tt.calls)
		}
	}
	if n := r.fault.Calls("status:503"); n != 1 {
		t.Errorf("upstream calls to the dead target = %d, want 1", n)
	}
}

// TestResilienceSDKWaitsOnThrottle: a provider 429 that airgw does not
// retry (retries: 0) reaches the SDK with Retry-After and without
// x-should-retry: false, so the SDK waits and retries by itself; and a
// stream cut mid-way is an error to the SDK, never a clean end.
func TestResilienceSDKWaitsOnThrottle(t *testing.T) {
	r := startRig(t, `routing: {retries: 0, timeout: 10s, breaker: {consecutive_failures: 1000}}
models:
  throttled: {targets: [{provider: fault, model: "429:1:1"}], @P@}
  cut: {targets: [{provider: fault, model: "cut:3"}], @P@}
`)
	sdk := r.client(r.keys["app"], option.WithMaxRetries(2))
	resp, err := sdk.Chat.Completions.New(context.Background(), hello("throttled"))
	if err != nil || len(resp.Choices) != 1 {
		t.Fatalf("throttled = %v, %v, want a completion after the SDK's own retry", resp, err)
	}
	if n := r.fault.Calls("429:1:1"); n != 2 {
		t.Errorf("upstream calls = %d, want 2 (the 429, then the SDK's retry)", n)
	}
	reqs := r.fault.Requests()
	if len(reqs) == 2 {
		if gap := reqs[1].Start.Sub(reqs[0].Start); gap < 900*time.Millisecond {
			t.Errorf("the SDK retried %v after the 429, want about Retry-After: 1s", gap)
		}
	}

	stream := sdk.Chat.Completions.NewStreaming(context.Background(), hello("cut"))
	chunks := 0
	for stream.Next() {
		chunks++
	}
	var se *ssestream.StreamError
	if err := stream.Err(); !errors.As(err, &se) || !strings.Contains(se.Message, "stream_interrupted") || chunks == 0 {
		t.Errorf("cut stream through the SDK: %d chunks, Err() = %v, want chunks then a stream_interrupted StreamError", chunks, err)
	}
	if n := r.fault.Calls("cut:3"); n != 1 {
		t.Errorf("upstream calls for the cut stream = %d, want 1 (never retried after the first byte)", n)
	}
}

// countRequests returns how many requests for alias the gateway recorded,
// once the record of last (the latest request's id) is written: the audit
// writer keeps the order, so every earlier record is written too.
func countRequests(t *testing.T, r *rig, alias, last string) int {
	t.Helper()
	if _, ok := r.waitRecord(last, 5*time.Second); !ok {
		t.Fatalf("no record for %s within 5s", last)
	}
	n := 0
	for _, rec := range r.liveRecords() {
		if rec.RequestedModel == alias {
			n++
		}
	}
	return n
}
