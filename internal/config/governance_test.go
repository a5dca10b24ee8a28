package config

import (
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestGovernanceGood(t *testing.T) {
	c, err := parseFile(t, "governance.good.yaml")
	if err != nil {
		t.Fatalf("Parse(governance.good.yaml) = %v, want no error", err)
	}
	usd := func(d int64) Money { return Money(d * 1e9) }
	tests := []struct {
		name      string
		got, want any
	}{
		{"timezone", c.Timezone, "Europe/Paris"},
		{"global budget", c.Budget, &Budget{Limit: usd(5000), Period: "monthly", Hard: true, AlertAt: []int{50, 80, 100}}},
		{"global limits", c.Limits, &Limits{RPM: 10000, Concurrent: 500}},
		{"webhook", c.Alerts.Webhook, &Webhook{URL: "https://hooks.example.com/airgw", Secret: "webhook-secret-0123456789", Timeout: 5 * sec, Retries: 2}},
		{"admin", c.Admin, Admin{Key: "0123456789abcdef0123456789abcdef", Credentials: []AdminCredential{
			{Name: "auditor", Key: "auditor-credential-0001", Role: "auditor"},
			{Name: "search-lead", Key: "search-credential-0001", Role: "team_admin", Team: "search"},
		}}},
		{"max_output_tokens", c.Model("gpt-4o").MaxOutputTokens, 16384},
		{"global policies", c.Policies, Policies{
			RequirePurpose: true, MaxPromptTokens: 32000, DenyModels: []string{"claude-haiku"},
			MaxTokens:    &MaxTokens{Limit: 4096, Action: "clamp"},
			PII:          &PII{Action: "redact", Detect: []string{"email", "phone", "credit_card"}},
			DenyPatterns: []DenyPattern{{Name: "internal-hosts", Pattern: `(?i)\bcorp\.internal\b`}},
			SourceIPs:    []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")},
		}},
		{"team", *c.Team("search"), Team{
			Name:   "search",
			Models: []string{"gpt-4o", "claude-*"},
			Budget: &Budget{Limit: Money(500_500_000_000), Period: "weekly", Hard: false, AlertAt: []int{50, 90}},
			Limits: &Limits{RPM: 600, TPM: 200000, Models: []ModelLimits{{Model: "gpt-4o", Limits: Limits{RPM: 100}}}},
			Policies: &Policies{AllowModels: []string{"gpt-4o"},
				PII: &PII{Action: "block", Detect: []string{"secret", "iban"}}},
			Users: &UserDefaults{
				Budget: &Budget{Limit: usd(5), Period: "daily", Hard: true, AlertAt: []int{}},
				Limits: &Limits{RPM: 20, RPD: 1000},
			},
		}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got, ignorePos, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
			t.Errorf("Parse(governance.good.yaml): %s mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestAdminListenPortZero: tests bind both listeners to port 0.
func TestAdminListenPortZero(t *testing.T) {
	yaml := "server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}\nadmin: {key: 0123456789abcdef}\nproviders: {demo: {type: demo}}\nmodels: {m: {targets: [{provider: demo, model: m}]}}\n"
	if _, err := Parse("t.yaml", []byte(yaml), testEnv); err != nil {
		t.Errorf("Parse(both listeners on port 0) = %v, want no error", err)
	}
}

// TestGovernanceDocLoads keeps docs/governance.md honest: its complete
// example loads, and every other YAML snippet decodes without an unknown
// field when put under that example's providers and models.
func TestGovernanceDocLoads(t *testing.T) {
	data, err := os.ReadFile("../../docs/governance.md")
	if err != nil {
		t.Skipf("docs not found: %v", err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	env := func(name string) (string, bool) { return "value-of-" + name + "-0123456789abcdef", true }
	var full string
	for _, b := range blocks {
		if strings.Contains(b[1], "\nproviders:") {
			full = b[1]
		}
	}
	if full == "" {
		t.Fatal("docs/governance.md has no complete example")
	}
	if _, err := Parse("governance.md", []byte(full), env); err != nil {
		t.Fatalf("the complete example of docs/governance.md does not load:\n%v", err)
	}
	base := "providers: {openai: {type: openai, api_key: k}}\nmodels: {gpt-4o: {targets: [{provider: openai, model: gpt-4o}]}, gpt-4o-mini: {targets: [{provider: openai, model: gpt-4o-mini}]}, claude-sonnet: {targets: [{provider: openai, model: claude-sonnet}]}}\n"
	for i, b := range blocks {
		if b[1] == full {
			continue
		}
		if _, err := Parse("snippet.yaml", []byte(base+b[1]), env); err != nil {
			t.Errorf("docs/governance.md YAML block %d does not load:\n%s\n%v", i, b[1], err)
		}
	}
}
