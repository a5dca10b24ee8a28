package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkHeaderLimit is the header-size check every API request pays.
func BenchmarkHeaderLimit(b *testing.B) {
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader("{}"))
	for _, h := range []string{"Authorization", "Content-Type", "Accept", "User-Agent", "X-Stainless-Os", "X-Stainless-Lang",
		"X-Stainless-Runtime", "X-Stainless-Arch", "X-Stainless-Retry-Count", "X-Airgw-Purpose", "Accept-Encoding", "Content-Length"} {
		r.Header.Set(h, "some-value-of-typical-length-0123456789")
	}
	for b.Loop() {
		if headerLimit(r) != nil {
			b.Fatal("over the limit")
		}
	}
}
