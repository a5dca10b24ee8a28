package gemini

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Response is the body of generateContent, and one event of
// streamGenerateContent?alt=sse.
type Response struct {
	Candidates     []Candidate     `json:"candidates,omitempty"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	// UsageMetadata is cumulative in a stream: each event repeats the
	// counts so far.
	UsageMetadata *UsageMetadata `json:"usageMetadata,omitempty"`
	ModelVersion  string         `json:"modelVersion,omitempty"`
	ResponseID    string         `json:"responseId,omitempty"`
	// CreateTime is set by Vertex AI only (RFC 3339).
	CreateTime string `json:"createTime,omitempty"`
	// Error is set on an error object sent inside a stream.
	Error *Status `json:"error,omitempty"`
}

// Candidate is one generated alternative.
type Candidate struct {
	Content           *Content        `json:"content,omitempty"`
	FinishReason      FinishReason    `json:"finishReason,omitempty"`
	FinishMessage     string          `json:"finishMessage,omitempty"`
	Index             int             `json:"index,omitempty"`
	TokenCount        int             `json:"tokenCount,omitempty"`
	AvgLogprobs       float64         `json:"avgLogprobs,omitempty"`
	SafetyRatings     json.RawMessage `json:"safetyRatings,omitempty"`
	CitationMetadata  json.RawMessage `json:"citationMetadata,omitempty"`
	GroundingMetadata json.RawMessage `json:"groundingMetadata,omitempty"`
	LogprobsResult    json.RawMessage `json:"logprobsResult,omitempty"`
	URLContextMeta    json.RawMessage `json:"urlContextMetadata,omitempty"`
}

// PromptFeedback reports a prompt the API refused: BlockReason is set and
// there are no candidates.
type PromptFeedback struct {
	BlockReason        BlockReason     `json:"blockReason,omitempty"`
	BlockReasonMessage string          `json:"blockReasonMessage,omitempty"`
	SafetyRatings      json.RawMessage `json:"safetyRatings,omitempty"`
}

// UsageMetadata counts tokens. PromptTokenCount includes
// CachedContentTokenCount; CandidatesTokenCount excludes ThoughtsTokenCount;
// TotalTokenCount is prompt + toolUsePrompt + candidates + thoughts.
type UsageMetadata struct {
	PromptTokenCount           int64           `json:"promptTokenCount,omitempty"`
	CandidatesTokenCount       int64           `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount            int64           `json:"totalTokenCount,omitempty"`
	CachedContentTokenCount    int64           `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount         int64           `json:"thoughtsTokenCount,omitempty"`
	ToolUsePromptTokenCount    int64           `json:"toolUsePromptTokenCount,omitempty"`
	PromptTokensDetails        json.RawMessage `json:"promptTokensDetails,omitempty"`
	CandidatesTokensDetails    json.RawMessage `json:"candidatesTokensDetails,omitempty"`
	CacheTokensDetails         json.RawMessage `json:"cacheTokensDetails,omitempty"`
	ToolUsePromptTokensDetails json.RawMessage `json:"toolUsePromptTokensDetails,omitempty"`
	// TrafficType (Vertex AI) and ServiceTier are names, or numbers from
	// legacy SDKs; kept undecoded.
	TrafficType json.RawMessage `json:"trafficType,omitempty"`
	ServiceTier json.RawMessage `json:"serviceTier,omitempty"`
}

// FinishReason says why a candidate ended. It decodes from the name
// ("STOP") and from the enum number (1) that legacy SDKs request with
// $alt=json;enum-encoding=int, and always holds the name.
type FinishReason string

// Finish reasons.
const (
	FinishUnspecified           FinishReason = "FINISH_REASON_UNSPECIFIED"
	FinishStop                  FinishReason = "STOP"
	FinishMaxTokens             FinishReason = "MAX_TOKENS"
	FinishSafety                FinishReason = "SAFETY"
	FinishRecitation            FinishReason = "RECITATION"
	FinishOther                 FinishReason = "OTHER"
	FinishLanguage              FinishReason = "LANGUAGE"
	FinishBlocklist             FinishReason = "BLOCKLIST"
	FinishProhibitedContent     FinishReason = "PROHIBITED_CONTENT"
	FinishSPII                  FinishReason = "SPII"
	FinishMalformedFunctionCall FinishReason = "MALFORMED_FUNCTION_CALL"
	FinishImageSafety           FinishReason = "IMAGE_SAFETY"
	FinishUnexpectedToolCall    FinishReason = "UNEXPECTED_TOOL_CALL"
)

// finishByNumber is google.ai.generativelanguage.v1beta.Candidate.FinishReason
// (Vertex AI numbers OTHER and LANGUAGE the other way round).
var finishByNumber = []FinishReason{FinishUnspecified, FinishStop, FinishMaxTokens, FinishSafety,
	FinishRecitation, FinishOther, FinishLanguage, FinishBlocklist, FinishProhibitedContent, FinishSPII,
	FinishMalformedFunctionCall, FinishImageSafety, FinishUnexpectedToolCall}

// UnmarshalJSON decodes a name or an enum number.
func (f *FinishReason) UnmarshalJSON(b []byte) error {
	s, err := enumName(b, func(n int) string {
		if n >= 0 && n < len(finishByNumber) {
			return string(finishByNumber[n])
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("finishReason: %w", err)
	}
	*f = FinishReason(s)
	return nil
}

// BlockReason says why a prompt was refused; like FinishReason it decodes
// from a name or a number.
type BlockReason string

var blockByNumber = []string{"BLOCK_REASON_UNSPECIFIED", "SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "IMAGE_SAFETY"}

// UnmarshalJSON decodes a name or an enum number.
func (r *BlockReason) UnmarshalJSON(b []byte) error {
	s, err := enumName(b, func(n int) string {
		if n >= 0 && n < len(blockByNumber) {
			return blockByNumber[n]
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("blockReason: %w", err)
	}
	*r = BlockReason(s)
	return nil
}

// enumName decodes a proto enum sent as a JSON string or number; an unknown
// number becomes "ENUM_<n>".
func enumName(b []byte, byNumber func(int) string) (string, error) {
	if len(b) > 0 && b[0] == '"' {
		var s string
		err := json.Unmarshal(b, &s)
		return s, err
	}
	if string(b) == "null" {
		return "", nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return "", fmt.Errorf("want a name or an enum number, got %.20s", b)
	}
	if s := byNumber(n); s != "" {
		return s, nil
	}
	return "ENUM_" + strconv.Itoa(n), nil
}

// ErrorBody is the body of an error response.
type ErrorBody struct {
	Error Status `json:"error"`
}

// Status is a google.rpc.Status: the HTTP Code, a Message, the canonical
// Status name (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...) and typed Details.
type Status struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status,omitempty"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// detail is the union of the google.rpc detail types airgw reads.
type detail struct {
	Type       string `json:"@type"`
	RetryDelay string `json:"retryDelay"` // RetryInfo
	Reason     string `json:"reason"`     // ErrorInfo
}

// RetryDelay returns the delay of a google.rpc.RetryInfo detail ("34.4s"),
// or 0 when there is none.
func (s *Status) RetryDelay() time.Duration {
	for _, raw := range s.Details {
		var d detail
		if json.Unmarshal(raw, &d) != nil || !strings.HasSuffix(d.Type, "google.rpc.RetryInfo") {
			continue
		}
		if v, err := ParseDuration(d.RetryDelay); err == nil && v > 0 {
			return v
		}
	}
	return 0
}

// Reason returns the reason of a google.rpc.ErrorInfo detail
// ("API_KEY_INVALID"), or "".
func (s *Status) Reason() string {
	for _, raw := range s.Details {
		var d detail
		if json.Unmarshal(raw, &d) == nil && strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") {
			return d.Reason
		}
	}
	return ""
}

// ParseDuration parses a google.protobuf.Duration in its JSON form: decimal
// seconds with an "s" suffix ("34.4s", "2s", "0.5s").
func ParseDuration(s string) (time.Duration, error) {
	v, ok := strings.CutSuffix(strings.TrimSpace(s), "s")
	if !ok {
		return 0, fmt.Errorf("duration %q: want seconds with an s suffix", s)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, fmt.Errorf("duration %q: want non-negative seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// ContentEmbedding is one vector.
type ContentEmbedding struct {
	Values []float32 `json:"values"`
}

// EmbedContentResponse is the body of embedContent.
type EmbedContentResponse struct {
	Embedding ContentEmbedding `json:"embedding"`
}

// BatchEmbedContentsResponse is the body of batchEmbedContents: one
// embedding per request, in order.
type BatchEmbedContentsResponse struct {
	Embeddings []ContentEmbedding `json:"embeddings"`
}
