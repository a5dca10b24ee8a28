package openai

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResponseDecode(t *testing.T) {
	// The body of fixture openai/responses-reasoning, trimmed to the
	// fields airgw reads.
	body := `{"id":"resp_1","object":"response","created_at":1757604033,"status":"incomplete","model":"o3",` +
		`"incomplete_details":{"reason":"max_output_tokens"},"error":null,` +
		`"output":[{"id":"rs_1","type":"reasoning","summary":[]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]}]},` +
		`{"type":"function_call","call_id":"call_1","name":"f","arguments":"{}","status":"completed"}],` +
		`"usage":{"input_tokens":88,"input_tokens_details":{"cached_tokens":2},"output_tokens":547,"output_tokens_details":{"reasoning_tokens":128},"total_tokens":635}}`
	var got Response
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := Response{ID: "resp_1", Object: "response", CreatedAt: 1757604033, Status: ResponseIncomplete, Model: "o3",
		IncompleteDetails: &IncompleteDetails{Reason: "max_output_tokens"},
		Output: []OutputItem{{Type: ItemReasoning, ID: "rs_1"},
			{Type: ItemMessage, Role: "assistant", Content: []OutputPart{{Type: PartOutputText, Text: "Hi"}}},
			{Type: ItemFunctionCall, CallID: "call_1", Name: "f", Arguments: "{}"}},
		Usage: &ResponseUsage{InputTokens: 88, InputTokensDetails: &InputTokensDetails{CachedTokens: 2}, OutputTokens: 547,
			OutputTokensDetails: &OutputTokensDetail{ReasoningTokens: 128}, TotalTokens: 635}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Response (-want +got):\n%s", diff)
	}
}

func TestStreamEventDecode(t *testing.T) {
	tests := []struct {
		name string
		data string
		want StreamEvent
	}{
		{"text-delta", `{"type":"response.output_text.delta","item_id":"m","output_index":1,"content_index":0,"delta":"Ol\u00e1","sequence_number":6}`,
			StreamEvent{Type: EventOutputTextDelta, OutputIndex: 1, Delta: "Olá", SequenceNumber: ptr(int64(6))}},
		{"error", `{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null,"sequence_number":3}`,
			StreamEvent{Type: EventError, Code: "rate_limit_exceeded", Message: "slow down", SequenceNumber: ptr(int64(3))}},
		{"item-added", `{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","call_id":"c","name":"f","arguments":""}}`,
			StreamEvent{Type: EventOutputItemAdded, Item: &OutputItem{Type: ItemFunctionCall, CallID: "c", Name: "f"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got StreamEvent
			if err := json.Unmarshal([]byte(tt.data), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("StreamEvent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmbeddingRoundTrip(t *testing.T) {
	dims := 256
	req := EmbeddingRequest{Model: "text-embedding-3-small", Input: json.RawMessage(`["a","b"]`), Dimensions: &dims, EncodingFormat: EncodingBase64}
	b, err := json.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"model":"text-embedding-3-small","input":["a","b"],"dimensions":256,"encoding_format":"base64"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var resp EmbeddingResponse
	if err := json.Unmarshal([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1]}],"model":"m","usage":{"prompt_tokens":5,"total_tokens":5}}`), &resp); err != nil {
		t.Fatal(err)
	}
	if string(resp.Data[0].Embedding) != `[0.5,-1]` || resp.Usage.PromptTokens != 5 {
		t.Errorf("EmbeddingResponse = %+v", resp)
	}
}
