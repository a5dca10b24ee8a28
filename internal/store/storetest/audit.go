package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/google/go-cmp/cmp"
)

// AuditStore is what an audit backend provides: storing records and
// checkpoints, reading them back for exports, tails, usage reports and
// chain verification.
type AuditStore = interface {
	audit.Sink
	audit.Source
	audit.CheckpointSink
	audit.HeadSource
	audit.ChainSource
	audit.Follower
	audit.UsageSource
	audit.BodySource
	audit.Purger
}

// fullRecord returns a record with every field set.
func fullRecord(id string, start time.Time) audit.Record {
	return audit.Record{
		Kind:           audit.KindRequest,
		RequestID:      id,
		Start:          start,
		End:            start.Add(1500 * time.Millisecond),
		KeyID:          "key_aaaaaaaaaaaaaaaa",
		KeyName:        "search-api",
		Team:           "search",
		EndUser:        "user-42",
		Purpose:        "support-bot",
		Tags:           []string{"beta", "eu"},
		ClientIP:       "203.0.113.7",
		Dialect:        "openai",
		Endpoint:       "/v1/chat/completions",
		Stream:         true,
		RequestedModel: "gpt-4o",
		Provider:       "openai",
		ServedModel:    "gpt-4o-2024-08-06",
		Attempts: []audit.Attempt{
			{Provider: "azure-eu", Model: "gpt-4o-prod", Status: 503, ErrorClass: "provider_unavailable", LatencyMillis: 120},
			{Provider: "openai", Model: "gpt-4o-2024-08-06", Status: 200, LatencyMillis: 1300},
		},
		Status:           200,
		InputTokens:      1200,
		OutputTokens:     345,
		CacheReadTokens:  1024,
		CacheWriteTokens: 7,
		ReasoningTokens:  64,
		UsageEstimated:   true,
		CostNanoUSD:      6_512_500,
		TTFTMillis:       420,
		LatencyMillis:    1500,
		Policies:         []audit.Decision{{Policy: "pii", Action: "redact", Detail: "email"}},
	}
}

func query(t *testing.T, s audit.Source, f audit.Filter) []audit.Record {
	t.Helper()
	var out []audit.Record
	if err := s.QueryRecords(context.Background(), f, func(r audit.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("QueryRecords(%+v): %v", f, err)
	}
	return out
}

func ids(recs []audit.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.RequestID)
	}
	return out
}

// TestAuditStore runs the audit.Sink and audit.Source conformance suite.
// newStore must return an empty store; it is called once per subtest.
func TestAuditStore(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		full := fullRecord("req-full", base)
		minimal := audit.Record{RequestID: "req-min", Start: base.Add(time.Second), Dialect: "anthropic", Endpoint: "/v1/messages", Status: 401, ErrorClass: "authentication_failed"}
		change := audit.Record{Kind: audit.KindAdmin, RequestID: "adm-1", Start: base.Add(2 * time.Second), End: base.Add(2 * time.Second),
			Dialect: "admin", Endpoint: "POST /admin/v1/keys/key_1/revoke", Status: 200,
			Change: &audit.Change{Actor: "admin-key:ops", Action: "key.revoke", Target: "key:key_1",
				Before: json.RawMessage(`{"revoked":false}`), After: json.RawMessage(`{"revoked":true}`)}}
		if err := s.InsertRecords(ctx, []audit.Record{full, minimal, change}); err != nil {
			t.Fatalf("InsertRecords: %v", err)
		}
		minimal.Kind = audit.KindRequest // an unset kind is stored as a request
		if diff := cmp.Diff([]audit.Record{full, minimal, change}, query(t, s, audit.Filter{}), equateEmpty); diff != "" {
			t.Errorf("QueryRecords (-want +got):\n%s", diff)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s := newStore(t)
		if err := s.InsertRecords(ctx, nil); err != nil {
			t.Errorf("InsertRecords(nil) = %v", err)
		}
		if got := query(t, s, audit.Filter{}); len(got) != 0 {
			t.Errorf("QueryRecords(empty store) = %d records", len(got))
		}
	})

	t.Run("RetryDoesNotDuplicate", func(t *testing.T) {
		s := newStore(t)
		batch := []audit.Record{fullRecord("r1", base), fullRecord("r2", base.Add(time.Second))}
		for range 3 {
			if err := s.InsertRecords(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		// A retried batch may overlap a new one, and a batch may repeat an id.
		if err := s.InsertRecords(ctx, []audit.Record{batch[1], fullRecord("r3", base.Add(2*time.Second)), fullRecord("r3", base.Add(2*time.Second))}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"r1", "r2", "r3"}, ids(query(t, s, audit.Filter{}))); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})

	t.Run("BadRecordDoesNotBlockGoodOnes", func(t *testing.T) {
		s := newStore(t)
		err := s.InsertRecords(ctx, []audit.Record{fullRecord("good-1", base), {Start: base}, fullRecord("good-2", base.Add(time.Second))})
		var rej *audit.RejectedError
		if !errors.As(err, &rej) || len(rej.IDs) != 1 {
			t.Fatalf("InsertRecords(with a record lacking an id) = %v, want *audit.RejectedError for 1 record", err)
		}
		if diff := cmp.Diff([]string{"good-1", "good-2"}, ids(query(t, s, audit.Filter{}))); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		s := newStore(t)
		var recs []audit.Record
		// Inserted newest first: results must still come oldest first.
		for i := 9; i >= 0; i-- {
			r := fullRecord(fmt.Sprintf("r%d", i), base.Add(time.Duration(i)*time.Minute))
			if i%2 == 1 {
				r.KeyID, r.Team, r.RequestedModel, r.Provider = "key_bbbbbbbbbbbbbbbb", "ads", "claude-sonnet", "anthropic"
			}
			if i%2 == 1 {
				r.Tags = append(r.Tags, "odd")
			}
			if i == 3 {
				r.Status, r.EndUser, r.Purpose, r.ErrorClass = 429, "user-7", "batch", "rate_limited"
			}
			if i == 4 {
				r.Kind, r.Status, r.ErrorClass = audit.KindAdmin, 500, "internal_error"
			}
			recs = append(recs, r)
		}
		if err := s.InsertRecords(ctx, recs[:5]); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertRecords(ctx, recs[5:]); err != nil {
			t.Fatal(err)
		}
		at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
		tests := []struct {
			name string
			f    audit.Filter
			want []string
		}{
			{"all", audit.Filter{}, []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"}},
			{"since-inclusive", audit.Filter{Since: at(7)}, []string{"r7", "r8", "r9"}},
			{"until-exclusive", audit.Filter{Until: at(2)}, []string{"r0", "r1"}},
			{"range", audit.Filter{Since: at(3), Until: at(6)}, []string{"r3", "r4", "r5"}},
			{"limit", audit.Filter{Since: at(4), Limit: 2}, []string{"r4", "r5"}},
			{"key", audit.Filter{KeyID: "key_bbbbbbbbbbbbbbbb"}, []string{"r1", "r3", "r5", "r7", "r9"}},
			{"team-and-range", audit.Filter{Team: "search", Since: at(5)}, []string{"r6", "r8"}},
			{"model", audit.Filter{Model: "claude-sonnet", Limit: 1}, []string{"r1"}},
			{"provider", audit.Filter{Provider: "openai", Until: at(3)}, []string{"r0", "r2"}},
			{"status", audit.Filter{Status: 429}, []string{"r3"}},
			{"end-user", audit.Filter{EndUser: "user-7"}, []string{"r3"}},
			{"purpose", audit.Filter{Purpose: "batch"}, []string{"r3"}},
			{"nothing", audit.Filter{Team: "nobody"}, nil},
			{"tag", audit.Filter{Tag: "odd"}, []string{"r1", "r3", "r5", "r7", "r9"}},
			{"tag-and-team", audit.Filter{Tag: "eu", Team: "search"}, []string{"r0", "r2", "r4", "r6", "r8"}},
			{"error-class", audit.Filter{ErrorClass: "rate_limited"}, []string{"r3"}},
			{"error-class-any", audit.Filter{ErrorClass: audit.ErrorClassAny}, []string{"r3", "r4"}},
			{"kind", audit.Filter{Kind: audit.KindAdmin}, []string{"r4"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if diff := cmp.Diff(tt.want, ids(query(t, s, tt.f)), equateEmpty); diff != "" {
					t.Errorf("QueryRecords(%s) ids (-want +got):\n%s", tt.name, diff)
				}
			})
		}
	})

	t.Run("Chain", func(t *testing.T) { testChain(t, newStore) })
	t.Run("Usage", func(t *testing.T) { testUsage(t, newStore) })
	t.Run("Follow", func(t *testing.T) { testFollow(t, newStore) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, newStore) })

	t.Run("CallbackErrorStops", func(t *testing.T) {
		s := newStore(t)
		if err := s.InsertRecords(ctx, []audit.Record{fullRecord("a", base), fullRecord("b", base.Add(time.Second))}); err != nil {
			t.Fatal(err)
		}
		stop := errors.New("stop")
		n := 0
		err := s.QueryRecords(ctx, audit.Filter{}, func(audit.Record) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("QueryRecords with a failing callback = %v after %d calls, want stop after 1", err, n)
		}
	})
}
