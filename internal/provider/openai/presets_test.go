package openai

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/openai/openaitest"
	"github.com/google/go-cmp/cmp"
)

func TestPresetTable(t *testing.T) {
	wantNames := []string{"deepseek", "fireworks", "groq", "mistral", "ollama", "openrouter", "together", "vllm", "xai"}
	if diff := cmp.Diff(wantNames, PresetNames()); diff != "" {
		t.Fatalf("PresetNames() (-want +got):\n%s", diff)
	}
	// The pricing catalog's LookupTarget prefixes (internal/pricing,
	// candidates): a preset's PricingType must be one of them or empty.
	pricing := []string{"mistral", "groq", "deepseek", "together_ai", "fireworks_ai", "openrouter", "xai"}
	for _, name := range wantNames {
		t.Run(name, func(t *testing.T) {
			p, ok := Preset(name)
			if !ok || p.Name != name {
				t.Fatalf("Preset(%q) = %+v, %v", name, p, ok)
			}
			if p.PricingType != "" && !slices.Contains(pricing, p.PricingType) {
				t.Errorf("PricingType = %q, not a catalog prefix", p.PricingType)
			}
			if (p.BaseURL == "") != (name == "vllm") {
				t.Errorf("BaseURL = %q; only vllm has none", p.BaseURL)
			}
			if p.RequiredToolChoice != "required" && p.RequiredToolChoice != "any" {
				t.Errorf("RequiredToolChoice = %q", p.RequiredToolChoice)
			}
			if !p.StreamUsage && !p.UsageAlways {
				t.Errorf("preset neither asks for nor always gets stream usage")
			}
		})
	}
	if _, ok := Preset("azure"); ok {
		t.Errorf("Preset(azure) found")
	}
}

// presetWire is what a preset must make of one request on the wire.
type presetWire struct {
	maxField      string // "max_tokens" or "max_completion_tokens"
	streamOptions bool
	role          string // what a developer message becomes
	parallel      bool
	toolChoice    string
	name          bool
}

func TestPresetQuirksOnWire(t *testing.T) {
	tests := map[string]presetWire{
		"mistral":    {"max_tokens", false, "system", true, `"any"`, true},
		"groq":       {"max_completion_tokens", true, "system", true, `"required"`, false},
		"deepseek":   {"max_tokens", true, "system", false, `"required"`, true},
		"together":   {"max_tokens", true, "system", true, `"required"`, true},
		"fireworks":  {"max_tokens", true, "system", true, `"required"`, true},
		"openrouter": {"max_tokens", false, "developer", true, `"required"`, true},
		"xai":        {"max_tokens", true, "system", true, `"required"`, true},
		"ollama":     {"max_tokens", true, "system", false, `"required"`, true},
		"vllm":       {"max_tokens", true, "system", true, `"required"`, true},
	}
	// A client's own body, passed through: every quirk shows.
	native := `{"model":"alias","stream":true,"max_completion_tokens":50,"parallel_tool_calls":false,"tool_choice":"required",` +
		`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],` +
		`"messages":[{"role":"developer","content":"be brief"},{"role":"user","name":"ann","content":"hi"}]}`
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			fake := openaitest.NewServer(t)
			c := newClient(t, fake.URL(), func(c *Config) { c.Preset = name; c.Name = name })
			req := &llm.Request{Model: "m", Stream: true,
				Native: &llm.Native{Dialect: llm.DialectOpenAI, Endpoint: endpoint, Body: json.RawMessage(native)}}
			reply, err := c.Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := collect(t, reply.Stream); err != nil {
				t.Fatal(err)
			}
			f := fake.Requests()[0].Fields
			checkPresetWire(t, f, want)
		})
	}
}

func checkPresetWire(t *testing.T, f map[string]json.RawMessage, want presetWire) {
	t.Helper()
	other := "max_completion_tokens"
	if want.maxField == other {
		other = "max_tokens"
	}
	if string(f[want.maxField]) != "50" || f[other] != nil {
		t.Errorf("%s = %s, %s = %s; want only %s: 50", want.maxField, f[want.maxField], other, f[other], want.maxField)
	}
	if (f["stream_options"] != nil) != want.streamOptions {
		t.Errorf("stream_options = %s, want sent %v", f["stream_options"], want.streamOptions)
	}
	if (f["parallel_tool_calls"] != nil) != want.parallel {
		t.Errorf("parallel_tool_calls = %s, want sent %v", f["parallel_tool_calls"], want.parallel)
	}
	if string(f["tool_choice"]) != want.toolChoice {
		t.Errorf("tool_choice = %s, want %s", f["tool_choice"], want.toolChoice)
	}
	var msgs []map[string]string
	if err := json.Unmarshal(f["messages"], &msgs); err != nil {
		t.Fatal(err)
	}
	if msgs[0]["role"] != want.role {
		t.Errorf("developer message sent as %q, want %q", msgs[0]["role"], want.role)
	}
	if _, ok := msgs[1]["name"]; ok != want.name {
		t.Errorf("messages[1].name sent %v, want %v", ok, want.name)
	}
}

func TestPresetNeutralRequest(t *testing.T) {
	// A request built from the hub types gets the same treatment.
	fake := openaitest.NewServer(t)
	c := newClient(t, fake.URL(), func(c *Config) { c.Preset = "mistral" })
	par := true
	req := &llm.Request{Model: "mistral-large-latest", Stream: true, MaxTokens: 50, ParallelToolCalls: &par,
		ToolChoice: &llm.ToolChoice{Mode: "required"},
		Tools:      []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}},
		Messages: []llm.Message{
			{Role: llm.RoleDeveloper, Content: []llm.Part{{Type: llm.PartText, Text: "be brief"}}},
			{Role: llm.RoleUser, Name: "ann", Content: []llm.Part{{Type: llm.PartText, Text: "hi"}}},
		}}
	reply, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collect(t, reply.Stream); err != nil {
		t.Fatal(err)
	}
	checkPresetWire(t, fake.Requests()[0].Fields, presetWire{"max_tokens", false, "system", true, `"any"`, true})
}

func TestPresetApplyUntouched(t *testing.T) {
	// A body no quirk applies to is returned as is, byte for byte.
	p, _ := Preset("openrouter")
	body := []byte(`{"model":"m",  "messages":[{"role":"user","content":"hi"}],"max_tokens":5}`)
	got, err := p.apply(body)
	if err != nil || string(got) != string(body) {
		t.Errorf("apply(%s) = %s, %v; want it unchanged", body, got, err)
	}
	if _, err := p.apply([]byte(`[1]`)); err == nil {
		t.Errorf("apply([1]) = nil error, want one")
	}
}
