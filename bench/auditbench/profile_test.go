package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/airgw/airgw/internal/store/sqlite"
)

func TestProfileVerify(t *testing.T) {
	if os.Getenv("AUDITBENCH_PROFILE") == "" {
		t.Skip("set AUDITBENCH_PROFILE=file")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	generate(ctx, db, 50000, time.Now())
	f, _ := os.Create(os.Getenv("AUDITBENCH_PROFILE"))
	pprof.StartCPUProfile(f)
	_, took := verify(ctx, db)
	pprof.StopCPUProfile()
	t.Logf("verify 50000: %v", took)
}
