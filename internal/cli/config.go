package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/reload"
)

// defaultAdminURL is where the admin API listens by default
// (server.admin_listen).
const defaultAdminURL = "http://127.0.0.1:8081"

// adminFlags choose the running gateway that `config show --running` and
// `check --against running` ask. The key comes from the environment only:
// a flag would show in ps and in shell history.
type adminFlags struct {
	url string
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "admin-url", "", "the running gateway's admin API (default $AIRGW_ADMIN_URL, else "+defaultAdminURL+"); the key is $AIRGW_ADMIN_KEY")
}

// fetch reads the running gateway's effective config.
func (a *adminFlags) fetch(e *env) (*reload.Snapshot, error) {
	url := a.url
	if url == "" {
		url = os.Getenv("AIRGW_ADMIN_URL")
	}
	if url == "" {
		url = defaultAdminURL
	}
	return reload.Fetch(e.ctx, nil, url, os.Getenv("AIRGW_ADMIN_KEY"))
}

// config runs `airgw config show`.
func (e *env) config(args []string) error {
	if len(args) == 0 || args[0] != "show" {
		return usagef("config: expected `airgw config show [--config FILE] [--running] [--format yaml|json]`")
	}
	fs := flag.NewFlagSet("config show", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	var af adminFlags
	af.register(fs)
	running := fs.Bool("running", false, "show the running gateway's config (from its admin API) instead of the file's")
	format := fs.String("format", "yaml", "yaml or json")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("config show: unexpected argument %q", pos[0])
	}
	if *format != "yaml" && *format != "json" {
		return usagef("config show: --format must be yaml or json, got %q", *format)
	}
	var snap reload.Snapshot
	if *running {
		if cf.path != "" || cf.demo {
			return usagef("config show: --running reads the gateway's config, not a file; drop --config and --demo")
		}
		s, err := af.fetch(e)
		if err != nil {
			return err
		}
		snap = *s
	} else {
		cfg, err := cf.load()
		if err != nil {
			return err
		}
		snap = reload.Snapshot{SHA256: cfg.Hash(), Path: cf.file(), Config: cfg.Effective()}
	}
	return writeSnapshot(e.stdout, &snap, *format, *running)
}

// writeSnapshot prints an effective config: as YAML, with what it is in
// comments, or as the admin API's JSON.
func writeSnapshot(w io.Writer, s *reload.Snapshot, format string, running bool) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if !running {
			return enc.Encode(struct {
				SHA256 string         `json:"sha256"`
				Path   string         `json:"path,omitempty"`
				Config map[string]any `json:"config"`
			}{s.SHA256, s.Path, s.Config})
		}
		return enc.Encode(s)
	}
	src := s.Path
	if src == "" {
		src = "the built-in demo config"
	}
	fmt.Fprintf(w, "# effective config of %s (sha256 %s); secrets redacted, defaults filled in\n", src, s.SHA256)
	if running {
		fmt.Fprintf(w, "# running since %s\n", s.LoadedAt.UTC().Format(time.RFC3339))
		if !s.Reload.LastOK {
			fmt.Fprintf(w, "# the last reload (%s, %s) FAILED; this config still serves:\n", s.Reload.LastTrigger, s.Reload.LastAttempt.UTC().Format(time.RFC3339))
			for _, p := range s.Reload.LastErrors {
				fmt.Fprintf(w, "#   %s\n", p)
			}
		}
		for _, c := range s.Reload.PendingRestart {
			fmt.Fprintf(w, "# waiting for a restart: %s\n", c)
		}
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(s.Config); err != nil {
		return err
	}
	return enc.Close()
}

// against prints what putting cfg in force would change, compared with
// the file or the running gateway named by target.
func (e *env) against(cfg *config.Config, target string, af *adminFlags) ([]config.Change, string, error) {
	if target == "running" {
		snap, err := af.fetch(e)
		if err != nil {
			return nil, "", err
		}
		return config.DiffRunning(snap.Config, cfg), "the running gateway (sha256 " + snap.SHA256[:min(12, len(snap.SHA256))] + ")", nil
	}
	old, err := config.Load(target)
	if err != nil {
		return nil, "", fmt.Errorf("--against %s: %w", target, err)
	}
	return config.Diff(old, cfg), target, nil
}

// printChanges prints the outcome of `check --against` for people.
func printChanges(w io.Writer, changes []config.Change, what string, running bool) {
	if len(changes) == 0 {
		fmt.Fprintf(w, "no changes against %s\n", what)
		return
	}
	restart := 0
	for _, c := range changes {
		if c.Restart {
			restart++
		}
	}
	fmt.Fprintf(w, "%d changes against %s", len(changes), what)
	if restart > 0 {
		fmt.Fprintf(w, "; %d need a restart", restart)
	}
	fmt.Fprintln(w, ":")
	for _, c := range changes {
		fmt.Fprintln(w, "  "+c.String())
	}
	if running {
		fmt.Fprintln(w, "(secrets are compared by their source only: a rotated value under the same variable or file does not show)")
	}
}
