package config

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Change is one difference between two configurations: a setting added,
// removed or changed. Values are those of Effective, so no secret value is
// ever in a Change.
type Change struct {
	// Path names the setting as an error message does:
	// models.gpt-4o.targets[0].provider. A whole entry added or removed
	// (a model, a provider) is one Change at the entry's path.
	Path string `json:"path"`
	// Op is "added", "removed" or "changed".
	Op string `json:"op"`
	// Old and New are the values before and after (nil when absent).
	Old any `json:"old,omitempty"`
	New any `json:"new,omitempty"`
	// Note adds what the values cannot show, such as a secret whose value
	// changed under the same source.
	Note string `json:"note,omitempty"`
	// At is where the setting is written: file:line:col in the new file,
	// or in the old one for a removal; empty when neither wrote it (a
	// default).
	At string `json:"at,omitempty"`
	// Restart is true for a setting that airgw reads only at startup
	// (RestartRequired): a reload reports it and keeps the old value.
	Restart bool `json:"restart_required,omitempty"`
}

// Change operations.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// String formats c as one line: "AT: PATH: OLD → NEW", with the note and a
// restart warning when they apply.
func (c Change) String() string {
	var b strings.Builder
	if c.At != "" {
		b.WriteString(c.At + ": ")
	}
	b.WriteString(c.Path + ": ")
	switch c.Op {
	case Added:
		b.WriteString("added " + short(c.New))
	case Removed:
		b.WriteString("removed (was " + short(c.Old) + ")")
	default:
		b.WriteString(short(c.Old) + " → " + short(c.New))
	}
	if c.Note != "" {
		b.WriteString(" (" + c.Note + ")")
	}
	if c.Restart {
		b.WriteString(" [restart required: airgw reads this setting only at startup]")
	}
	return b.String()
}

// short is v as compact JSON, cut to a line's worth.
func short(v any) string {
	data, _ := json.Marshal(v)
	s := string(data)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// restartOnly lists the settings airgw reads only at startup: the
// listeners, where state is stored and the key-hashing secret, the log's
// format, the audit trail (spool, checkpoints, bodies), the time zone of
// budget periods (spend is counted per period from the start), the alerts
// webhook and tracing. A change to one of them (or to anything under it)
// takes effect at the next restart. Everything else, the admin credentials
// and the log level included, is applied by a reload.
// WithStartupSettings must copy exactly these.
var restartOnly = []string{
	"server.listen",
	"server.admin_listen",
	"server.read_header_timeout",
	"server.idle_timeout",
	"storage",
	"auth",
	"log.format",
	"audit",
	"timezone",
	"alerts",
	"tracing",
}

// RestartRequired reports whether the setting at path (a concrete path such
// as server.listen or storage.sqlite) is read only at startup.
func RestartRequired(path string) bool {
	for _, p := range restartOnly {
		if path == p || strings.HasPrefix(path, p+".") {
			return true
		}
	}
	return false
}

// RestartOnlySettings lists the settings (and sections) that need a
// restart, for documentation and messages.
func RestartOnlySettings() []string { return slices.Clone(restartOnly) }

// WithStartupSettings returns a copy of c whose startup-only settings
// (RestartRequired) are those of running: the configuration a reload of c
// puts in force while running's listeners and storage stay. The copy keeps
// c's hash and positions.
func (c *Config) WithStartupSettings(running *Config) *Config {
	out := *c
	out.Server.Listen = running.Server.Listen
	out.Server.AdminListen = running.Server.AdminListen
	out.Server.ReadHeaderTimeout = running.Server.ReadHeaderTimeout
	out.Server.IdleTimeout = running.Server.IdleTimeout
	out.Storage, out.Auth = running.Storage, running.Auth
	out.Log.Format, out.Audit = running.Log.Format, running.Audit
	out.Timezone, out.Alerts, out.Tracing = running.Timezone, running.Alerts, running.Tracing
	out.secrets = make(map[string]secretSource, len(c.secrets))
	for p, s := range c.secrets {
		if !RestartRequired(p) {
			out.secrets[p] = s
		}
	}
	for p, s := range running.secrets {
		if RestartRequired(p) {
			out.secrets[p] = s
		}
	}
	return &out
}

// Diff lists what differs from old to new, sorted by path: every setting
// added, removed or changed, and every secret whose value changed (the
// values themselves are never shown). Positions point into new, or into old
// for removals.
func Diff(old, new *Config) []Change {
	d := differ{oldPos: old.Position, newPos: new.Position}
	d.node("", old.Effective(), new.Effective(), Pos{}, Pos{})
	for p, ns := range new.secrets {
		was, ok := old.secrets[p]
		if ok && was.String() == ns.String() && was.value != ns.value {
			at, _ := new.Position(p)
			d.add(Change{Path: p, Op: Changed, Old: was.String(), New: ns.String(), Note: "the value changed; it is not shown", At: at.String()})
		}
	}
	return d.sorted()
}

// DiffRunning lists what differs from a running gateway's effective config
// (Effective's tree, as the admin API serves it) to new. Secrets are
// compared by their source only: a running gateway never reveals a secret,
// so a new value from the same variable or file cannot be seen here.
func DiffRunning(running map[string]any, new *Config) []Change {
	d := differ{oldPos: func(string) (Pos, bool) { return Pos{}, false }, newPos: new.Position}
	d.node("", running, new.Effective(), Pos{}, Pos{})
	return d.sorted()
}

type differ struct {
	oldPos, newPos func(string) (Pos, bool)
	out            []Change
}

func (d *differ) add(c Change) {
	c.Restart = RestartRequired(c.Path)
	d.out = append(d.out, c)
}

func (d *differ) sorted() []Change {
	slices.SortStableFunc(d.out, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return d.out
}

// node compares old and new at path; oldAt and newAt are the nearest
// positions written above it, used when the setting itself was not written.
func (d *differ) node(path string, old, new any, oldAt, newAt Pos) {
	if p, ok := d.oldPos(path); ok {
		oldAt = p
	}
	if p, ok := d.newPos(path); ok {
		newAt = p
	}
	om, oldMap := old.(map[string]any)
	nm, newMap := new.(map[string]any)
	if oldMap && newMap {
		keys := make([]string, 0, len(om)+len(nm))
		for k := range om {
			keys = append(keys, k)
		}
		for k := range nm {
			if _, ok := om[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			d.child(join(path, k), om, nm, k, oldAt, newAt)
		}
		return
	}
	ol, oldList := old.([]any)
	nl, newList := new.([]any)
	if oldList && newList {
		for i := range max(len(ol), len(nl)) {
			p := path + "[" + strconv.Itoa(i) + "]"
			switch {
			case i >= len(ol):
				d.add(Change{Path: p, Op: Added, New: nl[i], At: d.at(d.newPos, p, newAt)})
			case i >= len(nl):
				d.add(Change{Path: p, Op: Removed, Old: ol[i], At: d.at(d.oldPos, p, oldAt)})
			default:
				d.node(p, ol[i], nl[i], oldAt, newAt)
			}
		}
		return
	}
	if !sameJSON(old, new) {
		d.add(Change{Path: path, Op: Changed, Old: old, New: new, At: newAt.String()})
	}
}

// child compares entry k of two maps.
func (d *differ) child(p string, om, nm map[string]any, k string, oldAt, newAt Pos) {
	ov, inOld := om[k]
	nv, inNew := nm[k]
	switch {
	case !inOld:
		d.add(Change{Path: p, Op: Added, New: nv, At: d.at(d.newPos, p, newAt)})
	case !inNew:
		d.add(Change{Path: p, Op: Removed, Old: ov, At: d.at(d.oldPos, p, oldAt)})
	default:
		d.node(p, ov, nv, oldAt, newAt)
	}
}

func (d *differ) at(lookup func(string) (Pos, bool), p string, parent Pos) string {
	if at, ok := lookup(p); ok {
		return at.String()
	}
	return parent.String()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
