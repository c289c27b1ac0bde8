package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
)

// Problem says where the log first stops verifying.
type Problem struct {
	// Where is "catalog" or "mirror" (the chain), or the kind of anchor
	// the log no longer holds: "report anchor" or "checkpoint".
	Where string `json:"where"`
	// Seq is the first bad record's seq (its position when unreadable; the
	// first missing or rewritten seq for an anchor).
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// Report is the outcome of Verify.
type Report struct {
	Records  int64  `json:"records"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// Anchors is how many anchors (report anchor, checkpoints) were
	// checked against the log.
	Anchors int `json:"anchors"`
	// Problem is the first of Problems.
	Problem *Problem `json:"problem,omitempty"`
	// Problems lists every problem found: at most one in the chain, then
	// what the anchors show.
	Problems []Problem `json:"problems,omitempty"`
	// Checkpoint is the signed checkpoint written after the log verified.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Warnings are what could not be checked, and why.
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports a log that verified.
func (r Report) OK() bool { return r.Problem == nil }

// Add records problems; the first one recorded is Problem.
func (r *Report) Add(ps ...Problem) {
	r.Problems = append(r.Problems, ps...)
	if r.Problem == nil && len(r.Problems) > 0 {
		p := r.Problems[0]
		r.Problem = &p
	}
}

// Err is nil for a log that verified, else an error wrapping ErrTampered
// that names the first problem.
func (r Report) Err() error {
	if r.Problem == nil {
		return nil
	}
	p := r.Problem
	var err error
	switch p.Where {
	case "catalog", "mirror":
		err = fmt.Errorf("%w: %s record %d: %s", ErrTampered, p.Where, p.Seq, p.Reason)
	default:
		err = fmt.Errorf("%w: %s", ErrTampered, p.Reason)
	}
	if n := len(r.Problems) - 1; n > 0 {
		err = fmt.Errorf("%w (and %d more problem(s))", err, n)
	}
	return err
}

// chain checks records one by one.
type chain struct {
	n    int64
	prev string
	bad  *Problem
	head Record
}

func (c *chain) add(where string, r Record) {
	if c.bad != nil {
		return
	}
	c.n++
	switch {
	case r.Seq != c.n:
		c.bad = &Problem{where, c.n, fmt.Sprintf("expected seq %d, found %d: a record was removed, inserted or reordered", c.n, r.Seq)}
	case r.PrevHash != c.prev:
		c.bad = &Problem{where, r.Seq, "prev_hash does not match the previous record's hash: a record before it was removed, inserted or reordered"}
	case Hash(r) != r.Hash:
		c.bad = &Problem{where, r.Seq, "hash does not match the record's content: the record was edited"}
	default:
		c.prev = r.Hash
		c.head = r
	}
}

// Verify checks the catalog's chain, the mirror's chain, that the two hold
// the same records and, once they do, that the log still holds every
// anchor: a removed tail or a consistently rewritten chain verifies as a
// chain but not against the anchors. Every problem is reported (the chain's
// first, then the anchors'); the error wraps ErrTampered when the log does
// not verify.
func (l *Log) Verify(ctx context.Context, anchors ...Anchor) (Report, error) {
	return l.verify(ctx, func(fn func(int, Record, error) error) error { return readMirror(l.mirror, fn) }, anchors)
}

// verify is Verify with the mirror read by readMirror.
func (l *Log) verify(ctx context.Context, readMirror func(func(int, Record, error) error) error, anchors []Anchor) (Report, error) {
	var db chain
	var dbRecs []Record
	err := l.store.ScanAudit(ctx, func(r Record) error {
		db.add("catalog", r)
		dbRecs = append(dbRecs, r)
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("read audit records: %w", err)
	}
	rep := Report{Records: db.n, HeadSeq: db.head.Seq, HeadHash: db.head.Hash}
	if db.bad != nil {
		rep.Add(*db.bad)
		return rep, rep.Err()
	}

	var mir chain
	var i int
	err = readMirror(func(line int, r Record, perr error) error {
		if mir.bad != nil {
			return nil
		}
		if perr != nil {
			mir.bad = &Problem{"mirror", int64(line), "line is not a valid record: " + perr.Error()}
			return nil
		}
		if l.part {
			// Only some records, in seq order: each must be the catalog's.
			k, found := slices.BinarySearchFunc(dbRecs, r.Seq, func(d Record, seq int64) int { return cmp.Compare(d.Seq, seq) })
			if !found || dbRecs[k].Hash != r.Hash || Hash(r) != r.Hash || (mir.n > 0 && r.Seq <= mir.head.Seq) {
				mir.bad = &Problem{"mirror", r.Seq, "the mirror and the catalog disagree at this record"}
			}
			mir.n++
			mir.head = r
			return nil
		}
		mir.add("mirror", r)
		if mir.bad == nil && (i >= len(dbRecs) || dbRecs[i].Hash != r.Hash) {
			mir.bad = &Problem{"mirror", r.Seq, "the mirror and the catalog disagree at this record"}
		}
		i++
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		if db.n > 0 && !l.part {
			rep.Add(Problem{"mirror", 1, "the mirror file " + l.mirror + " is missing"})
		}
	} else if err != nil {
		return rep, fmt.Errorf("read audit mirror: %w", err)
	}
	if rep.Problem == nil && mir.bad != nil {
		rep.Add(*mir.bad)
	}
	if rep.Problem == nil && mir.n != db.n && !l.part {
		seq := min(mir.n, db.n) + 1
		rep.Add(Problem{"mirror", seq, fmt.Sprintf("the mirror holds %d records and the catalog %d: records from seq %d were removed from one of them", mir.n, db.n, seq)})
	}
	if rep.Problem == nil {
		rep.Anchors = len(anchors)
		rep.Add(checkAnchors(dbRecs, anchors)...)
	}
	return rep, rep.Err()
}
