package admin

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/ratelimit"
)

// TestLimitsShowLiveState: GET /admin/v1/limits gives each limit's count,
// what remains and when room frees up, per-model limits included, as the
// x-ratelimit-* headers of the same requests; end users with their team's
// default limits have their own rows; a team_admin sees its team's only.
func TestLimitsShowLiveState(t *testing.T) {
	f := newFixture(t)
	f.svc.Limiter = ratelimit.New(ratelimit.NewMemory())
	set := f.svc.Settings()
	set.Teams[0].Limits = &ratelimit.Limits{TPM: 1000, Models: []ratelimit.ModelLimits{{Model: "gpt-*", RPM: 5}}}
	set.Teams[0].Users.Limits = &ratelimit.Limits{Concurrent: 2}
	now := f.svc.now()
	red, err := f.svc.Keys.Get(context.Background(), f.ids["red"])
	if err != nil {
		t.Fatal(err)
	}
	fam := red.FamilyID()
	scopes := []ratelimit.Scope{
		{Key: "team:red", Path: "teams.red.limits", Limits: set.Teams[0].Limits},
		{Key: "key:" + fam, Path: "keys.x.limits", Limits: &ratelimit.Limits{RPM: 100}},
		{Key: "user:team:red/alice", Path: "teams.red.users.limits", Limits: set.Teams[0].Users.Limits},
	}
	for i := range 3 {
		tk, err := f.svc.Limiter.Admit(context.Background(), now.Add(-time.Duration(3-i)*time.Second), scopes, "gpt-4o", 100)
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			tk.Done(context.Background(), 100)
		}
	}
	var got struct {
		Limits []limitView `json:"limits"`
	}
	st, body := f.do(redKey, "GET", "/admin/v1/limits", "")
	if err := json.Unmarshal([]byte(body), &got); st != 200 || err != nil {
		t.Fatalf("limits = %d %s", st, body)
	}
	rows := map[string]limitView{}
	for _, v := range got.Limits {
		rows[v.Scope] = v
		if strings.Contains(v.Scope, "blue") || v.Scope == "global" {
			t.Errorf("red's team_admin sees %s", v.Scope)
		}
	}
	type want struct {
		name                   string
		used, remaining, limit int64
		reset                  string
	}
	for scope, ws := range map[string][]want{
		"team:red":            {{"teams.red.limits.tpm", 300, 700, 1000, "58s"}, {"teams.red.limits.models.gpt-*.rpm", 3, 2, 5, "58s"}},
		"key:" + fam:          {{"keys." + red.Name + ".limits.rpm", 3, 97, 100, "58s"}},
		"user:team:red/alice": {{"teams.red.users.limits.concurrent", 1, 1, 2, ""}},
	} {
		v, ok := rows[scope]
		if !ok || len(v.State) != len(ws) {
			t.Errorf("row %s = %+v, want %d live limits", scope, v, len(ws))
			continue
		}
		for i, w := range ws {
			s := v.State[i]
			if s.Name != w.name || s.Used != w.used || s.Remaining != w.remaining || s.Limit != w.limit || s.Reset != w.reset {
				t.Errorf("%s state %d = %+v, want %+v", scope, i, s, w)
			}
			if w.reset != "" && !s.ResetsAt.Equal(now.Add(58*time.Second)) {
				t.Errorf("%s resets_at = %v, want %v", scope, s.ResetsAt, now.Add(58*time.Second))
			}
		}
	}
	if v := rows["users of team:red"]; v.Limits == nil || v.State != nil {
		t.Errorf("the team's end-user defaults = %+v, want the limits without state (each user counts apart)", v)
	}
	st, body = f.do(adminKey, "GET", "/admin/v1/limits?account=team:red", "")
	if err := json.Unmarshal([]byte(body), &got); st != 200 || err != nil || len(got.Limits) != 1 || got.Limits[0].Scope != "team:red" {
		t.Errorf("limits?account=team:red = %d %s, want that row only", st, body)
	}
}

// TestBudgetReset: a team_admin resets its team's key's budget: the spend
// goes to zero, what is in flight stays reserved, the audit record has the
// actor and the state before and after; it may not reset its team's own
// budget; an admin may; unknown accounts are 404.
func TestBudgetReset(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k, err := f.svc.Keys.Get(ctx, f.ids["red"])
	if err != nil {
		t.Fatal(err)
	}
	b := budget.Budget{Account: "key:" + k.FamilyID(), Owner: "key", Path: "keys." + k.Name + ".budget", Spec: *k.Budget}
	now := f.svc.now()
	h, err := f.svc.Budgets.Reserve(budget.Request{At: now, Accounts: []string{"global", "team:red", b.Account}, Budgets: []budget.Budget{b}, Amount: 500_000_000})
	if err != nil {
		t.Fatal(err)
	}
	h.Settle(1_250_000_000)
	inflight, err := f.svc.Budgets.Reserve(budget.Request{At: now, Accounts: []string{b.Account}, Budgets: []budget.Budget{b}, Amount: 300_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer inflight.Settle(0)

	st, body := f.do(redKey, "POST", "/admin/v1/budgets/reset", `{"account":"key:`+k.Name+`"}`) // by name
	var res struct{ Before, After budgetView }
	if err := json.Unmarshal([]byte(body), &res); st != 200 || err != nil {
		t.Fatalf("reset = %d %s", st, body)
	}
	if res.Before.SpentUSD != "1.250000000" || res.After.SpentUSD != "0.000000000" || res.After.ReservedUSD != "0.300000000" ||
		res.After.RemainingUSD != "1.700000000" || res.After.LastReset.IsZero() {
		t.Errorf("reset = before %+v after %+v, want 1.25 → 0 spent, 0.30 still reserved, 1.70 left, a last reset", res.Before, res.After)
	}
	if got := f.svc.Budgets.Status(b, now); got.Spent != 0 {
		t.Errorf("spend after the reset = %d, want 0", got.Spent)
	}
	if got := f.svc.Budgets.Spent("team:red", budget.Monthly, now); got != 1_250_000_000 {
		t.Errorf("team spend after resetting a key = %d, want untouched", got)
	}
	rec := f.rec.recs[len(f.rec.recs)-1]
	if c := rec.Change; c == nil || c.Action != "budget.reset" || c.Actor != "admin-key:red-lead" || c.Target != b.Account || rec.Team != "red" ||
		!strings.Contains(string(c.Before), `"spent_usd":"1.250000000"`) || !strings.Contains(string(c.After), `"spent_usd":"0.000000000"`) {
		t.Errorf("audit record = %+v %+v, want budget.reset by red-lead on %s with the spend before and after", rec, rec.Change, b.Account)
	}

	for _, tt := range []struct {
		cred, account string
		status        int
		msg           string
	}{
		{redKey, "team:red", 403, "only an admin may reset it"},
		{redKey, "key:" + f.ids["blue"], 403, "team `blue` is not yours"},
		{redKey, "global", 403, "only an admin may reset it"},
		{adminKey, "team:red", 200, ""},
		{adminKey, "global", 200, ""},
		{adminKey, "user:team:red/alice", 200, ""},
		{adminKey, "team:nope", 404, "no budget applies to account"},
		{adminKey, "", 400, "account is required"},
		{auditorKey, "team:red", 403, ""},
	} {
		st, body := f.do(tt.cred, "POST", "/admin/v1/budgets/reset", `{"account":"`+tt.account+`"}`)
		if st != tt.status || !strings.Contains(body, tt.msg) {
			t.Errorf("reset %s = %d %s, want %d containing %q", tt.account, st, body, tt.status, tt.msg)
		}
	}
}

// TestResetWithoutTracker: the CLI's service has no spend; it says where
// to reset instead of pretending.
func TestResetWithoutTracker(t *testing.T) {
	f := newFixture(t)
	svc := *f.svc
	svc.Budgets = nil
	_, _, err := svc.ResetBudget(context.Background(), &Principal{Name: "cli:ana", Role: RoleAdmin}, "team:red")
	if err == nil || !strings.Contains(err.Error(), "serving gateway") {
		t.Errorf("ResetBudget without a tracker = %v, want an error naming the serving gateway", err)
	}
}
