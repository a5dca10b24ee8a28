// Package audit defines the audit record written for every request and the
// writer that takes records off the request path and stores them in batches.
package audit

import (
	"context"
	"time"
)

// Record is the audit trail's entry for one request (DESIGN.md §5). Money is
// in integer nano-dollars (1e-9 USD). Secrets never appear in a record: the
// key is identified by its id and name, never by its value.
type Record struct {
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
