package app

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/llm"
)

// clients holds the provider clients of one runtime, by provider name. A
// reload builds the next runtime's clients from the previous ones: a
// provider whose settings did not change keeps its client, and with it the
// HTTP connection pool, so a reload costs no new TLS handshakes. A client
// that is no longer used is left to its transport's idle timeout (90 s):
// requests still in flight on the old runtime finish on it first.
type clients struct {
	byName map[string]*client
}

type client struct {
	// fingerprint is a hash of every setting the client was built from,
	// secrets included. It is compared, never shown.
	fingerprint string
	llm.Provider
	// reused is true when the previous runtime had the same client.
	reused bool
}

// provider returns the client for p in the next runtime: prev's when its
// settings are unchanged (prev may be nil), else a new one.
func (next *clients) provider(prev *clients, p *config.Provider, connectTimeout time.Duration, traced bool) (llm.Provider, error) {
	fp := fingerprint(p, connectTimeout)
	if prev != nil {
		if c, ok := prev.byName[p.Name]; ok && c.fingerprint == fp {
			next.byName[p.Name] = &client{fingerprint: fp, Provider: c.Provider, reused: true}
			return c.Provider, nil
		}
	}
	pc, err := newProvider(p, connectTimeout, traced)
	if err != nil {
		return nil, err
	}
	next.byName[p.Name] = &client{fingerprint: fp, Provider: pc}
	return pc, nil
}

// reused reports whether the client of provider name was carried over
// from the previous runtime, so the state kept about its targets (circuit
// breakers, latency) still describes it.
func (next *clients) reused(name string) bool {
	c, ok := next.byName[name]
	return ok && c.reused
}

// fingerprint hashes what a provider client is built from: the provider's
// settings, its secrets' values and the connect timeout it inherits. The
// stream timeouts are left out: they are applied per target by the
// gateway, not by the client.
func fingerprint(p *config.Provider, connectTimeout time.Duration) string {
	s := *p
	s.FirstTokenTimeout, s.IdleTimeout = 0, 0
	if s.ConnectTimeout == 0 {
		s.ConnectTimeout = config.Duration(connectTimeout)
	}
	h := sha256.New()
	// Secrets marshal as [redacted]; their values are hashed below.
	if err := json.NewEncoder(h).Encode(&s); err != nil {
		panic(fmt.Sprintf("app: encoding provider %s: %v", p.Name, err))
	}
	field(h, p.APIKey.Value())
	names := make([]string, 0, len(p.Headers))
	for k := range p.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		field(h, k)
		field(h, p.Headers[k].Value())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// field writes s length-prefixed, so that no two sequences of fields hash
// alike.
func field(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}
