package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"steward/certs"
	"steward/internal/audit"
)

// VerifyAudit checks the audit log's hash chain in the catalog and the
// mirror, and that the log still holds every anchor: the highest head an
// issued report carries (catalog) and every signed checkpoint (state dir,
// outside the catalog; each checkpoint's signature is checked first). A
// log that verifies gets a new signed checkpoint of its head. The check is
// recorded. The error wraps audit.ErrTampered when the log does not verify
// (rep.Problems names every problem).
//
// given are heads the operator read from documents kept outside the state
// dir (audit verify --head): the log must hold them too, which shows a
// removed tail even when the catalog's report anchor and the checkpoints
// were removed with it.
func (a *App) VerifyAudit(ctx context.Context, given ...audit.Anchor) (audit.Report, error) {
	signer, serr := certs.NewSigner(a.Config.Signing, "", a.Clock)
	anchors, probs, warnings, err := a.auditAnchors(ctx, signer, serr)
	if err != nil {
		return audit.Report{}, err
	}
	anchors = append(anchors, given...)
	rep, verr := a.Audit.Verify(ctx, anchors...)
	if rep.Problem == nil && verr != nil {
		return rep, verr
	}
	rep.Add(probs...)
	rep.Warnings = append(rep.Warnings, warnings...)
	var cerr error
	if rep.OK() && signer != nil {
		rep.Checkpoint, cerr = audit.WriteCheckpoint(a.State.AuditCheckpoints(), rep.HeadSeq, rep.HeadHash, a.Clock.Format(a.Clock.Now()), signer.Certificate, signer.Key)
		if cerr != nil {
			cerr = fmt.Errorf("its signed checkpoint was not written: %w", cerr)
		}
	}
	result := audit.ResultOK
	details := map[string]string{"records": fmt.Sprint(rep.Records), "anchors": fmt.Sprint(rep.Anchors)}
	if rep.Problem != nil {
		result = audit.ResultFailed
		details["first_bad_seq"] = fmt.Sprint(rep.Problem.Seq)
		details["where"] = rep.Problem.Where
		details["problems"] = fmt.Sprint(len(rep.Problems))
	}
	if rep.Checkpoint != "" {
		details["checkpoint"] = filepath.Base(rep.Checkpoint)
	}
	if cerr != nil {
		details["checkpoint_error"] = cerr.Error()
	}
	if err := a.Record(ctx, "audit.verify", "audit-log", result, details); err != nil {
		// The verdict stands (a full disk must not hide tampering); the
		// error says that the check is not on record.
		err = fmt.Errorf("the check was not recorded: %w", err)
		if rep.Problem != nil {
			return rep, errors.Join(rep.Err(), err)
		}
		return rep, fmt.Errorf("the audit log verified (%d records, head seq %d), but %w", rep.Records, rep.HeadSeq, err)
	}
	if cerr != nil {
		return rep, fmt.Errorf("the audit log verified, but %w", cerr)
	}
	return rep, rep.Err()
}

// auditAnchors gathers what the log must still hold: the report anchor
// from the catalog and the checkpoints that carry a valid signature of
// signer's certificate. Checkpoints that do not are returned as problems;
// without a signer (serr says why) none can be checked, which is a
// warning.
func (a *App) auditAnchors(ctx context.Context, signer *certs.Signer, serr error) ([]audit.Anchor, []audit.Problem, []string, error) {
	var anchors []audit.Anchor
	var warnings []string
	ra, err := audit.ReportAnchor(ctx, a.Catalog)
	if err != nil {
		return nil, nil, nil, err
	}
	if ra != nil {
		anchors = append(anchors, *ra)
	}
	if signer == nil {
		warnings = append(warnings, fmt.Sprintf("signed checkpoints in %s were neither checked nor written: %v", a.State.AuditCheckpoints(), serr))
		return anchors, nil, warnings, nil
	}
	cps, probs, err := audit.ReadCheckpoints(a.State.AuditCheckpoints(), signer.Certificate)
	if err != nil {
		return nil, nil, nil, err
	}
	return append(anchors, cps...), probs, warnings, nil
}

// writeCheckpoint signs a checkpoint of the log's current head with
// signer's key. The error says that the checkpoint was not written.
func (a *App) writeCheckpoint(ctx context.Context, signer *certs.Signer) (string, error) {
	seq, hash, err := a.Audit.Head(ctx)
	if err == nil {
		var path string
		path, err = audit.WriteCheckpoint(a.State.AuditCheckpoints(), seq, hash, a.Clock.Format(a.Clock.Now()), signer.Certificate, signer.Key)
		if err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("the signed audit checkpoint was not written: %w", err)
}

// ExportAudit writes the records whose time is in [since, until) as JSON
// lines to w (a zero bound is open) and records the export. It returns
// how many records it wrote.
func (a *App) ExportAudit(ctx context.Context, w io.Writer, since, until time.Time, sinceArg, untilArg string) (int64, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var n int64
	err := a.Audit.Scan(ctx, func(r audit.Record) error {
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			return fmt.Errorf("audit record %d has a bad time %q", r.Seq, r.Time)
		}
		if (!since.IsZero() && t.Before(since)) || (!until.IsZero() && !t.Before(until)) {
			return nil
		}
		n++
		return enc.Encode(r)
	})
	if err != nil {
		return n, err
	}
	// A file (--output) is synced before the export is recorded; a pipe
	// or a terminal cannot be (fsync fails on them with EINVAL), and
	// `steward audit export | jq` must work.
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if err := f.Sync(); err != nil {
				return n, err
			}
		}
	}
	details := map[string]string{"records": fmt.Sprint(n), "since": sinceArg, "until": untilArg}
	return n, a.Record(ctx, "audit.export", "audit-log", audit.ResultOK, details)
}
