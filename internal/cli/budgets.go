package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Spend and rate-limit counters live in the serving process, so `airgw
// budgets` and `airgw limits` ask its admin API (the same routes, the same
// admin.Service code, the same audit record) rather than the database.

// call sends one request to the running gateway's admin API and decodes
// its JSON answer into out; an error answer becomes an error with the
// API's message.
func (a *adminFlags) call(e *env, method, path string, body, out any) error {
	base := a.url
	if base == "" {
		base = os.Getenv("AIRGW_ADMIN_URL")
	}
	if base == "" {
		base = defaultAdminURL
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := strings.TrimSuffix(base, "/") + path
	req, err := http.NewRequestWithContext(e.ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("the admin URL %q is not a URL: %w; pass it as http://HOST:PORT", base, err)
	}
	if k := os.Getenv("AIRGW_ADMIN_KEY"); k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w; is airgw serving its admin API there (--admin-url)?", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		var ae struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &ae) == nil && ae.Error.Message != "" {
			msg = ae.Error.Message
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg += "; set AIRGW_ADMIN_KEY to an admin credential"
		}
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, msg)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not what airgw's admin API sends: %w", method, u, err)
	}
	return nil
}

// budgetState is GET /admin/v1/budgets' view of one budget.
type budgetState struct {
	Account string `json:"account"`
	Owner   string `json:"owner"`
	Path    string `json:"path"`
	Budget  struct {
		Limit  string `json:"limit_usd"`
		Period string `json:"period"`
		Hard   bool   `json:"hard"`
	} `json:"budget"`
	Spent       string    `json:"spent_usd"`
	Reserved    string    `json:"reserved_usd"`
	Remaining   string    `json:"remaining_usd"`
	Alerted     int       `json:"alerted_percent"`
	PeriodStart time.Time `json:"period_start"`
	ResetsAt    time.Time `json:"resets_at"`
	LastReset   time.Time `json:"last_reset"`
}

// budgets runs `airgw budgets [list] [--account A]` and `airgw budgets
// reset ACCOUNT`.
func (e *env) budgets(args []string) error {
	sub := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("budgets "+sub, flag.ContinueOnError)
	var af adminFlags
	af.register(fs)
	asJSON := fs.Bool("json", false, "print the admin API's JSON")
	var account *string
	if sub == "list" {
		account = fs.String("account", "", "only this account (global, team:NAME, key:FAMILY, user:OWNER/ID)")
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		if len(pos) > 0 {
			return usagef("budgets list: unexpected argument %q", pos[0])
		}
		var out struct {
			Budgets []json.RawMessage `json:"budgets"`
		}
		path := "/admin/v1/budgets"
		if *account != "" {
			path += "?account=" + url.QueryEscape(*account)
		}
		if err := af.call(e, "GET", path, nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tPERIOD\tLIMIT\tSPENT\tRESERVED\tREMAINING\tALERTED\tRESETS\tLAST RESET")
		for _, raw := range out.Budgets {
			var b budgetState
			if err := json.Unmarshal(raw, &b); err != nil {
				return err
			}
			kind := b.Budget.Period
			if !b.Budget.Hard {
				kind += " (soft)"
			}
			alerted := "-"
			if b.Alerted > 0 {
				alerted = fmt.Sprintf("%d%%", b.Alerted)
			}
			fmt.Fprintf(tw, "%s\t%s\t$%s\t$%s\t$%s\t$%s\t%s\t%s\t%s\n", b.Account, kind, b.Budget.Limit, b.Spent, b.Reserved, b.Remaining,
				alerted, timeOrDash(b.ResetsAt), timeOrDash(b.LastReset))
		}
		return tw.Flush()
	case "reset":
		if len(pos) != 1 {
			return usagef("budgets reset: expected `airgw budgets reset ACCOUNT` (global, team:NAME, key:NAME, user:OWNER/ID)")
		}
		var out struct {
			Before budgetState `json:"before"`
			After  budgetState `json:"after"`
		}
		var raw json.RawMessage
		if err := af.call(e, "POST", "/admin/v1/budgets/reset", map[string]string{"account": pos[0]}, &raw); err != nil {
			return err
		}
		if *asJSON {
			_, err := e.stdout.Write(append(raw, '\n'))
			return err
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "reset %s (%s budget of $%s): spent $%s -> $%s; $%s still reserved by requests in flight; recorded in the audit trail (budget.reset)\n",
			out.After.Account, out.After.Budget.Period, out.After.Budget.Limit, out.Before.Spent, out.After.Spent, out.After.Reserved)
		return nil
	}
	return usagef("budgets: unknown subcommand %q; expected list or reset", sub)
}

// limits runs `airgw limits [--account A]`.
func (e *env) limits(args []string) error {
	fs := flag.NewFlagSet("limits", flag.ContinueOnError)
	var af adminFlags
	af.register(fs)
	asJSON := fs.Bool("json", false, "print the admin API's JSON")
	account := fs.String("account", "", "only this account (global, team:NAME, key:FAMILY, user:OWNER/ID)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("limits: unexpected argument %q", pos[0])
	}
	path := "/admin/v1/limits"
	if *account != "" {
		path += "?account=" + url.QueryEscape(*account)
	}
	var out struct {
		Limits []struct {
			Scope string `json:"scope"`
			Path  string `json:"path"`
			State []struct {
				Name      string `json:"name"`
				Limit     int64  `json:"limit"`
				Used      int64  `json:"used"`
				Remaining int64  `json:"remaining"`
				Reset     string `json:"reset"`
			} `json:"state"`
		} `json:"limits"`
	}
	var raw json.RawMessage
	if err := af.call(e, "GET", path, nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := e.stdout.Write(append(raw, '\n'))
		return err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tLIMIT\tMAX\tUSED\tREMAINING\tRESET")
	for _, l := range out.Limits {
		if len(l.State) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\n", l.Scope, l.Path) // end users' defaults: each user counts apart
			continue
		}
		for _, s := range l.State {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", l.Scope, s.Name, s.Limit, s.Used, s.Remaining, dash(s.Reset))
		}
	}
	return tw.Flush()
}
