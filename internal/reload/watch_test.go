package reload

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// calls records the OnChange calls of a Watcher.
type calls struct {
	mu  sync.Mutex
	got [][]string
}

func (c *calls) onChange(_ context.Context, changed []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, changed)
}

func (c *calls) list() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace writes content to a temporary file beside path and renames it
// over path, as editors and atomic deploy tools save.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// swapConfigMap lays out a directory as the kubelet does for a ConfigMap
// volume (airgw.yaml → ..data/airgw.yaml, ..data → ..<version>) and
// updates it the same way: a new version directory, then an atomic rename
// of a new ..data symlink over the old one.
func swapConfigMap(t *testing.T, dir, version, content string) {
	t.Helper()
	vdir := filepath.Join(dir, ".."+version)
	if err := os.Mkdir(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(vdir, "airgw.yaml"), content)
	tmpLink := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(".."+version, tmpLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "airgw.yaml")); err != nil {
		if err := os.Symlink(filepath.Join("..data", "airgw.yaml"), filepath.Join(dir, "airgw.yaml")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWatcher(t *testing.T) {
	tests := []struct {
		name string
		// setup creates the watched file in dir and returns its path.
		setup func(t *testing.T, dir string) string
		// change alters the file while the watcher runs.
		change func(t *testing.T, path string)
		want   int // OnChange calls
	}{
		{
			name: "replaced-by-rename",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "airgw.yaml")
				write(t, p, "a: 1\n")
				return p
			},
			change: func(t *testing.T, p string) { replace(t, p, "a: 2\n") },
			want:   1,
		},
		{
			name: "written-in-place",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "airgw.yaml")
				write(t, p, "a: 1\n")
				return p
			},
			change: func(t *testing.T, p string) { write(t, p, "a: 2\n") },
			want:   1,
		},
		{
			name: "written-in-several-steps-within-the-debounce",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "airgw.yaml")
				write(t, p, "a: 1\n")
				return p
			},
			change: func(t *testing.T, p string) {
				// Each step comes within the debounce of the last; the
				// poll at 2s sees the middle one.
				write(t, p, "") // truncate, as some editors do first
				time.Sleep(400 * time.Millisecond)
				write(t, p, "a: 2\n")
				time.Sleep(300 * time.Millisecond)
				write(t, p, "a: 2\nb: 3\n")
			},
			want: 1,
		},
		{
			name: "saved-unchanged",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "airgw.yaml")
				write(t, p, "a: 1\n")
				return p
			},
			change: func(t *testing.T, p string) { replace(t, p, "a: 1\n") },
			want:   0,
		},
		{
			name: "removed-and-recreated-with-the-same-content",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "airgw.yaml")
				write(t, p, "a: 1\n")
				return p
			},
			change: func(t *testing.T, p string) {
				os.Remove(p)
				time.Sleep(100 * time.Millisecond)
				write(t, p, "a: 1\n")
			},
			want: 0,
		},
		{
			name: "configmap-symlink-swap",
			setup: func(t *testing.T, dir string) string {
				swapConfigMap(t, dir, "v1", "a: 1\n")
				return filepath.Join(dir, "airgw.yaml")
			},
			change: func(t *testing.T, p string) { swapConfigMap(t, filepath.Dir(p), "v2", "a: 2\n") },
			want:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			synctest.Test(t, func(t *testing.T) {
				var c calls
				w := &Watcher{Paths: func() []string { return []string{path} }, OnChange: c.onChange}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { defer close(done); w.Run(ctx) }()
				time.Sleep(1500 * time.Millisecond) // a few polls of the unchanged file
				if got := len(c.list()); got != 0 {
					t.Fatalf("OnChange calls before any change = %d, want 0", got)
				}
				tt.change(t, path)
				time.Sleep(10 * time.Second) // ten more polls
				got := c.list()
				if len(got) != tt.want {
					t.Errorf("OnChange calls = %d (%v), want %d", len(got), got, tt.want)
				}
				for _, changed := range got {
					if !slices.Equal(changed, []string{path}) {
						t.Errorf("OnChange(%v), want [%s]", changed, path)
					}
				}
				cancel()
				<-done
			})
		})
	}
}

// TestWatcherKnown: a change made after the config was loaded but before
// the watcher's first poll is still noticed, because the watcher starts
// from the hash of what was loaded.
func TestWatcherKnown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airgw.yaml")
	write(t, path, "a: 1\n")
	loaded := Hash([]byte("a: 1\n"))
	write(t, path, "a: 2\n") // between loading and watching
	synctest.Test(t, func(t *testing.T) {
		var c calls
		w := &Watcher{Paths: func() []string { return []string{path} }, Known: map[string]string{path: loaded}, OnChange: c.onChange}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		time.Sleep(5 * time.Second)
		if got := len(c.list()); got != 1 {
			t.Errorf("OnChange calls = %d, want 1", got)
		}
		cancel()
		<-done
	})
}

// TestWatcherNewPath: a file added to the watched set (a new file: secret
// after a reload) is watched from then on, without counting as a change.
func TestWatcherNewPath(t *testing.T) {
	dir := t.TempDir()
	cfg, secret := filepath.Join(dir, "airgw.yaml"), filepath.Join(dir, "key")
	write(t, cfg, "a: 1\n")
	write(t, secret, "sk-1")
	synctest.Test(t, func(t *testing.T) {
		var c calls
		var mu sync.Mutex
		paths := []string{cfg}
		w := &Watcher{
			Paths:    func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(paths) },
			OnChange: c.onChange,
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		time.Sleep(2 * time.Second)
		mu.Lock()
		paths = append(paths, secret)
		mu.Unlock()
		time.Sleep(3 * time.Second)
		if got := len(c.list()); got != 0 {
			t.Fatalf("OnChange calls after adding a path = %d, want 0", got)
		}
		replace(t, secret, "sk-2")
		time.Sleep(3 * time.Second)
		if got := c.list(); len(got) != 1 || !slices.Equal(got[0], []string{secret}) {
			t.Errorf("OnChange calls = %v, want one with [%s]", got, secret)
		}
		cancel()
		<-done
	})
}
