package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airgw/airgw/internal/server"
)

// TestReadyzConfig: a failed config reload leaves the gateway ready (the
// previous config serves) but says degraded, and why.
func TestReadyzConfig(t *testing.T) {
	for _, tt := range []struct {
		name, detail, wantStatus string
	}{
		{"reload-ok", "", "ready"},
		{"reload-failed", "the config reload at 2026-01-02T03:05:05Z failed; problems at airgw.yaml:12:7 (models.x)", "degraded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, server.Options{Config: func() string { return tt.detail }})
			w := h.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
			var got struct {
				Status string `json:"status"`
				Config string `json:"config"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("GET /readyz body %q: %v", w.Body, err)
			}
			if w.Code != 200 || got.Status != tt.wantStatus || got.Config != tt.detail {
				t.Errorf("GET /readyz = %d %+v, want 200 %s with config %q", w.Code, got, tt.wantStatus, tt.detail)
			}
		})
	}
}

// TestSetMaxBody: a reload changes the body limit for the next request.
func TestSetMaxBody(t *testing.T) {
	h := newHarness(t, server.Options{MaxBody: 1 << 20})
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`
	if w := h.do(chatRequest(big, map[string]string{"Authorization": "Bearer good"})); w.Code != 200 {
		t.Fatalf("POST 2 KiB under a 1 MiB limit = %d %s, want 200", w.Code, w.Body)
	}
	h.srv.SetMaxBody(1024)
	w := h.do(chatRequest(big, map[string]string{"Authorization": "Bearer good"}))
	if e := decodeError(t, w); w.Code != 413 || !strings.Contains(e.Error.Message, "1 KiB") {
		t.Errorf("POST 2 KiB after SetMaxBody(1024) = %d %q, want 413 naming 1 KiB", w.Code, e.Error.Message)
	}
}
