package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/airgw/airgw/internal/app"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/pricing"
)

func (e *env) serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	listen := fs.String("listen", "", "override server.listen (host:port)")
	watch := fs.Bool("watch", true, "reload when the config file (or a file: secret it reads) changes")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	// A reload loads the config exactly as here, overrides included, so
	// that --listen is not reported as a change needing a restart.
	load := func() (*config.Config, error) {
		cfg, err := cf.load()
		if err == nil && *listen != "" {
			cfg.Server.Listen = *listen
			if host, port, err := net.SplitHostPort(*listen); err == nil && port == "0" {
				cfg.Server.AdminListen = net.JoinHostPort(host, "0") // both on free ports
			}
		}
		return cfg, err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if path := os.Getenv("AIRGW_CPUPROFILE"); path != "" {
		// For measuring (bench/README.md): a CPU profile of the whole run,
		// written when serve returns.
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("AIRGW_CPUPROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("AIRGW_CPUPROFILE: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if cf.demo {
		if host, _, _ := net.SplitHostPort(cfg.Server.Listen); !isLoopback(host) {
			return usagef("--demo serves a key-less demo provider and only listens on loopback; %s is not a loopback address", cfg.Server.Listen)
		}
	}
	log, level := app.NewLevelLogger(cfg.Log, e.stderr, app.ConfigSecrets(cfg)...)
	a, err := app.Open(e.ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	a.LogLevel = level // a reload applies log.level
	a.DemoAdmin = cf.demo
	adminURL := ""
	a.AdminReady = func(addr net.Addr) { adminURL = "http://" + addr.String() + "/admin/v1" }
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a.SetReload(app.ReloadOptions{Path: cf.file(), Load: load, Signals: hup, Watch: *watch && !cf.demo})

	var ready func(net.Addr)
	if cf.demo {
		plain, _, err := a.Keys().Create(e.ctx, keys.CreateOptions{Name: "demo-" + time.Now().UTC().Format("20060102-150405.000")})
		if err != nil {
			return fmt.Errorf("creating the demo key: %w", err)
		}
		exportCmd := "go run ./cmd/airgw audit export --demo"
		if cf.dataDir != "" {
			exportCmd += " --data-dir " + cf.dataDir
		}
		ready = func(addr net.Addr) { e.printDemo(addr, plain, cfg, exportCmd, adminURL) }
	}
	app.Version = version()
	return a.Serve(e.ctx, ready)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (e *env) printDemo(addr net.Addr, key string, cfg *config.Config, exportCmd, adminURL string) {
	base := "http://" + addr.String() + "/v1"
	body := `{"model":"demo-fast","stream":true,"messages":[{"role":"user","content":"Hello, airgw!"}]}`
	fmt.Fprintf(e.stdout, `
airgw demo is running: a built-in demo provider, no provider account needed.

  base URL  %s
  API key   %s
  models    %s
  data      %s

Try it:

  curl -N %s/chat/completions \
    -H "Authorization: Bearer %s" \
    -H "Content-Type: application/json" \
    -H "X-Airgw-Purpose: first-try" \
    -d '%s'

Then see who used which model, for what, at what cost:

  %s

(or with a built binary: airgw audit export --demo). Each start creates a fresh demo key.
%sPress Ctrl-C to stop.
`, base, key, strings.Join(modelNames(cfg), ", "), cfg.Storage.SQLite, base, key, body, exportCmd, demoAdminLine(adminURL))
}

func modelNames(cfg *config.Config) []string {
	var out []string
	for _, m := range cfg.Models {
		out = append(out, m.Name)
	}
	return out
}

func (e *env) check(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	target := fs.String("against", "", "also show what changes against FILE, or against the running gateway with `running`")
	var af adminFlags
	af.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 1 && cf.path == "" {
		cf.path = pos[0] // `airgw check airgw.yaml` works too
	} else if len(pos) > 0 {
		return usagef("check: unexpected argument %q", pos[0])
	}
	cfg, err := cf.load()
	if err != nil {
		if *asJSON {
			e.printCheckJSON(nil, nil, nil, err)
		}
		return err
	}
	_, warns, err := app.BuildRuntime(cfg, pricing.Default())
	var changes []config.Change
	what := ""
	if err == nil && *target != "" {
		changes, what, err = e.against(cfg, *target, &af)
	}
	if *asJSON {
		e.printCheckJSON(cfg, warns, changes, err)
		return err
	}
	if err != nil {
		return err
	}
	for _, w := range warns {
		fmt.Fprintln(e.stderr, "warning:", w)
	}
	fmt.Fprintf(e.stdout, "ok: %d providers, %d models, %d teams (config sha256 %s)\n",
		len(cfg.Providers), len(cfg.Models), len(cfg.Teams), cfg.Hash()[:12])
	if *target != "" {
		printChanges(e.stdout, changes, what, *target == "running")
	}
	return nil
}

func (e *env) printCheckJSON(cfg *config.Config, warns []app.Warning, changes []config.Change, err error) {
	out := struct {
		OK       bool            `json:"ok"`
		Hash     string          `json:"sha256,omitempty"`
		Errors   []string        `json:"errors,omitempty"`
		Warnings []string        `json:"warnings,omitempty"`
		Changes  []config.Change `json:"changes,omitempty"`
	}{OK: err == nil, Changes: changes}
	if cfg != nil {
		out.Hash = cfg.Hash()
	}
	if err != nil {
		out.Errors = strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
	}
	for _, w := range warns {
		out.Warnings = append(out.Warnings, w.String())
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func (e *env) migrate(args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	a, err := app.Open(e.ctx, cfg, nil) // Open applies migrations
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintf(e.stdout, "ok: %s is up to date\n", cfg.Storage.SQLite)
	return nil
}

// withApp opens the app for a storage command.
func (e *env) withApp(cf *configFlags, fn func(context.Context, *app.App) error) error {
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if cf.demo {
		if _, err := os.Stat(cfg.Storage.SQLite); err != nil {
			return fmt.Errorf("no demo data at %s yet: run `airgw serve --demo` first", cfg.Storage.SQLite)
		}
	}
	a, err := app.Open(e.ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(e.ctx, a)
}

func demoAdminLine(url string) string {
	if url == "" {
		return ""
	}
	return "The admin API (keys, budgets, usage; open without a credential in demo mode only):\n\n  curl " + url + "/budgets\n\n"
}
