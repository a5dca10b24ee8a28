package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/keys"
	"github.com/airgw/airgw/internal/ratelimit"
	"github.com/airgw/airgw/internal/users"
)

// Settings is the governance part of the configuration in force, as the
// admin API shows it. The app builds it from the config and swaps it on
// reload.
type Settings struct {
	Budget *budget.Spec      `json:"budget,omitempty"`
	Limits *ratelimit.Limits `json:"limits,omitempty"`
	Teams  []Team            `json:"teams"`
	// Models are the configured model aliases.
	Models []string `json:"models"`
	// Timezone is where calendar budget periods start.
	Timezone string `json:"timezone"`
}

// Team is one configured team.
type Team struct {
	Name string `json:"name"`
	// Models is the team's allow-list; nil allows every model.
	Models   []string           `json:"models"`
	Budget   *budget.Spec       `json:"budget,omitempty"`
	Limits   *ratelimit.Limits  `json:"limits,omitempty"`
	Users    *keys.UserDefaults `json:"users,omitempty"`
	Policies []string           `json:"policies,omitempty"` // rule names
}

// Team returns the team called name, or nil.
func (s *Settings) Team(name string) *Team {
	for i := range s.Teams {
		if s.Teams[i].Name == name {
			return &s.Teams[i]
		}
	}
	return nil
}

// Service performs admin changes for the API and the CLI alike, checking
// the principal's rights and writing an audit record for each change.
type Service struct {
	Keys *keys.Manager
	// Users and Budgets are the running gateway's; the CLI has Users over
	// the database and no Budgets (spend lives in the serving process).
	Users   *users.Registry
	Budgets *budget.Tracker
	// Limiter is the running gateway's, for the live state of the rate
	// limits; nil shows the configured limits only.
	Limiter *ratelimit.Limiter
	// Audit receives the change records.
	Audit audit.Recorder
	// Settings returns the configuration in force.
	Settings func() *Settings
	// Invalidate, if set, drops the key cache after a change, so that this
	// process sees it at once (other replicas within the cache TTL).
	Invalidate func()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Errors a Service returns; the API maps them to statuses.
var (
	ErrForbidden = errors.New("admin: forbidden")
	ErrInvalid   = errors.New("admin: invalid request")
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// record writes the audit record of a change. before and after are
// marshalled as they are: keys and users carry no secret (a key's hash is
// never marshalled, its plaintext never stored).
func (s *Service) record(p *Principal, action, target, team, keyID string, before, after any) {
	if s.Audit == nil {
		return
	}
	now := s.now().UTC()
	var b [12]byte
	_, _ = rand.Read(b[:])
	s.Audit.Write(audit.Record{
		Kind: audit.KindAdmin, RequestID: "adm_" + hex.EncodeToString(b[:]), Start: now, End: now,
		KeyID: keyID, Team: team, Dialect: "admin", Endpoint: action, Status: 200,
		Change: &audit.Change{Actor: p.Actor(), Action: action, Target: target, Before: raw(before), After: raw(after)},
	})
}

func raw(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil
	}
	return b
}

// teamOK checks that p may manage the things of team.
func teamOK(p *Principal, team string) error {
	if p.CanSeeTeam(team) {
		return nil
	}
	if team == "" {
		return fmt.Errorf("%w: keys without a team are managed by role admin only", ErrForbidden)
	}
	return fmt.Errorf("%w: team `%s` is not yours (you manage team `%s`)", ErrForbidden, team, p.Team)
}

// CreateKey creates a key and returns its plaintext, shown once.
func (s *Service) CreateKey(ctx context.Context, p *Principal, o keys.CreateOptions) (string, *keys.Key, error) {
	if p.Role == RoleTeamAdmin && o.Team == "" {
		o.Team = p.Team
	}
	if err := teamOK(p, o.Team); err != nil {
		return "", nil, err
	}
	if err := s.checkAgainstConfig(o.Team, o.Models); err != nil {
		return "", nil, err
	}
	plain, k, err := s.Keys.Create(ctx, o)
	if err != nil {
		return "", nil, err
	}
	s.record(p, "key.create", "key:"+k.ID, k.Team, k.ID, nil, k)
	return plain, k, nil
}

// checkAgainstConfig refuses a team or model the config does not know:
// such a key could never make a request.
func (s *Service) checkAgainstConfig(team string, models []string) error {
	if s.Settings == nil {
		return nil
	}
	set := s.Settings()
	if team != "" && set.Team(team) == nil {
		var names []string
		for _, t := range set.Teams {
			names = append(names, t.Name)
		}
		return fmt.Errorf("%w: team %q is not in the config; known teams: %s (add it under `teams:` first)", ErrInvalid, team, strings.Join(names, ", "))
	}
	for _, m := range models {
		if !slices.ContainsFunc(set.Models, func(a string) bool { ok, _ := path.Match(m, a); return ok || a == m }) {
			return fmt.Errorf("%w: model %q is not in the config (and matches none of it); known models: %s", ErrInvalid, m, strings.Join(set.Models, ", "))
		}
	}
	return nil
}

// Key returns a key p may see.
func (s *Service) Key(ctx context.Context, p *Principal, idOrName string) (*keys.Key, error) {
	k, err := s.Keys.Get(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	if err := teamOK(p, k.Team); err != nil {
		return nil, err
	}
	return k, nil
}

// UpdateKey changes a key's models, expiry, metadata or settings.
func (s *Service) UpdateKey(ctx context.Context, p *Principal, idOrName string, u keys.Update) (*keys.Key, error) {
	if _, err := s.Key(ctx, p, idOrName); err != nil {
		return nil, err
	}
	if u.Models != nil {
		if err := s.checkAgainstConfig("", *u.Models); err != nil {
			return nil, err
		}
	}
	before, after, err := s.Keys.Update(ctx, idOrName, u)
	if err != nil {
		return nil, err
	}
	s.invalidate()
	s.record(p, "key.update", "key:"+after.ID, after.Team, after.ID, before, after)
	return after, nil
}

// RevokeKey revokes a key now.
func (s *Service) RevokeKey(ctx context.Context, p *Principal, idOrName string) (*keys.Key, error) {
	before, err := s.Key(ctx, p, idOrName)
	if err != nil {
		return nil, err
	}
	k, err := s.Keys.Revoke(ctx, before.ID)
	if err != nil {
		return nil, err
	}
	s.invalidate()
	s.record(p, "key.revoke", "key:"+k.ID, k.Team, k.ID, before, k)
	return k, nil
}

// RotateKey replaces a key by a new one; the old one works for grace.
func (s *Service) RotateKey(ctx context.Context, p *Principal, idOrName string, grace time.Duration) (string, *keys.Key, *keys.Key, error) {
	before, err := s.Key(ctx, p, idOrName)
	if err != nil {
		return "", nil, nil, err
	}
	plain, next, old, err := s.Keys.Rotate(ctx, before.ID, grace)
	if err != nil {
		return "", nil, nil, err
	}
	s.invalidate()
	s.record(p, "key.rotate", "key:"+old.ID, old.Team, old.ID, before, map[string]any{"old": old, "new": next})
	return plain, next, old, nil
}

func (s *Service) invalidate() {
	if s.Invalidate != nil {
		s.Invalidate()
	}
}

// userTeam returns the team an end-user owner belongs to: "team:x" → x;
// a key owner has none (its users are the admin's alone).
func userTeam(owner string) string {
	if len(owner) > 5 && owner[:5] == "team:" {
		return owner[5:]
	}
	return ""
}

// SetUser sets an end user's own budget and limits (nil restores its
// owner's defaults).
func (s *Service) SetUser(ctx context.Context, p *Principal, owner, id string, b *budget.Spec, l *ratelimit.Limits) (users.User, error) {
	if err := teamOK(p, userTeam(owner)); err != nil {
		return users.User{}, err
	}
	if s.Users == nil {
		return users.User{}, fmt.Errorf("%w: end users are not available here", ErrInvalid)
	}
	before, after, err := s.Users.Update(ctx, owner, id, b, l)
	if err != nil {
		return users.User{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s.record(p, "user.update", users.Account(owner, id), userTeam(owner), "", before, after)
	return after, nil
}
