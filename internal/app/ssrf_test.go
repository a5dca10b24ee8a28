package app

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/netguard"

	oaiprov "github.com/airgw/airgw/internal/provider/openai"
)

// hostRoute sends requests for one host through a plain transport (standing
// in for a public upstream, which in a test can only live on loopback) and
// everything else through the guarded transport under test.
type hostRoute struct {
	host    string
	public  http.RoundTripper
	guarded http.RoundTripper
}

func (h hostRoute) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == h.host {
		return h.public.RoundTrip(r)
	}
	return h.guarded.RoundTrip(r)
}

// TestProviderClientRefusesRedirectToLoopback is RELIABILITY.md T33 for
// redirects: a "public" upstream answering 302 to a loopback URL must not
// lead the provider client (and its credentials) there.
func TestProviderClientRefusesRedirectToLoopback(t *testing.T) {
	var internalHits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		_, _ = w.Write([]byte("secret"))
	}))
	defer internal.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/latest/meta-data/", http.StatusFound)
	}))
	defer redirector.Close()
	public := &http.Transport{Proxy: nil}
	defer public.CloseIdleConnections()
	redirectorHost := redirector.Listener.Addr().String()

	tests := []struct {
		name       string
		noRedirect bool // keep httpClient's CheckRedirect
	}{
		// httpClient returns the redirect to the caller instead of following it.
		{"check_redirect", true},
		// Were redirects followed, the dial guard would still refuse loopback.
		{"dial_guard", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			internalHits.Store(0)
			c := httpClient(false, 0, false)
			c.Transport = hostRoute{host: redirectorHost, public: public, guarded: c.Transport}
			if !tt.noRedirect {
				c.CheckRedirect = nil
			}
			resp, err := c.Get(redirector.URL + "/v1/chat/completions")
			if tt.noRedirect {
				if err != nil {
					t.Fatalf("Get(redirect to loopback) = %v, want the 302 itself", err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusFound {
					t.Errorf("Get(redirect to loopback) status = %d, want 302 (not followed)", resp.StatusCode)
				}
			} else {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("Get(redirect to loopback) with redirects followed = %d, want an error wrapping netguard.ErrBlocked", resp.StatusCode)
				}
				if !errors.Is(err, netguard.ErrBlocked) {
					t.Errorf("Get(redirect to loopback) with redirects followed = %v, want an error wrapping netguard.ErrBlocked", err)
				}
			}
			if n := internalHits.Load(); n != 0 {
				t.Errorf("loopback server hits = %d, want 0", n)
			}
		})
	}
}

func TestProviderClientDialGuard(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	tests := []struct {
		allowPrivate bool
		wantBlocked  bool
	}{
		{false, true},
		{true, false},
	}
	for _, tt := range tests {
		c := httpClient(tt.allowPrivate, 0, false)
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if got := errors.Is(err, netguard.ErrBlocked); got != tt.wantBlocked {
			t.Errorf("httpClient(%v).Get(%s) = %v, want blocked %v", tt.allowPrivate, srv.URL, err, tt.wantBlocked)
		}
		if !tt.wantBlocked && err != nil {
			t.Errorf("httpClient(%v).Get(%s) = %v, want success", tt.allowPrivate, srv.URL, err)
		}
	}
}

// TestPresetsMatchConfig keeps the config's list of preset names equal to
// the adapter's table, so that `airgw check` accepts exactly what runs.
func TestPresetsMatchConfig(t *testing.T) {
	if got, want := config.Presets, oaiprov.PresetNames(); !slices.Equal(got, want) {
		t.Errorf("config.Presets = %v, want the adapter's %v", got, want)
	}
}
