//go:build !unix

package audit

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates dir's lock file. Without flock, exclusivity is not
// enforced on this platform: run one gateway per spool directory.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) { f.Close() }
