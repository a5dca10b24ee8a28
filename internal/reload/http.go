package reload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/config"
)

// Snapshot is what GET /admin/v1/config answers: the config in force,
// secrets redacted, with its hash and the reload status.
type Snapshot struct {
	// SHA256 is the hash of the config file in force (as `airgw check`
	// prints it).
	SHA256 string `json:"sha256"`
	// Path is the config file, empty for the built-in demo config.
	Path string `json:"path,omitempty"`
	// LoadedAt is when this config was put in force.
	LoadedAt time.Time `json:"loaded_at"`
	// Config is the effective config (config.Config.Effective): every
	// default filled in, startup-only settings as the process started,
	// no secret value.
	Config map[string]any `json:"config"`
	// Reload is the reload status, including the errors of a failed last
	// reload and the changes waiting for a restart.
	Reload Status `json:"reload"`
}

// Handler is POST /admin/v1/reload. It reloads with actor(r) as the
// trigger, the audit record's actor, such as "admin-key:<name>" (actor
// nil, or returning "", means TriggerAdmin), and answers the Result as JSON: 200 when the new config is in force (or was
// identical), 422 when it was refused and the running config is unchanged.
// The caller must have checked that the request comes from the admin role.
func Handler(rl Reloader, actor func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who := TriggerAdmin
		if actor != nil {
			if a := actor(r); a != "" {
				who = a
			}
		}
		// The reload must finish even if the caller hangs up: a half-seen
		// outcome is worse than one the caller did not wait for.
		res, err := rl.Reload(context.WithoutCancel(r.Context()), who)
		status := http.StatusOK
		if err != nil || !res.OK {
			status = http.StatusUnprocessableEntity
		}
		writeJSON(w, status, res)
	}
}

// ConfigHandler is GET /admin/v1/config: the Snapshot that snap returns,
// as JSON. The caller must have checked that the request may read it.
func ConfigHandler(snap func() Snapshot) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, snap())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ConfigPath is where the admin API serves the effective config.
const ConfigPath = "/admin/v1/config"

// maxSnapshot bounds the answer Fetch reads: an effective config is a few
// hundred KiB at most.
const maxSnapshot = 16 << 20

// Fetch reads a running gateway's effective config: GET adminURL +
// /admin/v1/config with key as a bearer token. adminURL is the admin
// listener's base, such as http://127.0.0.1:8081; hc nil means a client
// with a 10 s timeout. Snapshot.Config is normalized (config.Normalize) so
// that config.DiffRunning can compare it with a file.
func Fetch(ctx context.Context, hc *http.Client, adminURL, key string) (*Snapshot, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	url := strings.TrimSuffix(adminURL, "/") + ConfigPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("the admin URL %q is not a URL: %w; pass it as http://HOST:PORT", adminURL, err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the running config from %s: %w; is airgw serving its admin API there (--admin-url)?", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSnapshot))
	if err != nil {
		return nil, fmt.Errorf("reading the running config from %s: %w", url, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("GET %s: %s: the admin key was refused; set AIRGW_ADMIN_KEY to a key with the admin role", url, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, firstLine(body))
	}
	var wire struct {
		Snapshot
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, fmt.Errorf("GET %s: the answer is not an airgw config snapshot: %w", url, err)
	}
	tree, ok := config.Normalize(wire.Config).(map[string]any)
	if !ok {
		return nil, errors.New("GET " + url + ": the answer has no config object; is this an airgw admin API?")
	}
	s := wire.Snapshot
	s.Config = tree
	return &s, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
