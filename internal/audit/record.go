// Package audit defines the audit record written for every request and the
// writer that takes records off the request path and stores them in batches.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
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

	// Chain, Seq, PrevHash and Hash link the record into its writer's hash
	// chain (chain.go): Seq counts from 1 within Chain, PrevHash is the
	// Hash of record Seq-1 (empty for the first), and Hash covers every
	// other field. They are set by the Spool; records written by other
	// paths (a CLI command with no running gateway) have none.
	Chain    string `json:"chain,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`

	// Bodies holds the prompt and the response when body storage is on for
	// the request's key or team (nil otherwise). They are PII-redacted,
	// stored apart from the record, deleted after their own retention, and
	// not covered by Hash.
	Bodies *Bodies `json:"bodies,omitempty"`

	// TraceParent is the W3C traceparent the client sent, carried to the
	// tracer only: it is never stored, exported or hashed.
	TraceParent string `json:"-"`
	// TraceID and SpanID are the request span's ids (hex) and Sampled the
	// sampling decision, set by the gateway when tracing is on (the same
	// ids went upstream in each attempt's traceparent); like TraceParent
	// they reach the tracer only.
	TraceID string `json:"-"`
	SpanID  string `json:"-"`
	Sampled bool   `json:"-"`
}

// Bodies are a request's prompt (the request body as the client sent it)
// and response (the provider's body, or the text streamed to the client).
type Bodies struct {
	Request  string `json:"request"`
	Response string `json:"response"`
	// Truncated is set when either was cut to audit.bodies.max_bytes.
	Truncated bool `json:"truncated,omitempty"`
}

// Record kinds.
const (
	KindRequest = "request"
	KindAdmin   = "admin"
	KindReload  = "reload"
)

// ClassInterrupted is the error class of a request that was in flight when
// the gateway process died: its record is written at the next start from
// what was known when the request reached its first upstream attempt.
const ClassInterrupted = "interrupted"

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
	// StartMillis is when the attempt started, in milliseconds after the
	// request's Start.
	StartMillis   int64  `json:"start_ms,omitempty"`
	Provider      string `json:"provider"`
	Model         string `json:"model"`
	Status        int    `json:"status"`
	ErrorClass    string `json:"error_class,omitempty"`
	LatencyMillis int64  `json:"latency_ms"`
	// SpanID is the attempt span's id (hex), sent upstream in its
	// traceparent; set only when tracing is on, never stored.
	SpanID string `json:"-"`
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
	// Tag matches records carrying this tag among their tags.
	Tag string
	// ErrorClass matches the final error class ("provider_timeout", …);
	// the special value "any" matches every failed request.
	ErrorClass string
	// Kind matches the record kind (KindRequest, KindAdmin, KindReload).
	Kind string
}

// ErrorClassAny is the Filter.ErrorClass value that matches every record
// with an error class.
const ErrorClassAny = "any"

// Source reads records back, oldest first.
type Source interface {
	QueryRecords(ctx context.Context, f Filter, fn func(Record) error) error
}

// BodySource reads the bodies stored with a record.
type BodySource interface {
	// RecordBodies returns the bodies of a request, nil when none are
	// stored (not enabled, or past their retention).
	RecordBodies(ctx context.Context, requestID string) (*Bodies, error)
}

// Purger deletes what is past its retention.
type Purger interface {
	// PurgeBodies deletes stored bodies created before before.
	PurgeBodies(ctx context.Context, before time.Time) (int64, error)
	// PurgeRecords deletes the records that started before before. A
	// chain is cut only at a signed checkpoint, so that verification still
	// starts from a vouched record: the records after a chain's last
	// checkpoint before the cut-off are kept until a later one, and the
	// records before it go with it (one may have started a request's
	// duration after the cut-off).
	PurgeRecords(ctx context.Context, before time.Time) (int64, error)
}

// Follower reads records in the order they were stored, which is not the
// order of their start times (a long stream is stored after shorter
// requests that started later). `airgw audit tail` follows the trail with
// it.
type Follower interface {
	// RecordsAfter calls fn, in storage order, for each record matching f
	// (Since, Until and Limit included) stored after position after (0:
	// from the first), and returns the position of the last record it
	// passed to fn, or after when there was none.
	RecordsAfter(ctx context.Context, after int64, f Filter, fn func(Record) error) (int64, error)
	// LastPosition is the position of the last record stored, 0 when
	// there is none.
	LastPosition(ctx context.Context) (int64, error)
}

// Recorder is what the request path needs from the audit trail. Spool
// implements it.
type Recorder interface {
	Write(Record)
}

// RejectedError is returned by a Sink that stored every record of a batch
// except those listed, which it refused permanently (a retry cannot help).
type RejectedError struct {
	IDs []string // request ids of the refused records
	Err error    // why; the first failure if there were several
}

// Error lists the rejected request ids and the reason.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("audit: %d records rejected (%v): %v", len(e.IDs), e.IDs, e.Err)
}

// Unwrap returns the reason the records were rejected.
func (e *RejectedError) Unwrap() error { return e.Err }
