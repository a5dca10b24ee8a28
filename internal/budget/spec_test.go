package budget

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/pricing"
)

func TestSpecJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec
		wantErr bool
	}{
		{in: `{"limit_usd":"50","period":"monthly"}`, want: Spec{Limit: 50 * usd1, Period: Monthly, Hard: true, AlertAt: DefaultAlertAt}},
		{in: `{"limit_usd":12.5,"period":"daily","hard":false,"alert_at":[90,10]}`, want: Spec{Limit: 12_500_000_000, Period: Daily, AlertAt: []int{10, 90}}},
		{in: `{"limit_usd":"0.000000001","period":"total","alert_at":[]}`, want: Spec{Limit: 1, Period: Total, Hard: true, AlertAt: []int{}}},
		{in: `{"period":"daily"}`, wantErr: true},
		{in: `{"limit_usd":"-1","period":"daily"}`, wantErr: true},
		{in: `{"limit_usd":"1e3","period":"daily"}`, wantErr: true},
		{in: `{"limit_usd":"5","period":"hourly"}`, wantErr: true},
		{in: `{"limit_usd":"5","period":"daily","alert_at":[0]}`, wantErr: true},
	}
	for _, tt := range tests {
		var got Spec
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.in, diff)
		}
		out, _ := json.Marshal(got)
		var back Spec
		if err := json.Unmarshal(out, &back); err != nil || !cmp.Equal(back, got, cmpopts.EquateEmpty()) {
			t.Errorf("round trip of %s through %s = %+v, %v", tt.in, out, back, err)
		}
	}
}

// TestWorstCostBoundsCost: whatever the split of the tokens between cache
// and reasoning, and whatever tier applies, the cost never exceeds
// WorstCost of the bounds.
func TestWorstCostBoundsCost(t *testing.T) {
	p := pricing.Price{Input: 3_000_000, Output: 15_000_000, CacheRead: 300_000, CacheWrite: 3_750_000, Reasoning: 20_000_000,
		TierAbove: 200_000, TierInput: 6_000_000, TierOutput: 22_500_000,
		Set: pricing.HasCacheRead | pricing.HasCacheWrite | pricing.HasReasoning | pricing.HasTierInput | pricing.HasTierOutput}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10_000 {
		in, out := rng.Int64N(400_000), rng.Int64N(64_000)
		u := llm.Usage{InputTokens: rng.Int64N(in + 1), OutputTokens: rng.Int64N(out + 1)}
		u.CacheReadTokens = rng.Int64N(u.InputTokens + 1)
		u.CacheWriteTokens = rng.Int64N(u.InputTokens - u.CacheReadTokens + 1)
		u.ReasoningTokens = rng.Int64N(u.OutputTokens + 1)
		if c, w := p.Cost(u), WorstCost(p, in, out); c > w {
			t.Fatalf("Cost(%+v) = %d > WorstCost(%d, %d) = %d", u, c, in, out, w)
		}
	}
}

func TestPromptBound(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "héllo wörld"}, {Type: llm.PartImage, ImageURL: "data:..."}}},
	}}
	if got, est := PromptBound(req), llm.EstimateInputTokens(req); got < est || got < ImageTokens+int64(len("héllo wörld")) {
		t.Errorf("PromptBound = %d, want at least the estimate %d and the text's bytes plus an image", got, est)
	}
}
