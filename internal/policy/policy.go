// Package policy is the pipeline step that checks a decoded request against
// the rules an operator wrote (DESIGN.md §2, step 3): model allow and deny
// lists with globs, a required purpose, a prompt size limit, a max_tokens
// cap that rejects or clamps, PII detection that redacts, blocks or logs,
// deny patterns and allowed source addresses.
//
// Rules come in levels (the gateway's, a team's, a key's); a request is
// checked against every level that applies, in order, and each rule carries
// a name (its path in the config file, such as teams.search.policies.pii)
// that appears in the error a refused client gets and in the audit record.
// Rules that change the request (redact, clamp) change both the
// provider-neutral request and the client's native body, so that the
// provider never sees the original, whichever way the request is sent.
//
// A Rules value is immutable once built and safe for concurrent use.
package policy

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/airgw/airgw/internal/llm"
)

// Decision is what a rule did to a request that it let through (refusals
// are errors): redact, clamp or log, with a detail that never quotes the
// request's content.
type Decision struct {
	Policy string
	Action string
	Detail string
}

// List is a named list of model aliases and globs (path.Match syntax).
type List struct {
	Name     string
	Patterns []string
}

// Matches reports whether model is in the list.
func (l *List) Matches(model string) bool {
	for _, p := range l.Patterns {
		if p == model {
			return true
		}
		if ok, _ := path.Match(p, model); ok {
			return true
		}
	}
	return false
}

// Cap limits max_tokens: above Limit, a request is refused, or with Clamp
// lowered to Limit (and given Limit when it set none).
type Cap struct {
	Name  string
	Limit int
	Clamp bool
}

// Pattern is a named deny pattern.
type Pattern struct {
	Name string
	re   *regexp.Regexp
}

// NewPattern compiles a deny pattern (RE2 syntax).
func NewPattern(name, expr string) (Pattern, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return Pattern{}, fmt.Errorf("policy: pattern %s: %w", name, err)
	}
	return Pattern{Name: name, re: re}, nil
}

// Sources is a named list of allowed client address ranges.
type Sources struct {
	Name     string
	Prefixes []netip.Prefix
}

// Rules is one level of policy. Zero fields are off. Owner names the level
// in messages: "this gateway", "team `search`", "key `ci-bot`".
type Rules struct {
	Owner string
	// Allow lists must each contain the model (a team's models and its
	// policies.allow_models); Deny lists must not.
	Allow []List
	Deny  []List
	// RequirePurpose, when not empty, is the name of the rule that refuses
	// a request without a purpose.
	RequirePurpose string
	// MaxPromptTokens refuses prompts estimated above N tokens.
	MaxPromptTokens     int
	MaxPromptTokensName string
	MaxTokens           *Cap
	PII                 *PII
	Patterns            []Pattern
	Sources             *Sources
}

// Subject is the request as the rules see it. Check may change Chat and
// Embed (redact, clamp).
type Subject struct {
	// Model is the alias the client asked for.
	Model   string
	Purpose string
	// ClientIP is the peer address; invalid when unknown.
	ClientIP netip.Addr
	// Chat is the request (for embeddings: its model and user only).
	Chat *llm.Request
	// Embed is set for embeddings requests.
	Embed *llm.EmbeddingRequest
	// NoOutput marks calls that generate nothing (token counting,
	// embeddings): the max_tokens cap does not apply to them.
	NoOutput bool
}

// AllowsModel reports the first allow or deny rule of r that refuses
// model, or nil. GET /v1/models lists only the models every level allows.
func (r *Rules) AllowsModel(model string) *llm.Error {
	if r == nil {
		return nil
	}
	for i := range r.Allow {
		l := &r.Allow[i]
		if !l.Matches(model) {
			return &llm.Error{Code: llm.CodeModelNotAllowed, Param: "model", NoClientRetry: true, Policy: l.Name,
				Message: fmt.Sprintf("%s may not use model `%s` (policy `%s`); GET /v1/models lists the models this key may use, or an operator can add it to `%s`", r.Owner, model, l.Name, l.Name)}
		}
	}
	for i := range r.Deny {
		l := &r.Deny[i]
		if l.Matches(model) {
			return &llm.Error{Code: llm.CodeModelNotAllowed, Param: "model", NoClientRetry: true, Policy: l.Name,
				Message: fmt.Sprintf("model `%s` is denied to %s by policy `%s`; GET /v1/models lists the models this key may use", model, r.Owner, l.Name)}
		}
	}
	return nil
}

// Check applies r to s. It returns the decisions of rules that let the
// request through after acting on it, or the *llm.Error of the first rule
// that refuses it (its Policy field names the rule).
func (r *Rules) Check(s *Subject) ([]Decision, error) {
	if r == nil {
		return nil, nil
	}
	if src := r.Sources; src != nil {
		if !allowedSource(src.Prefixes, s.ClientIP) {
			ip := "an unknown address"
			if s.ClientIP.IsValid() {
				ip = s.ClientIP.String()
			}
			return nil, &llm.Error{Code: llm.CodePolicyViolation, NoClientRetry: true, Policy: src.Name,
				Message: fmt.Sprintf("requests from %s are not allowed for %s (policy `%s`); send from an allowed network, or ask an operator to add your address to `%s`", ip, r.Owner, src.Name, src.Name)}
		}
	}
	if err := r.AllowsModel(s.Model); err != nil {
		return nil, err
	}
	if r.RequirePurpose != "" && strings.TrimSpace(s.Purpose) == "" {
		return nil, &llm.Error{Code: llm.CodePolicyViolation, NoClientRetry: true, Policy: r.RequirePurpose,
			Message: fmt.Sprintf("%s requires a purpose on every request (policy `%s`): send the X-Airgw-Purpose header, or metadata.purpose in the body", r.Owner, r.RequirePurpose)}
	}
	if r.MaxPromptTokens > 0 {
		if n := promptTokens(s); n > int64(r.MaxPromptTokens) {
			return nil, &llm.Error{Code: llm.CodePolicyViolation, NoClientRetry: true, Policy: r.MaxPromptTokensName,
				Message: fmt.Sprintf("the prompt is about %d tokens, above the limit of %d that %s allows (policy `%s`); shorten it", n, r.MaxPromptTokens, r.Owner, r.MaxPromptTokensName)}
		}
	}
	var out []Decision
	if c := r.MaxTokens; c != nil && !s.NoOutput && s.Chat != nil {
		d, err := c.apply(s.Chat, r.Owner)
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, *d)
		}
	}
	if len(r.Patterns) > 0 {
		if p := matchPattern(r.Patterns, s); p != nil {
			return nil, &llm.Error{Code: llm.CodePolicyViolation, NoClientRetry: true, Policy: p.Name,
				Message: fmt.Sprintf("the request matches a pattern that %s refuses (policy `%s`); remove the matching text and send it again", r.Owner, p.Name)}
		}
	}
	if r.PII != nil {
		d, err := r.PII.apply(s, r.Owner)
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, *d)
		}
	}
	return out, nil
}

func allowedSource(prefixes []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// promptTokens estimates the request's input tokens.
func promptTokens(s *Subject) int64 {
	if s.Embed != nil {
		var n int64
		for _, in := range s.Embed.Input {
			n += int64(llm.EstimateTextTokens(in))
		}
		return n
	}
	if s.Chat == nil {
		return 0
	}
	return llm.EstimateInputTokens(s.Chat)
}

// apply enforces the cap on req.
func (c *Cap) apply(req *llm.Request, owner string) (*Decision, error) {
	if req.MaxTokens > 0 && req.MaxTokens <= c.Limit {
		return nil, nil
	}
	// An unset max_tokens gets the cap under either action: otherwise the
	// provider's default, often far larger, would apply.
	if !c.Clamp && req.MaxTokens > 0 {
		return nil, &llm.Error{Code: llm.CodePolicyViolation, Param: "max_tokens", NoClientRetry: true, Policy: c.Name,
			Message: fmt.Sprintf("max_tokens %d is above the limit of %d that %s allows (policy `%s`); ask for %d or fewer", req.MaxTokens, c.Limit, owner, c.Name, c.Limit)}
	}
	from := "unset"
	if req.MaxTokens > 0 {
		from = strconv.Itoa(req.MaxTokens)
	}
	if err := setMaxTokens(req, c.Limit); err != nil {
		return nil, &llm.Error{Code: llm.CodeInvalidRequest, NoClientRetry: true, Policy: c.Name, Err: err,
			Message: "airgw could not apply the max_tokens cap to this request body; send it as a JSON object"}
	}
	return &Decision{Policy: c.Name, Action: "clamp", Detail: "max_tokens " + from + " -> " + strconv.Itoa(c.Limit)}, nil
}

// matchPattern returns the first pattern that matches the request's text.
func matchPattern(ps []Pattern, s *Subject) *Pattern {
	var found *Pattern
	eachText(s, func(t string) bool {
		for i := range ps {
			if ps[i].re.MatchString(t) {
				found = &ps[i]
				return false
			}
		}
		return true
	})
	return found
}

// eachText calls fn with every piece of input text of the request (message
// text, tool call arguments, embedding inputs) until fn returns false.
func eachText(s *Subject, fn func(string) bool) {
	if s.Embed != nil {
		for _, in := range s.Embed.Input {
			if !fn(in) {
				return
			}
		}
		return
	}
	if s.Chat == nil {
		return
	}
	for i := range s.Chat.Messages {
		m := &s.Chat.Messages[i]
		for _, p := range m.Content {
			if (p.Type == llm.PartText || p.Type == llm.PartThinking) && p.Text != "" && !fn(p.Text) {
				return
			}
		}
		for _, tc := range m.ToolCalls {
			if tc.Arguments != "" && !fn(tc.Arguments) {
				return
			}
		}
	}
}
