package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/users"
)

// TestUserStore runs the users.Store conformance suite. newStore must
// return an empty store.
func TestUserStore(t *testing.T, newStore func(t *testing.T) users.Store) {
	ctx := context.Background()
	s := newStore(t)
	a := users.User{Owner: "team:search", ID: "alice@example.com", CreatedAt: base}
	b := users.User{Owner: "key:key_aaaaaaaaaaaaaaaa", ID: "bob", CreatedAt: base}
	if err := s.CreateUsers(ctx, []users.User{a, b}); err != nil {
		t.Fatalf("CreateUsers: %v", err)
	}
	// Creating again, even with other settings, leaves them as they are.
	again := a
	again.Limits = &ratelimit.Limits{RPM: 1}
	if err := s.CreateUsers(ctx, []users.User{again}); err != nil {
		t.Fatalf("CreateUsers(existing): %v", err)
	}
	a.Budget = &budget.Spec{Limit: 5, Period: budget.Daily, Hard: true, AlertAt: []int{}}
	a.Limits = &ratelimit.Limits{RPM: 10}
	if err := s.UpdateUser(ctx, a); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]users.User{b, a}, got, equateEmpty); diff != "" {
		t.Errorf("ListUsers (-want +got):\n%s", diff)
	}
	if err := s.UpdateUser(ctx, users.User{Owner: "team:x", ID: "nobody"}); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) = %v, want ErrNotFound", err)
	}
}
