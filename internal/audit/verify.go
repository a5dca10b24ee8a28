package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// ChainSource is what verification reads from a store.
type ChainSource interface {
	// Chains lists the chains present, and counts the records that belong
	// to no chain (CLI records written before DirectWriter chained them).
	Chains(ctx context.Context) (chains []string, unchained int64, err error)
	// ChainRecords calls fn for every record of chain in Seq order.
	ChainRecords(ctx context.Context, chain string, fn func(Record) error) error
	// Checkpoints returns chain's checkpoints in Seq order.
	Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error)
}

// CheckpointSink stores checkpoints. A Sink that implements it receives
// the Spool's checkpoints; storing one twice is not an error.
type CheckpointSink interface {
	InsertCheckpoints(ctx context.Context, cps []Checkpoint) error
}

// Problem kinds reported by Verify.
const (
	ProblemAltered     = "altered"             // a record's content does not match its hash
	ProblemMissing     = "missing"             // records absent from the middle or the start of a chain
	ProblemBroken      = "broken_link"         // a record does not follow the one before it (inserted or reordered)
	ProblemDuplicate   = "duplicate"           // two records with one Seq
	ProblemCheckpoint  = "checkpoint_mismatch" // the chain differs from what a signed checkpoint vouches for
	ProblemTruncated   = "truncated"           // records after the last one are vouched for by a checkpoint
	ProblemBadSigature = "bad_signature"       // a checkpoint whose signature fails or whose key is not trusted
)

// Problem is the first thing wrong with a chain.
type Problem struct {
	Kind string `json:"kind"`
	// Seq and RequestID name the first bad record (RequestID is empty when
	// the record is missing).
	Seq       int64  `json:"seq"`
	RequestID string `json:"request_id,omitempty"`
	Detail    string `json:"detail"`
}

// ChainReport is the verification of one chain.
type ChainReport struct {
	Chain       string `json:"chain"`
	Records     int64  `json:"records"`
	FirstSeq    int64  `json:"first_seq"`
	LastSeq     int64  `json:"last_seq"`
	Checkpoints int    `json:"checkpoints"`
	// Vouched is the Seq of the last signed checkpoint that matched: every
	// record up to it is covered by a signature.
	Vouched int64 `json:"vouched_seq"`
	// DeadLettered counts the records found in the dead-letter file
	// instead of the database (they are in Records too).
	DeadLettered int64    `json:"dead_lettered"`
	Problem      *Problem `json:"problem,omitempty"`
}

// Report is the result of Verify.
type Report struct {
	OK     bool          `json:"ok"`
	Chains []ChainReport `json:"chains"`
	// Records counts the chained records read; Unchained the records
	// outside any chain, which cannot be verified.
	Records   int64 `json:"records"`
	Unchained int64 `json:"unchained"`
	// Trusted is false when no trusted public key was given: checkpoint
	// signatures were then checked only against their own keys.
	Trusted bool `json:"trusted_keys"`
}

// VerifyOptions adds what Verify checks against.
type VerifyOptions struct {
	// Trusted are the public keys checkpoints must be signed with; none
	// checks signatures against their own keys only.
	Trusted []ed25519.PublicKey
	// DeadLetter returns the record of chain at seq from the dead-letter
	// file (ReadDeadLetters), when the database rejected it: such a record
	// fills its gap in the chain and is counted, not reported as missing.
	DeadLetter func(chain string, seq int64) (Record, bool)
}

// Verify checks every chain in src: each record's hash, each link to the
// record before, the absence of gaps, and the signed checkpoints. It
// reports the first bad record of each chain; it returns an error only
// when src cannot be read.
func Verify(ctx context.Context, src ChainSource, o VerifyOptions) (*Report, error) {
	chains, unchained, err := src.Chains(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{OK: true, Unchained: unchained, Trusted: len(o.Trusted) > 0}
	for _, c := range chains {
		cr, err := verifyChain(ctx, src, c, o)
		if err != nil {
			return nil, err
		}
		rep.Records += cr.Records
		if cr.Problem != nil {
			rep.OK = false
		}
		rep.Chains = append(rep.Chains, *cr)
	}
	return rep, nil
}

// errStop ends a chain's scan at its first problem.
var errStop = errors.New("stop")

func verifyChain(ctx context.Context, src ChainSource, chain string, o VerifyOptions) (*ChainReport, error) {
	trusted := o.Trusted
	cps, err := src.Checkpoints(ctx, chain)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cps, func(a, b Checkpoint) int { return int(a.Seq - b.Seq) })
	cr := &ChainReport{Chain: chain, Checkpoints: len(cps)}
	for i := range cps {
		if err := cps[i].Check(trusted); err != nil || cps[i].Chain != chain {
			if err == nil {
				err = fmt.Errorf("it belongs to chain %s", cps[i].Chain)
			}
			cr.Problem = &Problem{Kind: ProblemBadSigature, Seq: cps[i].Seq,
				Detail: fmt.Sprintf("the checkpoint at seq %d cannot be trusted: %v", cps[i].Seq, err)}
			return cr, nil
		}
	}
	next := 0 // the first checkpoint not yet reached
	var prev *Record
	var last Record
	var beforePrev Head // the record before prev
	fail := func(p Problem) error {
		cr.Problem = &p
		return errStop
	}
	// intruder reports prev as inserted when r links to the record before
	// it: r was written right after that one, and prev was put between.
	intruder := func(r *Record) error {
		if prev == nil || beforePrev.Hash == "" || r.PrevHash != beforePrev.Hash {
			return nil
		}
		return fail(Problem{Kind: ProblemBroken, Seq: prev.Seq, RequestID: prev.RequestID,
			Detail: fmt.Sprintf("record seq %d (request %s) was inserted: request %s links directly to seq %d", prev.Seq, prev.RequestID, r.RequestID, beforePrev.Seq)})
	}
	var check func(r Record, want string, hashErr error, dead bool) error
	// fill checks the dead-lettered records of seq from up to before to,
	// stopping at the first one the dead-letter file lacks.
	fill := func(from, to int64) error {
		if o.DeadLetter == nil {
			return nil
		}
		for seq := from; seq < to; seq++ {
			d, ok := o.DeadLetter(chain, seq)
			if !ok {
				return nil
			}
			want, herr := HashOf(&d)
			if err := check(d, want, herr, true); err != nil {
				return err
			}
		}
		return nil
	}
	check = func(r Record, want string, hashErr error, dead bool) error {
		if hashErr != nil {
			return fail(Problem{Kind: ProblemAltered, Seq: r.Seq, RequestID: r.RequestID, Detail: "the record cannot be encoded: " + hashErr.Error()})
		}
		switch {
		case prev == nil && r.Seq != 1 && !vouchesFor(cps, r.Seq-1, r.PrevHash):
			return fail(Problem{Kind: ProblemMissing, Seq: 1,
				Detail: fmt.Sprintf("the chain starts at seq %d (request %s): records 1 to %d are missing, and no signed checkpoint marks them as pruned", r.Seq, r.RequestID, r.Seq-1)})
		case prev != nil && r.Seq == prev.Seq:
			return fail(Problem{Kind: ProblemDuplicate, Seq: r.Seq, RequestID: r.RequestID,
				Detail: fmt.Sprintf("requests %s and %s both claim seq %d: one was inserted", prev.RequestID, r.RequestID, r.Seq)})
		case prev != nil && r.Seq != prev.Seq+1:
			return fail(Problem{Kind: ProblemMissing, Seq: prev.Seq + 1,
				Detail: fmt.Sprintf("records %s are missing between request %s (seq %d) and request %s (seq %d)", seqRange(prev.Seq+1, r.Seq-1), prev.RequestID, prev.Seq, r.RequestID, r.Seq)})
		case r.Hash != want:
			if err := intruder(&r); err != nil {
				return err
			}
			return fail(Problem{Kind: ProblemAltered, Seq: r.Seq, RequestID: r.RequestID,
				Detail: fmt.Sprintf("record seq %d (request %s) was altered: its content does not match its hash", r.Seq, r.RequestID)})
		case prev != nil && r.PrevHash != prev.Hash:
			if err := intruder(&r); err != nil {
				return err
			}
			return fail(Problem{Kind: ProblemBroken, Seq: r.Seq, RequestID: r.RequestID,
				Detail: fmt.Sprintf("record seq %d (request %s) does not follow seq %d (request %s): a record was inserted, replaced or moved", r.Seq, r.RequestID, prev.Seq, prev.RequestID)})
		}
		for next < len(cps) && cps[next].Seq < r.Seq {
			next++ // before the chain's first record (pruned) or already passed
		}
		if next < len(cps) && cps[next].Seq == r.Seq {
			if cps[next].Hash != r.Hash {
				from := int64(1)
				if next > 0 {
					from = cps[next-1].Seq + 1
				}
				return fail(Problem{Kind: ProblemCheckpoint, Seq: r.Seq, RequestID: r.RequestID,
					Detail: fmt.Sprintf("the chain differs from the checkpoint signed at seq %d: it was rewritten, hashes and all; the altered record is between seq %d and %d", r.Seq, from, r.Seq)})
			}
			cr.Vouched = r.Seq
			next++
		}
		if cr.Records == 0 {
			cr.FirstSeq = r.Seq
		}
		cr.Records++
		if dead {
			cr.DeadLettered++
		}
		cr.LastSeq = r.Seq
		if prev != nil {
			beforePrev = Head{Seq: prev.Seq, Hash: prev.Hash}
		}
		last = r
		prev = &last
		return ctx.Err()
	}
	err = hashed(ctx, src, chain, func(r Record, want string, hashErr error) error {
		switch {
		case prev != nil && r.Seq > prev.Seq+1:
			if err := fill(prev.Seq+1, r.Seq); err != nil {
				return err
			}
		case prev == nil && r.Seq > 1 && !vouchesFor(cps, r.Seq-1, r.PrevHash):
			if err := fill(1, r.Seq); err != nil {
				return err
			}
		}
		return check(r, want, hashErr, false)
	})
	if err == nil && len(cps) > 0 {
		err = fill(cr.LastSeq+1, cps[len(cps)-1].Seq+1)
	}
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if cr.Problem == nil && len(cps) > 0 && cps[len(cps)-1].Seq > cr.LastSeq {
		cp := cps[len(cps)-1]
		cr.Problem = &Problem{Kind: ProblemTruncated, Seq: cr.LastSeq + 1,
			Detail: fmt.Sprintf("records %s are missing from the end of the chain: a checkpoint signed at %s vouches for seq %d", seqRange(cr.LastSeq+1, cp.Seq), cp.Time.UTC().Format("2006-01-02T15:04:05Z"), cp.Seq)}
	}
	return cr, nil
}

// vouchesFor reports whether a checkpoint says record seq had hash.
func vouchesFor(cps []Checkpoint, seq int64, hash string) bool {
	for _, c := range cps {
		if c.Seq == seq && c.Hash == hash {
			return true
		}
	}
	return false
}

func seqRange(a, b int64) string {
	if a == b {
		return fmt.Sprintf("seq %d", a)
	}
	return fmt.Sprintf("seq %d to %d", a, b)
}

// hashBatch is a run of records read in chain order, hashed by a worker.
type hashBatch struct {
	recs   []Record
	hashes []string
	errs   []error
	done   chan struct{}
}

// hashed reads chain's records in Seq order and calls fn with each one and
// the hash it should carry, in order. Hashing, most of the work after
// reading, runs on every core while the next records are read.
func hashed(ctx context.Context, src ChainSource, chain string, fn func(r Record, want string, hashErr error) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const size = 512
	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *hashBatch, workers)
	ordered := make(chan *hashBatch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range work {
				for i := range b.recs {
					b.hashes[i], b.errs[i] = HashOf(&b.recs[i])
				}
				close(b.done)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		cur := &hashBatch{done: make(chan struct{})}
		send := func() bool {
			cur.hashes, cur.errs = make([]string, len(cur.recs)), make([]error, len(cur.recs))
			select {
			case work <- cur:
			case <-ctx.Done():
				return false
			}
			select {
			case ordered <- cur:
			case <-ctx.Done():
				return false
			}
			cur = &hashBatch{done: make(chan struct{})}
			return true
		}
		err := src.ChainRecords(ctx, chain, func(r Record) error {
			cur.recs = append(cur.recs, r)
			if len(cur.recs) == size && !send() {
				return ctx.Err()
			}
			return nil
		})
		if err == nil && len(cur.recs) > 0 {
			send()
		}
		readErr <- err
	}()
	var err error
	for b := range ordered {
		<-b.done
		for i := range b.recs {
			if err == nil {
				err = fn(b.recs[i], b.hashes[i], b.errs[i])
			}
		}
		if err != nil {
			cancel() // stop reading; drain what is queued
		}
	}
	wg.Wait()
	if rerr := <-readErr; err == nil && rerr != nil && !errors.Is(rerr, context.Canceled) {
		err = rerr
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}
