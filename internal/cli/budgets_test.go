package cli

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/admin"
	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/store/sqlite"
	"github.com/airgw/airgw/internal/users"
)

type changes struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (c *changes) Write(r audit.Record) { c.mu.Lock(); c.recs = append(c.recs, r); c.mu.Unlock() }

// TestBudgetsAndLimitsCommands: `airgw budgets`, `budgets reset` and
// `limits` show and change the running gateway's state through its admin
// API: the reset is the API's, audited as made by the credential used.
func TestBudgetsAndLimitsCommands(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	spec := &budget.Spec{Limit: 10_000_000_000, Period: budget.Monthly, Hard: true, AlertAt: budget.DefaultAlertAt}
	limits := &ratelimit.Limits{RPM: 60}
	set := &admin.Settings{Teams: []admin.Team{{Name: "search", Budget: spec, Limits: limits}}}
	rec := &changes{}
	tracker := budget.NewTracker(budget.Options{Journal: db})
	limiter := ratelimit.New(ratelimit.NewMemory())
	svc := &admin.Service{Keys: keys.NewManager(db, keys.NewHasher([]byte("0123456789abcdef0123456789abcdef")), func() time.Time { return now }),
		Users: users.New(db, users.Options{}), Budgets: tracker, Limiter: limiter, Audit: rec,
		Settings: func() *admin.Settings { return set }, Now: func() time.Time { return now }}
	s := admin.NewServer([]admin.Credential{{Name: "ops", Key: "ops-credential-000000000001", Role: admin.RoleAdmin}}, admin.Options{})
	(&admin.API{Svc: svc}).Mount(s)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Setenv("AIRGW_ADMIN_KEY", "ops-credential-000000000001")

	b := budget.Budget{Account: "team:search", Path: "teams.search.budget", Spec: *spec}
	h, err := tracker.Reserve(budget.Request{At: now, Accounts: []string{"global", "team:search"}, Budgets: []budget.Budget{b}, Amount: usd(1)})
	if err != nil {
		t.Fatal(err)
	}
	h.Settle(usd(6))
	scopes := []ratelimit.Scope{{Key: "team:search", Path: "teams.search.limits", Limits: limits}}
	for range 4 {
		if _, err := limiter.Admit(ctx, now.Add(-2*time.Second), scopes, "m", 1); err != nil {
			t.Fatal(err)
		}
	}

	r := run(t, "budgets", "--admin-url", srv.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "team:search") || !strings.Contains(r.stdout, "$6.000000000") || !strings.Contains(r.stdout, "$4.000000000") || !strings.Contains(r.stdout, "50%") {
		t.Errorf("budgets = %d %q %q, want team:search with $6 spent, $4 left, 50%% alerted", r.code, r.stdout, r.stderr)
	}
	r = run(t, "limits", "--admin-url", srv.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "teams.search.limits.rpm") || !hasLine(r.stdout, "team:search", "teams.search.limits.rpm", "60", "4", "56", "59s") {
		t.Errorf("limits = %d %q %q, want the team's rpm: 60, 4 used, 56 left, 59s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "budgets", "reset", "team:search", "--admin-url", srv.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "spent $6.000000000 -> $0.000000000") {
		t.Errorf("budgets reset = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if st := tracker.Status(b, now); st.Spent != 0 {
		t.Errorf("spend after the CLI's reset = %d, want 0", st.Spent)
	}
	if len(rec.recs) != 1 || rec.recs[0].Change.Action != "budget.reset" || rec.recs[0].Change.Actor != "admin-key:ops" {
		t.Errorf("audit = %+v, want one budget.reset by admin-key:ops", rec.recs)
	}
	r = run(t, "budgets", "reset", "team:nope", "--admin-url", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "no budget applies to account") {
		t.Errorf("budgets reset team:nope = %d %q, want 1 with the API's message", r.code, r.stderr)
	}
	t.Setenv("AIRGW_ADMIN_KEY", "")
	r = run(t, "budgets", "--admin-url", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "AIRGW_ADMIN_KEY") {
		t.Errorf("budgets without a key = %d %q, want 1 naming AIRGW_ADMIN_KEY", r.code, r.stderr)
	}
	if r := run(t, "budgets", "reset"); r.code != 2 {
		t.Errorf("budgets reset without an account = %d, want 2", r.code)
	}
}

func usd(n int64) int64 { return n * 1_000_000_000 }

// hasLine reports whether some line of out holds fields, in order,
// as whole whitespace-separated words.
func hasLine(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		got := strings.Fields(line)
		if len(got) != len(fields) {
			continue
		}
		ok := true
		for i := range got {
			ok = ok && got[i] == fields[i]
		}
		if ok {
			return true
		}
	}
	return false
}
