// Package admin is airgw's control plane: the REST API under /admin/v1/ on
// its own listener, for keys, teams, end users, budgets, limits, usage
// reports and audit queries, and the Service that the API and the CLI
// share so that both change things the same way, each change recorded in
// the audit trail with its actor and the state before and after.
//
// Every request needs an admin credential (Authorization: Bearer …),
// compared in constant time. A credential has a role: admin (everything),
// auditor (usage and audit records, nothing else) or team_admin (the keys,
// users, budgets and usage of one team). Routes declare the roles they
// allow; a team_admin reaching another team's ids gets 403. The server
// fails closed: a route that is not registered is 404, a credential that
// is missing or wrong is 401, and nothing is served without one unless the
// server was built Open (demo mode on loopback).
package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
)

// Role is what a credential may do.
type Role string

// Roles.
const (
	RoleAdmin     Role = "admin"
	RoleAuditor   Role = "auditor"
	RoleTeamAdmin Role = "team_admin"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleAuditor, RoleTeamAdmin}

// Credential is one admin credential.
type Credential struct {
	// Name identifies the credential in the audit trail: the actor of a
	// change is "admin-key:<name>".
	Name string
	Key  string
	Role Role
	// Team is the team a team_admin manages.
	Team string
}

// Principal is the authenticated caller of a request.
type Principal struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	Team string `json:"team,omitempty"`
}

// Actor is the principal's name in audit records.
func (p *Principal) Actor() string {
	if strings.Contains(p.Name, ":") {
		return p.Name
	}
	return "admin-key:" + p.Name
}

// CanSeeTeam reports whether p may act on the things of team (keys,
// users, budgets, usage). Keys without a team are the admin's alone.
func (p *Principal) CanSeeTeam(team string) bool {
	return p.Role == RoleAdmin || p.Role == RoleTeamAdmin && team != "" && team == p.Team
}

// HandlerFunc serves one admin route for an authenticated principal whose
// role the route allows.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p *Principal)

// Route is one registered route, for the OpenAPI document and tests.
type Route struct {
	Method, Path string
	Roles        []Role
	Doc          Doc
}

// Doc describes a route in the OpenAPI document.
type Doc struct {
	Summary string
	// Query lists the query parameters: name → description.
	Query map[string]string
	// Request and Response name component schemas (see openapi.go); empty
	// means none or a free-form object.
	Request, Response string
}

type cred struct {
	sum [32]byte
	p   Principal
}

// Options configures a Server.
type Options struct {
	// Open serves every request as the admin "demo", without a credential.
	// The app sets it only in demo mode on a loopback address.
	Open   bool
	Logger *slog.Logger
}

// Server is the admin API's handler. Handle registers routes before it
// serves; SetCredentials may be called at any time (a config reload).
type Server struct {
	mux    *http.ServeMux
	routes []Route
	creds  atomic.Pointer[[]cred]
	open   bool
	log    *slog.Logger
}

// NewServer returns a Server with no route but /admin/v1/openapi.json and
// /admin/v1/whoami, accepting creds.
func NewServer(creds []Credential, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{mux: http.NewServeMux(), open: o.Open, log: o.Logger}
	s.SetCredentials(creds)
	s.Handle("GET", "/admin/v1/whoami", Roles, Doc{Summary: "The caller's credential name, role and team.", Response: "Principal"},
		func(w http.ResponseWriter, r *http.Request, p *Principal) { writeJSON(w, http.StatusOK, p) })
	s.Handle("GET", "/admin/v1/openapi.json", Roles, Doc{Summary: "This API's OpenAPI 3.1 description."}, s.serveOpenAPI)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !s.authenticate(w, r) {
			return
		}
		for _, rt := range s.routes {
			if rt.Path == r.URL.Path || matchPattern(rt.Path, r.URL.Path) {
				writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path+"; GET /admin/v1/openapi.json lists the routes")
				return
			}
		}
		writeError(w, http.StatusNotFound, "not_found", "no admin route "+r.Method+" "+r.URL.Path+"; GET /admin/v1/openapi.json lists the routes")
	})
	return s
}

// SetCredentials replaces the accepted credentials; requests in flight
// keep the ones they were checked against.
func (s *Server) SetCredentials(creds []Credential) {
	cs := make([]cred, 0, len(creds))
	for _, c := range creds {
		if c.Key == "" {
			continue
		}
		cs = append(cs, cred{sum: sha256.Sum256([]byte(c.Key)), p: Principal{Name: c.Name, Role: c.Role, Team: c.Team}})
	}
	s.creds.Store(&cs)
}

// Handle registers h for method and path (net/http pattern syntax, such
// as /admin/v1/keys/{id}), allowed to roles. It is how other packages
// mount their admin routes (reload, effective config, audit export).
func (s *Server) Handle(method, path string, roles []Role, doc Doc, h HandlerFunc) {
	s.routes = append(s.routes, Route{Method: method, Path: path, Roles: slices.Clone(roles), Doc: doc})
	s.mux.HandleFunc(method+" "+path, func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.principal(w, r)
		if !ok {
			return
		}
		if !slices.Contains(roles, p.Role) {
			writeError(w, http.StatusForbidden, "forbidden", "role "+string(p.Role)+" may not "+method+" "+path+"; it is allowed to "+joinRoles(roles))
			return
		}
		h(w, r, p)
	})
}

// Routes lists the registered routes in registration order.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// ServeHTTP assigns a request id and dispatches. Every answer is JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	w.Header().Set("X-Request-Id", "adm_"+hex.EncodeToString(b[:]))
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	_, ok := s.principal(w, r)
	return ok
}

// principal authenticates r, writing the 401 itself when it fails.
func (s *Server) principal(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	if s.open {
		return &Principal{Name: "demo", Role: RoleAdmin}, true
	}
	a := r.Header.Get("Authorization")
	if len(a) < 8 || !strings.EqualFold(a[:7], "bearer ") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="airgw-admin"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "the admin API needs a credential: send Authorization: Bearer <admin key> (admin.key or admin.credentials in the config)")
		return nil, false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(a[7:])))
	var found *Principal
	for _, c := range *s.creds.Load() {
		// Every credential is compared, so timing says nothing about which.
		if subtle.ConstantTimeCompare(sum[:], c.sum[:]) == 1 {
			p := c.p
			found = &p
		}
	}
	if found == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="airgw-admin"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "the admin credential is not known to this gateway; check admin.key and admin.credentials in the config")
		return nil, false
	}
	return found, true
}

func joinRoles(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// matchPattern reports whether path fits pattern, {name} matching one
// segment.
func matchPattern(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] != xs[i] && !(strings.HasPrefix(ps[i], "{") && xs[i] != "") {
			return false
		}
	}
	return true
}

// apiError is the admin API's error body.
type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message, e.Error.RequestID = code, msg, w.Header().Get("X-Request-Id")
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
