package app

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/keys"
)

// TestCLIRecordsChained runs CLI admin writers (each its own App over the
// same database, as separate `airgw keys create` processes are) while a
// gateway serves and writes its own chain: every record is chained, the
// CLI chain has no gap or fork, `audit verify` passes with 0 unchained
// records; then one CLI record is altered in the database and verify names
// it.
func TestCLIRecordsChained(t *testing.T) {
	g := startGateway(t)
	defer g.stop()
	ctx := context.Background()
	const writers, perWriter = 4, 8
	var wg sync.WaitGroup
	for w := range writers {
		cli, err := Open(ctx, g.app.Config, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		wg.Go(func() {
			svc, me := cli.AdminService()
			for i := range perWriter {
				if _, _, err := svc.CreateKey(ctx, me, keys.CreateOptions{Name: fmt.Sprintf("cli-%d-%d", w, i), Team: "search"}); err != nil {
					t.Errorf("CreateKey: %v", err)
				}
			}
		})
	}
	// The gateway writes request records and admin records of its own
	// meanwhile.
	for range 10 {
		resp := g.post("/chat/completions", g.keys["search-app"], "application/json", `{"model":"demo-fast","messages":[{"role":"user","content":"hi"}]}`)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	wg.Wait()
	g.stop() // the spool drains into the database

	rep, err := g.app.VerifyTrail(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Unchained != 0 {
		t.Fatalf("verify: ok=%v unchained=%d, want ok with 0 unchained; chains %+v", rep.OK, rep.Unchained, rep.Chains)
	}
	var cliChain *audit.ChainReport
	for i := range rep.Chains {
		if rep.Chains[i].Chain == audit.CLIChain {
			cliChain = &rep.Chains[i]
		}
	}
	if len(rep.Chains) != 2 || cliChain == nil {
		t.Fatalf("chains = %+v, want the gateway's and %q", rep.Chains, audit.CLIChain)
	}
	if want := int64(writers * perWriter); cliChain.Records != want || cliChain.LastSeq != want || cliChain.Vouched != want {
		t.Errorf("cli chain = %+v, want %d records, seq 1 to %d, all vouched by a checkpoint", *cliChain, want, want)
	}

	// Alter the CLI chain's 7th record (its action) behind the gateway's back.
	db, err := sql.Open("sqlite", g.app.Config.Storage.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	if err := db.QueryRow(`SELECT request_id FROM audit_records WHERE chain = ? AND seq = 7`, audit.CLIChain).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_records SET endpoint = 'key.revoke' WHERE request_id = ?`, id); err != nil {
		t.Fatal(err)
	}
	rep, err = g.app.VerifyTrail(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p *audit.Problem
	for _, c := range rep.Chains {
		if c.Chain == audit.CLIChain {
			p = c.Problem
		} else if c.Problem != nil {
			t.Errorf("gateway chain %s: %+v, want ok", c.Chain, c.Problem)
		}
	}
	if rep.OK || p == nil || p.Kind != audit.ProblemAltered || p.Seq != 7 || p.RequestID != id {
		t.Errorf("verify after altering cli record 7 (%s): ok=%v problem=%+v, want altered at seq 7", id, rep.OK, p)
	}
}
