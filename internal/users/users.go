// Package users keeps the end users of the gateway's clients: the people
// or tenants behind an app, named by the request's user field,
// metadata.user_id or the X-Airgw-User header. A user belongs to an owner
// (a team, or a key family for keys without a team), is created the first
// time a request names it, exactly once under any concurrency, and gets the
// budget and limits its owner gives every user unless an admin set its own.
//
// The request path never waits for the database: users live in memory,
// loaded at start, and new ones are written in batches in the background.
package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/ratelimit"
)

// ErrNotFound is returned for a user that does not exist.
var ErrNotFound = errors.New("users: user not found")

// User is one end user.
type User struct {
	// Owner is "team:<name>" or "key:<family>".
	Owner     string    `json:"owner"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// Budget and Limits, when set, replace the owner's defaults for this
	// user.
	Budget *budget.Spec      `json:"budget,omitempty"`
	Limits *ratelimit.Limits `json:"limits,omitempty"`
}

// Account is the user's budget and rate-limit account name.
func (u *User) Account() string { return Account(u.Owner, u.ID) }

// Account is the account name of user id of owner.
func Account(owner, id string) string { return "user:" + owner + "/" + id }

// Store persists users. Implementations are safe for concurrent use.
type Store interface {
	// CreateUsers inserts the users that do not exist yet (by owner and
	// id) and leaves existing ones as they are.
	CreateUsers(ctx context.Context, us []User) error
	// ListUsers returns every user, ordered by owner and id.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser stores u's Budget and Limits; ErrNotFound if it does not
	// exist.
	UpdateUser(ctx context.Context, u User) error
}

// MaxIDLength bounds a user id (the header is cut to it too).
const MaxIDLength = 256

// Registry holds every user in memory. It is safe for concurrent use.
type Registry struct {
	store Store
	now   func() time.Time
	log   *slog.Logger
	users sync.Map // owner "\x00" id → *atomic.Pointer[User]
	count atomic.Int64
	max   int64

	mu      sync.Mutex // guards pending
	pending []User
	flushMu sync.Mutex // serialises flushes
}

// Options configures a Registry.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives store failures; nil discards them.
	Logger *slog.Logger
	// MaxUsers bounds the users kept; past it, new users are served with
	// their owner's defaults but not remembered. Default 1,000,000.
	MaxUsers int
}

// New returns an empty Registry over store.
func New(store Store, o Options) *Registry {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxUsers <= 0 {
		o.MaxUsers = 1_000_000
	}
	return &Registry{store: store, now: o.Now, log: o.Logger, max: int64(o.MaxUsers)}
}

func mapKey(owner, id string) string { return owner + "\x00" + id }

// Load reads every stored user into memory.
func (r *Registry) Load(ctx context.Context) error {
	us, err := r.store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("users: load: %w", err)
	}
	for i := range us {
		p := &atomic.Pointer[User]{}
		p.Store(&us[i])
		if _, loaded := r.users.LoadOrStore(mapKey(us[i].Owner, us[i].ID), p); !loaded {
			r.count.Add(1)
		}
	}
	return nil
}

// Ensure returns the user id of owner, creating it on first use: among
// concurrent first requests exactly one creates it and every one gets the
// same user. The returned User is shared and must not be modified.
func (r *Registry) Ensure(owner, id string) *User {
	k := mapKey(owner, id)
	if v, ok := r.users.Load(k); ok {
		return v.(*atomic.Pointer[User]).Load()
	}
	u := &User{Owner: owner, ID: id, CreatedAt: r.now().UTC()}
	if r.count.Load() >= r.max {
		return u
	}
	p := &atomic.Pointer[User]{}
	p.Store(u)
	v, loaded := r.users.LoadOrStore(k, p)
	if loaded {
		return v.(*atomic.Pointer[User]).Load()
	}
	r.count.Add(1)
	r.mu.Lock()
	r.pending = append(r.pending, *u)
	r.mu.Unlock()
	return u
}

// Get returns a user.
func (r *Registry) Get(owner, id string) (User, bool) {
	v, ok := r.users.Load(mapKey(owner, id))
	if !ok {
		return User{}, false
	}
	return *v.(*atomic.Pointer[User]).Load(), true
}

// List returns the users of owner (every user when owner is empty),
// ordered by owner and id.
func (r *Registry) List(owner string) []User {
	var out []User
	r.users.Range(func(_, v any) bool {
		u := v.(*atomic.Pointer[User]).Load()
		if owner == "" || u.Owner == owner {
			out = append(out, *u)
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Owner != out[j].Owner {
			return out[i].Owner < out[j].Owner
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Update sets a user's own budget and limits (nil restores the owner's
// defaults), writing through to the store, and returns the user before
// and after. A user not seen yet is created.
func (r *Registry) Update(ctx context.Context, owner, id string, b *budget.Spec, l *ratelimit.Limits) (before, after User, err error) {
	if id == "" || len(id) > MaxIDLength {
		return User{}, User{}, fmt.Errorf("users: id must be 1 to %d bytes", MaxIDLength)
	}
	if b != nil {
		if err := b.Validate(); err != nil {
			return User{}, User{}, err
		}
	}
	cur := r.Ensure(owner, id)
	if err := r.Flush(ctx); err != nil {
		return User{}, User{}, err
	}
	next := *cur
	next.Budget, next.Limits = b, l
	if err := r.store.UpdateUser(ctx, next); err != nil {
		return User{}, User{}, fmt.Errorf("users: update: %w", err)
	}
	if v, ok := r.users.Load(mapKey(owner, id)); ok {
		v.(*atomic.Pointer[User]).Store(&next)
	}
	return *cur, next, nil
}

// Flush writes the users created since the last flush. On failure they
// are kept for the next one.
func (r *Registry) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := r.store.CreateUsers(ctx, batch); err != nil {
		r.mu.Lock()
		r.pending = append(batch, r.pending...)
		r.mu.Unlock()
		return fmt.Errorf("users: saving %d new users: %w", len(batch), err)
	}
	return nil
}

// Run flushes new users every interval until ctx is done, then once more.
func (r *Registry) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := r.Flush(fctx); err != nil {
				r.log.Error("new end users not saved at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			err := r.Flush(ctx)
			if err != nil && !failing {
				r.log.Warn("saving new end users failed; will retry", "err", err)
			}
			failing = err != nil
		}
	}
}

// Discard is a Store that keeps nothing: users live in memory only.
var Discard Store = discard{}

type discard struct{}

func (discard) CreateUsers(context.Context, []User) error { return nil }
func (discard) ListUsers(context.Context) ([]User, error) { return nil, nil }
func (discard) UpdateUser(context.Context, User) error    { return nil }
