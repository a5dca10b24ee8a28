package keys

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestManagerCreate(t *testing.T) {
	f := newFixture(t)
	plain, k := f.create(t, CreateOptions{Name: "search-api", Team: "search", Models: []string{"gpt-4o"}, Metadata: map[string]string{"owner": "ana"}})
	if err := CheckFormat(plain); err != nil {
		t.Fatalf("CheckFormat(created) = %v", err)
	}
	if !regexp.MustCompile(`^key_[a-z2-7]{16}$`).MatchString(k.ID) {
		t.Errorf("ID = %q, want key_ and 16 base32 characters", k.ID)
	}
	if want := plain[:len(Prefix)+4] + "…"; k.Prefix != want {
		t.Errorf("Prefix = %q, want %q", k.Prefix, want)
	}
	if !f.mgr.hasher.Equal(plain, k.Hash) {
		t.Error("stored hash does not match the key")
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	if strings.Contains(js, "hash") || strings.Contains(js, plain[len(Prefix):]) || strings.Contains(js, "expires_at") {
		t.Errorf("JSON %s leaks the hash or key, or shows a zero expiry", js)
	}
}

func TestManagerCreateErrors(t *testing.T) {
	f := newFixture(t)
	f.create(t, CreateOptions{Name: "taken"})
	now := f.clock.Now()
	tests := []struct {
		name string
		o    CreateOptions
		is   error
	}{
		{"empty-name", CreateOptions{}, nil},
		{"long-name", CreateOptions{Name: strings.Repeat("a", 65)}, nil},
		{"space-in-name", CreateOptions{Name: "a b"}, nil},
		{"bad-team", CreateOptions{Name: "ok", Team: "a/b"}, nil},
		{"empty-model", CreateOptions{Name: "ok", Models: []string{""}}, nil},
		{"past-expiry", CreateOptions{Name: "ok", ExpiresAt: now.Add(-time.Second)}, nil},
		{"far-expiry", CreateOptions{Name: "ok", ExpiresAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
		{"duplicate", CreateOptions{Name: "taken"}, ErrDuplicateName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.mgr.Create(context.Background(), tt.o)
			if err == nil {
				t.Fatalf("Create(%s) = nil error, want error", tt.name)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Create(%s) = %v, want %v", tt.name, err, tt.is)
			}
		})
	}
}

func TestManagerRevokeAndList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, a := f.create(t, CreateOptions{Name: "a", Team: "x"})
	f.create(t, CreateOptions{Name: "b", Team: "y"})
	got, err := f.mgr.Revoke(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || !got.RevokedAt.Equal(f.clock.Now()) {
		t.Errorf("Revoke(a) = %s at %v, want %s at %v", got.ID, got.RevokedAt, a.ID, f.clock.Now())
	}
	if _, err := f.mgr.Revoke(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke(nope) = %v, want ErrNotFound", err)
	}
	// The name is free again once revoked.
	f.create(t, CreateOptions{Name: "a"})
	active, err := f.mgr.List(ctx, ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 2 {
		t.Errorf("List(active) = %d keys, want 2", len(active))
	}
	all, _ := f.mgr.List(ctx, ListFilter{IncludeRevoked: true})
	if len(all) != 3 {
		t.Errorf("List(all) = %d keys, want 3", len(all))
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"ci-bot", true}, {"a.b_c-9", true}, {strings.Repeat("x", 64), true},
		{"", false}, {strings.Repeat("x", 65), false}, {"é", false}, {"a b", false}, {"a/b", false},
	}
	for _, tt := range tests {
		if err := CheckName(tt.in); (err == nil) != tt.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
