package config

import (
	"errors"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// This file maps each YAML section onto its Go type. Field names here are
// the ones users write; the tables double as the list of valid names for
// "did you mean" suggestions.

type node = *yaml.Node

var (
	logLevels     = []string{"debug", "info", "warn", "error"}
	logFormats    = []string{"text", "json"}
	budgetPeriods = []string{"daily", "weekly", "monthly", "total"}
	piiActions    = []string{"redact", "block", "log"}
	piiDetectors  = []string{"email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret"}
	capActions    = []string{"reject", "clamp"}
	adminRoles    = []string{"admin", "auditor", "team_admin"}
	strategies    = []string{"weighted", "priority", "lowest_latency", "lowest_cost"}
)

const addrWant = "an address like 127.0.0.1:8080"

func (d *decoder) root(n node, c *Config) {
	d.object(n, path{}, []field{
		{"server", func(v node, p path) { d.server(v, p, &c.Server) }},
		{"storage", func(v node, p path) { d.storage(v, p, &c.Storage) }},
		{"auth", func(v node, p path) {
			c.Auth.Pos = d.pos(resolve(v))
			d.object(v, p, []field{{"hmac_secret", func(v node, p path) { d.secret(v, p, &c.Auth.HMACSecret) }}})
		}},
		{"admin", func(v node, p path) { d.admin(v, p, &c.Admin) }},
		{"log", func(v node, p path) {
			d.object(v, p, []field{
				{"level", func(v node, p path) { d.enum(v, p, "log level", logLevels, &c.Log.Level) }},
				{"format", func(v node, p path) { d.enum(v, p, "log format", logFormats, &c.Log.Format) }},
			})
		}},
		{"audit", func(v node, p path) { d.audit(v, p, &c.Audit) }},
		{"providers", func(v node, p path) {
			d.entries(v, p, func(k, v node, p path) { c.Providers = append(c.Providers, d.provider(k, v, p)) })
		}},
		{"models", func(v node, p path) {
			d.entries(v, p, func(k, v node, p path) { c.Models = append(c.Models, d.model(k, v, p)) })
		}},
		{"routing", func(v node, p path) { d.routing(v, p, &c.Routing) }},
		{"teams", func(v node, p path) {
			d.entries(v, p, func(k, v node, p path) { c.Teams = append(c.Teams, d.team(k, v, p)) })
		}},
		{"policies", func(v node, p path) { c.Policies = d.policies(v, p) }},
		{"budget", func(v node, p path) { c.Budget = d.budget(v, p) }},
		{"limits", func(v node, p path) { c.Limits = d.limits(v, p, true) }},
		{"timezone", func(v node, p path) {
			parsed(d, v, p, "an IANA time zone like UTC or Europe/Paris", parseZone, &c.Timezone)
		}},
		{"alerts", func(v node, p path) { d.alerts(v, p, &c.Alerts) }},
		{"tracing", func(v node, p path) { d.tracing(v, p, &c.Tracing) }},
	})
}

func (d *decoder) server(n node, p path, s *Server) {
	s.Pos = d.pos(resolve(n))
	d.object(n, p, []field{
		{"listen", func(v node, p path) { parsed(d, v, p, addrWant, parseAddr, &s.Listen) }},
		{"admin_listen", func(v node, p path) { parsed(d, v, p, addrWant, parseAddr, &s.AdminListen) }},
		{"max_body", func(v node, p path) { d.size(v, p, &s.MaxBody) }},
		{"max_in_flight", func(v node, p path) { d.integer(v, p, 0, 1000000, &s.MaxInFlight) }},
		{"max_queue_delay", func(v node, p path) { d.duration(v, p, &s.MaxQueueDelay) }},
		{"read_header_timeout", func(v node, p path) { d.duration(v, p, &s.ReadHeaderTimeout) }},
		{"idle_timeout", func(v node, p path) { d.duration(v, p, &s.IdleTimeout) }},
		{"shutdown_timeout", func(v node, p path) { d.duration(v, p, &s.ShutdownTimeout) }},
	})
}

func (d *decoder) audit(n node, p path, a *Audit) {
	a.Pos = d.pos(resolve(n))
	d.object(n, p, []field{
		{"batch_size", func(v node, p path) { d.integer(v, p, 1, 10000, &a.BatchSize) }},
		{"flush_interval", func(v node, p path) { d.duration(v, p, &a.FlushInterval) }},
		{"spool_dir", func(v node, p path) { d.str(v, p, &a.SpoolDir) }},
		{"fsync_interval", func(v node, p path) { d.duration(v, p, &a.FsyncInterval) }},
		{"spool_max_size", func(v node, p path) { d.size(v, p, &a.SpoolMaxSize) }},
		{"checkpoint_interval", func(v node, p path) { d.duration(v, p, &a.CheckpointInterval) }},
		{"signing_key", func(v node, p path) { d.secret(v, p, &a.SigningKey) }},
		{"retention", func(v node, p path) { d.duration(v, p, &a.Retention) }},
		{"bodies", func(v node, p path) {
			b := &AuditBodies{Pos: d.pos(resolve(v)), Retention: Duration(720 * time.Hour), MaxBytes: 64 << 10}
			a.Bodies = b
			d.object(v, p, []field{
				{"teams", func(v node, p path) {
					b.Teams = []string{}
					d.strs(v, p, func(s string, _ node, _ path) { b.Teams = append(b.Teams, s) })
				}},
				{"keys", func(v node, p path) {
					b.Keys = []string{}
					d.strs(v, p, func(s string, _ node, _ path) { b.Keys = append(b.Keys, s) })
				}},
				{"retention", func(v node, p path) { d.duration(v, p, &b.Retention) }},
				{"max_bytes", func(v node, p path) { d.size(v, p, &b.MaxBytes) }},
			})
		}},
	})
}

func (d *decoder) tracing(n node, p path, t *Tracing) {
	t.Pos = d.pos(resolve(n))
	d.object(n, p, []field{
		{"otlp_endpoint", func(v node, p path) {
			parsed(d, v, p, "a URL like http://127.0.0.1:4318", parseOTLPEndpoint, &t.OTLPEndpoint)
		}},
		{"headers", func(v node, p path) {
			t.Headers = map[string]Secret{}
			d.entries(v, p, func(k, v node, p path) {
				if !validHeaderName(k.Value) {
					d.addf(d.pos(k), p, "invalid header name %q; use letters, digits and -", k.Value)
				}
				var s Secret
				d.secret(v, p, &s)
				t.Headers[k.Value] = s
			})
		}},
		{"service_name", func(v node, p path) { d.str(v, p, &t.ServiceName) }},
		{"sample_ratio", func(v node, p path) {
			parsed(d, v, p, "a ratio between 0 and 1 like 0.2", parseRatio, &t.SampleRatio)
		}},
	})
}

// parseOTLPEndpoint accepts an http or https URL without query or
// fragment; the path /v1/traces is added when sending.
func parseOTLPEndpoint(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("want http:// or https:// and a host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("remove the query or fragment")
	}
	return strings.TrimSuffix(strings.TrimSuffix(s, "/"), "/v1/traces"), nil
}

func (d *decoder) storage(n node, p path, s *Storage) {
	s.Pos = d.pos(resolve(n))
	d.object(n, p, []field{
		{"sqlite", func(v node, p path) { d.str(v, p, &s.SQLite) }},
		{"data_dir", func(v node, p path) { d.str(v, p, &s.DataDir) }},
		{"postgres", func(v node, p path) { d.secret(v, p, &s.Postgres) }},
		{"redis", func(v node, p path) { d.secret(v, p, &s.Redis) }},
	})
}

func (d *decoder) provider(k, n node, p path) Provider {
	pr := Provider{Name: k.Value, Pos: d.pos(k)}
	d.checkName(k, p, "provider", false)
	d.object(n, p, []field{
		{"type", func(v node, p path) {
			d.enum(v, p, "provider type", providerTypes, &pr.Type)
			if pr.Type != "" && !supportedProviderType(pr.Type) {
				d.addf(d.pos(resolve(v)), p, "provider type %q is %s", pr.Type, unsupportedMessage)
			}
		}},
		{"base_url", func(v node, p path) {
			parsed(d, v, p, "a URL like https://api.example.com/v1", parseBaseURL, &pr.BaseURL)
		}},
		{"api_key", func(v node, p path) { d.secret(v, p, &pr.APIKey) }},
		{"headers", func(v node, p path) {
			pr.Headers = map[string]Secret{}
			seen := map[string]string{}
			d.entries(v, p, func(k, v node, p path) {
				canon := strings.ToLower(k.Value)
				if !validHeaderName(k.Value) {
					d.addf(d.pos(k), p, "invalid header name %q; use letters, digits and -", k.Value)
				} else if first, dup := seen[canon]; dup {
					d.addf(d.pos(k), p, "header %q repeats %q; header names ignore case", k.Value, first)
				}
				seen[canon] = k.Value
				var s Secret
				d.secret(v, p, &s)
				pr.Headers[k.Value] = s
			})
		}},
		{"api_version", func(v node, p path) { d.str(v, p, &pr.APIVersion) }},
		{"region", func(v node, p path) { d.str(v, p, &pr.Region) }},
		{"organization", func(v node, p path) { d.str(v, p, &pr.Organization) }},
		{"allow_private_network", func(v node, p path) { d.boolean(v, p, &pr.AllowPrivateNetwork) }},
		{"timeout", func(v node, p path) { d.duration(v, p, &pr.Timeout) }},
		{"connect_timeout", func(v node, p path) { d.duration(v, p, &pr.ConnectTimeout) }},
		{"first_token_timeout", func(v node, p path) { d.duration(v, p, &pr.FirstTokenTimeout) }},
		{"idle_timeout", func(v node, p path) { d.duration(v, p, &pr.IdleTimeout) }},
		{"preset", func(v node, p path) { d.str(v, p, &pr.Preset) }},
	})
	return pr
}

func (d *decoder) model(k, n node, p path) Model {
	m := Model{Name: k.Value, Pos: d.pos(k)}
	d.checkName(k, p, "model", true)
	d.object(n, p, []field{
		{"targets", func(v node, p path) {
			m.Targets = []Target{}
			d.list(v, p, func(item node, p path) {
				t := Target{Weight: 1, Pos: d.pos(item)}
				d.object(item, p, []field{
					{"provider", func(v node, p path) { d.str(v, p, &t.Provider) }},
					{"model", func(v node, p path) { d.str(v, p, &t.Model) }},
					{"weight", func(v node, p path) { d.integer(v, p, 0, math.MaxInt32, &t.Weight) }},
				})
				m.Targets = append(m.Targets, t)
			})
		}},
		{"fallbacks", func(v node, p path) {
			m.Fallbacks = []string{}
			d.strs(v, p, func(s string, _ node, _ path) { m.Fallbacks = append(m.Fallbacks, s) })
		}},
		{"price", func(v node, p path) {
			pr := &ModelPrice{Pos: d.pos(resolve(v))}
			if d.object(v, p, []field{
				{"input_per_mtok", func(v node, p path) { d.price(v, p, &pr.Input) }},
				{"output_per_mtok", func(v node, p path) { d.price(v, p, &pr.Output) }},
				{"cache_read_per_mtok", func(v node, p path) { d.optPrice(v, p, &pr.CacheRead) }},
				{"cache_write_per_mtok", func(v node, p path) { d.optPrice(v, p, &pr.CacheWrite) }},
				{"reasoning_per_mtok", func(v node, p path) { d.optPrice(v, p, &pr.Reasoning) }},
			}) {
				m.Price = pr
			}
		}},
		{"max_output_tokens", func(v node, p path) { d.integer(v, p, 1, math.MaxInt32, &m.MaxOutputTokens) }},
		{"context_window", func(v node, p path) { d.integer(v, p, 1, math.MaxInt32, &m.ContextWindow) }},
		{"strategy", func(v node, p path) { d.enum(v, p, "routing strategy", strategies, &m.Strategy) }},
		{"context_fallback", func(v node, p path) {
			d.str(v, p, &m.ContextFallback)
			m.ContextFallbackPos = d.pos(resolve(v))
		}},
		{"timeout", func(v node, p path) { d.duration(v, p, &m.Timeout) }},
		{"first_token_timeout", func(v node, p path) { d.duration(v, p, &m.FirstTokenTimeout) }},
		{"idle_timeout", func(v node, p path) { d.duration(v, p, &m.IdleTimeout) }},
	})
	return m
}

func (d *decoder) routing(n node, p path, r *Routing) {
	d.object(n, p, []field{
		{"strategy", func(v node, p path) { d.enum(v, p, "routing strategy", strategies, &r.Strategy) }},
		{"retries", func(v node, p path) { d.integer(v, p, 0, 10, &r.Retries) }},
		{"timeout", func(v node, p path) { d.duration(v, p, &r.Timeout) }},
		{"connect_timeout", func(v node, p path) { d.duration(v, p, &r.ConnectTimeout) }},
		{"first_token_timeout", func(v node, p path) { d.duration(v, p, &r.FirstTokenTimeout) }},
		{"idle_timeout", func(v node, p path) { d.duration(v, p, &r.IdleTimeout) }},
		{"backoff", func(v node, p path) {
			d.object(v, p, []field{
				{"base", func(v node, p path) { d.duration(v, p, &r.Backoff.Base) }},
				{"max", func(v node, p path) { d.duration(v, p, &r.Backoff.Max) }},
			})
		}},
		{"retry_budget", func(v node, p path) {
			d.object(v, p, []field{
				{"ratio", func(v node, p path) {
					parsed(d, v, p, "a ratio between 0 and 1 like 0.2", parseRatio, &r.RetryBudget.Ratio)
				}},
				{"min", func(v node, p path) { d.integer(v, p, 0, 1<<20, &r.RetryBudget.Min) }},
			})
		}},
		{"breaker", func(v node, p path) {
			d.object(v, p, []field{
				{"consecutive_failures", func(v node, p path) { d.integer(v, p, 1, math.MaxInt32, &r.Breaker.ConsecutiveFailures) }},
				{"failure_ratio", func(v node, p path) {
					parsed(d, v, p, "a ratio between 0 and 1 like 0.5", parseRatio, &r.Breaker.FailureRatio)
				}},
				{"min_requests", func(v node, p path) { d.integer(v, p, 1, math.MaxInt32, &r.Breaker.MinRequests) }},
				{"window", func(v node, p path) { d.duration(v, p, &r.Breaker.Window) }},
				{"cooldown", func(v node, p path) { d.duration(v, p, &r.Breaker.Cooldown) }},
			})
		}},
		{"rules", func(v node, p path) {
			d.list(v, p, func(item node, p path) {
				ru := Rule{Pos: d.pos(item)}
				d.object(item, p, []field{
					{"purpose", func(v node, p path) { d.str(v, p, &ru.Purpose) }},
					{"tag", func(v node, p path) { d.str(v, p, &ru.Tag) }},
					{"model", func(v node, p path) { d.str(v, p, &ru.Model) }},
					{"use", func(v node, p path) { d.str(v, p, &ru.Use) }},
				})
				r.Rules = append(r.Rules, ru)
			})
		}},
	})
}

// parseRatio parses a number in [0, 1].
func parseRatio(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		return 0, errors.New("must be a number from 0 to 1")
	}
	return f, nil
}

// checkName reports a map key that cannot serve as a name in headers,
// metrics and error messages. Model aliases may also hold / and :, as in
// meta-llama/Llama-3.1-8B-Instruct.
func (d *decoder) checkName(k node, p path, what string, alias bool) {
	s := k.Value
	ok := s != "" && len(s) <= 128
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '-' || c == '_' || c == '.'):
		case i > 0 && alias && (c == '/' || c == ':'):
		default:
			ok = false
		}
	}
	if !ok {
		allowed := "letters, digits, and - _ . after the first character"
		if alias {
			allowed = "letters, digits, and - _ . / : after the first character"
		}
		d.addf(d.pos(k), p, "invalid %s name %q; use %s", what, s, allowed)
	}
}

func parseAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", errors.New("write host:port, or :port for every interface")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", errors.New("the port must be a number from 0 to 65535")
	}
	if strings.ContainsAny(host, " /") {
		return "", errors.New("the host must be a name or an IP address")
	}
	return s, nil
}

func parseBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("write an absolute http:// or https:// URL")
	}
	if u.User != nil {
		return "", hiddenError{errors.New("remove the credentials from the URL, they would be logged; use api_key or headers")}
	}
	if u.Fragment != "" || u.RawQuery != "" {
		return "", errors.New("remove the query or fragment; use headers for extra parameters")
	}
	return strings.TrimSuffix(s, "/"), nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
