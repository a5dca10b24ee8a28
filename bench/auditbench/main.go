// Command auditbench measures the audit trail at full size; its figures go
// in docs/reliability.md (Audit) and docs/audit.md.
//
//	auditbench verify -n 1000000   generate a signed chain of n records in a fresh
//	                               SQLite file, time `audit verify`, then run the
//	                               T17 tamper trials on it, each one verified in full
//	auditbench query -n 10000000 [-mix apps|random]
//	                               generate n records over 90 days and time the
//	                               export filters and usage reports
//	auditbench outage -rate 1000 -for 3m -down 2m
//	                               T14/T15 at full size: records written at a fixed
//	                               rate through a real spool while the database is
//	                               down (or slow, -slow 50ms per batch), then counted
//
// Every run uses its own temporary directory (-dir to keep it) and prints
// one FIGURE line per measurement.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/airgw/airgw/internal/audit"
	"github.com/airgw/airgw/internal/store/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: auditbench verify|query|outage [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 1_000_000, "records to generate")
	dir := fs.String("dir", "", "working directory (default: a temporary one, removed at the end)")
	rate := fs.Int("rate", 1000, "outage: records per second")
	dur := fs.Duration("for", 3*time.Minute, "outage: how long to write")
	down := fs.Duration("down", 2*time.Minute, "outage: how long the database refuses writes, from the start")
	slow := fs.Duration("slow", 0, "outage: instead of down, delay every insert batch by this much")
	mix := fs.String("mix", "apps", "query: apps (each key uses 2 models, purposes and providers) or random (every record its own combination)")
	fs.Parse(os.Args[2:])
	if *dir == "" {
		d, err := os.MkdirTemp("", "auditbench-*")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(*dir, "airgw.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	switch os.Args[1] {
	case "verify":
		benchVerify(ctx, db, *n)
	case "query":
		benchQuery(ctx, db, *n, *mix)
	case "outage":
		benchOutage(ctx, db, *dir, *rate, *dur, *down, *slow)
	default:
		log.Fatalf("unknown benchmark %q", os.Args[1])
	}
}

var signer = ed25519.NewKeyFromSeed(make([]byte, 32))

// vocabulary of the generated records: bounded like a real deployment.
var (
	teams     = names("team", 20)
	models    = []string{"gpt-4o", "gpt-4o-mini", "claude-sonnet", "claude-haiku", "gemini-pro", "gemini-flash", "llama-local", "o3", "embed-small", "mistral-large"}
	providers = []string{"openai", "azure-eu", "anthropic", "bedrock-us", "gemini"}
	purposes  = names("purpose", 30)
	tags      = names("tag", 50)
	classes   = []string{"provider_timeout", "provider_unavailable", "rate_limited", "budget_exceeded", "stream_interrupted"}
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

// generate inserts n chained records spread over the 90 days before end,
// oldest first, with a signed checkpoint every 10,000 records.
func generate(ctx context.Context, db *sqlite.DB, n int, end time.Time) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := end.Add(-90 * 24 * time.Hour)
	step := 90 * 24 * time.Hour / time.Duration(n)
	var head audit.Head
	batch := make([]audit.Record, 0, 5000)
	t0 := time.Now()
	for i := range n {
		key := rng.IntN(200)
		r := audit.Record{Kind: audit.KindRequest, RequestID: fmt.Sprintf("req_%024x", i), Start: start.Add(time.Duration(i) * step),
			KeyID: fmt.Sprintf("key_%016d", key), KeyName: fmt.Sprintf("app-%d", key), Team: teams[key%len(teams)],
			EndUser: fmt.Sprintf("user-%d", rng.IntN(5000)), Purpose: purposes[rng.IntN(len(purposes))],
			Tags: []string{tags[rng.IntN(len(tags))]}, ClientIP: "10.0.0.1", Dialect: "openai", Endpoint: "/v1/chat/completions",
			Stream: rng.IntN(2) == 0, RequestedModel: models[rng.IntN(len(models))], Provider: providers[rng.IntN(len(providers))],
			ServedModel: "upstream-model", Status: 200, InputTokens: int64(rng.IntN(4000)), OutputTokens: int64(rng.IntN(800)),
			CostNanoUSD: int64(rng.IntN(20_000_000)), LatencyMillis: int64(rng.IntN(5000)), TTFTMillis: int64(rng.IntN(800)),
			Attempts: []audit.Attempt{{Provider: "openai", Model: "upstream-model", Status: 200, LatencyMillis: 100}}}
		r.End = r.Start.Add(time.Duration(r.LatencyMillis) * time.Millisecond)
		if rng.IntN(50) == 0 {
			r.Status, r.ErrorClass = 503, classes[rng.IntN(len(classes))]
		}
		body, err := audit.Body(&r)
		if err != nil {
			log.Fatal(err)
		}
		sum := sha256.Sum256(body)
		head = audit.Link(&r, "wbench", head, &sum)
		batch = append(batch, r)
		if len(batch) == cap(batch) || i == n-1 {
			if err := db.InsertRecords(ctx, batch); err != nil {
				log.Fatal(err)
			}
			batch = batch[:0]
		}
		if (i+1)%10_000 == 0 || i == n-1 {
			cp := audit.Checkpoint{Chain: "wbench", Seq: head.Seq, Hash: head.Hash, Time: r.Start}
			cp.Sign(signer)
			if err := db.InsertCheckpoints(ctx, []audit.Checkpoint{cp}); err != nil {
				log.Fatal(err)
			}
		}
		if (i+1)%1_000_000 == 0 {
			log.Printf("generated %d records (%.0f/s)", i+1, float64(i+1)/time.Since(t0).Seconds())
		}
	}
	fmt.Printf("FIGURE generate: %d records inserted (chained, all indexes) in %v: %.0f records/s\n", n, time.Since(t0).Round(time.Second), float64(n)/time.Since(t0).Seconds())
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ensure generates n records unless the database already holds them (a
// kept -dir), so that a run can be repeated without waiting again.
func ensure(ctx context.Context, db *sqlite.DB, n int, end time.Time) {
	if last, err := db.LastPosition(ctx); err == nil && last >= int64(n) {
		fmt.Printf("reusing the %d records already in %s\n", last, db.Path())
		return
	}
	generate(ctx, db, n, end)
}

func verify(ctx context.Context, db *sqlite.DB) (*audit.Report, time.Duration) {
	t0 := time.Now()
	rep, err := audit.Verify(ctx, db, audit.VerifyOptions{Trusted: []ed25519.PublicKey{signer.Public().(ed25519.PublicKey)}})
	if err != nil {
		log.Fatal(err)
	}
	return rep, time.Since(t0)
}

func benchVerify(ctx context.Context, db *sqlite.DB, n int) {
	ensure(ctx, db, n, time.Now())
	cpu0 := cpuTime()
	rep, took := verify(ctx, db)
	cpu := cpuTime() - cpu0
	if !rep.OK {
		log.Fatalf("the untouched chain does not verify: %+v", rep.Chains[0].Problem)
	}
	fmt.Printf("FIGURE verify: %d records, %d checkpoints verified in %v wall, %v CPU (%.0f records/s; GOMAXPROCS %d)\n", rep.Records, rep.Chains[0].Checkpoints,
		took.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(rep.Records)/took.Seconds(), runtime.GOMAXPROCS(0))
	tamperTrials(ctx, db, n)
}
