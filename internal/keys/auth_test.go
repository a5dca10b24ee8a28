package keys

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/llm"
	"github.com/google/go-cmp/cmp"
)

// memStore is an in-memory Store that counts lookups.
type memStore struct {
	mu       sync.Mutex
	keys     []*Key
	lookups  atomic.Int64
	fail     error         // returned by KeyByHash and TouchKeys when set
	block    chan struct{} // KeyByHash waits on it when set
	touched  map[string]time.Time
	touchErr error
}

func newMemStore() *memStore { return &memStore{touched: make(map[string]time.Time)} }

func (m *memStore) CreateKey(_ context.Context, k *Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.keys {
		if o.Name == k.Name && o.RevokedAt.IsZero() {
			return ErrDuplicateName
		}
	}
	c := *k
	m.keys = append(m.keys, &c)
	return nil
}

func (m *memStore) KeyByHash(ctx context.Context, hash []byte) (*Key, error) {
	m.lookups.Add(1)
	if m.block != nil {
		select {
		case <-m.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	for _, k := range m.keys {
		if bytes.Equal(k.Hash, hash) {
			c := *k
			return &c, nil
		}
	}
	return nil, ErrNotFound
}

func (m *memStore) ListKeys(_ context.Context, f ListFilter) ([]Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Key
	for _, k := range m.keys {
		if (f.Team == "" || k.Team == f.Team) && (f.IncludeRevoked || k.RevokedAt.IsZero()) {
			out = append(out, *k)
		}
	}
	return out, nil
}

func (m *memStore) RevokeKey(_ context.Context, idOrName string, at time.Time) (*Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.ID == idOrName || k.Name == idOrName && k.RevokedAt.IsZero() {
			if k.RevokedAt.IsZero() {
				k.RevokedAt = at
			}
			c := *k
			return &c, nil
		}
	}
	return nil, ErrNotFound
}

func (m *memStore) KeyByID(_ context.Context, id string) (*Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.ID == id {
			c := *k
			return &c, nil
		}
	}
	return nil, ErrNotFound
}

func (m *memStore) UpdateKey(_ context.Context, u *Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.ID == u.ID {
			k.Models, k.ExpiresAt, k.Metadata, k.Settings = u.Models, u.ExpiresAt, u.Metadata, u.Settings
			return nil
		}
	}
	return ErrNotFound
}

func (m *memStore) RotateKey(_ context.Context, old, next *Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.ID == old.ID {
			if !k.RevokedAt.IsZero() || k.RotatedTo != "" {
				return ErrRevoked
			}
			k.RevokedAt, k.RotatedTo = old.RevokedAt, next.ID
			c := *next
			m.keys = append(m.keys, &c)
			return nil
		}
	}
	return ErrNotFound
}

func (m *memStore) TouchKeys(_ context.Context, t map[string]time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.touchErr != nil {
		return m.touchErr
	}
	for id, at := range t {
		if at.After(m.touched[id]) {
			m.touched[id] = at
		}
	}
	return nil
}

var _ Store = (*memStore)(nil)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	store *memStore
	clock *clock
	mgr   *Manager
	auth  *Authenticator
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(), clock: &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}}
	h := NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	f.mgr = NewManager(f.store, h, f.clock.Now)
	f.auth = NewAuthenticator(f.store, h, AuthOptions{
		Now:           f.clock.Now,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		FlushInterval: time.Hour, // tests flush explicitly
	})
	t.Cleanup(func() { f.auth.Close(context.Background()) })
	return f
}

func (f *fixture) create(t *testing.T, o CreateOptions) (string, *Key) {
	t.Helper()
	plain, k, err := f.mgr.Create(context.Background(), o)
	if err != nil {
		t.Fatalf("Create(%q) error: %v", o.Name, err)
	}
	return plain, k
}

// authCode returns the llm code of err, or "" if err is nil.
func authCode(t *testing.T, err error) llm.Code {
	t.Helper()
	if err == nil {
		return ""
	}
	var le *llm.Error
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not an *llm.Error", err)
	}
	return le.Code
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	active, _ := f.create(t, CreateOptions{Name: "active"})
	expiring, _ := f.create(t, CreateOptions{Name: "expiring", ExpiresAt: f.clock.Now().Add(time.Hour)})
	revoked, rk := f.create(t, CreateOptions{Name: "revoked"})
	if _, err := f.mgr.Revoke(ctx, rk.ID); err != nil {
		t.Fatal(err)
	}
	unknown, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)

	tests := []struct {
		name      string
		presented string
		wantCode  llm.Code
		wantMsg   string
	}{
		{"active", active, "", ""},
		{"missing", "", llm.CodeAuthenticationFailed, "no API key"},
		{"foreign", "sk-proj-0123456789abcdefghijklmnopqrstuv", llm.CodeAuthenticationFailed, "not an airgw key"},
		{"truncated", active[:30], llm.CodeAuthenticationFailed, "copied whole"},
		{"typo", active[:20] + flip(active[20]) + active[21:], llm.CodeAuthenticationFailed, "typo"},
		{"unknown", unknown, llm.CodeAuthenticationFailed, "not known"},
		{"revoked", revoked, llm.CodeAuthenticationFailed, "revoked at 2026-11-01T12:00:00Z"},
		{"expired", expiring, llm.CodeAuthenticationFailed, "expired at 2026-11-01T13:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := f.auth.Authenticate(ctx, tt.presented)
			if got := authCode(t, err); got != tt.wantCode {
				t.Fatalf("Authenticate(%s) code = %q, want %q (err %v)", tt.name, got, tt.wantCode, err)
			}
			if err == nil {
				if k == nil || k.Name != tt.name {
					t.Fatalf("Authenticate(%s) = %+v, want key %s", tt.name, k, tt.name)
				}
				return
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("Authenticate(%s) error = %q, want it to mention %q", tt.name, msg, tt.wantMsg)
			}
			if len(tt.presented) > len(Prefix)+4 && strings.Contains(msg, tt.presented[len(Prefix)+4:]) {
				t.Errorf("Authenticate(%s) error contains the presented key", tt.name)
			}
		})
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestAuthenticateFormatCheckSkipsStore(t *testing.T) {
	f := newFixture(t)
	for _, s := range []string{"", "garbage", Prefix + strings.Repeat("A", 38)} {
		f.auth.Authenticate(context.Background(), s)
	}
	if n := f.store.lookups.Load(); n != 0 {
		t.Errorf("store lookups for malformed keys = %d, want 0", n)
	}
}

func TestAuthenticateCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain, k := f.create(t, CreateOptions{Name: "cached"})
	unknown, _ := Generate()

	for range 5 {
		if _, err := f.auth.Authenticate(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if _, err := f.auth.Authenticate(ctx, unknown); err == nil {
			t.Fatal("unknown key accepted")
		}
	}
	if n := f.store.lookups.Load(); n != 2 {
		t.Errorf("store lookups after 5 hits each = %d, want 2 (one positive, one negative)", n)
	}

	// A revocation elsewhere is invisible until the TTL passes, then visible.
	if _, err := f.store.RevokeKey(ctx, k.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(DefaultTTL - time.Millisecond)
	if _, err := f.auth.Authenticate(ctx, plain); err != nil {
		t.Fatalf("within TTL: %v, want cached success", err)
	}
	f.clock.Advance(time.Millisecond)
	if _, err := f.auth.Authenticate(ctx, plain); authCode(t, err) != llm.CodeAuthenticationFailed {
		t.Fatalf("after TTL: err = %v, want authentication_failed", err)
	}
	if n := f.store.lookups.Load(); n != 3 {
		t.Errorf("store lookups = %d, want 3", n)
	}
}

func TestAuthenticateInvalidate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain, k := f.create(t, CreateOptions{Name: "inv"})
	if _, err := f.auth.Authenticate(ctx, plain); err != nil {
		t.Fatal(err)
	}
	f.mgr.Revoke(ctx, k.ID)
	f.auth.Invalidate()
	if _, err := f.auth.Authenticate(ctx, plain); err == nil {
		t.Error("revoked key accepted after Invalidate")
	}
}

func TestAuthenticateStoreError(t *testing.T) {
	f := newFixture(t)
	plain, _ := f.create(t, CreateOptions{Name: "down"})
	f.store.fail = errors.New("disk on fire")
	_, err := f.auth.Authenticate(context.Background(), plain)
	if got := authCode(t, err); got != llm.CodeServiceUnavailable {
		t.Fatalf("code = %q, want %q", got, llm.CodeServiceUnavailable)
	}
	if !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("error %q does not wrap the cause", err)
	}
	// Failures are not cached.
	f.store.fail = nil
	if _, err := f.auth.Authenticate(context.Background(), plain); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

func TestAuthenticateSingleFlight(t *testing.T) {
	f := newFixture(t)
	plain, _ := f.create(t, CreateOptions{Name: "sf"})
	f.store.block = make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := f.auth.Authenticate(context.Background(), plain)
			errs <- err
		})
	}
	// Wait until the leader is inside the store, then release it.
	for f.store.lookups.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	close(f.store.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.store.lookups.Load(); n != 1 {
		t.Errorf("store lookups for 20 concurrent misses = %d, want 1", n)
	}
}

func TestAuthenticateBoundedCache(t *testing.T) {
	store := newMemStore()
	h := NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	a := NewAuthenticator(store, h, AuthOptions{MaxEntries: 32, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer a.Close(context.Background())
	for range 1000 {
		k, _ := Generate()
		a.Authenticate(context.Background(), k)
	}
	n := 0
	for i := range a.shards {
		n += len(a.shards[i].entries)
	}
	if n > 32 {
		t.Errorf("cache holds %d entries, want at most 32", n)
	}
}

func TestLastUsedFlush(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain, k := f.create(t, CreateOptions{Name: "used"})
	f.auth.Authenticate(ctx, plain)
	f.clock.Advance(time.Second)
	f.auth.Authenticate(ctx, plain)
	if len(f.store.touched) != 0 {
		t.Fatal("last-used written on the request path")
	}
	f.store.touchErr = errors.New("down")
	if err := f.auth.Flush(ctx); err == nil {
		t.Fatal("Flush with failing store = nil, want error")
	}
	f.store.touchErr = nil
	if err := f.auth.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{k.ID: f.clock.Now()}
	if diff := cmp.Diff(want, f.store.touched); diff != "" {
		t.Errorf("touched (-want +got):\n%s", diff)
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	store := newMemStore()
	h := NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	mgr := NewManager(store, h, nil)
	plain, _, err := mgr.Create(context.Background(), CreateOptions{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	a := NewAuthenticator(store, h, AuthOptions{TTL: time.Hour})
	defer a.Close(context.Background())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, plain); err != nil {
			b.Fatal(err)
		}
	}
}
