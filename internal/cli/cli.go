// Package cli implements the airgw command line: serve, check, config, keys,
// usage, budgets, limits, audit, migrate and version. Every command loads the config with the same loader
// and reaches storage through the same code paths as the server.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/airgw/airgw/internal/config"
)

// Version is set at build time with -ldflags "-X github.com/airgw/airgw/internal/cli.Version=v1.2.3".
var Version = ""

const usage = `airgw is an AI request gateway: one binary between your apps and LLM providers.

Usage:
  airgw serve [--config FILE]        run the gateway
  airgw serve --demo                 run with a built-in demo provider and print a ready key
  airgw check [--config FILE]        validate a config file offline
  airgw check --config NEW --against FILE|running
                                     show what a reload of NEW would change
  airgw config show [--config FILE] [--running] [--format yaml|json]
                                     the effective config, secrets redacted
  airgw keys create --name NAME [--team T] [--models a,b] [--expires 720h] [--json]
        [--budget-usd 50 --period monthly [--soft]] [--rpm N] [--rpd N] [--tpm N] [--concurrent N]
        [--allowed-ips 10.0.0.0/8,…] [--user-budget-usd 1 --user-period daily] [--user-rpm N]
        [--metadata owner=ana,…]
  airgw keys set ID|NAME [the flags of create] [--no-budget] [--no-limits] [--no-allowed-ips]
  airgw keys rotate ID|NAME [--grace 24h] [--json]
  airgw keys list [--team T] [--all] [--json]
  airgw keys revoke ID|NAME [--json]
  airgw usage [--by team,model] [--since 30d] [filters] [--format table|json|csv]
                                     spend and tokens, grouped by key, team, user, model,
                                     provider, purpose, tag or day
  airgw budgets [list] [--account A] [--json]
                                     every budget's spend, reservations, what remains
                                     and reset time, from the running gateway
  airgw budgets reset ACCOUNT        reset a budget's spend in its current period
                                     (team:search, key:ci-bot, user:team:search/alice)
  airgw limits [--account A] [--json] every rate limit's live count, what remains and
                                     when room frees up, from the running gateway
  airgw audit export [--format jsonl|csv] [--since 24h|2026-01-02] [--until …] [filters]
  airgw audit tail [-f] [-n 10] [filters]   the newest records; -f follows new ones
  airgw audit verify [--public-key KEY]     check the hash chains and signed checkpoints
  airgw migrate [--config FILE]      apply database migrations and exit
  airgw version

Filters (audit export, audit tail, usage): --key ID --team T --user U --model M
  --provider P --purpose P --tag T --status 429 --error-class C|any --kind request|admin|reload

budgets and limits ask the running gateway's admin API: --admin-url (default
$AIRGW_ADMIN_URL, else http://127.0.0.1:8081) with the credential in $AIRGW_ADMIN_KEY.

The config file is --config, else $AIRGW_CONFIG, else ./airgw.yaml.
Every command that reads the database also accepts --demo to use the demo
data directory. Docs: docs/configuration.md, docs/api.md, docs/operations.md.
`

// Run runs the command named by args and returns the process exit code:
// 0 on success, 1 when the command failed, 2 for a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	env := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	var err error
	switch args[0] {
	case "serve":
		err = env.serve(args[1:])
	case "check":
		err = env.check(args[1:])
	case "config":
		err = env.config(args[1:])
	case "keys":
		err = env.keys(args[1:])
	case "audit":
		err = env.audit(args[1:])
	case "usage":
		err = env.usage(args[1:])
	case "budgets":
		err = env.budgets(args[1:])
	case "limits":
		err = env.limits(args[1:])
	case "migrate":
		err = env.migrate(args[1:])
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "airgw", version())
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "airgw: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "airgw:", err)
		}
		return 2
	}
	fmt.Fprintln(stderr, "airgw:", strings.TrimRight(err.Error(), "\n"))
	return 1
}

type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// configFlags are the flags that choose a config, shared by every command.
type configFlags struct {
	path    string
	demo    bool
	dataDir string
}

func (c *configFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.path, "config", "", "config file (default $AIRGW_CONFIG, else ./airgw.yaml)")
	fs.BoolVar(&c.demo, "demo", false, "use the built-in demo config and data directory")
	fs.StringVar(&c.dataDir, "data-dir", "", "with --demo: the data directory (default "+defaultDemoDir()+")")
}

func defaultDemoDir() string { return filepath.Join(os.TempDir(), "airgw-demo") }

// load loads the config the flags name.
func (c *configFlags) load() (*config.Config, error) {
	if c.demo {
		if c.path != "" {
			return nil, usagef("--demo and --config cannot be used together")
		}
		dir := c.dataDir
		if dir == "" {
			dir = defaultDemoDir()
		}
		return config.Parse("demo.yaml", config.DemoYAML(dir), os.LookupEnv)
	}
	if c.dataDir != "" {
		return nil, usagef("--data-dir applies to --demo only; set storage.data_dir in the config file")
	}
	path := c.file()
	if c.path == "" && os.Getenv("AIRGW_CONFIG") == "" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, usagef("no config file: pass --config FILE, set AIRGW_CONFIG, or create ./airgw.yaml (docs/configuration.md); to try airgw without one, run `airgw serve --demo`")
		}
	}
	return config.Load(path)
}

// file is the config file the flags name: --config, else $AIRGW_CONFIG,
// else ./airgw.yaml; "" with --demo, whose config has no file.
func (c *configFlags) file() string {
	switch {
	case c.demo:
		return ""
	case c.path != "":
		return c.path
	case os.Getenv("AIRGW_CONFIG") != "":
		return os.Getenv("AIRGW_CONFIG")
	}
	return "airgw.yaml"
}

// parseFlags parses args with fs, allowing flags after positional
// arguments (`airgw keys revoke NAME --json`).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
