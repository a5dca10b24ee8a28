package breaker

import "time"

// Status is a point-in-time view of one target's breaker, for /readyz, the
// metrics endpoint and the admin API.
type Status struct {
	// Target is the target's key, "provider/model".
	Target string
	// State is as State reports it: an open breaker whose cooldown has
	// passed shows half_open.
	State State
	// ConsecutiveFailures is the current run of failures; the breaker opens
	// when it reaches Settings.ConsecutiveFailures.
	ConsecutiveFailures int
	// Successes and Failures are the outcomes in the failure-ratio window.
	Successes, Failures int
	// OpenedAt is when the breaker last opened; zero if it never did.
	OpenedAt time.Time
	// RetryAfter is how long until an open breaker admits a probe; 0 when
	// it admits traffic now.
	RetryAfter time.Duration
	// Opens counts the times the breaker opened since the process started
	// (a monotonic counter, for a Prometheus counter).
	Opens int64
}

// Snapshot returns the status of every target's breaker, sorted by target.
// It is safe to call concurrently with traffic and costs one short lock per
// breaker; targets that never received a request are absent.
func (s *Set) Snapshot() []Status {
	states := s.States() // the sorted target list
	out := make([]Status, 0, len(states))
	for _, ts := range states {
		out = append(out, s.Get(ts.Target).status(ts.Target))
	}
	return out
}

func (b *Breaker) status(target string) Status {
	now := b.set.now()
	st := b.settings()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	out := Status{Target: target, State: b.state, ConsecutiveFailures: b.consecutive,
		OpenedAt: b.openedAt, Opens: b.opens}
	for i := range buckets {
		out.Successes += b.ok[i]
		out.Failures += b.bad[i]
	}
	if b.state == Open {
		out.RetryAfter = max(st.Cooldown-now.Sub(b.openedAt), 0)
		if out.RetryAfter == 0 {
			out.State = HalfOpen
		}
	}
	return out
}

func (b *Breaker) settings() *Settings { return b.set.settings() }
