// Package config loads and validates airgw.yaml, the file an operator writes
// to describe what airgw serves: listeners, storage, providers and their
// credentials, model aliases and their prices, routing and teams.
//
// Loading is strict. The file is decoded through yaml.Node, so every problem
// carries its file, line and column; unknown fields, wrong types, bad units,
// dangling references and duplicate keys are all errors, reported together,
// sorted by position, one per line as
//
//	airgw.yaml:7:14: providers.openai.api_key: environment variable OPENAI_API_KEY is not set; export it or use ${OPENAI_API_KEY:-default}
//
// Values are expanded after YAML parsing, one scalar at a time, so an
// environment variable can never inject YAML structure: ${VAR} and
// ${VAR:-default} are replaced, $$ stands for a dollar, and a secret field
// whose value is exactly file:/path is replaced by that file's contents.
//
// Fields that this version parses but does not act on yet are rejected with
// "not yet supported in this version of airgw; remove it": a budget or a
// policy that is accepted and then ignored would give false safety. The list
// lives in support.go.
//
// A Config is immutable once returned and safe for concurrent reads.
package config

import (
	"crypto/sha256"
	"encoding/hex"
)

// Config is a loaded, defaulted and validated airgw.yaml.
type Config struct {
	// Server holds the listeners and HTTP server limits.
	Server Server `json:"server"`
	// Storage says where keys, usage and audit records are kept.
	Storage Storage `json:"storage"`
	// Auth holds the secret that virtual keys are hashed with.
	Auth Auth `json:"auth"`
	// Admin holds the control-plane credentials.
	Admin Admin `json:"admin"`
	// Log configures the process log.
	Log Log `json:"log"`
	// Audit configures the audit trail.
	Audit Audit `json:"audit"`
	// Tracing configures OpenTelemetry tracing.
	Tracing Tracing `json:"tracing"`
	// Providers lists the upstream providers in file order.
	Providers []Provider `json:"providers"`
	// Models lists the model aliases clients may request, in file order.
	Models []Model `json:"models"`
	// Routing holds deadlines and retry settings shared by all models.
	Routing Routing `json:"routing"`
	// Teams lists the teams in file order.
	Teams []Team `json:"teams"`
	// Policies holds the policies every request is checked against.
	Policies Policies `json:"policies"`
	// Budget is the gateway-wide spending limit; nil means none.
	Budget *Budget `json:"budget,omitempty"`
	// Limits are the gateway-wide rate limits; nil means none.
	Limits *Limits `json:"limits,omitempty"`
	// Timezone is the IANA zone in which daily, weekly and monthly budget
	// periods start. Default UTC.
	Timezone string `json:"timezone"`
	// Alerts says where budget alerts go besides the log.
	Alerts Alerts `json:"alerts"`

	hash      string
	positions map[string]Pos
	secrets   map[string]secretSource // by concrete path, for Effective and Diff
}

// Hash returns the hex SHA-256 of the raw file bytes the Config was parsed
// from, so a reload can tell whether anything changed.
func (c *Config) Hash() string { return c.hash }

// Position returns where the value at path (such as "server.listen" or
// "models.gpt-4o.targets[0].provider") was written, so errors found after
// loading, such as a listener that cannot bind, can point into the file.
// The second result is false when the path was not written in the file.
func (c *Config) Position(path string) (Pos, bool) {
	p, ok := c.positions[path]
	return p, ok
}

// Provider returns the provider with the given name, or nil.
func (c *Config) Provider(name string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i]
		}
	}
	return nil
}

// Model returns the model with the given alias, or nil.
func (c *Config) Model(name string) *Model {
	for i := range c.Models {
		if c.Models[i].Name == name {
			return &c.Models[i]
		}
	}
	return nil
}

// Team returns the team with the given name, or nil.
func (c *Config) Team(name string) *Team {
	for i := range c.Teams {
		if c.Teams[i].Name == name {
			return &c.Teams[i]
		}
	}
	return nil
}

func hashBytes(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Server configures the data-plane and admin listeners.
type Server struct {
	// Listen is the data-plane address, host:port. Default 127.0.0.1:8080.
	Listen string `json:"listen"`
	// AdminListen is the admin API and dashboard address. Default
	// 127.0.0.1:8081. The admin API starts only when an admin credential
	// is configured (or in demo mode on loopback).
	AdminListen string `json:"admin_listen"`
	// MaxBody is the largest request body accepted. Default 4MiB.
	MaxBody Size `json:"max_body"`
	// MaxInFlight is the most API requests (streams included) served at
	// once; beyond it requests get 503 with Retry-After at once instead of
	// queueing. 0 means no limit. Default 10000.
	MaxInFlight int `json:"max_in_flight"`
	// MaxQueueDelay sheds load when the CPU is saturated: while runnable
	// work waits longer than this for a CPU, new API requests get 503 with
	// Retry-After at once. 0 turns it off. Default 50ms.
	MaxQueueDelay Duration `json:"max_queue_delay"`
	// ReadHeaderTimeout bounds reading request headers. Default 10s.
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout Duration `json:"idle_timeout"`
	// ShutdownTimeout bounds the graceful drain on shutdown. Default 30s.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// Pos is where the server section starts; zero when absent.
	Pos Pos `json:"-"`
}

// Storage says where state that changes at run time is kept.
type Storage struct {
	// SQLite is the path of the SQLite database file. Default ./airgw.db.
	SQLite string `json:"sqlite"`
	// DataDir holds files airgw generates (the HMAC secret, the audit
	// spool). Default: the directory of the SQLite file.
	DataDir string `json:"data_dir"`
	// Postgres is a PostgreSQL URL (not yet supported).
	Postgres Secret `json:"postgres"`
	// Redis is a Redis URL (not yet supported).
	Redis Secret `json:"redis"`
	// Pos is where the storage section starts; zero when absent.
	Pos Pos `json:"-"`
}

// Auth configures how virtual keys are checked.
type Auth struct {
	// HMACSecret keys the HMAC-SHA-256 under which virtual keys are stored.
	// Empty means the application generates one into Storage.DataDir.
	HMACSecret Secret `json:"hmac_secret"`
	// Pos is where the auth section starts; zero when absent.
	Pos Pos `json:"-"`
}

// Admin configures the control plane.
type Admin struct {
	// Key is the credential of the built-in admin (role admin).
	Key Secret `json:"key"`
	// Credentials are further named admin credentials, each with a role,
	// in file order.
	Credentials []AdminCredential `json:"credentials,omitempty"`
	// Pos is where the admin section starts; zero when absent.
	Pos Pos `json:"-"`
}

// AdminCredential is one named credential of the admin API.
type AdminCredential struct {
	// Name is the key under admin.credentials; audit records name the
	// actor "admin-key:<name>".
	Name string `json:"name"`
	// Key is the credential, at least 16 bytes.
	Key Secret `json:"key"`
	// Role is admin, auditor or team_admin.
	Role string `json:"role"`
	// Team is the team a team_admin manages; required for that role only.
	Team string `json:"team,omitempty"`
	// Pos is where the credential's name was written.
	Pos Pos `json:"-"`
}

// HasAdminCredential reports whether any admin credential is configured.
func (a *Admin) HasAdminCredential() bool { return a.Key != "" || len(a.Credentials) > 0 }

// Log configures the process log.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `json:"level"`
	// Format is text or json. Default text.
	Format string `json:"format"`
}

// Audit configures the audit trail: the local spool every record is
// written to before its response completes, the drain to the database,
// checkpoints, retention and optional bodies.
type Audit struct {
	// BatchSize is the most records written in one transaction, 1 to 10000.
	// Default 256.
	BatchSize int `json:"batch_size"`
	// FlushInterval is the longest a record waits before the drain stores
	// it in the database. Default 1s.
	FlushInterval Duration `json:"flush_interval"`
	// SpoolDir is the spool directory. Default: audit-spool in
	// Storage.DataDir.
	SpoolDir string `json:"spool_dir"`
	// FsyncInterval is how often the spool is fsynced; a power cut can
	// lose the records of responses completed in the last interval (a
	// process crash loses none). Default 100ms.
	FsyncInterval Duration `json:"fsync_interval"`
	// SpoolMaxSize bounds the records waiting for the database; beyond it
	// new requests are refused (503). Default 1GiB.
	SpoolMaxSize Size `json:"spool_max_size"`
	// CheckpointInterval is how often the chain head is signed. Default 1m.
	CheckpointInterval Duration `json:"checkpoint_interval"`
	// SigningKey is the hex or base64 of the 32-byte Ed25519 seed that
	// signs checkpoints. Empty: generated into Storage.DataDir.
	SigningKey Secret `json:"signing_key"`
	// Retention deletes request records older than this; 0 keeps them
	// forever. Default 0.
	Retention Duration `json:"retention"`
	// Bodies, when set, stores prompts and responses for some keys or
	// teams.
	Bodies *AuditBodies `json:"bodies"`
	// Pos is where the audit section starts; zero when absent.
	Pos Pos `json:"-"`
}

// AuditBodies stores the prompt and response bodies of the requests of
// some teams or keys, PII redacted, for a limited time.
type AuditBodies struct {
	// Teams and Keys (key names) whose bodies are stored.
	Teams []string `json:"teams"`
	Keys  []string `json:"keys"`
	// Retention deletes stored bodies older than this. Default 720h (30 days).
	Retention Duration `json:"retention"`
	// MaxBytes caps each stored body; longer ones are cut. Default 64KiB.
	MaxBytes Size `json:"max_bytes"`
	// Pos is where the bodies section starts.
	Pos Pos `json:"-"`
}

// Tracing exports OpenTelemetry spans over OTLP/HTTP. Off when
// OTLPEndpoint is empty, the default.
type Tracing struct {
	// OTLPEndpoint is the collector's base URL, like
	// http://127.0.0.1:4318; spans are posted to its /v1/traces.
	OTLPEndpoint string `json:"otlp_endpoint"`
	// Headers are sent with every export (an API key, for a hosted
	// collector).
	Headers map[string]Secret `json:"headers"`
	// ServiceName is the service.name resource attribute. Default airgw.
	ServiceName string `json:"service_name"`
	// SampleRatio is the fraction of requests traced, 0 to 1. Default 1.
	SampleRatio float64 `json:"sample_ratio"`
	// Pos is where the tracing section starts; zero when absent.
	Pos Pos `json:"-"`
}

// Provider is one upstream LLM provider account.
type Provider struct {
	// Name is the key under providers, used by model targets.
	Name string `json:"name"`
	// Type is the provider kind; see ProviderTypes.
	Type string `json:"type"`
	// BaseURL is the API root. Default https://api.openai.com/v1 for type
	// openai; required for openai_compatible; not allowed for demo.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey is the provider credential. Required for type openai.
	APIKey Secret `json:"api_key,omitempty"`
	// Headers are extra request headers sent upstream, by name.
	Headers map[string]Secret `json:"headers,omitempty"`
	// APIVersion is the Azure OpenAI API version (not yet supported).
	APIVersion string `json:"api_version,omitempty"`
	// Region is the cloud region, for bedrock (not yet supported).
	Region string `json:"region,omitempty"`
	// Organization is sent as the OpenAI-Organization header.
	Organization string `json:"organization,omitempty"`
	// AllowPrivateNetwork permits a base URL on a private, loopback or
	// link-local address. Default false.
	AllowPrivateNetwork bool `json:"allow_private_network,omitempty"`
	// Timeout bounds one upstream attempt, stream included; zero means
	// only the request's deadline applies.
	Timeout Duration `json:"timeout,omitempty"`
	// ConnectTimeout bounds opening a connection; zero means
	// Routing.ConnectTimeout.
	ConnectTimeout Duration `json:"connect_timeout,omitempty"`
	// FirstTokenTimeout and IdleTimeout override the route's and the
	// routing section's for this provider's targets.
	FirstTokenTimeout Duration `json:"first_token_timeout,omitempty"`
	IdleTimeout       Duration `json:"idle_timeout,omitempty"`
	// Preset names a built-in set of defaults (not yet supported).
	Preset string `json:"preset,omitempty"`
	// Pos is where the provider's name was written.
	Pos Pos `json:"-"`
}

// Model is a model alias that clients request by name.
type Model struct {
	// Name is the alias, the key under models.
	Name string `json:"name"`
	// Targets are the provider models that serve the alias; at least one.
	Targets []Target `json:"targets"`
	// Fallbacks are aliases tried in order when every target fails
	// (not yet supported).
	Fallbacks []string `json:"fallbacks,omitempty"`
	// Price overrides the built-in price catalog; nil means use the catalog.
	Price *ModelPrice `json:"price,omitempty"`
	// MaxOutputTokens is the most output tokens one request can produce,
	// which bounds its worst-case cost when it sets no max_tokens; zero
	// means the catalog's figure.
	MaxOutputTokens int `json:"max_output_tokens,omitempty"`
	// ContextWindow is the model's context size in tokens; zero means the
	// catalog's figure.
	ContextWindow int `json:"context_window,omitempty"`
	// Strategy overrides Routing.Strategy for this alias.
	Strategy string `json:"strategy,omitempty"`
	// ContextFallback is the alias tried when a target refuses the prompt
	// as too long (context_length_exceeded); empty means none.
	ContextFallback    string `json:"context_fallback,omitempty"`
	ContextFallbackPos Pos    `json:"-"`
	// Timeout, FirstTokenTimeout and IdleTimeout override the routing
	// section's for this alias; zero means inherit.
	Timeout           Duration `json:"timeout,omitempty"`
	FirstTokenTimeout Duration `json:"first_token_timeout,omitempty"`
	IdleTimeout       Duration `json:"idle_timeout,omitempty"`
	// Pos is where the alias was written.
	Pos Pos `json:"-"`
}

// Target is one provider model behind an alias.
type Target struct {
	// Provider names an entry of Config.Providers.
	Provider string `json:"provider"`
	// Model is the provider's own model name.
	Model string `json:"model"`
	// Weight is the target's share of traffic relative to its siblings;
	// zero disables it. Default 1.
	Weight int `json:"weight"`
	// Pos is where the target starts.
	Pos Pos `json:"-"`
}

// ModelPrice is a model's price in pico-dollars per token. Input and Output
// are always set; a nil optional price means the catalog's rule applies.
type ModelPrice struct {
	// Input is the price of a prompt token.
	Input Price `json:"input_per_mtok"`
	// Output is the price of a completion token.
	Output Price `json:"output_per_mtok"`
	// CacheRead is the price of a prompt token read from the cache.
	CacheRead *Price `json:"cache_read_per_mtok,omitempty"`
	// CacheWrite is the price of a prompt token written to the cache.
	CacheWrite *Price `json:"cache_write_per_mtok,omitempty"`
	// Reasoning is the price of a reasoning token.
	Reasoning *Price `json:"reasoning_per_mtok,omitempty"`
	// Pos is where the price mapping starts.
	Pos Pos `json:"-"`
}

// Routing holds how requests are sent to targets.
type Routing struct {
	// Strategy picks among an alias's targets: weighted (default),
	// priority (in file order), lowest_latency or lowest_cost.
	Strategy string `json:"strategy"`
	// Retries is how many more attempts a request may make after a
	// retryable failure, across targets and fallbacks, 0 to 10. Default 2.
	Retries int `json:"retries"`
	// Timeout is the total deadline of one request, every attempt and
	// backoff included. Default 120s.
	Timeout Duration `json:"timeout"`
	// ConnectTimeout bounds opening a connection to a provider. Default 10s.
	ConnectTimeout Duration `json:"connect_timeout"`
	// FirstTokenTimeout bounds the wait for a stream's first event; zero
	// means none. The attempt then fails over, as nothing was sent to the
	// client yet. Non-streaming answers are bounded by Timeout only.
	FirstTokenTimeout Duration `json:"first_token_timeout"`
	// IdleTimeout bounds the wait between two stream events; zero means none.
	IdleTimeout Duration `json:"idle_timeout"`
	// Backoff shapes the wait before a retry.
	Backoff Backoff `json:"backoff"`
	// RetryBudget caps concurrent retries at a share of active requests.
	RetryBudget RetryBudget `json:"retry_budget"`
	// Breaker configures the per-target circuit breaker.
	Breaker Breaker `json:"breaker"`
	// Rules send requests of a purpose or tag to another alias.
	Rules []Rule `json:"rules,omitempty"`
}

// Backoff is a capped exponential backoff with full jitter; a provider's
// Retry-After always wins when longer.
type Backoff struct {
	Base Duration `json:"base"` // default 100ms
	Max  Duration `json:"max"`  // default 2s
}

// RetryBudget caps retries in flight at Ratio of the requests in flight,
// but always allows Min.
type RetryBudget struct {
	Ratio float64 `json:"ratio"` // default 0.2
	Min   int     `json:"min"`   // default 3
}

// Breaker configures a per-target circuit breaker.
type Breaker struct {
	// ConsecutiveFailures opens the breaker. Default 5.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// FailureRatio opens the breaker when at least MinRequests outcomes in
	// Window failed at this ratio; 0 (default) disables the rule.
	FailureRatio float64  `json:"failure_ratio"`
	MinRequests  int      `json:"min_requests"` // default 20
	Window       Duration `json:"window"`       // default 30s
	// Cooldown is the wait before a probe. Default 30s.
	Cooldown Duration `json:"cooldown"`
}

// Rule routes by request metadata: a request for Model (or any model when
// empty) whose purpose is Purpose (when set) and whose tags include Tag
// (when set) is served by the alias Use instead.
type Rule struct {
	Purpose string `json:"purpose,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Model   string `json:"model,omitempty"`
	Use     string `json:"use"`
	Pos     Pos    `json:"-"`
}
