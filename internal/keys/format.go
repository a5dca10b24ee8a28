// Package keys issues, stores and checks airgw virtual keys.
//
// A virtual key is the credential an application sends to airgw instead of a
// provider key. It looks like
//
//	sk-airgw-<32 base62 random characters><6 base62 checksum characters>
//
// The random part carries about 190 bits of entropy. The checksum is the
// CRC-32 of the random part, so a leaked key can be recognised offline (by a
// secret scanner, say) and a mistyped key is refused before any lookup. Only
// an HMAC-SHA-256 of the key is ever stored (see Hasher); the plaintext is
// shown once, when the key is created.
//
// Manager creates, lists and revokes keys for the CLI and the admin API;
// Authenticator checks keys on the request path from an in-memory cache in
// front of a Store.
package keys

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
)

// Prefix starts every airgw key.
const Prefix = "sk-airgw-"

const (
	randomLen   = 32
	checksumLen = 6
	// KeyLen is the length in bytes of a well-formed key.
	KeyLen = len(Prefix) + randomLen + checksumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Format errors returned by CheckFormat. None of them contains the key.
var (
	ErrPrefix     = errors.New("keys: not an airgw key (want prefix " + Prefix + ")")
	ErrLength     = errors.New(fmt.Sprintf("keys: wrong key length (want %d characters)", KeyLen))
	ErrCharacters = errors.New("keys: key contains characters other than letters and digits")
	ErrChecksum   = errors.New("keys: key checksum does not match (typo?)")
)

// Generate returns a new random key. It fails only if the system's random
// source does.
func Generate() (string, error) {
	random, err := randomBase62(randomLen)
	if err != nil {
		return "", fmt.Errorf("keys: generate: %w", err)
	}
	return Prefix + random + checksum(random), nil
}

// randomBase62 returns n uniformly random base62 characters, using rejection
// sampling so that no character is more likely than another.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			// 248 = 4*62: bytes at or above it would bias the low characters.
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

// checksum encodes the CRC-32 (IEEE) of random as 6 base62 characters,
// most significant first. 62^6 > 2^32, so the encoding is exact. CRC-32
// detects every burst error of up to 32 bits, so any single changed character
// and any swap of two adjacent characters of the random part is caught; a
// changed checksum character is caught because the encoding is unique.
func checksum(random string) string {
	v := crc32.ChecksumIEEE([]byte(random))
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out[:])
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// CheckFormat reports whether s is a well-formed airgw key: the prefix, the
// length, the alphabet and the checksum, in that order. It needs no store and
// does not say whether the key exists. The error is one of ErrPrefix,
// ErrLength, ErrCharacters or ErrChecksum and never contains s.
func CheckFormat(s string) error {
	if len(s) < len(Prefix) || s[:len(Prefix)] != Prefix {
		return ErrPrefix
	}
	if len(s) != KeyLen {
		return ErrLength
	}
	body := s[len(Prefix):]
	for i := 0; i < len(body); i++ {
		if !isBase62(body[i]) {
			return ErrCharacters
		}
	}
	if checksum(body[:randomLen]) != body[randomLen:] {
		return ErrChecksum
	}
	return nil
}

// DisplayPrefix returns the part of key that may be shown in lists and logs:
// the prefix and the first 4 random characters, then an ellipsis. For a
// string that is not a well-formed key it returns Prefix + "…".
func DisplayPrefix(key string) string {
	if len(key) < len(Prefix)+4 || key[:len(Prefix)] != Prefix {
		return Prefix + "…"
	}
	return key[:len(Prefix)+4] + "…"
}
