package audit

import "context"

// Usage report dimensions, the values of UsageQuery.GroupBy.
const (
	ByKey      = "key"      // key id (rows also carry the key's name)
	ByTeam     = "team"     //
	ByUser     = "user"     // end user
	ByModel    = "model"    // requested model alias
	ByProvider = "provider" // serving provider
	ByPurpose  = "purpose"  //
	ByTag      = "tag"      // a record with several tags counts once per tag
	ByDay      = "day"      // UTC calendar day of the request's start, YYYY-MM-DD
)

// Dimensions lists every valid GroupBy value, in documentation order.
var Dimensions = []string{ByKey, ByTeam, ByUser, ByModel, ByProvider, ByPurpose, ByTag, ByDay}

// UsageQuery asks for request records matching Filter (Limit ignored),
// summed per distinct combination of the GroupBy dimensions; no GroupBy
// gives one total row. Only request records count (never admin changes).
type UsageQuery struct {
	Filter
	GroupBy []string
}

// UsageRow is one group of a usage report. Group holds one value per
// GroupBy dimension (the empty string where a record had none); for ByKey
// the key's name is in KeyName.
type UsageRow struct {
	Group   map[string]string `json:"group"`
	KeyName string            `json:"key_name,omitempty"`

	Requests         int64 `json:"requests"`
	Errors           int64 `json:"errors"` // final status ≥ 400
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
	CacheReadTokens  int64 `json:"cache_read_tokens"`
	CacheWriteTokens int64 `json:"cache_write_tokens"`
	ReasoningTokens  int64 `json:"reasoning_tokens"`
	CostNanoUSD      int64 `json:"cost_nano_usd"`
}

// UsageSource computes usage reports. Rows are ordered by cost, highest
// first, then by group values.
type UsageSource interface {
	Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error)
}
