package llm

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEmptyJSON(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{"null", true}, {"false", true}, {"0", true}, {"-0.0", true}, {"0e10", true}, {`""`, true},
		{"[]", true}, {"{ }", true}, {" [ ] ", true}, {"", true},
		{"true", false}, {"1", false}, {"-0.5", false}, {`"x"`, false}, {"[0]", false}, {`{"a":0}`, false},
	}
	for _, tt := range tests {
		if got := EmptyJSON(json.RawMessage(tt.raw)); got != tt.want {
			t.Errorf("EmptyJSON(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestUntranslatable(t *testing.T) {
	tests := []struct {
		name string
		lost []string
		want string // "" for no error
	}{
		{"nothing-lost", nil, ""},
		{"one-field", []string{"presence_penalty"}, "`presence_penalty` is not supported by provider `claude` (type anthropic); remove it"},
		{"several", []string{"logprobs", "prediction", "top_logprobs"}, "`logprobs` (and 2 more: `prediction`, `top_logprobs`) is not supported"},
		{"description", []string{"the Responses API (POST /v1/responses)"}, "the Responses API (POST /v1/responses) is not supported by provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{}
			if tt.lost != nil {
				r.NativeOnly = func() []string { return tt.lost }
			}
			e := r.Untranslatable("claude", "anthropic")
			switch {
			case tt.want == "" && e != nil:
				t.Errorf("Untranslatable() = %v, want nil", e)
			case tt.want != "" && (e == nil || e.Code != CodeFeatureNotSupported || !e.NoClientRetry || !strings.Contains(e.Message, tt.want)):
				t.Errorf("Untranslatable() = %v, want feature_not_supported containing %q", e, tt.want)
			}
		})
	}
	if (&Request{NativeOnly: func() []string { return []string{} }}).Untranslatable("p", "t") != nil {
		t.Error("Untranslatable() with an empty list = an error, want nil")
	}
}
