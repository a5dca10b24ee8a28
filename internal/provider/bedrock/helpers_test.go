package bedrock

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// newHTTPServer starts h and returns its URL.
func newHTTPServer(t testing.TB, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

// jsonHandler answers every request with 200 and body as JSON.
func jsonHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})
}
