package breaker

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSnapshot(t *testing.T) {
	set, c := newSet(Settings{ConsecutiveFailures: 2, Cooldown: 30 * time.Second})
	opened := c.now()
	healthy, flaky, dead := set.Get("p/healthy"), set.Get("p/flaky"), set.Get("p/dead")
	healthy.Record(true)
	healthy.Record(true)
	flaky.Record(true)
	flaky.Record(false)
	dead.Record(false)
	dead.Record(false) // opens
	c.add(10 * time.Second)
	want := []Status{
		{Target: "p/dead", State: Open, ConsecutiveFailures: 2, Failures: 2, OpenedAt: opened, RetryAfter: 20 * time.Second, Opens: 1},
		{Target: "p/flaky", State: Closed, ConsecutiveFailures: 1, Successes: 1, Failures: 1},
		{Target: "p/healthy", State: Closed, Successes: 2},
	}
	if diff := cmp.Diff(want, set.Snapshot()); diff != "" {
		t.Errorf("Snapshot() (-want +got):\n%s", diff)
	}
	c.add(20 * time.Second) // the cooldown is over: a probe may go
	got := set.Snapshot()[0]
	if got.State != HalfOpen || got.RetryAfter != 0 {
		t.Errorf("Snapshot() after the cooldown = %v, retry after %v, want half_open, 0", got.State, got.RetryAfter)
	}
	dead.Allow()
	dead.Record(false) // the probe failed: open again
	if got := set.Snapshot()[0]; got.State != Open || got.Opens != 2 || got.RetryAfter != 30*time.Second {
		t.Errorf("Snapshot() after a failed probe = %v, opens %d, retry after %v, want open, 2, 30s", got.State, got.Opens, got.RetryAfter)
	}
}
