package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// ExportCheck is what CheckExport found in an export.
type ExportCheck struct {
	// Records is how many records the export holds, First and Last their
	// seqs.
	Records     int64
	First, Last int64
	// Problem says why the export is not one intact chain; empty when it
	// is.
	Problem string
	// Found maps each wanted seq to the hash the export holds for it (no
	// entry: the export does not reach it).
	Found map[int64]string
}

// CheckExport reads an export written by `steward audit export` (JSON
// lines, one record each) and checks that its records form one unbroken
// chain: consecutive seqs, each record's hash recomputed, each prev_hash
// the hash before it (and empty for seq 1). It keeps the hashes of the
// seqs in want only, so that an export of millions of records is never
// held in memory. Reading errors are returned; a broken chain is reported
// in Problem.
func CheckExport(r io.Reader, want ...int64) (*ExportCheck, error) {
	wanted := map[int64]bool{}
	for _, s := range want {
		wanted[s] = true
	}
	ec := &ExportCheck{Found: map[int64]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var prev Record
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var rec Record
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			ec.Problem = fmt.Sprintf("line %d is not an audit record: %v", line, err)
			return ec, nil
		}
		switch {
		case ec.Records == 0 && rec.Seq == 1 && rec.PrevHash != "":
			ec.Problem = "record 1 names a previous record"
		case ec.Records > 0 && rec.Seq != prev.Seq+1:
			ec.Problem = fmt.Sprintf("line %d holds seq %d after seq %d: records are missing, inserted or reordered", line, rec.Seq, prev.Seq)
		case ec.Records > 0 && rec.PrevHash != prev.Hash:
			ec.Problem = fmt.Sprintf("record %d does not chain to record %d", rec.Seq, prev.Seq)
		case Hash(rec) != rec.Hash:
			ec.Problem = fmt.Sprintf("record %d's hash does not match its content: it was edited", rec.Seq)
		}
		if ec.Problem != "" {
			return ec, nil
		}
		if ec.Records == 0 {
			ec.First = rec.Seq
		}
		ec.Records++
		ec.Last = rec.Seq
		if wanted[rec.Seq] {
			ec.Found[rec.Seq] = rec.Hash
		}
		prev = rec
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read audit export: %w", err)
	}
	if ec.Records == 0 {
		ec.Problem = "the export holds no records"
	}
	return ec, nil
}

// Holds says whether the export holds record seq with hash, and if not,
// why not.
func (ec *ExportCheck) Holds(seq int64, hash string) error {
	got, ok := ec.Found[seq]
	switch {
	case !ok:
		return fmt.Errorf("the export holds seq %d to %d, not seq %d", ec.First, ec.Last, seq)
	case got != hash:
		return fmt.Errorf("the export's record %d has hash %s, not %s", seq, got, hash)
	}
	return nil
}
