package openai

import "testing"

// TestDecodeChunkMultiChoice: a chunk of several choices must not travel as
// Native, or a client would receive the later choices twice (once in the
// first event's native bytes, once re-encoded).
func TestDecodeChunkMultiChoice(t *testing.T) {
	tests := []struct {
		name       string
		chunk      string
		events     int
		wantNative bool
	}{
		{"one_choice", `{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}`, 1, true},
		{"usage_only", `{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`, 1, true},
		{"two_choices", `{"id":"c","choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}`, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := decodeChunk("p", "", []byte(tt.chunk))
			if err != nil || len(evs) != tt.events {
				t.Fatalf("decodeChunk(%s) = %d events, %v, want %d", tt.chunk, len(evs), err, tt.events)
			}
			for i, ev := range evs {
				if got := ev.Native != nil; got != (tt.wantNative && i == 0) {
					t.Errorf("decodeChunk(%s) event %d native = %v, want %v", tt.chunk, i, got, tt.wantNative && i == 0)
				}
			}
		})
	}
}
