package idempotency_test

import (
	"testing"

	"github.com/airgw/airgw/internal/idempotency"
	"github.com/airgw/airgw/internal/store/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.TestIdempotencyStore(t, func(*testing.T) idempotency.Store { return idempotency.NewMemory() })
}
