// Package budget is the pipeline step that bounds spending (DESIGN.md §2,
// step 5, and §4): before a request is routed, its worst-case cost is
// reserved against every budget that applies (the gateway's, its team's,
// its key's, its end user's); a request that would take a hard budget past
// its limit is refused before any provider is called; when the request
// ends, on every path, the reservation is settled to the actual cost.
//
// A Tracker keeps, for every account (a team, a key family, an end user,
// the gateway), the spend of the current day, week, month and all time, in
// memory, rebuilt from the ledger at start. It is exact under any
// concurrency: the accounts of a request are locked together, in a fixed
// order, while their budgets are checked and reserved. Alerts go to the log
// and to a Notifier when spend crosses a threshold of a budget.
package budget

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airgw/airgw/internal/pricing"
)

// Period is how often a budget starts again. Calendar periods start at
// midnight in the Tracker's time zone; weeks start on Monday.
type Period string

// Periods.
const (
	Daily   Period = "daily"
	Weekly  Period = "weekly"
	Monthly Period = "monthly"
	Total   Period = "total" // never resets
)

// periods lists every Period in index order.
var periods = [...]Period{Daily, Weekly, Monthly, Total}

func (p Period) index() int { return slices.Index(periods[:], p) }

// Valid reports whether p is one of the periods.
func (p Period) Valid() bool { return p.index() >= 0 }

// bounds returns the start and end of the period of kind p that holds at,
// in loc. The end of Total is the zero Time's opposite: far in the future.
func (p Period) bounds(at time.Time, loc *time.Location) (start, end time.Time) {
	t := at.In(loc)
	y, m, d := t.Date()
	switch p {
	case Daily:
		start = time.Date(y, m, d, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 1)
	case Weekly:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 7)
	case Monthly:
		start = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 1, 0)
	}
	return time.Unix(0, 0).UTC(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
}

// DefaultAlertAt are the alert thresholds, in percent of the limit, of a
// budget that sets none.
var DefaultAlertAt = []int{50, 80, 100}

// Spec is one budget's settings.
type Spec struct {
	// Limit is the most that may be spent per period, in nano-USD.
	Limit  int64
	Period Period
	// Hard refuses requests whose worst-case cost would go over the limit;
	// a soft budget only alerts.
	Hard bool
	// AlertAt lists percentages of the limit at which an alert is sent,
	// ascending; empty means none.
	AlertAt []int
}

type specJSON struct {
	LimitUSD json.RawMessage `json:"limit_usd"`
	Period   Period          `json:"period"`
	Hard     *bool           `json:"hard,omitempty"`
	AlertAt  *[]int          `json:"alert_at,omitempty"`
}

// MarshalJSON writes the limit in dollars, as text, so that no float ever
// holds money: {"limit_usd":"50.00","period":"monthly",...}.
func (s Spec) MarshalJSON() ([]byte, error) {
	usd, _ := json.Marshal(strings.TrimPrefix(pricing.FormatUSD(s.Limit), "$"))
	alerts := s.AlertAt
	if alerts == nil {
		alerts = []int{}
	}
	return json.Marshal(specJSON{LimitUSD: usd, Period: s.Period, Hard: &s.Hard, AlertAt: &alerts})
}

// UnmarshalJSON reads limit_usd as a number or a string of dollars,
// exactly. hard defaults to true and alert_at to DefaultAlertAt.
func (s *Spec) UnmarshalJSON(b []byte) error {
	var j specJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if len(j.LimitUSD) == 0 {
		return errors.New("budget: limit_usd is missing; give the limit in USD, such as \"50\"")
	}
	text := strings.Trim(string(j.LimitUSD), `"`)
	n, err := pricing.ParseUSD(text)
	if err != nil {
		return fmt.Errorf("budget: limit_usd %s: want a dollar amount such as \"50\" or \"12.50\"", j.LimitUSD)
	}
	*s = Spec{Limit: n, Period: j.Period, Hard: true, AlertAt: DefaultAlertAt}
	if j.Hard != nil {
		s.Hard = *j.Hard
	}
	if j.AlertAt != nil {
		s.AlertAt = slices.Sorted(slices.Values(*j.AlertAt))
	}
	return s.Validate()
}

// Validate reports a spec that cannot be enforced.
func (s *Spec) Validate() error {
	switch {
	case s.Limit < 0:
		return errors.New("budget: limit_usd must not be negative")
	case !s.Period.Valid():
		return fmt.Errorf("budget: period %q: want daily, weekly, monthly or total", s.Period)
	}
	for _, a := range s.AlertAt {
		if a < 1 || a > 1000 {
			return fmt.Errorf("budget: alert_at %d: want a percentage from 1 to 1000", a)
		}
	}
	return nil
}

// Budget is one budget that applies to a request.
type Budget struct {
	// Account is the stable name of what it limits: "global",
	// "team:search", "key:<family>", "user:<owner>/<id>".
	Account string
	// Owner names it for people: "team `search`".
	Owner string
	// Path says where it is set, for messages: "teams.search.budget".
	Path string
	Spec Spec
}
