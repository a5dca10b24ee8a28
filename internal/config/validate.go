package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultOpenAIBaseURL is filled in for providers of type openai without a
// base_url, so the effective configuration shows where requests go.
const defaultOpenAIBaseURL = "https://api.openai.com/v1"

// defaults returns a Config holding every default, before the file is
// decoded over it.
func defaults() *Config {
	return &Config{
		Server: Server{
			Listen:            "127.0.0.1:8080",
			AdminListen:       "127.0.0.1:8081",
			MaxBody:           4 << 20,
			MaxInFlight:       10000,
			MaxQueueDelay:     Duration(50 * time.Millisecond),
			ReadHeaderTimeout: Duration(10 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(30 * time.Second),
		},
		Storage:  Storage{SQLite: "./airgw.db"},
		Timezone: "UTC",
		Log:      Log{Level: "info", Format: "text"},
		Audit: Audit{BatchSize: 64, FlushInterval: Duration(time.Second), FsyncInterval: Duration(100 * time.Millisecond),
			SpoolMaxSize: 1 << 30, CheckpointInterval: Duration(time.Minute)},
		Tracing: Tracing{ServiceName: "airgw", SampleRatio: 1},
		Routing: Routing{
			Strategy:       "weighted",
			Retries:        2,
			Timeout:        Duration(120 * time.Second),
			ConnectTimeout: Duration(10 * time.Second),
			Backoff:        Backoff{Base: Duration(100 * time.Millisecond), Max: Duration(2 * time.Second)},
			RetryBudget:    RetryBudget{Ratio: 0.2, Min: 3},
			Breaker: Breaker{ConsecutiveFailures: 5, MinRequests: 20, Window: Duration(30 * time.Second),
				Cooldown: Duration(30 * time.Second)},
		},
	}
}

// add records a problem found after decoding, at the value's position when
// it was written and at fallback otherwise.
func (d *decoder) add(path string, fallback Pos, format string, args ...any) {
	at, ok := d.positions[path]
	if !ok {
		at = fallback
	}
	d.addf(at, pathOf(path), format, args...)
}

func pathOf(concrete string) path { return path{concrete: concrete} }

// entryPath is the concrete path of a map entry, spelled as decoding spelled it.
func entryPath(section, key string) string { return pathOf(section).entry(key).concrete }

// written reports whether the file gave a value at path.
func (d *decoder) written(path string) bool {
	_, ok := d.positions[path]
	return ok
}

// validate checks what decoding one value at a time cannot: required fields,
// ranges that involve two fields, and references between sections. It also
// fills defaults that depend on other fields.
func (d *decoder) validate(c *Config, root Pos) {
	s := c.Server
	positive := func(path string, v int64) {
		if d.written(path) && v <= 0 {
			d.add(path, root, "must be more than 0")
		}
	}
	if s.Listen == s.AdminListen && !strings.HasSuffix(s.Listen, ":0") {
		d.add("server.admin_listen", s.Pos, "must differ from server.listen (%s)", s.Listen)
	}
	positive("server.max_body", int64(s.MaxBody))
	positive("server.read_header_timeout", int64(s.ReadHeaderTimeout))
	positive("server.idle_timeout", int64(s.IdleTimeout))
	positive("server.shutdown_timeout", int64(s.ShutdownTimeout))
	positive("audit.flush_interval", int64(c.Audit.FlushInterval))
	positive("audit.fsync_interval", int64(c.Audit.FsyncInterval))
	positive("audit.checkpoint_interval", int64(c.Audit.CheckpointInterval))
	positive("audit.bodies.retention", int64(c.Audit.Bodies.retention()))
	positive("audit.bodies.max_bytes", int64(c.Audit.Bodies.maxBytes()))
	if c.Audit.SpoolMaxSize < 1<<20 && d.written("audit.spool_max_size") {
		d.add("audit.spool_max_size", c.Audit.Pos, "must be at least 1MiB, got %s", c.Audit.SpoolMaxSize)
	}
	if r := c.Audit.Retention; r < 0 || r > 0 && r < Duration(time.Hour) {
		d.add("audit.retention", c.Audit.Pos, "must be 0 (keep records forever) or at least 1h, got %s", r)
	}
	if k := c.Audit.SigningKey.Value(); k != "" && !validSigningKey(k) {
		d.add("audit.signing_key", c.Audit.Pos, "must be the hex (64 characters) or base64 of a 32-byte Ed25519 seed; generate one with: openssl rand -hex 32")
	}
	positive("routing.timeout", int64(c.Routing.Timeout))
	positive("routing.breaker.cooldown", int64(c.Routing.Breaker.Cooldown))
	if ft := c.Routing.FirstTokenTimeout; ft > 0 && ft >= c.Routing.Timeout {
		d.add("routing.first_token_timeout", root, "must be shorter than routing.timeout (%s)", c.Routing.Timeout)
	}

	if c.Storage.SQLite == "" {
		d.add("storage.sqlite", c.Storage.Pos, "must not be empty; it is the path of the SQLite database file")
	}
	if c.Storage.DataDir == "" {
		c.Storage.DataDir = filepath.Dir(c.Storage.SQLite)
	}
	if c.Audit.SpoolDir == "" {
		c.Audit.SpoolDir = filepath.Join(c.Storage.DataDir, "audit-spool")
	}
	if n := len(c.Auth.HMACSecret.Value()); n > 0 && n < 32 {
		d.add("auth.hmac_secret", c.Auth.Pos, "must be at least 32 bytes, got %d; generate one with: openssl rand -hex 32", n)
	}

	d.validateProviders(c, root)
	d.validateModels(c, root)
	d.validateRules(c)
	if it := c.Routing.IdleTimeout; it > 0 && it >= c.Routing.Timeout {
		d.add("routing.idle_timeout", root, "must be shorter than routing.timeout (%s)", c.Routing.Timeout)
	}
	positive("routing.connect_timeout", int64(c.Routing.ConnectTimeout))
	if b := c.Routing.Backoff; b.Base > b.Max && b.Max > 0 {
		d.add("routing.backoff.base", root, "must not exceed routing.backoff.max (%s)", b.Max)
	}
	d.validateGovernance(c, root)
	if b := c.Audit.Bodies; b != nil {
		for i, t := range b.Teams {
			if c.Team(t) == nil {
				d.add(fmt.Sprintf("audit.bodies.teams[%d]", i), b.Pos, "team %q is not defined under teams", t)
			}
		}
	}
}

func (b *AuditBodies) retention() Duration {
	if b == nil {
		return 1
	}
	return b.Retention
}

func (b *AuditBodies) maxBytes() Size {
	if b == nil {
		return 1
	}
	return b.MaxBytes
}

// validSigningKey reports whether s is the hex or standard base64 of 32
// bytes.
func validSigningKey(s string) bool {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil {
		return len(b) == 32
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// required reports a field that was not written, unless its parent already
// has a problem (a provider written as a string has no type, of course).
func (d *decoder) required(path string, at Pos, hint string) {
	parent := path[:max(strings.LastIndexByte(path, '.'), 0)]
	if !d.written(path) && !d.failed[parent] {
		d.addf(at, pathOf(path), "missing; %s", hint)
	}
}

func (d *decoder) validateProviders(c *Config, root Pos) {
	if len(c.Providers) == 0 {
		d.add("providers", root, "configure at least one provider (type demo needs no account)")
	}
	for i := range c.Providers {
		pr := &c.Providers[i]
		p := entryPath("providers", pr.Name)
		d.required(p+".type", pr.Pos, "set it to one of "+strings.Join(providerTypes, ", "))
		switch pr.Type {
		case TypeOpenAI:
			if pr.BaseURL == "" && !d.written(p+".base_url") {
				pr.BaseURL = defaultOpenAIBaseURL
			}
			d.required(p+".api_key", pr.Pos, "type openai needs an API key, such as ${OPENAI_API_KEY}")
			if d.written(p+".api_key") && pr.APIKey == "" && !d.failed[p+".api_key"] {
				d.add(p+".api_key", pr.Pos, "is empty; type openai needs an API key")
			}
		case TypeOpenAICompatible:
			if pr.Preset == "" {
				d.required(p+".base_url", pr.Pos, "type openai_compatible needs the server's URL, such as http://127.0.0.1:8000/v1, or a preset: "+strings.Join(Presets, ", "))
			} else if !slices.Contains(Presets, pr.Preset) {
				d.add(p+".preset", pr.Pos, "%s", unknownMessage("preset", pr.Preset, Presets, true))
			}
		case TypeAzureOpenAI:
			d.required(p+".base_url", pr.Pos, "type azure_openai needs the resource endpoint, such as https://NAME.openai.azure.com")
			d.required(p+".api_key", pr.Pos, "type azure_openai needs the resource's key, such as ${AZURE_OPENAI_API_KEY}")
			d.required(p+".api_version", pr.Pos, `type azure_openai needs an api_version, such as "2024-10-21" (or "v1" for the v1 API)`)
		case TypeAnthropic:
			d.required(p+".api_key", pr.Pos, "type anthropic needs an API key, such as ${ANTHROPIC_API_KEY}")
		case TypeGemini:
			d.required(p+".api_key", pr.Pos, "type gemini needs an API key, such as ${GEMINI_API_KEY}")
		case TypeBedrock:
			d.required(p+".region", pr.Pos, "type bedrock needs the AWS region, such as us-east-1")
			if d.written(p + ".api_key") {
				d.add(p+".api_key", pr.Pos, "type bedrock signs requests with the standard AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE); remove api_key")
			}
		case TypeDemo:
			if d.written(p + ".base_url") {
				d.add(p+".base_url", pr.Pos, "the demo provider runs inside airgw and takes no base_url; remove it")
			}
		}
		// Fields that belong to one provider type are errors elsewhere:
		// never accepted and silently ignored.
		for _, f := range []struct{ field, owner string }{
			{"api_version", TypeAzureOpenAI}, {"region", TypeBedrock}, {"preset", TypeOpenAICompatible},
		} {
			if pr.Type != "" && pr.Type != f.owner && d.written(p+"."+f.field) {
				d.add(p+"."+f.field, pr.Pos, "only applies to providers of type %s; remove it", f.owner)
			}
		}
	}
}

func (d *decoder) validateModels(c *Config, root Pos) {
	if len(c.Models) == 0 {
		d.add("models", root, "configure at least one model alias with its targets")
	}
	providers := make([]string, len(c.Providers))
	known := make(map[string]bool, len(c.Providers))
	for i, pr := range c.Providers {
		providers[i] = pr.Name
		known[pr.Name] = true
	}
	aliases := c.modelNames()
	for _, m := range c.Models {
		p := entryPath("models", m.Name)
		d.required(p+".targets", m.Pos, "list at least one target, such as {provider: openai, model: gpt-4o}")
		if d.written(p+".targets") && len(m.Targets) == 0 && !d.failed[p+".targets"] {
			d.add(p+".targets", m.Pos, "is empty; list at least one target, such as {provider: openai, model: gpt-4o}")
		}
		total := 0
		for i, t := range m.Targets {
			tp := p + ".targets[" + strconv.Itoa(i) + "]"
			total += t.Weight
			d.required(tp+".provider", t.Pos, "name one of the providers")
			d.required(tp+".model", t.Pos, "give the provider's model name")
			if t.Provider != "" && !known[t.Provider] {
				d.add(tp+".provider", t.Pos, "%s", unknownMessage("provider", t.Provider, providers, false))
			}
		}
		if len(m.Targets) > 0 && total == 0 && !d.failed[p+".targets"] {
			d.add(p+".targets", m.Pos, "every target has weight 0; give at least one a weight above 0")
		}
		d.checkRefs(p+".fallbacks", m.Fallbacks, aliases, m.Name)
		if m.Price != nil {
			d.required(p+".price.input_per_mtok", m.Price.Pos, "a price needs both input and output; write 0 for free")
			d.required(p+".price.output_per_mtok", m.Price.Pos, "a price needs both input and output; write 0 for free")
		}
		if cf := m.ContextFallback; cf != "" {
			switch {
			case cf == m.Name:
				d.add(p+".context_fallback", m.ContextFallbackPos, "a model cannot fall back to itself")
			case !slices.Contains(aliases, cf):
				d.add(p+".context_fallback", m.ContextFallbackPos, "%s", unknownMessage("model", cf, aliases, false))
			}
		}
		d.checkTimeouts(p, m.Timeout, m.FirstTokenTimeout, m.IdleTimeout, c.Routing.Timeout)
		if m.MaxOutputTokens > 0 && m.ContextWindow > 0 && m.MaxOutputTokens > m.ContextWindow {
			d.add(p+".max_output_tokens", m.Pos, "%d is more than context_window (%d)", m.MaxOutputTokens, m.ContextWindow)
		}
	}
}

// checkTimeouts checks that a route's or provider's timeouts fit inside the
// request deadline that applies to them.
func (d *decoder) checkTimeouts(p string, total, firstToken, idle, routing Duration) {
	deadline := routing
	if total > 0 {
		deadline = total
	}
	if firstToken > 0 && firstToken >= deadline {
		d.add(p+".first_token_timeout", Pos{}, "must be shorter than the request timeout (%s)", deadline)
	}
	if idle > 0 && idle >= deadline {
		d.add(p+".idle_timeout", Pos{}, "must be shorter than the request timeout (%s)", deadline)
	}
}

func (d *decoder) validateRules(c *Config) {
	aliases := c.modelNames()
	for i, r := range c.Routing.Rules {
		p := fmt.Sprintf("routing.rules[%d]", i)
		d.required(p+".use", r.Pos, "name the model alias that serves matching requests")
		if r.Purpose == "" && r.Tag == "" && !d.failed[p] {
			d.addf(r.Pos, pathOf(p), "set purpose or tag (or both): a rule without them would send every request for %q elsewhere; change the client's model instead", r.Model)
		}
		for _, ref := range []struct{ field, name string }{{"model", r.Model}, {"use", r.Use}} {
			if ref.name != "" && !slices.Contains(aliases, ref.name) {
				d.add(p+"."+ref.field, r.Pos, "%s", unknownMessage("model", ref.name, aliases, false))
			}
		}
		if r.Model != "" && r.Model == r.Use {
			d.add(p+".use", r.Pos, "is the same model as model: the rule would do nothing")
		}
	}
}

// checkRefs checks a list of model aliases: each must exist, appear once,
// and not be self.
func (d *decoder) checkRefs(p string, refs, aliases []string, self string) {
	for i, ref := range refs {
		ip := fmt.Sprintf("%s[%d]", p, i)
		switch {
		case strings.ContainsAny(ref, "*?["):
			d.add(ip, Pos{}, "model patterns like %q are not supported yet; list each model", ref)
		case ref == self:
			d.add(ip, Pos{}, "a model cannot fall back to itself")
		case !slices.Contains(aliases, ref):
			d.add(ip, Pos{}, "%s", unknownMessage("model", ref, aliases, false))
		case slices.Index(refs, ref) < i:
			d.add(ip, Pos{}, "model %q is listed twice", ref)
		}
	}
}

func (c *Config) modelNames() []string {
	names := make([]string, len(c.Models))
	for i, m := range c.Models {
		names[i] = m.Name
	}
	return names
}
