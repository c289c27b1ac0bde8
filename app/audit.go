package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"steward/internal/audit"
)

// VerifyAudit checks the audit log's hash chain in the catalog and the
// mirror and records that it did. The error wraps audit.ErrTampered when
// the log does not verify (rep.Problem names the first bad record).
func (a *App) VerifyAudit(ctx context.Context) (audit.Report, error) {
	rep, verr := a.Audit.Verify(ctx)
	result := audit.ResultOK
	details := map[string]string{"records": fmt.Sprint(rep.Records)}
	if rep.Problem != nil {
		result = audit.ResultFailed
		details["first_bad_seq"] = fmt.Sprint(rep.Problem.Seq)
		details["where"] = rep.Problem.Where
	}
	if rep.Problem == nil && verr != nil {
		return rep, verr
	}
	if err := a.Record(ctx, "audit.verify", "audit-log", result, details); err != nil {
		return rep, err
	}
	return rep, verr
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
	if f, ok := w.(interface{ Sync() error }); ok {
		if err := f.Sync(); err != nil {
			return n, err
		}
	}
	details := map[string]string{"records": fmt.Sprint(n), "since": sinceArg, "until": untilArg}
	return n, a.Record(ctx, "audit.export", "audit-log", audit.ResultOK, details)
}
