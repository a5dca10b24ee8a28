package users

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/ratelimit"
)

// memStore is a users.Store in memory that counts its inserts.
type memStore struct {
	mu      sync.Mutex
	users   map[string]User
	inserts int
	fail    error
}

func (m *memStore) CreateUsers(_ context.Context, us []User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, u := range us {
		m.inserts++
		if _, ok := m.users[mapKey(u.Owner, u.ID)]; !ok {
			m.users[mapKey(u.Owner, u.ID)] = u
		}
	}
	return nil
}

func (m *memStore) ListUsers(context.Context) ([]User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []User
	for _, u := range m.users {
		out = append(out, u)
	}
	return out, nil
}

func (m *memStore) UpdateUser(_ context.Context, u User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[mapKey(u.Owner, u.ID)]; !ok {
		return ErrNotFound
	}
	m.users[mapKey(u.Owner, u.ID)] = u
	return nil
}

var now = func() time.Time { return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) }

// TestEnsureOnce (T02's first half): 50 concurrent first requests of one
// new user create it once and all get the same user.
func TestEnsureOnce(t *testing.T) {
	st := &memStore{users: map[string]User{}}
	r := New(st, Options{Now: now})
	var wg sync.WaitGroup
	got := make([]*User, 50)
	start := make(chan struct{})
	for i := range got {
		wg.Go(func() { <-start; got[i] = r.Ensure("team:search", "alice") })
	}
	close(start)
	wg.Wait()
	for _, u := range got {
		if u != got[0] {
			t.Fatalf("Ensure returned different users to concurrent callers")
		}
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.inserts != 1 || len(st.users) != 1 {
		t.Errorf("store saw %d inserts, holds %d users; want 1 and 1", st.inserts, len(st.users))
	}
}

func TestFlushRetriesAndLoad(t *testing.T) {
	st := &memStore{users: map[string]User{}, fail: errors.New("disk full")}
	r := New(st, Options{Now: now})
	r.Ensure("team:a", "u1")
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("Flush with a failing store = nil")
	}
	st.fail = nil
	r.Ensure("team:a", "u2")
	if err := r.Flush(context.Background()); err != nil || len(st.users) != 2 {
		t.Fatalf("Flush after recovery = %v, store holds %d users, want 2", err, len(st.users))
	}
	r2 := New(st, Options{Now: now})
	if err := r2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if us := r2.List("team:a"); len(us) != 2 || us[0].ID != "u1" {
		t.Errorf("List after Load = %+v, want u1 and u2", us)
	}
	r2.Ensure("team:a", "u1")
	if r2.Flush(context.Background()); st.inserts != 2 {
		t.Errorf("a loaded user was inserted again (%d inserts)", st.inserts)
	}
}

func TestUpdate(t *testing.T) {
	st := &memStore{users: map[string]User{}}
	r := New(st, Options{Now: now})
	b := &budget.Spec{Limit: 5, Period: budget.Daily, Hard: true}
	before, after, err := r.Update(context.Background(), "team:a", "carol", b, &ratelimit.Limits{RPM: 3})
	if err != nil {
		t.Fatal(err)
	}
	if before.Budget != nil || after.Budget == nil || after.Limits.RPM != 3 {
		t.Errorf("Update = %+v → %+v", before, after)
	}
	if u := r.Ensure("team:a", "carol"); u.Budget == nil || u.Limits.RPM != 3 {
		t.Errorf("Ensure after Update = %+v, want the user's own settings", u)
	}
	if _, _, err := r.Update(context.Background(), "team:a", "", nil, nil); err == nil {
		t.Error("Update with an empty id = nil error")
	}
}

func TestMaxUsers(t *testing.T) {
	st := &memStore{users: map[string]User{}}
	r := New(st, Options{Now: now, MaxUsers: 2})
	for _, id := range []string{"a", "b", "c"} {
		if u := r.Ensure("team:t", id); u.ID != id {
			t.Errorf("Ensure(%s) = %+v", id, u)
		}
	}
	if n := len(r.List("")); n != 2 {
		t.Errorf("users kept = %d, want the cap of 2", n)
	}
}
