package breaker

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time        { return c.t }
func (c *clock) add(d time.Duration)   { c.t = c.t.Add(d) }
func newSet(s Settings) (*Set, *clock) { c := &clock{t: time.Unix(1e9, 0)}; return NewSet(s, c.now), c }

func TestOpensAfterConsecutiveFailures(t *testing.T) {
	set, _ := newSet(Settings{ConsecutiveFailures: 5, Cooldown: 30 * time.Second})
	b := set.Get("openai/gpt-4o")
	for i := range 4 {
		if !b.Allow() {
			t.Fatalf("Allow() after %d failures = false, want true", i)
		}
		b.Record(false)
	}
	b.Record(true) // a success resets the run
	for range 4 {
		b.Allow()
		b.Record(false)
	}
	if b.State() != Closed {
		t.Fatalf("State() after 4+1+4 outcomes = %v, want closed", b.State())
	}
	b.Allow()
	b.Record(false)
	if b.State() != Open || b.Allow() {
		t.Fatalf("State() after 5 consecutive failures = %v (Allow %v), want open and refusing", b.State(), b.Allow())
	}
}

func TestHalfOpenProbe(t *testing.T) {
	for _, probeOK := range []bool{true, false} {
		set, c := newSet(Settings{ConsecutiveFailures: 1, Cooldown: 30 * time.Second})
		b := set.Get("t")
		b.Allow()
		b.Record(false)
		c.add(29 * time.Second)
		if b.Allow() {
			t.Fatal("Allow() before the cooldown = true, want false")
		}
		if got := b.RetryAfter(); got != time.Second {
			t.Errorf("RetryAfter() = %v, want 1s", got)
		}
		c.add(time.Second)
		if !b.Allow() {
			t.Fatal("Allow() after the cooldown = false, want the probe")
		}
		if b.Allow() {
			t.Fatal("a second Allow() during the probe = true, want false")
		}
		b.Record(probeOK)
		want := map[bool]State{true: Closed, false: Open}[probeOK]
		if got := b.State(); got != want {
			t.Errorf("probe ok=%v: State() = %v, want %v", probeOK, got, want)
		}
	}
}

func TestReleaseFreesTheProbe(t *testing.T) {
	set, c := newSet(Settings{ConsecutiveFailures: 1, Cooldown: time.Second})
	b := set.Get("t")
	b.Allow()
	b.Record(false)
	c.add(time.Second)
	if !b.Allow() {
		t.Fatal("no probe after cooldown")
	}
	b.Release()
	if !b.Allow() {
		t.Error("Allow() after Release = false, want the probe again")
	}
}

func TestFailureRatio(t *testing.T) {
	set, c := newSet(Settings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 10, Window: 10 * time.Second})
	b := set.Get("t")
	for i := range 9 { // alternate: never 100 consecutive, ratio 4/9 then 5/10
		b.Allow()
		b.Record(i%2 == 0)
	}
	if b.State() != Closed {
		t.Fatalf("State() below MinRequests = %v, want closed", b.State())
	}
	b.Allow()
	b.Record(false)
	if b.State() != Open {
		t.Errorf("State() at 5 failures of 10 with ratio 0.5 = %v, want open", b.State())
	}
	// Old outcomes leave the window.
	set2, c2 := newSet(Settings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 4, Window: 10 * time.Second})
	b2 := set2.Get("t")
	for range 3 {
		b2.Record(false)
	}
	c2.add(11 * time.Second)
	b2.Record(true)
	b2.Record(false)
	if b2.State() != Closed {
		t.Errorf("State() with old failures expired = %v, want closed", b2.State())
	}
	_ = c
}

func TestStatesAndConfigure(t *testing.T) {
	set, _ := newSet(Settings{ConsecutiveFailures: 1})
	set.Get("b").Record(false)
	set.Get("a")
	got := set.States()
	if len(got) != 2 || got[0] != (TargetState{"a", Closed}) || got[1] != (TargetState{"b", Open}) {
		t.Errorf("States() = %v, want a closed, b open", got)
	}
	set.Configure(Settings{ConsecutiveFailures: 3})
	if set.Get("b").State() != Open {
		t.Error("Configure reset a breaker's state")
	}
}

func TestRetain(t *testing.T) {
	set, _ := newSet(Settings{ConsecutiveFailures: 1})
	for _, n := range []string{"gone/m", "kept/m", "changed/m"} {
		set.Get(n).Record(false)
	}
	set.Retain(func(target string) bool { return target == "kept/m" })
	got := set.States()
	if len(got) != 1 || got[0] != (TargetState{"kept/m", Open}) {
		t.Errorf("States() after Retain = %v, want only kept/m, still open", got)
	}
	if set.Get("changed/m").State() != Closed {
		t.Error("a forgotten target came back open, want a fresh closed breaker")
	}
}
