package roundtrip

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	anth "github.com/airgw/airgw/internal/dialect/anthropic"
	oai "github.com/airgw/airgw/internal/dialect/openai"
	"github.com/airgw/airgw/internal/llm"
	anthprov "github.com/airgw/airgw/internal/provider/anthropic"
	bedrockprov "github.com/airgw/airgw/internal/provider/bedrock"
	geminiprov "github.com/airgw/airgw/internal/provider/gemini"
	oaiprov "github.com/airgw/airgw/internal/provider/openai"
)

// adapters returns every provider adapter, each sending through up.
func adapters(t *testing.T, up *upstream) map[string]llm.Provider {
	t.Helper()
	hc := up.client()
	o, err := oaiprov.New(oaiprov.Config{Name: "oai", BaseURL: "http://upstream.invalid/v1", APIKey: "sk-x-0123456789", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	a, err := anthprov.New(anthprov.Config{Name: "claude", BaseURL: "http://upstream.invalid", APIKey: "sk-ant-x-0123456789", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	g, err := geminiprov.New(geminiprov.Config{Name: "gem", BaseURL: "http://upstream.invalid/v1beta", APIKey: "AIza-x", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bedrockprov.New(context.Background(), bedrockprov.Config{Name: "br", Region: "us-east-1", BaseURL: "http://upstream.invalid", HTTPClient: hc,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]llm.Provider{"openai": o, "anthropic": a, "gemini": g, "bedrock": b}
}

// FuzzCrossTranslation decodes a body with both dialects and sends what
// decodes to every provider adapter, translated: no adapter may panic, a
// refusal must be a classified error, and what is sent must be JSON (the
// upstream's answer is an error, so nothing else is exercised here).
func FuzzCrossTranslation(f *testing.F) {
	for _, b := range requestBodies(f, "../../wire/openai/testdata/*.request.json") {
		f.Add(b)
	}
	for _, b := range requestBodies(f, "../anthropic/testdata/fixtures/*.request.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var reqs []*llm.Request
		if r, err := oai.DecodeChat(body, oai.Limits{}); err == nil {
			reqs = append(reqs, r)
		}
		if r, err := anth.DecodeMessages(body, anth.Limits{}); err == nil {
			reqs = append(reqs, r)
		}
		for _, req := range reqs {
			up := &upstream{contentType: "application/json", reply: []byte(`{}`)}
			for name, p := range adapters(t, up) {
				up.sent = nil
				r := translated(req)
				r.Model = "anthropic.claude-x" // a Bedrock model id that takes thinking and top_k
				reply, err := p.Chat(context.Background(), r)
				if err == nil {
					if reply.Stream != nil {
						reply.Stream.Close()
					}
				} else if e := (*llm.Error)(nil); !errors.As(err, &e) || !e.Code.Known() {
					t.Fatalf("%s: Chat error %v is not classified", name, err)
				}
				if up.sent != nil && !json.Valid(up.sent) {
					t.Fatalf("%s sent invalid JSON: %s", name, up.sent)
				}
			}
		}
	})
}
