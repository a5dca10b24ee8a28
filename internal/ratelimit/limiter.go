package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/airgw/airgw/internal/llm"
)

// Scope is one level a request is counted at.
type Scope struct {
	// Key prefixes the scope's counter keys; it must be stable across
	// config reloads: "global", "team:search", "key:<family>", "user:…".
	Key string
	// Owner names the scope in messages: "team `search`".
	Owner string
	// Path says where the limits are set, for messages: "teams.search.limits".
	Path   string
	Limits *Limits
}

// Limiter admits requests against the limits of their scopes. It is safe
// for concurrent use.
type Limiter struct {
	store Store
}

// New returns a Limiter over store.
func New(store Store) *Limiter { return &Limiter{store: store} }

// Ticket is one admitted (or refused) request's hold on its counters.
// Done must be called once when the request ends; a Ticket is used by one
// goroutine.
type Ticket struct {
	l       *Limiter
	at      time.Time
	ds      []Demand
	from    []origin // per demand: where its limit is set
	scopes  []Scope
	model   string
	res     Result
	tokens  int64
	granted bool
	done    bool
}

// Admit counts one request of model with an estimated tokens against every
// scope. A refusal is an *llm.Error of class rate_limited naming the limit,
// with the wait in RetryAfter; the Ticket is returned either way, for the
// response headers. A nil Ticket means no limit applies.
func (l *Limiter) Admit(ctx context.Context, now time.Time, scopes []Scope, model string, tokens int64) (*Ticket, error) {
	t := &Ticket{l: l, at: now, tokens: tokens, scopes: scopes, model: model}
	// Two or three limits per level are usual: one allocation each.
	t.ds, t.from = make([]Demand, 0, 2*len(scopes)), make([]origin, 0, 2*len(scopes))
	for i := range scopes {
		sc := &scopes[i]
		if sc.Limits.IsZero() {
			continue
		}
		lim := sc.Limits
		t.add(sc.Key, origin{scope: i}, lim.RPM, lim.RPD, lim.TPM, lim.Concurrent, tokens)
		if ml := lim.model(model); ml != nil {
			t.add(sc.Key+"|model:"+ml.Model, origin{scope: i, model: ml}, ml.RPM, ml.RPD, ml.TPM, ml.Concurrent, tokens)
		}
	}
	if len(t.ds) == 0 {
		return nil, nil
	}
	res, err := l.store.Take(ctx, now, t.ds)
	if err != nil {
		return nil, &llm.Error{Code: llm.CodeServiceUnavailable, RetryAfter: time.Second, Err: fmt.Errorf("ratelimit: %w", err),
			Message: "airgw cannot check rate limits right now because its limit store is unavailable; retry shortly"}
	}
	t.res = res
	if res.Denied >= 0 {
		t.done = true // nothing was counted
		return t, t.refusal()
	}
	t.granted = true
	return t, nil
}

// origin says where a demand's limit is set: a scope, and the model
// limits within it if any.
type origin struct {
	scope int
	model *ModelLimits
}

// name returns the limit's name and owner, for messages:
// teams.search.limits.models.gpt-4o.rpm, team `search` for model `gpt-4o`.
func (t *Ticket) name(i int) (name, owner string) {
	o, sc := t.from[i], &t.scopes[t.from[i].scope]
	name, owner = sc.Path, sc.Owner
	if o.model != nil {
		name += ".models." + o.model.Model
		owner += " for model `" + t.model + "`"
	}
	return name + "." + t.ds[i].Kind.String(), owner
}

func (t *Ticket) add(key string, from origin, rpm, rpd, tpm, concurrent int, tokens int64) {
	for _, d := range [...]Demand{
		{Kind: KindRPM, Limit: int64(rpm), Amount: 1},
		{Kind: KindRPD, Limit: int64(rpd), Amount: 1},
		{Kind: KindTPM, Limit: int64(tpm), Amount: tokens},
		{Kind: KindConcurrent, Limit: int64(concurrent), Amount: 1},
	} {
		if d.Limit <= 0 {
			continue
		}
		d.Key = key + "|" + d.Kind.String()
		t.ds = append(t.ds, d)
		t.from = append(t.from, from)
	}
}

// model returns the limits for model within l, exact names before globs.
func (l *Limits) model(model string) *ModelLimits {
	for i := range l.Models {
		if l.Models[i].Model == model {
			return &l.Models[i]
		}
	}
	for i := range l.Models {
		if ok, _ := path.Match(l.Models[i].Model, model); ok {
			return &l.Models[i]
		}
	}
	return nil
}

func (t *Ticket) refusal() *llm.Error {
	i := t.res.Denied
	d := &t.ds[i]
	name, owner := t.name(i)
	wait := t.res.RetryAfter
	var msg string
	switch d.Kind {
	case KindConcurrent:
		msg = fmt.Sprintf("%s already has %d requests in flight, its limit `%s`; retry when one finishes", owner, d.Limit, name)
	case KindTPM:
		if d.Amount > d.Limit {
			msg = fmt.Sprintf("this request needs about %d tokens (prompt estimate plus max_tokens), more than the %d tokens per minute that %s allows (`%s`); lower max_tokens or shorten the prompt", d.Amount, d.Limit, owner, name)
			wait = 0 // waiting cannot help
		} else {
			msg = fmt.Sprintf("this request needs about %d tokens (prompt estimate plus max_tokens) and %s has %d of its %d tokens per minute left (`%s`); retry after %s, or lower max_tokens", d.Amount, owner, t.res.Remaining[i], d.Limit, name, seconds(wait))
		}
	default:
		per := "minute"
		if d.Kind == KindRPD {
			per = "24 hours"
		}
		msg = fmt.Sprintf("%s has made its %d requests per %s (`%s`); retry after %s", owner, d.Limit, per, name, seconds(wait))
	}
	return &llm.Error{Code: llm.CodeRateLimited, Message: msg, RetryAfter: wait, NoClientRetry: wait == 0, Policy: name}
}

func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "s"
}

// Done ends the request: it corrects the token counters from the estimate
// to usedTokens and gives back the concurrency slots. Calling it again, or
// on a refused or nil Ticket, does nothing.
func (t *Ticket) Done(ctx context.Context, usedTokens int64) {
	if t == nil || t.done {
		return
	}
	t.done = true
	var adjust []Demand
	for _, d := range t.ds {
		if d.Kind == KindTPM && usedTokens != t.tokens {
			d.Amount = usedTokens - t.tokens
			adjust = append(adjust, d)
		}
	}
	if len(adjust) > 0 {
		_ = t.l.store.Adjust(ctx, t.at, adjust)
	}
	_ = t.l.store.Release(ctx, t.ds)
}

// SetHeaders writes OpenAI's x-ratelimit-* headers for the tightest
// request limit (per minute or per day) and token limit that applied.
func (t *Ticket) SetHeaders(h http.Header) {
	if t == nil {
		return
	}
	req, tok := -1, -1
	for i, d := range t.ds {
		switch d.Kind {
		case KindRPM, KindRPD:
			if req < 0 || t.res.Remaining[i] < t.res.Remaining[req] {
				req = i
			}
		case KindTPM:
			if tok < 0 || t.res.Remaining[i] < t.res.Remaining[tok] {
				tok = i
			}
		}
	}
	// Every response carries them: the values are cut from one string and
	// the header slices from one array (the names are canonical).
	var buf [128]byte
	b := buf[:0]
	var ends [6]int
	var names [6]string
	n := 0
	add := func(name string, v []byte) {
		names[n], ends[n] = name, len(v)
		n++
	}
	if req >= 0 {
		b = strconv.AppendInt(b, t.ds[req].Limit, 10)
		add("X-Ratelimit-Limit-Requests", b)
		b = strconv.AppendInt(b, t.res.Remaining[req], 10)
		add("X-Ratelimit-Remaining-Requests", b)
		b = appendReset(b, t.res.Reset[req])
		add("X-Ratelimit-Reset-Requests", b)
	}
	if tok >= 0 {
		b = strconv.AppendInt(b, t.ds[tok].Limit, 10)
		add("X-Ratelimit-Limit-Tokens", b)
		b = strconv.AppendInt(b, t.res.Remaining[tok], 10)
		add("X-Ratelimit-Remaining-Tokens", b)
		b = appendReset(b, t.res.Reset[tok])
		add("X-Ratelimit-Reset-Tokens", b)
	}
	if n == 0 {
		return
	}
	all, vals := string(b), make([]string, n)
	start := 0
	for i := range n {
		vals[i] = all[start:ends[i]]
		start = ends[i]
		h[names[i]] = vals[i : i+1 : i+1]
	}
}

// FormatReset formats a reset time as OpenAI does: "20ms", "1s", "6m0s".
func FormatReset(d time.Duration) string { return string(appendReset(nil, d)) }

// appendReset appends a reset time as OpenAI writes it: "20ms", "1s",
// "6m0s".
func appendReset(b []byte, d time.Duration) []byte {
	if d < time.Second {
		d = d.Round(time.Millisecond)
	} else {
		d = (d + time.Second - 1) / time.Second * time.Second
	}
	return append(b, d.String()...)
}
