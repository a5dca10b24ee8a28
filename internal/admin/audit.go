package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/airgw/airgw/internal/audit"
)

// Verifier checks the audit trail (the app's VerifyTrail: chains,
// checkpoints against the gateway's own key, dead letters).
type Verifier func(ctx context.Context) (*audit.Report, error)

// export streams every matching record, oldest first, in the format asked
// (jsonl by default, or csv), as `airgw audit export` prints them. The
// status is sent before the first record: a failure after that ends the
// body early and is logged.
func (a *API) export(w http.ResponseWriter, r *http.Request, p *Principal) {
	f, err := a.filter(r, p)
	if err != nil {
		a.fail(w, err)
		return
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			a.fail(w, fmt.Errorf("%w: limit %q: want a number of records, 0 for all", ErrInvalid, v))
			return
		}
		f.Limit = n
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = audit.FormatJSONL
	}
	if format != audit.FormatJSONL && format != audit.FormatCSV {
		a.fail(w, fmt.Errorf("%w: format %q: want jsonl or csv", ErrInvalid, format))
		return
	}
	if a.Records == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "audit queries are not available in this build")
		return
	}
	ctype := "application/jsonl"
	if format == audit.FormatCSV {
		ctype = "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="airgw-audit.`+format+`"`)
	ex, err := audit.NewExporter(w, format)
	if err != nil {
		a.fail(w, err)
		return
	}
	err = a.Records.QueryRecords(r.Context(), f, ex.Write)
	if cerr := ex.Close(); err == nil {
		err = cerr
	}
	if err != nil && a.Logger != nil {
		a.Logger.Error("admin audit export cut short", "err", err)
	}
}

// verify runs Verify and answers its report: 200 with ok true or false
// (a broken chain is a finding, not a failure of the request).
func (a *API) verify(w http.ResponseWriter, r *http.Request, _ *Principal) {
	if a.Verify == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "audit verification is not available in this build")
		return
	}
	rep, err := a.Verify(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
