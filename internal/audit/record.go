// Package audit defines the audit record written for every request and the
// writer that takes records off the request path and stores them in batches.
package audit

import (
	"context"
	"encoding/json"
	"time"
)

// Record is the audit trail's entry for one request (DESIGN.md §5). Money is
// in integer nano-dollars (1e-9 USD). Secrets never appear in a record: the
// key is identified by its id and name, never by its value.
type Record struct {
	// Kind says what the record is about: KindRequest (also the empty
	// string) for a data-plane request, KindAdmin for a change made through
	// the admin API or the CLI, KindReload for a configuration reload.
	Kind      string    `json:"kind,omitempty"`
	RequestID string    `json:"request_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`

	KeyID    string   `json:"key_id,omitempty"`
	KeyName  string   `json:"key_name,omitempty"`
	Team     string   `json:"team,omitempty"`
	EndUser  string   `json:"end_user,omitempty"`
	Purpose  string   `json:"purpose,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	ClientIP string   `json:"client_ip,omitempty"`

	Dialect  string `json:"dialect"`
	Endpoint string `json:"endpoint"`
	Stream   bool   `json:"stream"`

	RequestedModel string `json:"requested_model,omitempty"`
	Provider       string `json:"provider,omitempty"`
	ServedModel    string `json:"served_model,omitempty"`

	Attempts []Attempt `json:"attempts,omitempty"`

	Status     int    `json:"status"`
	ErrorClass string `json:"error_class,omitempty"`

	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
	CacheReadTokens  int64 `json:"cache_read_tokens"`
	CacheWriteTokens int64 `json:"cache_write_tokens"`
	ReasoningTokens  int64 `json:"reasoning_tokens"`
	// UsageEstimated is true when the provider reported no usage and the
	// tokens were counted by airgw.
	UsageEstimated bool `json:"usage_estimated"`

	CostNanoUSD int64 `json:"cost_nano_usd"`

	TTFTMillis    int64 `json:"ttft_ms,omitempty"`
	LatencyMillis int64 `json:"latency_ms"`

	Policies []Decision `json:"policies,omitempty"`

	// Change describes an admin change or a reload (Kind is not
	// KindRequest); nil for requests.
	Change *Change `json:"change,omitempty"`
}

// Record kinds.
const (
	KindRequest = "request"
	KindAdmin   = "admin"
	KindReload  = "reload"
)

// Change is who changed what, with the state before and after, for the
// records of admin changes and reloads. Before and After are JSON with
// every secret already redacted (a key's value never appears: only its id,
// name and prefix); either is null when the object did not exist.
type Change struct {
	// Actor is who made the change: "admin-key:<name>", "cli:<user>",
	// "signal:SIGHUP", "file-watch", ...
	Actor string `json:"actor"`
	// Action is what was done, as a stable verb: "key.create",
	// "key.revoke", "config.reload", ...
	Action string `json:"action"`
	// Target names the object changed: "key:<id>", "team:<name>",
	// "config".
	Target string          `json:"target"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Attempt is one call to an upstream target.
type Attempt struct {
	Provider      string `json:"provider"`
	Model         string `json:"model"`
	Status        int    `json:"status"`
	ErrorClass    string `json:"error_class,omitempty"`
	LatencyMillis int64  `json:"latency_ms"`
}

// Decision is a policy's verdict on a request.
type Decision struct {
	Policy string `json:"policy"`
	Action string `json:"action"` // allow, deny, redact, clamp, log
	Detail string `json:"detail,omitempty"`
}

// Sink stores batches of records. Implementations insert each record at most
// once, keyed by RequestID, so that a batch may be retried safely.
type Sink interface {
	InsertRecords(ctx context.Context, recs []Record) error
}

// Filter selects records for export.
type Filter struct {
	Since, Until time.Time // zero: unbounded
	Limit        int       // 0: no limit

	// The fields below match exactly when set; empty or zero matches all.
	// Since is inclusive and Until exclusive, both on Start.
	KeyID    string
	Team     string
	EndUser  string
	Purpose  string
	Model    string // the requested model
	Provider string // the serving provider
	Status   int    // the final HTTP status
}

// Source reads records back, oldest first.
type Source interface {
	QueryRecords(ctx context.Context, f Filter, fn func(Record) error) error
}
