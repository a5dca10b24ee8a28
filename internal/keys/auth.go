package keys

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// Defaults for AuthOptions.
const (
	DefaultTTL           = 2 * time.Second
	DefaultMaxEntries    = 100_000
	DefaultFlushInterval = 3 * time.Second
)

// Client-facing messages. They say what to do and never contain the key.
const (
	msgMissing   = "no API key: send `Authorization: Bearer sk-airgw-…` (or `x-api-key: sk-airgw-…`)"
	msgPrefix    = "the API key is not an airgw key: airgw keys start with sk-airgw- (check the base URL and key)"
	msgMalformed = "the API key is malformed: an airgw key is sk-airgw- followed by 38 letters and digits (check that it was copied whole)"
	msgChecksum  = "the API key has a typo: its checksum does not match"
	msgUnknown   = "the API key is not known to this gateway: check that it was copied from this deployment, or create one with `airgw keys create`"
	msgStore     = "airgw cannot check API keys right now because its key store is unavailable; retry shortly"
)

// AuthOptions configures an Authenticator.
type AuthOptions struct {
	// TTL is how long a lookup, found or not, is cached. It bounds how long a
	// revoked key keeps working on a replica. Default 2s.
	TTL time.Duration
	// MaxEntries bounds the cache; when full, arbitrary entries are evicted,
	// expired ones first. Default 100,000.
	MaxEntries int
	// FlushInterval is how often last-used times are written with
	// Store.TouchKeys. Default 3s.
	FlushInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives store failures; nil means slog.Default().
	Logger *slog.Logger
}

const shardCount = 16

// Authenticator checks presented keys on the request path. Lookups are
// served from an in-memory cache of positive and negative results refreshed
// from the Store every TTL, so a request costs one HMAC and a map lookup;
// concurrent misses for one key share a single store call. Last-used times
// are collected in memory and written in batches by a background goroutine
// that Close stops. An Authenticator is safe for concurrent use.
type Authenticator struct {
	store  Store
	hasher *Hasher
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger

	maxPerShard int
	shards      [shardCount]shard

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	flushMu  sync.Mutex // serialises flushes
	failing  bool       // guarded by flushMu; last flush failed
}

type shard struct {
	mu       sync.RWMutex
	entries  map[[32]byte]*entry
	inflight map[[32]byte]*call

	touchMu sync.Mutex
	touched map[string]time.Time // key ID → last use
}

// entry is a cached lookup; key is nil for "no such key".
type entry struct {
	key     *Key
	fetched time.Time
}

type call struct {
	done chan struct{}
	key  *Key
	err  error
}

// NewAuthenticator returns an Authenticator over store and starts its
// last-used flusher; call Close to stop it.
func NewAuthenticator(store Store, hasher *Hasher, o AuthOptions) *Authenticator {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &Authenticator{
		store:       store,
		hasher:      hasher,
		ttl:         o.TTL,
		now:         o.Now,
		log:         o.Logger,
		maxPerShard: max(1, o.MaxEntries/shardCount),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	for i := range a.shards {
		a.shards[i].entries = make(map[[32]byte]*entry)
		a.shards[i].inflight = make(map[[32]byte]*call)
		a.shards[i].touched = make(map[string]time.Time)
	}
	go a.flushLoop(o.FlushInterval)
	return a
}

// Authenticate returns the active key whose plaintext is presented. Every
// failure is an *llm.Error: authentication_failed with a message saying what
// is wrong and how to fix it, or service_unavailable if the store cannot be
// reached. No error contains the presented key. The returned Key is shared
// with the cache and must not be modified.
func (a *Authenticator) Authenticate(ctx context.Context, presented string) (*Key, error) {
	if presented == "" {
		return nil, authError(msgMissing)
	}
	switch err := CheckFormat(presented); err {
	case nil:
	case ErrPrefix:
		return nil, authError(msgPrefix)
	case ErrChecksum:
		return nil, authError(msgChecksum)
	default:
		return nil, authError(msgMalformed)
	}
	sum := a.hasher.Hash(presented)
	now := a.now()
	k, err := a.lookup(ctx, sum, now)
	if err != nil {
		return nil, err
	}
	if k == nil || !hmac.Equal(k.Hash, sum) {
		return nil, authError(msgUnknown)
	}
	if k.Revoked(now) {
		return nil, authError(fmt.Sprintf("the API key %s (%s) was revoked at %s; ask an admin for a new key",
			k.ID, k.Name, k.RevokedAt.UTC().Format(time.RFC3339)))
	}
	if k.Expired(now) {
		return nil, authError(fmt.Sprintf("the API key %s (%s) expired at %s; ask an admin for a new key",
			k.ID, k.Name, k.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	a.touch(sum, k.ID, now)
	return k, nil
}

func authError(msg string) *llm.Error {
	return &llm.Error{Code: llm.CodeAuthenticationFailed, Message: msg, NoClientRetry: true}
}

func (a *Authenticator) shardFor(sum []byte) *shard {
	return &a.shards[sum[0]%shardCount]
}

// lookup returns the cached or stored key for sum, nil if there is none.
func (a *Authenticator) lookup(ctx context.Context, sum []byte, now time.Time) (*Key, error) {
	s := a.shardFor(sum)
	id := [32]byte(sum)
	s.mu.RLock()
	e, ok := s.entries[id]
	s.mu.RUnlock()
	if ok && now.Sub(e.fetched) < a.ttl && !now.Before(e.fetched) {
		return e.key, nil
	}

	s.mu.Lock()
	if c, ok := s.inflight[id]; ok {
		s.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, storeError(ctx.Err())
		}
		if c.err == nil || ctx.Err() != nil || !isContextErr(c.err) {
			return c.key, c.err
		}
		// The leader's request was cancelled, not ours: look up ourselves.
		return a.fetch(ctx, sum, now, nil)
	}
	c := &call{done: make(chan struct{})}
	s.inflight[id] = c
	s.mu.Unlock()
	return a.fetch(ctx, sum, now, c)
}

// fetch reads sum from the store, caches the answer and, if c is set,
// publishes it to the callers waiting on c.
func (a *Authenticator) fetch(ctx context.Context, sum []byte, now time.Time, c *call) (*Key, error) {
	k, err := a.store.KeyByHash(ctx, sum)
	if errors.Is(err, ErrNotFound) {
		k, err = nil, nil
	}
	if err != nil {
		if !isContextErr(err) {
			a.log.Error("key lookup failed", "err", err)
		}
		err = storeError(err)
	}
	s := a.shardFor(sum)
	id := [32]byte(sum)
	s.mu.Lock()
	if err == nil {
		if _, ok := s.entries[id]; !ok && len(s.entries) >= a.maxPerShard {
			s.evict(now, a.ttl)
		}
		s.entries[id] = &entry{key: k, fetched: now}
	}
	if c != nil {
		c.key, c.err = k, err
		delete(s.inflight, id)
		close(c.done)
	}
	s.mu.Unlock()
	return k, err
}

// evict makes room for one entry: it drops expired entries and, if there are
// none, one arbitrary entry. s.mu must be held.
func (s *shard) evict(now time.Time, ttl time.Duration) {
	n := len(s.entries)
	for id, e := range s.entries {
		if now.Sub(e.fetched) >= ttl {
			delete(s.entries, id)
		}
	}
	if len(s.entries) < n {
		return
	}
	for id := range s.entries {
		delete(s.entries, id)
		return
	}
}

func storeError(err error) *llm.Error {
	return &llm.Error{Code: llm.CodeServiceUnavailable, Message: msgStore, RetryAfter: time.Second, Err: fmt.Errorf("keys: lookup: %w", err)}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// touch notes that key id was used at now.
func (a *Authenticator) touch(sum []byte, id string, now time.Time) {
	s := a.shardFor(sum)
	s.touchMu.Lock()
	if now.After(s.touched[id]) {
		s.touched[id] = now
	}
	s.touchMu.Unlock()
}

// Invalidate drops every cached lookup, so that the next request for each
// key reads the store. The admin API calls it after a local revocation so
// that this replica does not wait for the TTL.
func (a *Authenticator) Invalidate() {
	for i := range a.shards {
		s := &a.shards[i]
		s.mu.Lock()
		clear(s.entries)
		s.mu.Unlock()
	}
}

func (a *Authenticator) flushLoop(interval time.Duration) {
	defer close(a.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			a.Flush(ctx)
			cancel()
		}
	}
}

// Flush writes the last-used times collected since the previous flush. On
// failure they are kept for the next one; the failure is logged once until
// a flush succeeds again. It is called periodically and by Close.
func (a *Authenticator) Flush(ctx context.Context) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	batch := make(map[string]time.Time)
	for i := range a.shards {
		s := &a.shards[i]
		s.touchMu.Lock()
		for id, t := range s.touched {
			if t.After(batch[id]) {
				batch[id] = t
			}
		}
		if len(s.touched) > 0 {
			s.touched = make(map[string]time.Time)
		}
		s.touchMu.Unlock()
	}
	if len(batch) == 0 {
		return nil
	}
	err := a.store.TouchKeys(ctx, batch)
	if err == nil {
		if a.failing {
			a.log.Info("key last-used updates recovered", "keys", len(batch))
			a.failing = false
		}
		return nil
	}
	if !a.failing {
		a.log.Warn("key last-used update failed; will retry", "keys", len(batch), "err", err)
		a.failing = true
	}
	// Put the times back for the next flush. Key IDs may land in another
	// shard than before; any shard will do since flushes merge them all.
	s := &a.shards[0]
	s.touchMu.Lock()
	for id, t := range batch {
		if t.After(s.touched[id]) {
			s.touched[id] = t
		}
	}
	s.touchMu.Unlock()
	return fmt.Errorf("keys: touch: %w", err)
}

// Close stops the background flusher and writes the pending last-used
// times, giving up when ctx ends.
func (a *Authenticator) Close(ctx context.Context) error {
	a.stopOnce.Do(func() { close(a.stop) })
	<-a.done
	return a.Flush(ctx)
}
