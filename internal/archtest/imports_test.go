// Package archtest enforces the import rules written down in
// ARCHITECTURE.md, in the manner of Tailscale's tstest/deptest: it asks the
// go command for every package's transitive dependencies and fails on any
// edge the architecture forbids.
package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/airgw/airgw/"

// rule forbids packages matching from to depend (transitively) on packages
// matching any of deny, except those matching allow.
type rule struct {
	from  string // package path prefix, relative to the module
	deny  []string
	allow []string
	why   string
}

var rules = []rule{
	{from: "internal/llm", deny: []string{"internal/"}, why: "llm is the hub: it imports nothing of airgw"},
	{from: "internal/wire/", deny: []string{"internal/"}, why: "wire types are dependency-free"},
	{from: "internal/config", deny: []string{"internal/"}, why: "config is a leaf: the app turns it into a runtime"},
	{from: "internal/sse", deny: []string{"internal/"}, why: "sse is a leaf"},
	{from: "internal/netguard", deny: []string{"internal/"}, why: "netguard is a leaf"},
	{from: "internal/provider/", deny: []string{"internal/store", "internal/route", "internal/gateway", "internal/server", "internal/app", "internal/cli", "internal/dialect", "internal/keys", "internal/audit", "internal/config"},
		why: "provider adapters know only the hub, their wire types and sse"},
	{from: "internal/dialect/", deny: []string{"internal/store", "internal/provider", "internal/gateway", "internal/app", "internal/cli", "internal/route"},
		why: "inbound dialects translate; they do not route, store or call providers"},
	{from: "internal/gateway", deny: []string{"internal/store", "internal/provider", "internal/server", "internal/dialect", "internal/app", "internal/cli", "internal/config"},
		why: "the pipeline depends on small interfaces, not on storage, providers or HTTP dialects"},
	{from: "internal/server", deny: []string{"internal/store", "internal/provider", "internal/app", "internal/cli", "internal/config"},
		why: "the HTTP handler never imports storage or a concrete provider"},
	{from: "internal/keys", deny: []string{"internal/store", "internal/gateway", "internal/server", "internal/app", "internal/provider"}, why: "pipeline steps declare the storage interface they consume"},
	{from: "internal/audit", deny: []string{"internal/"}, why: "audit declares its sink; stores implement it"},
	{from: "internal/reload", deny: []string{"internal/"}, allow: []string{"internal/config"},
		why: "reload's handlers, watcher and client work on the config and small interfaces; the app does the reload"},
	{from: "internal/redact", deny: []string{"internal/"}, why: "redact is a leaf"},
	{from: "internal/metrics", deny: []string{"internal/"}, allow: []string{"internal/audit"}, why: "metrics reads finished audit records and small source interfaces; the app adapts the rest"},
	{from: "internal/tracing", deny: []string{"internal/"}, allow: []string{"internal/audit"}, why: "tracing builds spans from finished audit records"},
	{from: "internal/pricing", deny: []string{"internal/"}, allow: []string{"internal/llm"}, why: "pricing depends on the hub only"},
	{from: "internal/ratelimit", deny: []string{"internal/"}, allow: []string{"internal/llm"}, why: "rate limits declare their store; backends implement it"},
	{from: "internal/budget", deny: []string{"internal/"}, allow: []string{"internal/llm", "internal/pricing"}, why: "budgets declare their ledger; stores implement it"},
	{from: "internal/users", deny: []string{"internal/"}, allow: []string{"internal/budget", "internal/ratelimit", "internal/llm", "internal/pricing"}, why: "users declare their store; stores implement it"},
	{from: "internal/webhook", deny: []string{"internal/"}, why: "webhook delivery is a leaf"},
	{from: "internal/admin", deny: []string{"internal/store", "internal/provider", "internal/server", "internal/dialect", "internal/route", "internal/gateway", "internal/config"}, why: "the admin API works on the services' interfaces; the app wires storage and config into it"},
	{from: "internal/policy", deny: []string{"internal/"}, allow: []string{"internal/llm"}, why: "policy checks hub requests and depends on nothing else"},
	{from: "internal/route", deny: []string{"internal/store", "internal/gateway", "internal/server", "internal/app", "internal/provider", "internal/config"}, why: "routing works on the hub's Provider interface"},
	{from: "internal/store/", deny: []string{"internal/gateway", "internal/server", "internal/app", "internal/cli", "internal/provider", "internal/dialect", "internal/route"}, why: "stores implement the interfaces of pipeline steps"},
	{from: "", deny: []string{"internal/app"}, allow: []string{"internal/app", "internal/cli", "cmd/"}, why: "only the CLI imports the composition root"},
	{from: "", deny: []string{"internal/cli"}, allow: []string{"internal/cli", "cmd/"}, why: "only main imports the CLI"},
}

func TestImportRules(t *testing.T) {
	deps := listDeps(t)
	if len(deps) < 10 {
		t.Fatalf("go list found %d packages; the module layout changed or go list failed", len(deps))
	}
	for pkg, ds := range deps {
		for _, r := range rules {
			if !strings.HasPrefix(pkg, r.from) || pkg == "internal/archtest" {
				continue
			}
			if matchAny(pkg, r.allow) {
				continue
			}
			for _, d := range ds {
				if matchAny(d, r.deny) && !matchAny(d, r.allow) && !sameTree(pkg, d) {
					t.Errorf("%s imports %s: %s (ARCHITECTURE.md, import rules)", pkg, d, r.why)
				}
			}
		}
	}
}

// sameTree reports whether d is pkg itself or below it (a provider's test
// helper package may import the provider).
func sameTree(pkg, d string) bool {
	return d == pkg || strings.HasPrefix(d, pkg+"/") || strings.HasPrefix(pkg, d+"/")
}

func matchAny(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(pkg, p) {
			return true
		}
	}
	return false
}

// listDeps returns, for every package of the module (tests excluded), its
// transitive dependencies within the module, as module-relative paths.
func listDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, mod+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], mod) {
			continue
		}
		pkg := strings.TrimPrefix(fields[0], mod)
		var own []string
		for _, d := range fields[1:] {
			if strings.HasPrefix(d, mod) {
				own = append(own, strings.TrimPrefix(d, mod))
			}
		}
		deps[pkg] = own
	}
	return deps
}
