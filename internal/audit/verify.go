package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Problem says where the log first stops verifying.
type Problem struct {
	// Where is "catalog" or "mirror".
	Where string `json:"where"`
	// Seq is the first bad record's seq (its position when unreadable).
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// Report is the outcome of Verify.
type Report struct {
	Records  int64    `json:"records"`
	HeadSeq  int64    `json:"head_seq"`
	HeadHash string   `json:"head_hash"`
	Problem  *Problem `json:"problem,omitempty"`
}

// OK reports a log that verified.
func (r Report) OK() bool { return r.Problem == nil }

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

// Verify checks the catalog's chain, the mirror's chain, and that the two
// hold the same records. The first problem found is reported; the error
// wraps ErrTampered when the log does not verify.
func (l *Log) Verify(ctx context.Context) (Report, error) {
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
		rep.Problem = db.bad
		return rep, fmt.Errorf("%w: catalog record %d: %s", ErrTampered, db.bad.Seq, db.bad.Reason)
	}

	var mir chain
	var i int
	err = readMirror(l.mirror, func(line int, r Record, perr error) error {
		if mir.bad != nil {
			return nil
		}
		if perr != nil {
			mir.bad = &Problem{"mirror", int64(line), "line is not a valid record: " + perr.Error()}
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
		if db.n > 0 {
			rep.Problem = &Problem{"mirror", 1, "the mirror file " + l.mirror + " is missing"}
		}
	} else if err != nil {
		return rep, fmt.Errorf("read audit mirror: %w", err)
	}
	if rep.Problem == nil && mir.bad != nil {
		rep.Problem = mir.bad
	}
	if rep.Problem == nil && mir.n != db.n {
		seq := min(mir.n, db.n) + 1
		rep.Problem = &Problem{"mirror", seq, fmt.Sprintf("the mirror holds %d records and the catalog %d: records from seq %d were removed from one of them", mir.n, db.n, seq)}
	}
	if rep.Problem != nil {
		return rep, fmt.Errorf("%w: %s record %d: %s", ErrTampered, rep.Problem.Where, rep.Problem.Seq, rep.Problem.Reason)
	}
	return rep, nil
}
