package reload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"
)

// Watcher notices when the config file (or a file: secret it reads)
// changes, however it changed: written in place, replaced by a rename as
// editors save, or swapped behind a symlink as Kubernetes updates a
// ConfigMap or a Secret volume.
//
// It polls: every Interval it reads each path afresh, following symlinks,
// and compares a SHA-256 of the content with the last one seen. Reading by
// path rather than watching an inode is what makes renames and symlink
// swaps visible, and it works on every file system, network mounts
// included, with no dependency; Caddy's --watch and Prometheus's config
// auto-reload poll the same way. A config file is a few KiB, so a read a
// second costs nothing measurable. Comparing content, not modification
// times, means a save that changes nothing triggers nothing.
//
// A change is acted on once the content has stopped changing for Debounce,
// so an editor that writes in several steps, or a ConfigMap update that
// swaps several files, triggers one reload.
type Watcher struct {
	// Paths returns the files to watch; it is called before every poll,
	// so the set can follow the config (a new file: secret).
	Paths func() []string
	// Interval is the time between polls. Default 1s.
	Interval time.Duration
	// Debounce is how long the content must stay unchanged before
	// OnChange is called. Default 500ms.
	Debounce time.Duration
	// Known gives the hashes (Hash) of content already in force, by path,
	// such as the config file's hash as loaded at startup, so that a
	// change made between loading and the first poll is not missed. A
	// path missing from Known is taken as it is at the first poll.
	Known map[string]string
	// OnChange is called, from Run's goroutine, with the paths whose
	// content changed. Run waits for it before polling again.
	OnChange func(ctx context.Context, changed []string)
}

// Hash returns the hash Watcher compares for a file with this content.
func Hash(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// Run polls until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	interval, debounce := w.Interval, w.Debounce
	if interval <= 0 {
		interval = time.Second
	}
	if debounce <= 0 {
		debounce = 500 * time.Millisecond
	}
	seen := maps.Clone(w.Known)
	if seen == nil {
		seen = map[string]string{}
	}
	for _, p := range w.Paths() {
		if _, ok := seen[p]; !ok {
			seen[p] = fileHash(p)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := w.hashes()
		if !differs(seen, now) {
			for p, h := range now {
				if _, ok := seen[p]; !ok {
					seen[p] = h // a path new to the set, such as a new file: secret
				}
			}
			continue
		}
		// Wait for the content to settle.
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(debounce):
			}
			again := w.hashes()
			if maps.Equal(again, now) {
				break
			}
			now = again
		}
		var changed []string
		for p, h := range now {
			if old, ok := seen[p]; ok && old != h {
				changed = append(changed, p)
			}
		}
		slices.Sort(changed)
		seen = now
		if len(changed) > 0 {
			w.OnChange(ctx, changed)
		}
		t.Reset(interval)
	}
}

func (w *Watcher) hashes() map[string]string {
	paths := w.Paths()
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		out[p] = fileHash(p)
	}
	return out
}

// differs reports whether a path seen before now has other content.
// A path new to the set is recorded without counting as a change.
func differs(seen, now map[string]string) bool {
	for p, h := range now {
		if old, ok := seen[p]; ok && old != h {
			return true
		}
	}
	return false
}

// Content hashes stand for states that are not content: a missing file and
// one that cannot be read (a reload then reports why).
const (
	hashMissing    = "missing"
	hashUnreadable = "unreadable"
)

// maxWatched bounds a read; a config file or a secret is far smaller.
const maxWatched = 64 << 20

func fileHash(path string) string {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return hashMissing
	}
	if err != nil {
		return hashUnreadable
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxWatched)); err != nil {
		return hashUnreadable
	}
	return hex.EncodeToString(h.Sum(nil))
}
