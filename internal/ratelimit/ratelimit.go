// Package ratelimit is the pipeline step that bounds how fast callers may
// go (DESIGN.md §2, step 4): requests per minute and per day, tokens per
// minute and requests in flight, for every scope a request belongs to (the
// gateway, its team, its key, its end user) and for the model within each.
//
// A Limiter turns a request's scopes into counter demands and asks a Store
// to admit all of them or none. Tokens are admitted on an estimate (the
// prompt estimate plus max_tokens) and corrected to the actual usage when
// the request ends (Ticket.Done). Memory is the single-node Store; a shared
// store for several replicas implements the same three methods.
//
// Counters are keyed by stable names (team name, key family, user), not by
// the limits themselves, so new limits from a config reload apply to the
// counts already made.
package ratelimit

import (
	"context"
	"time"
)

// Limits are the rate limits of one scope; zero means no limit.
type Limits struct {
	RPM        int `json:"rpm,omitempty"`
	RPD        int `json:"rpd,omitempty"`
	TPM        int `json:"tpm,omitempty"`
	Concurrent int `json:"concurrent,omitempty"`
	// Models are further limits for the requests of one model alias or
	// glob within the scope; the first that matches applies.
	Models []ModelLimits `json:"models,omitempty"`
}

// ModelLimits are the limits of one model alias or glob.
type ModelLimits struct {
	Model      string `json:"model"`
	RPM        int    `json:"rpm,omitempty"`
	RPD        int    `json:"rpd,omitempty"`
	TPM        int    `json:"tpm,omitempty"`
	Concurrent int    `json:"concurrent,omitempty"`
}

// IsZero reports whether l limits nothing.
func (l *Limits) IsZero() bool {
	return l == nil || l.RPM == 0 && l.RPD == 0 && l.TPM == 0 && l.Concurrent == 0 && len(l.Models) == 0
}

// Kind is what a counter counts and over which window.
type Kind uint8

// Counter kinds.
const (
	KindRPM        Kind = iota // requests, 1 minute
	KindRPD                    // requests, 24 hours
	KindTPM                    // tokens, 1 minute
	KindConcurrent             // requests in flight
)

var kindNames = [...]string{"rpm", "rpd", "tpm", "concurrent"}

// String returns the kind's config name: rpm, rpd, tpm or concurrent.
func (k Kind) String() string { return kindNames[k] }

// Window is the length of the kind's sliding window; zero for
// KindConcurrent.
func (k Kind) Window() time.Duration {
	switch k {
	case KindRPM, KindTPM:
		return time.Minute
	case KindRPD:
		return 24 * time.Hour
	}
	return 0
}

// buckets is how many buckets the kind's window has: one per second for
// a minute, one per five minutes for a day.
func (k Kind) buckets() int {
	if k == KindRPD {
		return 288
	}
	return 60
}

// Demand asks a Store to count Amount against the counter Key, which may
// hold at most Limit.
type Demand struct {
	Key    string
	Kind   Kind
	Limit  int64
	Amount int64
}

// Result is a Store's answer to Take.
type Result struct {
	// Denied is the index of the first demand that would go over its
	// limit (nothing was counted), or -1 when all were admitted.
	Denied int
	// RetryAfter is when the denied demand would fit.
	RetryAfter time.Duration
	// Remaining and Reset are, per demand, what is left under its limit
	// and how long until the oldest counted unit leaves its window.
	Remaining []int64
	Reset     []time.Duration
}

// Store keeps counters. Take must be atomic: all demands admitted and
// counted, or none.
type Store interface {
	Take(ctx context.Context, now time.Time, ds []Demand) (Result, error)
	// Adjust adds each demand's Amount (negative to give tokens back) to
	// its window's bucket of time at, the time of the Take.
	Adjust(ctx context.Context, at time.Time, ds []Demand) error
	// Release gives back concurrent slots.
	Release(ctx context.Context, ds []Demand) error
}
