package gemini

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/gemini/geminitest"
	"github.com/google/go-cmp/cmp"
)

const (
	sigFunctionCall = "CvMBAb4+9vvZC/KtDBiEfP1WF+wUiObd6G6yg5vTA8dfeleB3pTysSfmipkwxCrjEL9Y29JxnkMMXZvzkVMlyiK01pvWtZ++SnHMyuy9J04IrT/6oDhaDculJL+1gJhI+4i1UlPgJBXlUnpkPcznVuYKh6YEvWhNQc3Wrz305DeBdPIb2WmZmGv2gOVlhL3yjUrmxVWuRrtt9bQHX9B29bKtvY6L5QnE+iXEDpDlB6N5Qoe0JDqjJMn2K4WmVbxXivQN+XcYrEeRbV8v0A3yKIIxozry6h8C5cWiqMcXdaPK+tDNq4+tljWouipUhKvSkQY1yQ3K"
)

// TestFixturesGenerate replays the recorded generateContent answers.
func TestFixturesGenerate(t *testing.T) {
	tests := []struct {
		fixture string
		want    llm.Response
	}{
		{"generate-basic", llm.Response{ID: "bzlXaa_EE_aHqtsPi_zw8Ao", Model: "gemini-2.5-flash",
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: text("Hello! How can I help you today?")}, FinishReason: llm.FinishStop}},
			Usage:   llm.Usage{InputTokens: 9, OutputTokens: 43, ReasoningTokens: 34}, UsageReported: true}},
		{"generate-thinking", llm.Response{ID: "1FpeaOWpAs-lkdUP_4eY2QY", Model: "gemini-2.5-pro",
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: text("The capital of France is **Paris**.")}, FinishReason: llm.FinishStop}},
			Usage:   llm.Usage{InputTokens: 15, OutputTokens: 283, ReasoningTokens: 275}, UsageReported: true}},
		{"generate-function-call", llm.Response{ID: "WACzacOoAtThz7IPuNuJoQI", Model: "gemini-2.5-flash",
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant,
				Content:   []llm.Part{{Type: llm.PartThinking, Signature: "gemini:" + sigFunctionCall}},
				ToolCalls: []llm.ToolCall{{ID: "call_0", Name: "weather", Arguments: `{"location":"Florence,Italy"}`}}},
				FinishReason: llm.FinishToolCalls}},
			Usage: llm.Usage{InputTokens: 54, OutputTokens: 63, ReasoningTokens: 48}, UsageReported: true}},
		{"generate-enum-int-langchaingo", llm.Response{ID: "Sx-jaI-JN6bFnsEPv9TJkQU", Model: "gemini-2.0-flash",
			Choices: []llm.Choice{{Message: llm.Message{Role: llm.RoleAssistant, Content: text("The capital of France is **Paris**.\n")}, FinishReason: llm.FinishStop}},
			Usage:   llm.Usage{InputTokens: 7, OutputTokens: 9}, UsageReported: true}},
	}
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			reply, err := c.Chat(context.Background(), userReq("fixture:"+tt.fixture, "hi"))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Created = 1700000000
			if d := cmp.Diff(&tt.want, reply.Response); d != "" {
				t.Errorf("Chat(%s) (-want +got):\n%s", tt.fixture, d)
			}
		})
	}
}

// TestFixturesStream replays the recorded streams.
func TestFixturesStream(t *testing.T) {
	tests := []struct {
		fixture string
		want    collected
	}{
		{"stream-text", collected{Role: llm.RoleAssistant, Text: "The capital of France is Paris.\n", Finish: llm.FinishStop,
			Usage: &llm.Usage{InputTokens: 13, OutputTokens: 8}, Usages: 2, Events: 3, ID: "w1peaMz6INOvnvgPgYfPiQY", Model: "gemini-2.0-flash-exp"}},
		{"stream-usage-mid-stream", collected{Role: llm.RoleAssistant,
			Text:   "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n21\n22\n23\n24\n25\n26\n27\n28\n29\n30",
			Finish: llm.FinishStop, Usage: &llm.Usage{InputTokens: 18, OutputTokens: 115, ReasoningTokens: 35}, Usages: 3, Events: 3,
			ID: "ru1garvBEoOiqtsP2fznmQw", Model: "gemini-2.5-flash"}},
		{"stream-function-call", collected{Role: llm.RoleAssistant, Finish: llm.FinishToolCalls,
			Calls: map[int]llm.ToolCall{0: {ID: "call_0", Name: "get_capital", Arguments: `{"country":"France"}`}},
			Usage: &llm.Usage{InputTokens: 52, OutputTokens: 5}, Usages: 1, Events: 1, ID: "1lpeaMTxIpW1nvgP-O3vwQY", Model: "gemini-2.0-flash"}},
		{"stream-thinking-function-call", collected{Role: llm.RoleAssistant, Finish: llm.FinishToolCalls,
			Thinking: "**Mapping the Inquiry**\n\nI've successfully identified the user's request: weather information for \"Florence, Italy\". This translates directly to a call for `weather.get_weather`. The key parameter, `location`, is readily apparent and will be set to \"Florence, Italy\".\n\n\n",
			Sigs:     []string{"gemini:CiIBvj72+9zt1F5hZ22f1eeW7Px6AYZtmGWkRn98itxeN1glCmcBvj72+7MEN/axOHSjBzj3ketZPeDZru98pfgPDRSPRire30CemwwkjWoP6Ejv0DwglpMfSVw6C7oT2xm+otusdJ8QznRot3m3zOup17INxBbQkFPAvf9kXN5U7uLCkLPNgeOfCpbJCoYBAb4+9vu+PT2opK2A1Ko4kOZ1ONsRdpEf9pvK8PCiCjiQQjIz/w5NxwrwByC/4dJtsCXdQ3lPKA4fgJjfai0O6+SP6iU4x+outZLLTY0Jxc3awfwSv9HKLN/poOW0njQMZUiMuW49hYgIMNyLfvqhHQwn4+8Xs8yoEN5yBHfJoVeHFqz5z3oKcAG+Pvb7afI/08/QqVFDQHAt7cDrXu14mBkRMbe4hqYevsbRiIOtJeK3RZVsNQHcs0WgA1zKEytXe2Pg5cEjMyRl98DeLSilEVN4ZEAkjx5jcyx3FuuUY73PQ8BYJdoU2QKr9koDZMAnZCPv21/iJpQ="},
			Calls:    map[int]llm.ToolCall{0: {ID: "call_0", Name: "weather", Arguments: `{"location":"Florence, Italy"}`}},
			Usage:    &llm.Usage{InputTokens: 54, OutputTokens: 78, ReasoningTokens: 64}, Usages: 2, Events: 2, ID: "2ACzaf-8I9HRz7IPlMmB4Qk", Model: "gemini-2.5-pro"}},
		{"vertex-stream-text", collected{Role: llm.RoleAssistant, Text: "Olá! (pronounced \"oh-LAH\")", Finish: llm.FinishStop,
			Usage: &llm.Usage{InputTokens: 9, OutputTokens: 45, ReasoningTokens: 36}, Usages: 1, Events: 2, ID: "hACzaZf3G-Tjt8gPydPHkAI", Model: "gemini-2.5-flash"}},
	}
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
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
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("stream %s (-want +got):\n%s", tt.fixture, d)
			}
		})
	}
}

// TestFixturesErrors replays the recorded error answers, streaming and not.
func TestFixturesErrors(t *testing.T) {
	tests := []struct {
		fixture    string
		code       llm.Code
		status     int
		retryAfter time.Duration
	}{
		{"error-403-permission-denied", llm.CodeProviderAuthFailed, 403, 0},
		{"error-404-unknown-model", llm.CodeUpstreamInvalidRequest, 404, 0},
		{"error-429-resource-exhausted", llm.CodeProviderRateLimited, 429, 34400 * time.Millisecond},
		{"error-503-unavailable", llm.CodeProviderUnavailable, 503, 0},
		{"vertex-error-400-invalid-argument", llm.CodeUpstreamInvalidRequest, 400, 0},
	}
	srv := geminitest.NewServer(t)
	c := newClient(t, srv.URL())
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.fixture
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				req := userReq("fixture:"+tt.fixture, "hi")
				req.Stream = stream
				_, err := c.Chat(context.Background(), req)
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("Chat = %v, want *llm.Error", err)
				}
				if e.Code != tt.code || e.UpstreamStatus != tt.status || e.RetryAfter != tt.retryAfter || !e.Sent || e.Provider != "gem" {
					t.Errorf("error = %+v, want code %s, status %d, retry after %v, sent", e, tt.code, tt.status, tt.retryAfter)
				}
			})
		}
	}
}
