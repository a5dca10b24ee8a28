package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/users"
)

// API is the governance part of the admin API: keys, teams, users,
// budgets, limits, usage and audit records.
type API struct {
	Svc *Service
	// Usage and Records answer usage reports and audit queries; nil
	// answers 501.
	Usage   audit.UsageSource
	Records audit.Source
	// Verify checks the audit trail; nil answers 501.
	Verify Verifier
	Logger interface {
		Error(msg string, args ...any)
	}
}

var (
	adminOnly  = []Role{RoleAdmin}
	teamRoles  = []Role{RoleAdmin, RoleTeamAdmin}
	usageRoles = []Role{RoleAdmin, RoleAuditor, RoleTeamAdmin}
	auditRoles = []Role{RoleAdmin, RoleAuditor}
)

// Mount registers the API's routes on s.
func (a *API) Mount(s *Server) {
	s.Handle("GET", "/admin/v1/keys", teamRoles, Doc{Summary: "List keys (a team_admin sees its team's).",
		Query: map[string]string{"team": "only this team's keys", "all": "true to include revoked and expired keys"}, Response: "KeyList"}, a.listKeys)
	s.Handle("POST", "/admin/v1/keys", teamRoles, Doc{Summary: "Create a key; the answer holds its plaintext, shown once.", Request: "KeyCreate", Response: "KeyCreated"}, a.createKey)
	s.Handle("GET", "/admin/v1/keys/{id}", teamRoles, Doc{Summary: "A key by id or active name.", Response: "Key"}, a.getKey)
	s.Handle("PATCH", "/admin/v1/keys/{id}", teamRoles, Doc{Summary: "Change a key's models, expiry, metadata, budget, limits, end-user defaults or allowed IPs; null clears.", Request: "KeyUpdate", Response: "Key"}, a.updateKey)
	s.Handle("POST", "/admin/v1/keys/{id}/revoke", teamRoles, Doc{Summary: "Revoke a key now.", Response: "Key"}, a.revokeKey)
	s.Handle("POST", "/admin/v1/keys/{id}/rotate", teamRoles, Doc{Summary: "Replace a key by a new one with the same settings; the old one works for the grace period.", Request: "KeyRotate", Response: "KeyRotated"}, a.rotateKey)
	a.mountGovernance(s)
}

// fail writes err as the admin API's error.
func (a *API) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", strings.TrimPrefix(err.Error(), ErrForbidden.Error()+": "))
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", strings.TrimPrefix(err.Error(), ErrNotFound.Error()+": "))
	case errors.Is(err, keys.ErrNotFound), errors.Is(err, users.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such key or user; GET /admin/v1/keys lists the keys")
	case errors.Is(err, keys.ErrDuplicateName), errors.Is(err, keys.ErrRevoked):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, ErrInvalid), errors.Is(err, keys.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid_request", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	default:
		if a.Logger != nil {
			a.Logger.Error("admin request failed", "err", err)
		}
		writeError(w, http.StatusInternalServerError, "internal_error", "the admin API hit an internal error; the gateway log has the detail under this request id")
	}
}

// decode reads a JSON body strictly into v: unknown fields are refused.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: reading the body: %v", ErrInvalid, err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: the body is not valid: %v", ErrInvalid, err)
	}
	return nil
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, p *Principal) {
	team := r.URL.Query().Get("team")
	if p.Role == RoleTeamAdmin {
		if team != "" && team != p.Team {
			a.fail(w, teamOK(p, team))
			return
		}
		team = p.Team
	}
	ks, err := a.Svc.Keys.List(r.Context(), keys.ListFilter{Team: team, IncludeRevoked: r.URL.Query().Get("all") == "true"})
	if err != nil {
		a.fail(w, err)
		return
	}
	if ks == nil {
		ks = []keys.Key{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": ks})
}

// keyCreate is the body of POST /admin/v1/keys.
type keyCreate struct {
	Name      string            `json:"name"`
	Team      string            `json:"team"`
	Models    []string          `json:"models"`
	ExpiresAt *time.Time        `json:"expires_at"`
	ExpiresIn string            `json:"expires_in"`
	Metadata  map[string]string `json:"metadata"`
	keys.Settings
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	var in keyCreate
	if err := decode(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	o := keys.CreateOptions{Name: in.Name, Team: in.Team, Models: in.Models, Metadata: in.Metadata, Settings: in.Settings}
	if in.ExpiresAt != nil {
		o.ExpiresAt = *in.ExpiresAt
	}
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			a.fail(w, fmt.Errorf("%w: expires_in %q: want a positive duration like 720h", ErrInvalid, in.ExpiresIn))
			return
		}
		o.ExpiresAt = a.Svc.now().Add(d)
	}
	plain, k, err := a.Svc.CreateKey(r.Context(), p, o)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Plaintext string `json:"key"`
		*keys.Key
	}{plain, k})
}

func (a *API) getKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	k, err := a.Svc.Key(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

// keyUpdate is the body of PATCH /admin/v1/keys/{id}: an absent field is
// left as it is, null clears it.
type keyUpdate struct {
	Models     json.RawMessage `json:"models"`
	ExpiresAt  json.RawMessage `json:"expires_at"`
	Metadata   json.RawMessage `json:"metadata"`
	Budget     json.RawMessage `json:"budget"`
	Limits     json.RawMessage `json:"limits"`
	Users      json.RawMessage `json:"users"`
	AllowedIPs json.RawMessage `json:"allowed_ips"`
}

// field decodes one PATCH field into dst, reporting whether it was given.
func field[T any](name string, raw json.RawMessage, dst *T) (bool, error) {
	if raw == nil {
		return false, nil
	}
	var zero T
	*dst = zero
	if string(raw) == "null" {
		return true, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	return true, nil
}

func (a *API) updateKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	var in keyUpdate
	if err := decode(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	cur, err := a.Svc.Key(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	var u keys.Update
	set := cur.Settings
	var models []string
	var exp time.Time
	var md map[string]string
	var b *budget.Spec
	var l *ratelimit.Limits
	var ud *keys.UserDefaults
	var ips []netip.Prefix
	for _, f := range []func() error{
		func() error {
			ok, err := field("models", in.Models, &models)
			ifSet(ok, func() { u.Models = &models })
			return err
		},
		func() error {
			ok, err := field("expires_at", in.ExpiresAt, &exp)
			ifSet(ok, func() { u.ExpiresAt = &exp })
			return err
		},
		func() error {
			ok, err := field("metadata", in.Metadata, &md)
			ifSet(ok, func() { u.Metadata = &md })
			return err
		},
		func() error {
			ok, err := field("budget", in.Budget, &b)
			ifSet(ok, func() { set.Budget = b })
			return err
		},
		func() error {
			ok, err := field("limits", in.Limits, &l)
			ifSet(ok, func() { set.Limits = l })
			return err
		},
		func() error {
			ok, err := field("users", in.Users, &ud)
			ifSet(ok, func() { set.Users = ud })
			return err
		},
		func() error {
			ok, err := field("allowed_ips", in.AllowedIPs, &ips)
			ifSet(ok, func() { set.AllowedIPs = ips })
			return err
		},
	} {
		if err := f(); err != nil {
			a.fail(w, err)
			return
		}
	}
	u.Settings = &set
	k, err := a.Svc.UpdateKey(r.Context(), p, cur.ID, u)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func ifSet(ok bool, f func()) {
	if ok {
		f()
	}
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	k, err := a.Svc.RevokeKey(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (a *API) rotateKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	var in struct {
		Grace string `json:"grace"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	grace := time.Duration(0)
	if in.Grace != "" {
		d, err := time.ParseDuration(in.Grace)
		if err != nil {
			a.fail(w, fmt.Errorf("%w: grace %q: want a duration like 24h", ErrInvalid, in.Grace))
			return
		}
		grace = d
	}
	plain, next, old, err := a.Svc.RotateKey(r.Context(), p, r.PathValue("id"), grace)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": plain, "new": next, "old": old})
}
