package budget

import (
	"encoding/json"
	"strings"
	"time"
)

// Alert types.
const (
	// AlertThreshold: spend reached a threshold of a budget's limit.
	AlertThreshold = "budget.threshold"
	// AlertRefused: a hard budget refused a request (sent once per period):
	// it refuses before spend reaches 100%, since a request is refused when
	// its worst case does not fit.
	AlertRefused = "budget.refused"
)

// Alert is one budget event, sent to the log and to the Notifier.
type Alert struct {
	Type   string
	Budget Budget
	// Percent is the threshold crossed, for AlertThreshold.
	Percent     int
	Spent       int64
	PeriodStart time.Time
	ResetsAt    time.Time
	At          time.Time
	// epoch is the period's last reset when the alert was decided, for
	// the Journal.
	epoch time.Time
}

// MarshalJSON is the webhook payload: money as dollar text, times in UTC.
func (a Alert) MarshalJSON() ([]byte, error) {
	type payload struct {
		Type        string    `json:"type"`
		Budget      string    `json:"budget"`
		Owner       string    `json:"owner"`
		Path        string    `json:"path"`
		Period      Period    `json:"period"`
		Hard        bool      `json:"hard"`
		Percent     int       `json:"threshold_percent,omitempty"`
		LimitUSD    string    `json:"limit_usd"`
		SpentUSD    string    `json:"spent_usd"`
		PeriodStart time.Time `json:"period_start"`
		ResetsAt    time.Time `json:"resets_at,omitzero"`
		At          time.Time `json:"at"`
	}
	p := payload{Type: a.Type, Budget: a.Budget.Account, Owner: strings.ReplaceAll(a.Budget.Owner, "`", ""), Path: a.Budget.Path,
		Period: a.Budget.Spec.Period, Hard: a.Budget.Spec.Hard, Percent: a.Percent,
		LimitUSD: dollars(a.Budget.Spec.Limit), SpentUSD: dollars(a.Spent),
		PeriodStart: a.PeriodStart.UTC(), At: a.At.UTC()}
	if a.Budget.Spec.Period != Total {
		p.ResetsAt = a.ResetsAt.UTC()
	}
	return json.Marshal(p)
}

func dollars(nano int64) string { return strings.TrimPrefix(usd(nano), "$") }

// Notifier delivers alerts beyond the log, such as a webhook. Notify must
// not block: it is called from the request path.
type Notifier interface {
	Notify(a Alert)
}

func (t *Tracker) alert(a Alert) {
	attrs := []any{"budget", a.Budget.Account, "path", a.Budget.Path, "period", string(a.Budget.Spec.Period),
		"limit_usd", dollars(a.Budget.Spec.Limit), "spent_usd", dollars(a.Spent), "hard", a.Budget.Spec.Hard}
	if a.Type == AlertThreshold {
		t.log.Warn("budget threshold reached", append(attrs, "percent", a.Percent)...)
	} else {
		t.log.Warn("budget refused a request", attrs...)
	}
	if t.notify != nil {
		t.notify.Notify(a)
	}
	t.remember(a)
}

// Discard is a Notifier that drops alerts (the log still has them).
var Discard Notifier = discard{}

type discard struct{}

func (discard) Notify(Alert) {}
