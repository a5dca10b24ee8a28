package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
)

// wantRecord is what an end-to-end test expects of a request's audit record.
type wantRecord struct {
	status   int
	class    string
	key      string
	purpose  string
	model    string
	upstream bool // the provider was called
}

// e2e collects request ids and their expected records, checked at the end.
type e2e struct {
	*liveGateway
	want map[string]wantRecord
	cost map[string]int64 // request id → exact expected cost, when known
}

func newE2E(t *testing.T) *e2e {
	return &e2e{liveGateway: startGateway(t), want: map[string]wantRecord{}, cost: map[string]int64{}}
}

// expect remembers what the record of the request answered by resp must say.
func (e *e2e) expect(resp *http.Response, w wantRecord) string {
	e.t.Helper()
	if resp == nil {
		e.t.Fatal("no HTTP response captured")
	}
	id := resp.Header.Get("X-Request-Id")
	if !strings.HasPrefix(id, "req_") {
		e.t.Fatalf("X-Request-Id = %q, want req_…", id)
	}
	e.want[id] = w
	return id
}

// checkRecords verifies one record per request with the expected fields.
func (e *e2e) checkRecords() map[string]audit.Record {
	e.t.Helper()
	recs := e.records()
	for id, w := range e.want {
		r, ok := recs[id]
		if !ok {
			e.t.Errorf("no audit record for %s (%+v)", id, w)
			continue
		}
		if r.Status != w.status || r.ErrorClass != w.class || r.KeyName != w.key || r.Purpose != w.purpose || r.RequestedModel != w.model {
			e.t.Errorf("record %s = status %d class %q key %q purpose %q model %q, want %+v", id, r.Status, r.ErrorClass, r.KeyName, r.Purpose, r.RequestedModel, w)
		}
		if got := len(r.Attempts) > 0; got != w.upstream {
			e.t.Errorf("record %s attempts = %v, want upstream called = %v", id, r.Attempts, w.upstream)
		}
		if c, ok := e.cost[id]; ok && r.CostNanoUSD != c {
			e.t.Errorf("record %s cost = %d nano-USD, want exactly %d", id, r.CostNanoUSD, c)
		}
	}
	return recs
}

// echoCost is the exact cost of an echo answer at the test config's price
// ($2.50 / $10 per Mtok), from the usage the fake upstream reported.
func echoCost(t *testing.T, fake *openaitest.Server) int64 {
	t.Helper()
	u := fake.LastUsage()
	if u == nil {
		t.Fatal("fake reported no usage")
	}
	p := pricing.Price{Input: 2_500_000, Output: 10_000_000}
	return p.Cost(llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens})
}

func TestE2EChat(t *testing.T) {
	e := newE2E(t)
	c := e.client(e.keys["search-app"])
	var resp *http.Response
	out, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "echo",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello gateway")},
	}, option.WithHeader("X-Airgw-Purpose", "support-triage"), option.WithHeader("X-Airgw-Tags", "eu, beta"), option.WithResponseInto(&resp))
	if err != nil {
		t.Fatalf("Chat.Completions.New: %v", err)
	}
	if got := out.Choices[0].Message.Content; got != "echo: hello gateway" {
		t.Errorf("content = %q, want %q", got, "echo: hello gateway")
	}
	if out.Usage.PromptTokens == 0 || out.Usage.CompletionTokens == 0 {
		t.Errorf("usage = %+v, want the provider's usage passed through", out.Usage)
	}
	id := e.expect(resp, wantRecord{200, "", "search-app", "support-triage", "echo", true})
	e.cost[id] = echoCost(t, e.fake)
	if got, want := resp.Header.Get("X-Airgw-Cost-USD"), formatNano(e.cost[id]); got != want {
		t.Errorf("X-Airgw-Cost-USD = %q, want %q", got, want)
	}
	// The upstream saw the upstream model name and the provider's key, never the client's.
	req := e.fake.Requests()[0]
	if req.Header.Get("Authorization") != "Bearer "+openaitest.Key {
		t.Errorf("upstream Authorization = %q, want the gateway's provider key", req.Header.Get("Authorization"))
	}
	recs := e.checkRecords()
	if r := recs[id]; !slices.Equal(r.Tags, []string{"eu", "beta"}) || r.InputTokens == 0 || r.Team != "search" {
		t.Errorf("record = %+v, want tags [eu beta], tokens and team", r)
	}
}

func formatNano(n int64) string { return fmt.Sprintf("%d.%09d", n/1e9, n%1e9) }

func TestE2EStream(t *testing.T) {
	e := newE2E(t)
	c := e.client(e.keys["search-app"])
	for _, include := range []bool{true, false} {
		var resp *http.Response
		params := openai.ChatCompletionNewParams{
			Model:    "echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream these five words please")},
			Metadata: shared.Metadata{"purpose": "streaming-test"},
		}
		if include {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		stream := c.Chat.Completions.NewStreaming(context.Background(), params, option.WithResponseInto(&resp))
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream(include_usage=%v): %v", include, err)
		}
		if got := acc.Choices[0].Message.Content; got != "echo: stream these five words please" {
			t.Errorf("accumulated = %q, want the echo", got)
		}
		if got := acc.Usage.TotalTokens > 0; got != include {
			t.Errorf("stream(include_usage=%v) client saw usage = %v (%+v)", include, got, acc.Usage)
		}
		if chunks < 5 {
			t.Errorf("chunks = %d, want one per word", chunks)
		}
		id := e.expect(resp, wantRecord{200, "", "search-app", "streaming-test", "echo", true})
		e.cost[id] = echoCost(t, e.fake) // usage is always requested upstream
	}
	for _, r := range e.fake.Requests() {
		if !strings.Contains(string(r.Raw), `"include_usage":true`) {
			t.Errorf("upstream request %s did not ask for usage", r.Raw)
		}
	}
	for id, r := range e.checkRecords() {
		if !r.Stream || r.UsageEstimated || r.TTFTMillis < 0 {
			t.Errorf("record %s = %+v, want a streamed, reported-usage record", id, r)
		}
	}
}

func TestE2EToolsRoundTrip(t *testing.T) {
	e := newE2E(t)
	c := e.client(e.keys["search-app"])
	tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Get the weather for a city"),
		Parameters:  shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	})
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")}
	var resp *http.Response
	out, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "echo", Messages: msgs, Tools: []openai.ChatCompletionToolUnionParam{tool},
	}, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatalf("first turn: %v", err)
	}
	e.expect(resp, wantRecord{200, "", "search-app", "", "echo", true})
	calls := out.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || out.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("first turn = %+v, want one get_weather call", out.Choices[0])
	}
	msgs = append(msgs, out.Choices[0].Message.ToParam(), openai.ToolMessage("sunny, 21°C", calls[0].ID))
	out, err = c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "echo", Messages: msgs, Tools: []openai.ChatCompletionToolUnionParam{tool},
	}, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatalf("second turn: %v", err)
	}
	e.expect(resp, wantRecord{200, "", "search-app", "", "echo", true})
	if out.Choices[0].Message.Content == "" {
		t.Errorf("second turn = %+v, want a text answer", out.Choices[0])
	}
	up := e.fake.Requests()[1]
	if !strings.Contains(string(up.Raw), `"role":"tool"`) || !strings.Contains(string(up.Raw), calls[0].ID) {
		t.Errorf("upstream second turn = %s, want the tool result with its call id", up.Raw)
	}
	// A recorded real tool-call response passes through byte for byte.
	out, err = c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "fixture-tools", Messages: msgs[:1], Tools: []openai.ChatCompletionToolUnionParam{tool},
	}, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatalf("fixture tool call: %v", err)
	}
	e.expect(resp, wantRecord{200, "", "search-app", "", "fixture-tools", true})
	if len(out.Choices[0].Message.ToolCalls) == 0 {
		t.Errorf("fixture tool call = %+v, want a tool call", out.Choices[0])
	}
	e.checkRecords()
}

// sdkError returns err as the SDK's API error, failing the test otherwise.
func sdkError(t *testing.T, err error) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v (%T), want *openai.Error", err, err)
	}
	return apiErr
}

func TestE2ERefusals(t *testing.T) {
	e := newE2E(t)
	hi := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
	tests := []struct {
		name, key, model string
		status           int
		code             string
		recordKey        string
	}{
		{"wrong_key", "sk-airgw-notarealkeynotarealkeynotarealk000000", "echo", 401, "authentication_failed", ""},
		{"not_an_airgw_key", "sk-proj-abc", "echo", 401, "authentication_failed", ""},
		{"team_not_allowed", e.keys["narrow-app"], "echo", 403, "model_not_allowed", "narrow-app"},
		{"key_not_allowed", e.keys["echo-only"], "gpt-4o", 403, "model_not_allowed", "echo-only"},
		{"unpriced", e.keys["search-app"], "mystery", 403, "model_unpriced", "search-app"},
		{"unknown_model", e.keys["search-app"], "gpt-7", 403, "model_not_allowed", "search-app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			_, err := e.client(tt.key).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: tt.model, Messages: hi}, option.WithResponseInto(&resp))
			apiErr := sdkError(t, err)
			if apiErr.StatusCode != tt.status || apiErr.Code != tt.code {
				t.Errorf("%s: got %d %s (%s), want %d %s", tt.name, apiErr.StatusCode, apiErr.Code, apiErr.Message, tt.status, tt.code)
			}
			if resp.Header.Get("X-Should-Retry") != "false" {
				t.Errorf("%s: X-Should-Retry = %q, want false (a retry cannot help)", tt.name, resp.Header.Get("X-Should-Retry"))
			}
			if strings.Contains(apiErr.Message, tt.key) && tt.key != "" {
				t.Errorf("%s: error message echoes the key", tt.name)
			}
			e.expect(resp, wantRecord{tt.status, tt.code, tt.recordKey, "", modelIfAuthed(tt.recordKey, tt.model), false})
		})
	}
	if n := e.fake.Calls(); n != 0 {
		t.Errorf("upstream calls = %d, want 0", n)
	}
	e.checkRecords()
}

func modelIfAuthed(key, model string) string {
	if key == "" {
		return "" // the body is not decoded for an unauthenticated caller
	}
	return model
}

func TestE2ERevokedKey(t *testing.T) {
	e := newE2E(t)
	c := e.client(e.keys["search-app"])
	hi := openai.ChatCompletionNewParams{Model: "echo", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	if _, err := c.Chat.Completions.New(context.Background(), hi); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if _, err := e.app.Keys().Revoke(context.Background(), "search-app"); err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls()
	deadline := time.Now().Add(5 * time.Second) // DESIGN: a revoked key stops working within 5 s
	for {
		_, err := c.Chat.Completions.New(context.Background(), hi)
		if err != nil {
			if apiErr := sdkError(t, err); apiErr.StatusCode != 401 {
				t.Fatalf("after revocation: %d %s, want 401", apiErr.StatusCode, apiErr.Code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revoked key still works after 5s")
		}
		calls = e.fake.Calls()
		time.Sleep(50 * time.Millisecond)
	}
	if e.fake.Calls() != calls {
		t.Error("the refused request reached the provider")
	}
}

func TestE2EMalformedBodies(t *testing.T) {
	e := newE2E(t)
	raw, err := os.ReadFile("../dialect/openai/testdata/malformed.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ Name, Body, Code, Param string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 20 {
		t.Fatalf("corpus has %d cases, want ≥ 20", len(cases))
	}
	for _, tt := range cases {
		resp := e.post("/chat/completions", e.keys["search-app"], "application/json", tt.Body)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var env struct {
			Error struct {
				Code, Message, RequestID string
				Param                    *string
			}
		}
		_ = json.Unmarshal(body, &env)
		wantStatus := llm.Code(tt.Code).Status()
		if resp.StatusCode != wantStatus || env.Error.Code != tt.Code || (tt.Param != "" && (env.Error.Param == nil || *env.Error.Param != tt.Param)) {
			t.Errorf("%s: got %d %s, want %d code %s param %q", tt.Name, resp.StatusCode, body, wantStatus, tt.Code, tt.Param)
		}
		e.expect(resp, wantRecord{wantStatus, tt.Code, "search-app", "", "", false})
	}
	if n := e.fake.Calls(); n != 0 {
		t.Errorf("upstream calls = %d, want 0", n)
	}
	e.checkRecords()
}

func TestE2EUpstreamFailures(t *testing.T) {
	e := newE2E(t)
	c := e.client(e.keys["search-app"])
	hi := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
	tests := []struct {
		model  string
		status int
		code   string
		retry  string // Retry-After sent to the client
	}{
		{"upstream-500", 503, "provider_unavailable", ""},
		{"upstream-429", 429, "provider_rate_limited", "2"},
		{"upstream-401", 502, "provider_auth_failed", ""},
		{"private", 503, "provider_unavailable", ""}, // base URL on loopback without allow_private_network
	}
	for _, tt := range tests {
		var resp *http.Response
		_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: tt.model, Messages: hi}, option.WithResponseInto(&resp))
		apiErr := sdkError(t, err)
		if apiErr.StatusCode != tt.status || apiErr.Code != tt.code {
			t.Errorf("%s: got %d %s (%s), want %d %s", tt.model, apiErr.StatusCode, apiErr.Code, apiErr.Message, tt.status, tt.code)
		}
		if got := resp.Header.Get("Retry-After"); got != tt.retry {
			t.Errorf("%s: Retry-After = %q, want %q", tt.model, got, tt.retry)
		}
		if strings.Contains(apiErr.Message, openaitest.Key) || strings.Contains(apiErr.Message, "127.0.0.1") {
			t.Errorf("%s: message leaks a credential or upstream address: %s", tt.model, apiErr.Message)
		}
		e.expect(resp, wantRecord{tt.status, tt.code, "search-app", "", tt.model, true})
	}
	if n := e.fake.Calls(); n != 3 {
		t.Errorf("upstream calls = %d, want 3 (the guarded provider must never connect)", n)
	}
	e.checkRecords()
}

func TestE2EStreamCut(t *testing.T) {
	e := newE2E(t)
	var resp *http.Response
	stream := e.client(e.keys["search-app"]).Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "cut", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four five six")},
	}, option.WithResponseInto(&resp))
	n := 0
	for stream.Next() {
		n++
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "stream_interrupted") {
		t.Errorf("stream.Err() = %v, want the stream_interrupted error event", err)
	}
	if n == 0 {
		t.Error("no chunk arrived before the cut")
	}
	id := e.expect(resp, wantRecord{502, "stream_interrupted", "search-app", "", "cut", true})
	if r := e.checkRecords()[id]; !r.UsageEstimated || r.OutputTokens == 0 || r.CostNanoUSD == 0 {
		t.Errorf("record = %+v, want usage estimated from the delivered text and a non-zero cost", r)
	}
}

func TestE2EModelsAndHealth(t *testing.T) {
	e := newE2E(t)
	for key, want := range map[string][]string{
		"search-app": {"cut", "demo-fast", "echo", "fixture-tools", "gpt-4o", "private", // not "mystery": unpriced models are not listed
			"upstream-401", "upstream-429", "upstream-500"},
		"narrow-app": {"demo-fast"},
		"echo-only":  {"echo"},
	} {
		page, err := e.client(e.keys[key]).Models.List(context.Background())
		if err != nil {
			t.Fatalf("Models.List(%s): %v", key, err)
		}
		var got []string
		for _, m := range page.Data {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Models.List(%s) = %v, want %v", key, got, want)
		}
	}
	if _, err := e.client("sk-nope").Models.List(context.Background()); sdkError(t, err).StatusCode != 401 {
		t.Errorf("Models.List(bad key) = %v, want 401", err)
	}
	root := strings.TrimSuffix(e.base, "/v1")
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(root + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s = %v %v, want 200", path, resp.StatusCode, err)
		}
	}
}

func TestE2EDemoProviderStreams(t *testing.T) {
	e := newE2E(t)
	stream := e.client(e.keys["narrow-app"]).Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "demo-fast", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "This is airgw's demo provider. You said: Hello" || acc.Usage.CompletionTokens != 8 {
		t.Errorf("demo stream = %q, usage %+v", got, acc.Usage)
	}
}

func TestE2EHTTPLimits(t *testing.T) {
	e := newE2E(t)
	big := `{"model":"echo","messages":[{"role":"user","content":"` + strings.Repeat("x", 70<<10) + `"}]}`
	for _, tt := range []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		{"too_large", "application/json", big, 413, "payload_too_large"},
		{"multipart", "multipart/form-data; boundary=x", "--x--", 415, "unsupported_media_type"},
		{"curl_default_type_is_fine_but_body_is_not_json", "application/x-www-form-urlencoded", "a=b", 400, "invalid_request"},
	} {
		resp := e.post("/chat/completions", e.keys["search-app"], tt.ctype, tt.body)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), `"code":"`+tt.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, body, tt.status, tt.code)
		}
		e.expect(resp, wantRecord{tt.status, tt.code, "search-app", "", "", false})
	}
	resp := e.post("/completions", e.keys["search-app"], "application/json", "{}")
	if resp.StatusCode != 404 {
		t.Errorf("POST /v1/completions = %d, want 404", resp.StatusCode)
	}
	if n := e.fake.Calls(); n != 0 {
		t.Errorf("upstream calls = %d, want 0", n)
	}
	e.checkRecords()
}
