package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testEnv is the environment every test file is parsed with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{"TEST_OPENAI_KEY": "sk-test"}[name]
	return v, ok
}

func parseFile(t *testing.T, file string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(file, data, testEnv)
}

func ptr[T any](v T) *T { return &v }

const sec = Duration(time.Second)

// ignorePos leaves positions out of whole-Config comparisons; TestPosition
// checks them.
var ignorePos = cmp.Options{cmpopts.IgnoreUnexported(Config{}), cmpopts.IgnoreTypes(Pos{})}

func TestParseGood(t *testing.T) {
	base := func(edit func(c *Config)) *Config {
		c := defaults()
		c.Storage.DataDir = "."
		c.Audit.SpoolDir = "audit-spool"
		edit(c)
		return c
	}
	tests := []struct {
		file string
		want *Config // nil: only check that it loads
	}{
		{
			file: "minimal.good.yaml",
			want: base(func(c *Config) {
				c.Providers = []Provider{{Name: "demo", Type: "demo"}}
				c.Models = []Model{{Name: "demo-fast", Targets: []Target{{Provider: "demo", Model: "demo-fast", Weight: 1}}}}
			}),
		},
		{
			file: "full.good.yaml",
			want: &Config{
				Server: Server{
					Listen:            "0.0.0.0:9090",
					AdminListen:       "127.0.0.1:8081",
					MaxBody:           512 << 10,
					MaxInFlight:       2000,
					MaxQueueDelay:     Duration(20 * time.Millisecond),
					ReadHeaderTimeout: 5 * sec,
					IdleTimeout:       90 * sec,
					ShutdownTimeout:   7200 * sec,
				},
				Storage:  Storage{SQLite: "/var/lib/airgw/airgw.db", DataDir: "/var/lib/airgw/data"},
				Timezone: "UTC",
				Auth:     Auth{HMACSecret: "0123456789abcdef0123456789abcdef"},
				Log:      Log{Level: "debug", Format: "json"},
				Audit: Audit{BatchSize: 1000, FlushInterval: Duration(250 * time.Millisecond), SpoolDir: "/var/spool/airgw",
					FsyncInterval: Duration(20 * time.Millisecond), SpoolMaxSize: 256 << 20, CheckpointInterval: 30 * sec,
					SigningKey: "0000000000000000000000000000000000000000000000000000000000000001", Retention: 8760 * 3600 * sec,
					Bodies: &AuditBodies{Teams: []string{"search"}, Keys: []string{"ci-bot"}, Retention: 168 * 3600 * sec, MaxBytes: 16 << 10}},
				Tracing: Tracing{OTLPEndpoint: "http://127.0.0.1:4318", Headers: map[string]Secret{"Authorization": "Bearer sk-test"},
					ServiceName: "airgw-eu", SampleRatio: 0.25},
				Providers: []Provider{
					{Name: "openai", Type: "openai", BaseURL: "https://api.openai.com/v1", APIKey: "sk-from-file-0123456789", Organization: "org-123", Timeout: 45 * sec},
					{
						Name: "vllm", Type: "openai_compatible", BaseURL: "http://10.0.0.5:8000/v1", APIKey: "sk-test",
						Headers:             map[string]Secret{"X-Tenant": "research", "X-Cost-Center": "cc-${literal}"},
						AllowPrivateNetwork: true,
					},
					{Name: "demo", Type: "demo"},
				},
				Models: []Model{
					{
						Name: "gpt-4o",
						Targets: []Target{
							{Provider: "openai", Model: "gpt-4o", Weight: 3},
							{Provider: "vllm", Model: "gpt-4o-mirror", Weight: 0},
						},
						Price: &ModelPrice{
							Input: 2_500_000, Output: 10_000_000,
							CacheRead: ptr(Price(1_250_000)), CacheWrite: ptr(Price(3_125_000)), Reasoning: ptr(Price(1)),
						},
					},
					{Name: "meta-llama/Llama-3.1-8B", Targets: []Target{{Provider: "vllm", Model: "meta-llama/Llama-3.1-8B-Instruct", Weight: 1}}},
					{Name: "demo-fast", Targets: []Target{{Provider: "demo", Model: "demo-fast", Weight: 1}}},
				},
				Routing: Routing{Strategy: "weighted", Retries: 2, Timeout: 300 * sec, ConnectTimeout: 10 * sec,
					Backoff: Backoff{Base: Duration(100 * time.Millisecond), Max: 2 * sec}, RetryBudget: RetryBudget{Ratio: 0.2, Min: 3},
					Breaker: Breaker{ConsecutiveFailures: 5, MinRequests: 20, Window: 30 * sec, Cooldown: 30 * sec}},
				Teams: []Team{
					{Name: "search", Models: []string{"gpt-4o", "demo-fast"}},
					{Name: "everything"},
					{Name: "nobody", Models: []string{}},
				},
			},
		},
		{
			file: "anchors.good.yaml",
			want: base(func(c *Config) {
				c.Providers = []Provider{
					{Name: "primary", Type: "openai", BaseURL: defaultOpenAIBaseURL, APIKey: "sk-test", Timeout: 30 * sec},
					{Name: "secondary", Type: "openai", BaseURL: defaultOpenAIBaseURL, APIKey: "sk-test", Timeout: 10 * sec},
				}
				targets := []Target{{Provider: "primary", Model: "gpt-4o-mini", Weight: 1}}
				c.Models = []Model{{Name: "small", Targets: targets}, {Name: "small-copy", Targets: targets}}
			}),
		},
		{file: "design.good.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseFile(t, tt.file)
			if err != nil {
				t.Fatalf("Parse(%s) = %v, want no error", tt.file, err)
			}
			if tt.want == nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, ignorePos); diff != "" {
				t.Errorf("Parse(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

// TestGoodFilesListed keeps the fixtures and the tables in step.
func TestGoodFilesListed(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, f := range files {
		if !strings.HasSuffix(f, ".good.yaml") && !strings.HasSuffix(f, ".bad.yaml") {
			t.Errorf("%s: fixtures end in .good.yaml or .bad.yaml", f)
		}
		if _, ok := badFiles[filepath.Base(f)]; strings.HasSuffix(f, ".bad.yaml") && !ok {
			t.Errorf("%s has no entry in the bad-file table", f)
		}
	}
}

var badFiles = func() map[string][]string {
	m := map[string][]string{}
	for _, tt := range badTests {
		m[tt.file] = tt.want
	}
	return m
}()

var badTests = []struct {
	file string
	want []string
}{
	{
		file: "audit.bad.yaml",
		want: []string{
			`audit.bad.yaml:2:19: audit.fsync_interval: must be more than 0`,
			`audit.bad.yaml:3:19: audit.spool_max_size: must be at least 1MiB, got 1KiB`,
			`audit.bad.yaml:4:14: audit.retention: must be 0 (keep records forever) or at least 1h, got 10m0s`,
			`audit.bad.yaml:5:16: audit.signing_key: must be the hex (64 characters) or base64 of a 32-byte Ed25519 seed; generate one with: openssl rand -hex 32`,
			`audit.bad.yaml:7:13: audit.bodies.teams[0]: team "search" is not defined under teams`,
			`audit.bad.yaml:8:16: audit.bodies.retention: must be more than 0`,
			`audit.bad.yaml:9:5: audit.bodies.colour: unknown field "colour" (expected one of teams, keys, retention, max_bytes)`,
			`audit.bad.yaml:11:18: tracing.otlp_endpoint: expected a URL like http://127.0.0.1:4318, got "ftp://collector:4318": want http:// or https:// and a host`,
			`audit.bad.yaml:12:17: tracing.sample_ratio: expected a ratio between 0 and 1 like 0.2, got "2": must be a number from 0 to 1`,
		},
	},
	{
		file: "bad-duration.bad.yaml",
		want: []string{
			`bad-duration.bad.yaml:2:24: server.read_header_timeout: expected a duration like 30s, got "30": a number needs a unit: ms, s, m or h`,
			`bad-duration.bad.yaml:3:17: server.idle_timeout: expected a duration like 30s, got "5 minutes": units are ns, us, ms, s, m and h`,
			`bad-duration.bad.yaml:4:21: server.shutdown_timeout: expected a duration like 30s, got "1d": units are ns, us, ms, s, m and h`,
			`bad-duration.bad.yaml:10:19: audit.flush_interval: expected a duration like 30s, got "1" (from "${TEST_FLUSH:-1}"): a number needs a unit: ms, s, m or h`,
		},
	},
	{
		file: "bad-enum.bad.yaml",
		want: []string{
			`bad-enum.bad.yaml:2:10: log.level: unknown log level "verbose" (expected one of debug, info, warn, error)`,
			`bad-enum.bad.yaml:3:11: log.format: unknown log format "jsn"; did you mean json? (expected one of text, json)`,
		},
	},
	{
		file: "bad-price.bad.yaml",
		want: []string{
			`bad-price.bad.yaml:6:29: models.cheap.price.input_per_mtok: expected a price in USD per million tokens like 2.50, got "0.0000001": too precise: at most 6 decimal places`,
			`bad-price.bad.yaml:6:57: models.cheap.price.output_per_mtok: expected a price in USD per million tokens like 2.50, got "-1": must not be negative`,
			`bad-price.bad.yaml:10:23: models.weird.price.input_per_mtok: expected a price in USD per million tokens like 2.50, got ".nan": expected a decimal number like 2.50`,
			`bad-price.bad.yaml:11:24: models.weird.price.output_per_mtok: expected a price in USD per million tokens like 2.50, got "1e-3": expected a decimal number like 2.50`,
			`bad-price.bad.yaml:12:28: models.weird.price.cache_read_per_mtok: expected a price in USD per million tokens like 2.50, got "ten cents": expected a decimal number like 2.50`,
			`bad-price.bad.yaml:15:12: models.half.price.output_per_mtok: missing; a price needs both input and output; write 0 for free`,
		},
	},
	{
		file: "bad-size-negative.bad.yaml",
		want: []string{
			`bad-size-negative.bad.yaml:2:13: server.max_body: expected a size like 4MiB, got "-1MiB": must not be negative`,
			`bad-size-negative.bad.yaml:9:24: models.n.max_output_tokens: expected an integer, got "99999999999999999999": too large`,
		},
	},
	{
		file: "bad-size.bad.yaml",
		want: []string{
			`bad-size.bad.yaml:2:13: server.max_body: expected a size like 4MiB, got "4 gigs": units are B, KB, MB, GB, TB, KiB, MiB, GiB and TiB`,
		},
	},
	{
		file: "base-url.bad.yaml",
		want: []string{
			`base-url.bad.yaml:4:15: providers.leaky.base_url: remove the credentials from the URL, they would be logged; use api_key or headers`,
			`base-url.bad.yaml:7:15: providers.relative.base_url: expected a URL like https://api.example.com/v1, got "llm.example.com/v1": write an absolute http:// or https:// URL`,
			`base-url.bad.yaml:8:3: providers.nourl.base_url: missing; type openai_compatible needs the server's URL, such as http://127.0.0.1:8000/v1, or a preset: deepseek, fireworks, groq, mistral, ollama, openrouter, together, vllm, xai`,
			`base-url.bad.yaml:12:15: providers.demo.base_url: the demo provider runs inside airgw and takes no base_url; remove it`,
		},
	},
	{
		file: "design-full.bad.yaml",
		want: []string{
			`design-full.bad.yaml:13:8: admin.key: environment variable AIRGW_ADMIN_KEY is not set; export it or use ${AIRGW_ADMIN_KEY:-default}`,
			`design-full.bad.yaml:18:14: providers.openai.api_key: environment variable OPENAI_API_KEY is not set; export it or use ${OPENAI_API_KEY:-default}`,
			`design-full.bad.yaml:21:14: providers.anthropic.api_key: environment variable ANTHROPIC_API_KEY is not set; export it or use ${ANTHROPIC_API_KEY:-default}`,
			`design-full.bad.yaml:25:14: providers.azure-eu.api_key: cannot read secret file: open /run/secrets/azure_eu_key: no such file or directory`,
		},
	},
	{
		file: "governance.bad.yaml",
		want: []string{
			`governance.bad.yaml:5:5: admin.credentials.lead.team: missing; role team_admin manages one team: name it`,
			`governance.bad.yaml:5:17: admin.credentials.lead.key: must be at least 16 bytes, got 5; generate one with: openssl rand -hex 32`,
			`governance.bad.yaml:6:61: admin.credentials.other.team: only applies to role team_admin; remove it`,
			`governance.bad.yaml:7:17: admin.credentials.twin.key: is the same credential as admin.credentials.other; every credential must be different so that the audit trail names the right actor`,
			`governance.bad.yaml:7:45: admin.credentials.twin.role: unknown admin role "superuser" (expected one of admin, auditor, team_admin)`,
			`governance.bad.yaml:8:11: timezone: expected an IANA time zone like UTC or Europe/Paris, got "Mars/Olympus": unknown zone; use UTC or a name from the IANA database such as America/New_York`,
			`governance.bad.yaml:9:9: budget.period: missing; set it to one of daily, weekly, monthly, total`,
			`governance.bad.yaml:11:12: alerts.webhook.secret: missing; alerts are signed with HMAC-SHA-256; set a secret such as ${AIRGW_WEBHOOK_SECRET} (openssl rand -hex 32)`,
			`governance.bad.yaml:11:18: alerts.webhook.url: expected a URL like https://hooks.example.com/airgw, got "ftp://x": write an absolute http:// or https:// URL`,
			`governance.bad.yaml:11:38: alerts.webhook.timeout: must be more than 0`,
			`governance.bad.yaml:18:17: policies.deny_models[0]: unknown model "gpt-5" (expected one of gpt-4o)`,
			`governance.bad.yaml:19:15: policies.max_tokens.limit: missing; give the largest max_tokens a request may ask for, such as 4096`,
			`governance.bad.yaml:19:24: policies.max_tokens.action: unknown max_tokens action "truncate" (expected one of reject, clamp)`,
			"governance.bad.yaml:21:10: policies.deny_patterns.bad: invalid regular expression: missing closing ): `(unclosed`",
			`governance.bad.yaml:22:16: policies.source_ips[0]: expected an IP address or CIDR range like 10.0.0.0/8, got "10.0.0.0/33"`,
			`governance.bad.yaml:22:29: policies.source_ips[1]: expected an IP address or CIDR range like 10.0.0.0/8, got "not-an-ip"`,
			`governance.bad.yaml:27:16: teams.search.limits.models.gpt-4: unknown model "gpt-4"; did you mean gpt-4o?`,
			`governance.bad.yaml:28:26: teams.search.limits.models.gpt-4o.models: unknown field "models" (expected one of rpm, rpd, tpm, concurrent)`,
			`governance.bad.yaml:30:15: teams.search.users.budget.limit_usd: missing; give the limit in USD, such as 500`,
			`governance.bad.yaml:30:24: teams.search.users.budget.period: unknown budget period "hourly" (expected one of daily, weekly, monthly, total)`,
		},
	},
	{
		file: "duplicate-key.bad.yaml",
		want: []string{
			`duplicate-key.bad.yaml:5:3: providers.openai: duplicate key "openai"; first defined at line 2`,
			`duplicate-key.bad.yaml:11:5: models.m.targets: duplicate key "targets"; first defined at line 10`,
		},
	},
	{
		file: "empty-targets.bad.yaml",
		want: []string{
			`empty-targets.bad.yaml:5:14: models.empty.targets: is empty; list at least one target, such as {provider: openai, model: gpt-4o}`,
			`empty-targets.bad.yaml:6:3: models.absent.targets: missing; list at least one target, such as {provider: openai, model: gpt-4o}`,
			`empty-targets.bad.yaml:7:5: models.absent.context_window: not yet supported in this version of airgw; remove it`,
			`empty-targets.bad.yaml:10:7: models.zero.targets: every target has weight 0; give at least one a weight above 0`,
			`empty-targets.bad.yaml:11:9: models.zero.targets[1].provider: missing; name one of the providers`,
		},
	},
	{
		file: "empty.bad.yaml",
		want: []string{
			`empty.bad.yaml: the file is empty; see docs/configuration.md for a starting point`,
		},
	},
	{
		file: "missing-type.bad.yaml",
		want: []string{
			`missing-type.bad.yaml:2:3: providers.openai.type: missing; set it to one of openai, openai_compatible, demo, anthropic, azure_openai, gemini, bedrock`,
			`missing-type.bad.yaml:4:3: providers.local.type: missing; set it to one of openai, openai_compatible, demo, anthropic, azure_openai, gemini, bedrock`,
		},
	},
	{
		file: "multiple.bad.yaml",
		want: []string{
			`multiple.bad.yaml:3:11: server.listen: expected an address like 127.0.0.1:8080, got "localhost": write host:port, or :port for every interface`,
			`multiple.bad.yaml:5:17: server.idle_timeout: expected a duration like 30s, got "forever": units are ns, us, ms, s, m and h`,
			`multiple.bad.yaml:7:11: storage.sqlite: must not be empty; it is the path of the SQLite database file`,
			`multiple.bad.yaml:9:16: auth.hmac_secret: must be at least 32 bytes, got 9; generate one with: openssl rand -hex 32`,
			`multiple.bad.yaml:12:3: log.colour: unknown field "colour" (expected one of level, format)`,
			`multiple.bad.yaml:14:3: providers.openai.api_key: missing; type openai needs an API key, such as ${OPENAI_API_KEY}`,
			`multiple.bad.yaml:16:3: providers.vllm.base_url: missing; type openai_compatible needs the server's URL, such as http://127.0.0.1:8000/v1, or a preset: deepseek, fireworks, groq, mistral, ollama, openrouter, together, vllm, xai`,
			`multiple.bad.yaml:21:24: models.gpt-4o.max_output_tokens: 200000 is more than context_window (128000)`,
			`multiple.bad.yaml:22:5: models.gpt-4o.context_window: not yet supported in this version of airgw; remove it`,
			`multiple.bad.yaml:27:22: teams.search.models[1]: unknown model "gpt-5" (expected one of gpt-4o)`,
		},
	},
	{
		file: "negative-duration.bad.yaml",
		want: []string{
			`negative-duration.bad.yaml:2:24: server.read_header_timeout: expected a duration like 30s, got "-5s": must not be negative`,
			`negative-duration.bad.yaml:4:19: audit.flush_interval: must be more than 0`,
		},
	},
	{
		file: "not-mapping.bad.yaml",
		want: []string{
			`not-mapping.bad.yaml:1:1: expected a mapping of sections such as server, providers and models at the top level, got a list`,
		},
	},
	{
		file: "not-yet-supported.bad.yaml",
		want: []string{
			`not-yet-supported.bad.yaml:2:3: storage.postgres: not yet supported in this version of airgw; remove it`,
			`not-yet-supported.bad.yaml:4:8: admin.key: must be at least 16 bytes, got 12; generate one with: openssl rand -hex 32`,
			`not-yet-supported.bad.yaml:6:30: providers.demo.region: only applies to providers of type bedrock; remove it`,
			`not-yet-supported.bad.yaml:14:38: teams.search.budget.period: unknown budget period "montly"; did you mean monthly? (expected one of daily, weekly, monthly, total)`,
			`not-yet-supported.bad.yaml:17:48: policies.pii.detect[2]: unknown PII detector "passport" (expected one of email, phone, credit_card, iban, us_ssn, ip_address, secret)`,
		},
	},
	{
		file: "ranges.bad.yaml",
		want: []string{
			`ranges.bad.yaml:3:17: server.admin_listen: must differ from server.listen (127.0.0.1:8080)`,
			`ranges.bad.yaml:3:17: server.admin_listen: the admin API refuses to start without a credential; set admin.key (such as ${AIRGW_ADMIN_KEY}, generated with: openssl rand -hex 32), or remove admin_listen`,
			`ranges.bad.yaml:4:13: server.max_body: must be more than 0`,
			`ranges.bad.yaml:6:15: audit.batch_size: expected an integer, got "0": must be between 1 and 10000`,
			`ranges.bad.yaml:11:50: models.m.targets[0].weight: expected an integer, got "-1": must be 0 or more`,
			`ranges.bad.yaml:12:24: models.m.max_output_tokens: expected an integer, got "0": must be 1 or more`,
			`ranges.bad.yaml:14:12: routing.timeout: must be more than 0`,
		},
	},
	{
		file: "scalar-doc.bad.yaml",
		want: []string{
			`scalar-doc.bad.yaml:1:1: expected a mapping of sections such as server, providers and models at the top level, got a string`,
		},
	},
	{
		file: "syntax-line1.bad.yaml",
		want: []string{
			`syntax-line1.bad.yaml:1: invalid YAML: mapping values are not allowed in this context`,
		},
	},
	{
		file: "syntax.bad.yaml",
		want: []string{
			`syntax.bad.yaml:2: invalid YAML: did not find expected key`,
		},
	},
	{
		file: "two-documents.bad.yaml",
		want: []string{
			`two-documents.bad.yaml:5:1: a second YAML document (after ---) is not allowed; airgw reads one document`,
		},
	},
	{
		file: "unknown-model-ref.bad.yaml",
		want: []string{
			`unknown-model-ref.bad.yaml:6:17: models.gpt-4o.fallbacks[0]: unknown model "claude-sonnet" (expected one of gpt-4o, gpt-4o-mini)`,
			`unknown-model-ref.bad.yaml:6:32: models.gpt-4o.fallbacks[1]: a model cannot fall back to itself`,
			`unknown-model-ref.bad.yaml:11:14: teams.search.models[0]: unknown model "gpt4o"; did you mean gpt-4o?`,
			`unknown-model-ref.bad.yaml:11:21: teams.search.models[1]: model pattern "claude-*" matches no model (expected one of gpt-4o, gpt-4o-mini)`,
			`unknown-model-ref.bad.yaml:11:44: teams.search.models[3]: model "gpt-4o-mini" is listed twice`,
			`unknown-model-ref.bad.yaml:11:57: teams.search.models[4]: unknown model "mistral" (expected one of gpt-4o, gpt-4o-mini)`,
		},
	},
	{
		file: "unknown-nested.bad.yaml",
		want: []string{
			`unknown-nested.bad.yaml:2:3: server.lisen: unknown field "lisen"; did you mean listen?`,
			`unknown-nested.bad.yaml:3:3: server.admin-listen: unknown field "admin-listen"; did you mean admin_listen?`,
			`unknown-nested.bad.yaml:4:3: server.frobnicate: unknown field "frobnicate" (expected one of listen, admin_listen, max_body, max_in_flight, max_queue_delay, read_header_timeout, idle_timeout, shutdown_timeout)`,
			`unknown-nested.bad.yaml:8:44: models.m.targets[0].wieght: unknown field "wieght"; did you mean weight?`,
		},
	},
	{
		file: "unknown-provider-type.bad.yaml",
		want: []string{
			`unknown-provider-type.bad.yaml:3:11: providers.openai.type: unknown provider type "opnai"; did you mean openai? (expected one of openai, openai_compatible, demo, anthropic, azure_openai, gemini, bedrock)`,
			`unknown-provider-type.bad.yaml:6:11: providers.local.type: unknown provider type "vllm" (expected one of openai, openai_compatible, demo, anthropic, azure_openai, gemini, bedrock)`,
		},
	},
	{
		file: "unknown-target-provider.bad.yaml",
		want: []string{
			`unknown-target-provider.bad.yaml:12:20: models.gpt-4o.targets[1].provider: unknown provider "opena"; did you mean openai?`,
			`unknown-target-provider.bad.yaml:13:20: models.gpt-4o.targets[2].provider: unknown provider "azure" (expected one of openai, local-vllm)`,
		},
	},
	{
		file: "unknown-top-level.bad.yaml",
		want: []string{
			`unknown-top-level.bad.yaml:1:1: sever: unknown field "sever"; did you mean server?`,
			`unknown-top-level.bad.yaml:7:1: loggin: unknown field "loggin" (expected one of server, storage, auth, admin, log, audit, providers, models, routing, teams, policies, budget, limits, timezone, alerts, tracing)`,
		},
	},
	{
		file: "unreadable-secret.bad.yaml",
		want: []string{
			"unreadable-secret.bad.yaml:4:14: providers.openai.api_key: cannot read secret file: open testdata/no-such-secret.txt: no such file or directory",
			"unreadable-secret.bad.yaml:6:14: providers.openai.headers.X-Key: cannot read secret file: testdata is not a regular file",
		},
	},
	{
		file: "unset-env.bad.yaml",
		want: []string{
			`unset-env.bad.yaml:7:14: providers.openai.api_key: environment variable OPENAI_API_KEY is not set; export it or use ${OPENAI_API_KEY:-default}`,
			`unset-env.bad.yaml:8:19: providers.openai.organization: unterminated ${ in value; close it with } or write $$ for a literal $`,
			`unset-env.bad.yaml:10:15: providers.openai.headers.X-Team: invalid environment variable name "1BAD" in ${1BAD}; names are letters, digits and _`,
		},
	},
	{
		file: "wrong-shape.bad.yaml",
		want: []string{
			`wrong-shape.bad.yaml:1:9: server: expected a mapping, got a string`,
			`wrong-shape.bad.yaml:3:11: providers.openai: expected a mapping, got a string`,
			`wrong-shape.bad.yaml:4:45: providers.demo.allow_private_network: expected true or false, got "yes"`,
			`wrong-shape.bad.yaml:4:59: providers.demo.headers: expected a mapping, got a list`,
			`wrong-shape.bad.yaml:7:14: models.m.targets: expected a list, got a mapping`,
			`wrong-shape.bad.yaml:9:15: models.n.targets[0]: expected a mapping, got a string`,
			`wrong-shape.bad.yaml:10:3: models."bad name": invalid model name "bad name"; use letters, digits, and - _ . / : after the first character`,
			`wrong-shape.bad.yaml:12:8: teams: expected a mapping, got a list`,
		},
	},
	{
		file: "wrong-type.bad.yaml",
		want: []string{
			`wrong-type.bad.yaml:2:15: audit.batch_size: expected an integer, got "lots"`,
			`wrong-type.bad.yaml:3:19: audit.flush_interval: expected a duration like 30s, got a list`,
			`wrong-type.bad.yaml:8:50: models.m.targets[0].weight: expected an integer, got "1.5"`,
			`wrong-type.bad.yaml:9:5: models.m.context_window: not yet supported in this version of airgw; remove it`,
			`wrong-type.bad.yaml:9:21: models.m.context_window: expected an integer, got "128k"`,
		},
	},
}

func TestParseBad(t *testing.T) {
	for _, tt := range badTests {
		t.Run(strings.TrimSuffix(tt.file, ".bad.yaml"), func(t *testing.T) {
			_, err := parseFile(t, tt.file)
			if err == nil {
				t.Fatalf("Parse(%s) = nil error, want %d problems", tt.file, len(tt.want))
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Parse(%s) = %T, want *config.Error", tt.file, err)
			}
			if len(cerr.Problems) != len(tt.want) {
				t.Errorf("Parse(%s) has %d problems, want %d", tt.file, len(cerr.Problems), len(tt.want))
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Parse(%s) errors mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestErrorsNeverQuoteSecrets(t *testing.T) {
	for _, file := range []string{"base-url.bad.yaml", "wrong-shape.bad.yaml", "duplicate-key.bad.yaml"} {
		_, err := parseFile(t, file)
		for _, secret := range []string{"hunter2", "sk-live-abcdef", "sk-one", "sk-two"} {
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("Parse(%s) error contains %q:\n%v", file, secret, err)
			}
		}
	}
}

func TestLoad(t *testing.T) {
	c, err := Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatalf("Load(minimal) = %v, want no error", err)
	}
	data, _ := os.ReadFile("testdata/minimal.good.yaml")
	if got, want := c.Hash(), hashBytes(data); got != want || len(got) != 64 {
		t.Errorf("Load(minimal).Hash() = %q, want %q", got, want)
	}
	if _, err := Load("testdata/missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	var cerr *Error
	if _, err := Load("testdata/bad-enum.bad.yaml"); !errors.As(err, &cerr) || cerr.Problems[0].Pos.File != "testdata/bad-enum.bad.yaml" {
		t.Errorf("Load(bad-enum) = %v, want a *config.Error naming the file", err)
	}
}

func TestPosition(t *testing.T) {
	c, err := parseFile(t, "full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want Pos
		ok   bool
	}{
		{"server.listen", Pos{"full.good.yaml", 3, 11}, true},
		{"models.gpt-4o.targets[1].provider", Pos{"full.good.yaml", 58, 20}, true},
		{"providers.vllm", Pos{"full.good.yaml", 44, 5}, true},
		{"routing.retries", Pos{}, false},
	}
	for _, tt := range tests {
		got, ok := c.Position(tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Position(%q) = %v, %v, want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	if got, want := c.Provider("vllm").Pos, (Pos{"full.good.yaml", 43, 3}); got != want {
		t.Errorf("Provider(vllm).Pos = %v, want %v", got, want)
	}
	if got, want := c.Models[0].Targets[1].Pos, (Pos{"full.good.yaml", 58, 9}); got != want {
		t.Errorf("Models[0].Targets[1].Pos = %v, want %v", got, want)
	}
	if c.Model("nope") != nil || c.Team("search") == nil || c.Provider("nope") != nil {
		t.Errorf("lookups by name disagree with the file")
	}
}

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd $dir")
	c, err := Demo(dir)
	if err != nil {
		t.Fatalf("Demo(%q) = %v, want no error", dir, err)
	}
	if got, want := c.Storage.SQLite, filepath.Join(dir, "airgw.db"); got != want {
		t.Errorf("Demo(%q).Storage.SQLite = %q, want %q", dir, got, want)
	}
	if got := c.Storage.DataDir; got != dir {
		t.Errorf("Demo(%q).Storage.DataDir = %q, want %q", dir, got, dir)
	}
	wantPrices := map[string]*ModelPrice{
		"demo-fast":  {Input: 150_000, Output: 600_000},
		"demo-smart": {Input: 2_500_000, Output: 10_000_000},
	}
	for name, want := range wantPrices {
		m := c.Model(name)
		if m == nil {
			t.Fatalf("Demo has no model %s", name)
		}
		if diff := cmp.Diff(want, m.Price, cmpopts.IgnoreTypes(Pos{})); diff != "" {
			t.Errorf("Demo model %s price mismatch (-want +got):\n%s", name, diff)
		}
	}
	if got, want := c.Team("demo").Models, []string{"demo-fast", "demo-smart"}; !cmp.Equal(got, want) {
		t.Errorf("Demo team models = %v, want %v", got, want)
	}
}

// TestMergeBombIsBounded feeds merges of merges that would expand to 50^9
// keys if followed naively.
func TestMergeBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &m0 {type: demo}\n")
	for i := 1; i < 10; i++ {
		refs := strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 50)
		fmt.Fprintf(&b, "x-%d: &m%d {<<: [%s]}\n", i, i, strings.TrimSuffix(refs, ", "))
	}
	b.WriteString("providers:\n  demo:\n    <<: *m9\nmodels:\n  m: {targets: [{provider: demo, model: m}]}\n")
	done := make(chan error, 1)
	go func() {
		_, err := Parse("bomb.yaml", []byte(b.String()), testEnv)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "simplify the anchors") {
			t.Errorf("Parse(bomb) = %v, want an error about the anchors", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Parse(bomb) still running after 10s")
	}
}
