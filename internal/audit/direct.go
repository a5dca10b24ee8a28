package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// CLIChain is the chain of the records that CLI commands write straight
// to the database (an `airgw keys create` run while the gateway is
// stopped, say). Every CLI process, on any host, appends to this one
// chain; gateways write their own chains ("w…"), so the two never meet.
const CLIChain = "cli"

// DirectSink is what a DirectWriter needs of the database: storing
// records, where a chain ends, and storing checkpoints. Its InsertRecords
// must refuse, with a *RejectedError, a record at a (Chain, Seq) already
// stored with other content (the SQLite store's unique index does).
type DirectSink interface {
	Sink
	HeadSource
	CheckpointSink
}

// DirectWriter links records into a chain and stores each one at once,
// followed by a signed checkpoint of the new head: the gateway's record
// format and checkpoints, without a spool, for processes that write a few
// records and exit.
//
// Several writers, in several processes, may share a chain. A record is
// linked to the head the database holds; when another writer stored a
// record there first, the database refuses the second at that position,
// and the writer links it again to the new head. The chain therefore
// never forks, whatever the concurrency. It is safe for concurrent use.
type DirectWriter struct {
	// DB stores the records and checkpoints.
	DB DirectSink
	// Chain is the chain written to; empty means CLIChain.
	Chain string
	// Signer signs a checkpoint after each record; nil writes none (the
	// records are still chained).
	Signer ed25519.PrivateKey
	// Now is the clock of checkpoints; nil means time.Now.
	Now func() time.Time
}

// maxRelinks bounds how often a record is linked again because other
// writers moved the head first.
const maxRelinks = 100

// Write links rec into the chain and stores it, then its checkpoint. A
// record the database refuses for another reason than a taken position
// is returned as an error.
func (w *DirectWriter) Write(ctx context.Context, rec Record) error {
	chain := w.Chain
	if chain == "" {
		chain = CLIChain
	}
	body, err := Body(&rec)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	sum := sha256.Sum256(body)
	for range maxRelinks {
		head, err := w.DB.ChainHead(ctx, chain)
		if err != nil {
			return fmt.Errorf("audit: chain %s: %w", chain, err)
		}
		r := rec
		next := Link(&r, chain, head, &sum)
		err = w.DB.InsertRecords(ctx, []Record{r})
		var rej *RejectedError
		if errors.As(err, &rej) {
			// Taken by another writer if the head moved; else refused.
			now, herr := w.DB.ChainHead(ctx, chain)
			if herr != nil || now.Seq < next.Seq {
				return fmt.Errorf("audit: record %s refused: %w", rec.RequestID, rej.Err)
			}
			if now == next {
				return w.checkpoint(ctx, chain, next) // stored already: a retried write
			}
			if err := sleepJitter(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("audit: record %s: %w", rec.RequestID, err)
		}
		return w.checkpoint(ctx, chain, next)
	}
	return fmt.Errorf("audit: record %s: chain %s kept moving after %d attempts to append to it", rec.RequestID, chain, maxRelinks)
}

func (w *DirectWriter) checkpoint(ctx context.Context, chain string, h Head) error {
	if w.Signer == nil {
		return nil
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	cp := Checkpoint{Chain: chain, Seq: h.Seq, Hash: h.Hash, Time: now().UTC()}
	cp.Sign(w.Signer)
	if err := w.DB.InsertCheckpoints(ctx, []Checkpoint{cp}); err != nil {
		return fmt.Errorf("audit: checkpoint of chain %s at %d: %w", chain, h.Seq, err)
	}
	return nil
}

// sleepJitter waits up to 5ms, so that writers that collided do not
// collide again in step.
func sleepJitter(ctx context.Context) error {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(5 * time.Millisecond))))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
