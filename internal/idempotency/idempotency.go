// Package idempotency implements the Idempotency-Key header (DESIGN.md §3):
// a request repeated with the same key and the same body within the
// retention period (24 h by default) gets the stored result, byte for byte,
// with no second provider call and no second charge; the same key with a
// different body is refused with 422 idempotency_mismatch; a duplicate that
// arrives while the first request is still running is refused with 409
// idempotency_conflict.
//
// Keys are scoped: the gateway uses the virtual key's id as the scope, so
// two applications may use the same idempotency key without seeing each
// other's results. The fingerprint of a request is the SHA-256 of its
// endpoint and raw body: a key reused on another endpoint is a mismatch.
//
// What is stored. A final answer is kept: a complete 2xx response (for a
// stream, every SSE byte up to and including `data: [DONE]`) or a 4xx that
// the provider gave and that the same request will always get (400 context
// length, content filter, …). Anything a retry could fix releases the key
// so that the client's retry proceeds as a new request: 5xx, 408, 409, 429,
// a broken stream, a client that went away, and every refusal airgw made
// before calling a provider (its policies and limits are re-evaluated on
// the retry). A response larger than MaxBody is not stored either: the key
// is released and the event logged.
//
// Abandoned claims. A claim is the row a request holds while it runs. If
// the process dies mid-request the row stays "in flight"; once it is older
// than the stale bound (Options.Stale: the longest request timeout plus a
// margin, 10 minutes at least) a new request with the same key and body
// takes it over and proceeds.
//
// Cost. The store is consulted only for requests that carry the header:
// one Begin before the provider is called, one Complete or Release after
// the response was written. Requests without the header never touch it.
//
// The package declares the Store it consumes; internal/store/sqlite
// implements it, and Memory is an in-process implementation for tests.
package idempotency

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// Defaults for Options.
const (
	// DefaultTTL is how long a result is kept and a key stays taken.
	DefaultTTL = 24 * time.Hour
	// DefaultStale is the least age at which an in-flight claim counts as
	// abandoned.
	DefaultStale = 10 * time.Minute
	// MaxBody is the largest response body stored, 8 MiB. A larger
	// response is delivered normally but not stored, and its key released.
	MaxBody = 8 << 20
)

// Outcome is what Begin decided for a request.
type Outcome int

// Outcomes of Begin.
const (
	// Proceed: the caller now holds the key and must Complete or Release it.
	Proceed Outcome = iota
	// Replay: a result is stored for this key and body; send it.
	Replay
	// InFlight: a request with this key and body is still running.
	InFlight
	// Mismatch: the key was used with a different body.
	Mismatch
)

// String returns the outcome's name, for logs and tests.
func (o Outcome) String() string {
	switch o {
	case Proceed:
		return "proceed"
	case Replay:
		return "replay"
	case InFlight:
		return "in_flight"
	case Mismatch:
		return "mismatch"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Stored is a response kept under a key.
type Stored struct {
	// Status is the HTTP status that was sent.
	Status int
	// Header holds the headers that describe the answer (see
	// storedHeaders): its content type and length, Retry-After and
	// X-Should-Retry, the X-Airgw-* headers and the original X-Request-Id.
	Header http.Header
	// Body is every byte of the body that was sent, SSE framing included.
	Body []byte
	// Stream reports a Server-Sent Events response.
	Stream bool
}

// Store keeps idempotency keys and their results. Implementations must be
// safe for concurrent use, across processes where they are shared; the
// conformance suite in internal/store/storetest checks them.
type Store interface {
	// Begin claims (scope, key) for a request whose fingerprint is
	// bodyHash, atomically: of any number of concurrent Begins for one
	// (scope, key), at most one gets Proceed. A row that expired (its
	// expiry, now+ttl when it was claimed, is not after now) is replaced
	// as if absent. An existing row with another bodyHash gives Mismatch;
	// a completed row gives Replay with its result; an in-flight row gives
	// InFlight, unless it was claimed at least stale ago, in which case it
	// is taken over (Proceed) with a fresh claim time and expiry.
	Begin(ctx context.Context, scope, key string, bodyHash []byte, now time.Time, ttl, stale time.Duration) (Outcome, *Stored, error)
	// Complete stores the result under a claimed key; it keeps the key's
	// expiry. It returns ErrNotClaimed when no row exists.
	Complete(ctx context.Context, scope, key string, s Stored) error
	// Release drops an in-flight claim so that the next request with the
	// key proceeds. It never drops a stored result, and releasing a key
	// that is not held is not an error.
	Release(ctx context.Context, scope, key string) error
}

// Purger is implemented by stores that can delete expired rows in bulk;
// Guard.PurgeEvery uses it. Expired rows are otherwise replaced lazily by
// Begin.
type Purger interface {
	Purge(ctx context.Context, now time.Time) (int64, error)
}

// ErrNotClaimed is returned by Store.Complete for a key with no row.
var ErrNotClaimed = errors.New("idempotency: key not claimed")

// Options configures a Guard.
type Options struct {
	// TTL is how long results are kept; zero means DefaultTTL.
	TTL time.Duration
	// Stale is the age at which an in-flight claim is taken over; zero
	// means DefaultStale. Set it above the longest request timeout.
	Stale time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives store failures and unstored results; nil discards.
	Logger *slog.Logger
}

// Guard applies the Idempotency-Key rules to calls on top of a Store. It
// is safe for concurrent use.
type Guard struct {
	store Store
	o     Options
	stale atomic.Int64 // Options.Stale, or SetStale's
}

// New returns a Guard over s.
func New(s Store, o Options) *Guard {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Stale <= 0 {
		o.Stale = DefaultStale
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Guard{store: s, o: o}
	g.stale.Store(int64(o.Stale))
	return g
}

// SetStale changes the stale bound (Options.Stale) for the calls that
// begin after it; zero or less means DefaultStale. A config reload calls
// it when the request timeouts the bound derives from change.
func (g *Guard) SetStale(d time.Duration) {
	if d <= 0 {
		d = DefaultStale
	}
	g.stale.Store(int64(d))
}

// Stale returns the stale bound in force.
func (g *Guard) Stale() time.Duration { return time.Duration(g.stale.Load()) }

// Fingerprint is the hash a request is compared by: SHA-256 of the
// endpoint, a NUL byte and the raw body.
func Fingerprint(endpoint string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(endpoint))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// Begin checks a call's key in scope. It returns a Claim, with rec armed
// to record the response, when the call should proceed; or the stored result to replay, or an
// *llm.Error: idempotency_conflict (409) for a duplicate in flight,
// idempotency_mismatch (422) for a key reused with another body, or
// service_unavailable (503) when the store cannot be reached (the call
// does not proceed unguarded: its client asked not to run it twice).
func (g *Guard) Begin(ctx context.Context, scope, key, endpoint string, body []byte, rec *Recorder) (*Claim, *Stored, error) {
	out, st, err := g.store.Begin(ctx, scope, key, Fingerprint(endpoint, body), g.o.Now(), g.o.TTL, g.Stale())
	if err != nil {
		return nil, nil, &llm.Error{Code: llm.CodeServiceUnavailable, RetryAfter: time.Second,
			Message: "airgw could not check the Idempotency-Key in its store; retry shortly with the same key",
			Err:     fmt.Errorf("idempotency: begin: %w", err)}
	}
	switch out {
	case Proceed:
		if rec != nil {
			rec.arm()
		}
		return &Claim{g: g, scope: scope, key: key, rec: rec}, nil, nil
	case Replay:
		if st == nil {
			return nil, nil, llm.AsError(errors.New("idempotency: store answered Replay without a result"))
		}
		return nil, st, nil
	case InFlight:
		return nil, nil, &llm.Error{Code: llm.CodeIdempotencyConflict, RetryAfter: time.Second,
			Message: "a request with Idempotency-Key " + quote(key) + " is still in progress; wait for it to finish, then retry with the same key to receive its result"}
	case Mismatch:
		return nil, nil, &llm.Error{Code: llm.CodeIdempotencyMismatch, NoClientRetry: true,
			Message: "Idempotency-Key " + quote(key) + " was already used with a different request (another body or endpoint) within the last " + hours(g.o.TTL) + "; send a new Idempotency-Key for a new request"}
	}
	return nil, nil, llm.AsError(fmt.Errorf("idempotency: store answered unknown outcome %v", out))
}

// Claim is a key held by a call in progress. Settle it exactly once, after
// the response was written.
type Claim struct {
	g          *Guard
	scope, key string
	rec        *Recorder
}

// Settle stores the recorded response when the call ended with a final
// answer and releases the key otherwise. err is the call's failure (nil on
// success) and upstream reports whether a provider was called. Store
// failures are logged: the client already has its answer.
func (c *Claim) Settle(ctx context.Context, err *llm.Error, upstream bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	log := c.g.o.Logger
	if Final(err, upstream) {
		var st Stored
		ok := c.rec != nil
		if ok {
			st, ok = c.rec.Result()
		}
		if !ok {
			log.Warn("idempotency: response not stored (larger than the limit or incomplete); the key is released", "limit_bytes", MaxBody)
		} else if cerr := c.g.store.Complete(ctx, c.scope, c.key, st); cerr != nil {
			log.Error("idempotency: storing a result failed; releasing the key", "err", cerr)
		} else {
			return
		}
	}
	if rerr := c.g.store.Release(ctx, c.scope, c.key); rerr != nil {
		log.Error("idempotency: releasing a key failed; it is taken over once stale", "err", rerr, "stale", c.g.Stale().String())
	}
}

// Final reports whether a call's outcome is a final answer worth storing:
// a success, or a 4xx from the provider that the same request will always
// get. 408, 409, 429 and a client that went away can change on a retry,
// and so can airgw's own refusals before any provider call.
func Final(err *llm.Error, upstream bool) bool {
	if err == nil {
		return upstream
	}
	if !upstream {
		return false
	}
	switch st := err.Status(); st {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests, llm.StatusClientClosedRequest:
		return false
	default:
		return st >= 400 && st < 500
	}
}

// PurgeEvery deletes expired rows every interval until ctx is done, when
// the store is a Purger; otherwise it returns at once.
func (g *Guard) PurgeEvery(ctx context.Context, interval time.Duration) {
	p, ok := g.store.(Purger)
	if !ok {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := p.Purge(ctx, g.o.Now()); err != nil && ctx.Err() == nil {
			g.o.Logger.Warn("idempotency: purging expired keys failed", "err", err)
		} else if n > 0 {
			g.o.Logger.Debug("idempotency: purged expired keys", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func quote(key string) string {
	if len(key) > 64 {
		key = key[:64] + "…"
	}
	return "`" + key + "`"
}

func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return d.String()
}
