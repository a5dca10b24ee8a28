package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/user"
	"time"

	"github.com/airgw/airgw/internal/admin"
	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/keys"
)

// adminSettings is the governance part of cfg as the admin API shows it.
func adminSettings(cfg *config.Config) *admin.Settings {
	s := &admin.Settings{Budget: specOf(cfg.Budget), Limits: limitsOf(cfg.Limits), Timezone: cfg.Timezone, Teams: []admin.Team{}}
	for _, m := range cfg.Models {
		s.Models = append(s.Models, m.Name)
	}
	for _, t := range cfg.Teams {
		at := admin.Team{Name: t.Name, Models: t.Models, Budget: specOf(t.Budget), Limits: limitsOf(t.Limits)}
		if u := t.Users; u != nil {
			at.Users = &keys.UserDefaults{Budget: specOf(u.Budget), Limits: limitsOf(u.Limits)}
		}
		if rules, _ := policyRules("teams."+t.Name+".policies", "", t.Policies); rules != nil {
			at.Policies = ruleNames(rules)
		}
		s.Teams = append(s.Teams, at)
	}
	return s
}

// adminCredentials are the credentials of cfg: admin.key is the admin
// "admin", then every admin.credentials entry.
func adminCredentials(cfg *config.Config) []admin.Credential {
	var out []admin.Credential
	if cfg.Admin.Key != "" {
		out = append(out, admin.Credential{Name: "admin", Key: cfg.Admin.Key.Value(), Role: admin.RoleAdmin})
	}
	for _, c := range cfg.Admin.Credentials {
		out = append(out, admin.Credential{Name: c.Name, Key: c.Key.Value(), Role: admin.Role(c.Role), Team: c.Team})
	}
	return out
}

// AdminService returns the admin service for CLI commands: changes are
// recorded in the audit trail as made by "cli:<os user>", each record
// stored at once in the hash chain of CLI writers (audit.CLIChain) with a
// checkpoint signed by the gateway's key, so that `airgw audit verify`
// covers them. End users and spend belong to the serving process and are
// not available here.
func (a *App) AdminService() (*admin.Service, *admin.Principal) {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	cfg := a.Config
	return &admin.Service{Keys: a.Keys(), Audit: a.cliAudit(),
			Settings: func() *admin.Settings { return adminSettings(cfg) }},
		&admin.Principal{Name: "cli:" + name, Role: admin.RoleAdmin}
}

// cliAudit is the audit writer of CLI commands.
func (a *App) cliAudit() *syncAudit {
	signer, err := a.signingKey(true)
	if err != nil {
		a.Log.Warn("audit: no checkpoint signing key; CLI records are chained but not signed", "err", err)
		signer = nil
	}
	return &syncAudit{w: &audit.DirectWriter{DB: a.db, Chain: audit.CLIChain, Signer: signer}, log: a.Log}
}

// syncAudit writes each record at once: CLI commands are not on any
// request path and exit right after.
type syncAudit struct {
	w   *audit.DirectWriter
	log *slog.Logger
}

func (s *syncAudit) Write(rec audit.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.w.Write(ctx, rec); err != nil {
		s.log.Error("audit record of an admin change not written", "action", rec.Change.Action, "err", err)
	}
}

// adminServer is the running admin listener.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
	api *admin.Server
	// open is set in demo mode: no credential is checked.
	open bool
}

// startAdmin opens the admin listener when a credential is configured (or,
// in demo mode, on loopback without one). Without either it does not
// start: the control plane never runs unauthenticated.
func (a *App) startAdmin(ctx context.Context, cfg *config.Config, svc *admin.Service) (*adminServer, error) {
	creds := adminCredentials(cfg)
	open := false
	if len(creds) == 0 {
		host, _, _ := net.SplitHostPort(cfg.Server.AdminListen)
		ip := net.ParseIP(host)
		if !a.DemoAdmin || !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			a.Log.Warn("admin API not started: no admin credential; set admin.key (such as ${AIRGW_ADMIN_KEY}, from openssl rand -hex 32) to manage keys, users and budgets over HTTP", "admin_listen", cfg.Server.AdminListen)
			return nil, nil
		}
		open = true
	}
	api := admin.NewServer(creds, admin.Options{Open: open, Logger: a.Log})
	var usage audit.UsageSource
	if u, ok := any(a.db).(audit.UsageSource); ok {
		usage = u
	}
	verify := func(ctx context.Context) (*audit.Report, error) { return a.VerifyTrail(ctx, nil) }
	(&admin.API{Svc: svc, Usage: usage, Records: a.db, Verify: verify, Logger: a.Log}).Mount(api)
	// The reload routes (package reload), for the admin role only.
	adminOnly := []admin.Role{admin.RoleAdmin}
	api.Handle("POST", "/admin/v1/reload", adminOnly, admin.Doc{Summary: "Reload the config file now; 422 when it is refused (the running config stays)."},
		func(w http.ResponseWriter, r *http.Request, p *admin.Principal) {
			a.ReloadHandler(func(*http.Request) string { return p.Actor() })(w, r)
		})
	api.Handle("GET", "/admin/v1/config", adminOnly, admin.Doc{Summary: "The effective config in force (secrets redacted) and the last reload's status."},
		func(w http.ResponseWriter, r *http.Request, _ *admin.Principal) { a.ConfigHandler()(w, r) })
	ln, err := net.Listen("tcp", cfg.Server.AdminListen)
	if err != nil && open {
		a.Log.Warn("demo: admin API not started", "admin_listen", cfg.Server.AdminListen, "err", err)
		return nil, nil
	}
	if err != nil {
		where := ""
		if p, ok := cfg.Position("server.admin_listen"); ok {
			where = " (" + p.String() + ")"
		}
		return nil, fmt.Errorf("admin API: listening on %s%s: %w", cfg.Server.AdminListen, where, err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: time.Duration(cfg.Server.ReadHeaderTimeout),
		ReadTimeout:       time.Minute,
		IdleTimeout:       time.Duration(cfg.Server.IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("admin API stopped", "err", err)
		}
	}()
	a.Log.Info("admin API listening", "addr", ln.Addr().String(), "credentials", len(creds), "open_demo", open)
	if a.AdminReady != nil {
		a.AdminReady(ln.Addr())
	}
	return &adminServer{srv: srv, ln: ln, api: api, open: open}, nil
}

func (s *adminServer) shutdown(ctx context.Context) {
	if s == nil {
		return
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}
