// Package redact keeps secrets out of the process log: a slog.Handler
// that replaces every configured secret, and anything shaped like a
// virtual key, in messages and attribute values before they are written.
//
// It is the last line of defence (T32): code that handles secrets is
// written never to log them, and this handler catches what a bug, a
// provider's error text or a client's body would otherwise let through.
package redact

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
)

// Mask replaces each secret in the log.
const Mask = "[redacted]"

// virtualKey matches airgw virtual keys (sk-airgw-<random><checksum>).
var virtualKey = regexp.MustCompile(`sk-airgw-[A-Za-z0-9_-]{8,}`)

// minSecret is the shortest configured value treated as a secret: shorter
// ones (a test's "x") would mask ordinary words.
const minSecret = 8

// Handler wraps a slog.Handler, redacting secrets. It is safe for
// concurrent use.
type Handler struct {
	next slog.Handler
	// secrets is shared with the handlers derived by WithAttrs and
	// WithGroup, so that AddSecrets reaches them all.
	secrets *atomic.Pointer[[]string]
}

// New returns a Handler that writes to next with secrets (and virtual
// keys) masked. Values shorter than 8 bytes are ignored.
func New(next slog.Handler, secrets []string) *Handler {
	h := &Handler{next: next, secrets: new(atomic.Pointer[[]string])}
	h.secrets.Store(prepare(nil, secrets))
	return h
}

// AddSecrets masks secrets too, from the next line on, in h and every
// handler derived from it: a config reload adds the new values (a rotated
// admin or provider key) and keeps masking the old ones, which requests
// in flight may still log.
func (h *Handler) AddSecrets(secrets []string) {
	for {
		old := h.secrets.Load()
		if h.secrets.CompareAndSwap(old, prepare(*old, secrets)) {
			return
		}
	}
}

// prepare returns have and add without duplicates or short values,
// longest first, so that a secret containing another is masked whole.
func prepare(have, add []string) *[]string {
	s := slices.Clone(have)
	for _, v := range add {
		if len(v) >= minSecret && !slices.Contains(s, v) {
			s = append(s, v)
		}
	}
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	return &s
}

// Clean returns s with every secret and virtual key masked.
func (h *Handler) Clean(s string) string {
	for _, sec := range *h.secrets.Load() {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	if strings.Contains(s, "sk-airgw-") {
		s = virtualKey.ReplaceAllString(s, Mask)
	}
	return s
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.dirty(&r) {
		// Nearly every line (the access log's) holds nothing to mask:
		// pass it on as is rather than copying it attribute by attribute.
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, h.Clean(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return &Handler{next: h.next.WithAttrs(clean), secrets: h.secrets}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), secrets: h.secrets}
}

// dirty reports whether r may hold something to mask: a secret or a
// virtual key in its message or a string attribute, or a value whose text
// is only known once formatted (any, group, LogValuer).
func (h *Handler) dirty(r *slog.Record) bool {
	dirty := h.holds(r.Message)
	if !dirty {
		r.Attrs(func(a slog.Attr) bool {
			switch a.Value.Kind() {
			case slog.KindString:
				dirty = h.holds(a.Value.String())
			case slog.KindAny, slog.KindGroup, slog.KindLogValuer:
				dirty = true
			}
			return !dirty
		})
	}
	return dirty
}

// holds reports whether Clean would change s.
func (h *Handler) holds(s string) bool {
	for _, sec := range *h.secrets.Load() {
		if strings.Contains(s, sec) {
			return true
		}
	}
	return strings.Contains(s, "sk-airgw-") && virtualKey.MatchString(s)
}

func (h *Handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.Clean(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]any, len(g))
		for i, ga := range g {
			clean[i] = h.attr(ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		// Errors and other values are written with their text: clean it.
		return slog.String(a.Key, h.Clean(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

var _ slog.Handler = (*Handler)(nil)
