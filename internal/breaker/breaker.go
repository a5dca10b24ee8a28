// Package breaker implements the per-target circuit breaker of DESIGN.md §3:
// a target opens after N consecutive failures or a failure ratio over a
// sliding window, lets one probe through after its cooldown (half-open), and
// closes on the probe's success. Only the target's own faults count: client
// cancels and the client's own 4xx are never recorded.
//
// Breakers live in a Set keyed by target, outside the config runtime, so
// that a reload keeps the state of targets that still exist.
package breaker

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// State is a breaker's state.
type State int

// Breaker states.
const (
	Closed   State = iota // traffic flows
	Open                  // traffic is refused until the cooldown ends
	HalfOpen              // one probe is in flight
)

// String returns the state's name as metrics and the admin API show it.
func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "closed"
}

// Settings configure every breaker of a Set.
type Settings struct {
	// ConsecutiveFailures opens the breaker; default 5.
	ConsecutiveFailures int
	// FailureRatio opens the breaker when at least MinRequests outcomes
	// fell in Window and this share of them failed; 0 disables the rule.
	FailureRatio float64
	MinRequests  int           // default 20
	Window       time.Duration // default 30s
	// Cooldown is how long an open breaker refuses traffic before a probe;
	// default 30s.
	Cooldown time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.ConsecutiveFailures <= 0 {
		s.ConsecutiveFailures = 5
	}
	if s.MinRequests <= 0 {
		s.MinRequests = 20
	}
	if s.Window <= 0 {
		s.Window = 30 * time.Second
	}
	if s.Cooldown <= 0 {
		s.Cooldown = 30 * time.Second
	}
	return s
}

// buckets is the number of slots the ratio window is split into.
const buckets = 10

// Breaker guards one target. It is safe for concurrent use.
type Breaker struct {
	mu          sync.Mutex
	set         *Set
	state       State
	consecutive int
	openedAt    time.Time
	probing     bool
	opens       int64 // times the breaker opened, for metrics
	// The ratio window: per-slot counts, slot i covering [start+i·w, …).
	ok, bad   [buckets]int
	slotStart time.Time
	slot      int
}

// Allow reports whether a request may be sent to the target now. A true
// answer for a half-open breaker reserves the single probe: the caller must
// then Record the outcome (or Release if it never sent).
func (b *Breaker) Allow() bool {
	now := b.set.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return true
	case Open:
		if now.Sub(b.openedAt) < b.set.settings().Cooldown {
			return false
		}
		b.state, b.probing = HalfOpen, true
		return true
	default: // HalfOpen
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
}

// Release returns a probe reserved by Allow that was never sent.
func (b *Breaker) Release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// Record records the outcome of a request that Allow admitted.
func (b *Breaker) Record(success bool) {
	now := b.set.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	if success {
		b.ok[b.slot]++
		b.consecutive = 0
		if b.state != Closed {
			b.state, b.probing = Closed, false
			b.resetWindow(now)
		}
		return
	}
	b.bad[b.slot]++
	b.consecutive++
	switch {
	case b.state == HalfOpen:
		b.trip(now) // the probe failed
	case b.state == Closed && (b.consecutive >= b.set.settings().ConsecutiveFailures || b.ratioExceeded()):
		b.trip(now)
	}
}

func (b *Breaker) trip(now time.Time) {
	b.state, b.openedAt, b.probing = Open, now, false
	b.opens++
}

// State returns the breaker's state, moving an open breaker whose cooldown
// has passed to half-open for reporting purposes only.
func (b *Breaker) State() State {
	now := b.set.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && now.Sub(b.openedAt) >= b.set.settings().Cooldown {
		return HalfOpen
	}
	return b.state
}

// RetryAfter is how long until an open breaker admits a probe; 0 when it
// admits traffic now.
func (b *Breaker) RetryAfter() time.Duration {
	now := b.set.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open {
		return 0
	}
	return max(b.set.settings().Cooldown-now.Sub(b.openedAt), 0)
}

func (b *Breaker) ratioExceeded() bool {
	if b.set.settings().FailureRatio <= 0 {
		return false
	}
	var ok, bad int
	for i := range buckets {
		ok, bad = ok+b.ok[i], bad+b.bad[i]
	}
	n := ok + bad
	return n >= b.set.settings().MinRequests && float64(bad) >= b.set.settings().FailureRatio*float64(n)
}

// advance rotates the window's slots up to now.
func (b *Breaker) advance(now time.Time) {
	w := b.set.settings().Window / buckets
	if b.slotStart.IsZero() {
		b.slotStart = now
		return
	}
	for steps := 0; now.Sub(b.slotStart) >= w && steps <= buckets; steps++ {
		b.slot = (b.slot + 1) % buckets
		b.ok[b.slot], b.bad[b.slot] = 0, 0
		b.slotStart = b.slotStart.Add(w)
	}
	if now.Sub(b.slotStart) >= w { // idle for longer than the window
		b.resetWindow(now)
	}
}

func (b *Breaker) resetWindow(now time.Time) {
	b.ok, b.bad = [buckets]int{}, [buckets]int{}
	b.slotStart, b.slot = now, 0
}

// Set holds the breakers of every target. It is safe for concurrent use.
type Set struct {
	s   atomic.Pointer[Settings]
	now func() time.Time

	m sync.Map // target → *Breaker; read on every attempt, written once per target
}

// NewSet returns an empty set; now, if nil, is time.Now.
func NewSet(s Settings, now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	set := &Set{now: now}
	set.Configure(s)
	return set
}

func (s *Set) settings() *Settings { return s.s.Load() }

// Get returns the breaker for target, creating it closed.
func (s *Set) Get(target string) *Breaker {
	if b, ok := s.m.Load(target); ok {
		return b.(*Breaker)
	}
	b, _ := s.m.LoadOrStore(target, &Breaker{set: s})
	return b.(*Breaker)
}

// Configure replaces the settings for every breaker (a reload), keeping
// their states.
func (s *Set) Configure(st Settings) {
	st = st.withDefaults()
	s.s.Store(&st)
}

// Retain forgets the breakers of every target for which keep returns
// false, so that a reload drops targets that are gone (or whose provider
// changed) and /readyz stops reporting them. A request still in flight on
// the old runtime that records an outcome for a forgotten target starts it
// again, closed.
func (s *Set) Retain(keep func(target string) bool) {
	s.m.Range(func(k, _ any) bool {
		if !keep(k.(string)) {
			s.m.Delete(k)
		}
		return true
	})
}

// States returns every target's state, sorted by target.
func (s *Set) States() []TargetState {
	var out []TargetState
	s.m.Range(func(k, v any) bool {
		out = append(out, TargetState{Target: k.(string), State: v.(*Breaker).State()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// TargetState is one target's breaker state.
type TargetState struct {
	Target string
	State  State
}
