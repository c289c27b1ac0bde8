package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"steward/certs"
	"steward/internal/audit"
	"steward/internal/crash"
)

// RenderOptions are the options every signed report is rendered with.
func (a *App) RenderOptions() certs.RenderOptions {
	return certs.RenderOptions{
		FontPath: a.Config.Signing.Font,
		Location: a.Clock.Location(),
		Clock:    a.Clock,
		Issuer:   certs.Issuer{Organisation: a.Config.Signing.Organisation, Signer: a.Config.Signing.Signer},
		TempDir:  a.State.Tmp(),
	}
}

// SignedReport is one PDF to render, sign and file in the reports folder.
type SignedReport struct {
	// File is the file name in the reports folder.
	File string
	// Reason goes into the signature.
	Reason string
	// Action and Target are the audit record's.
	Action, Target string
	Details        map[string]string
	Render         func(io.Writer, certs.RenderOptions) (*certs.Rendered, error)
	// Filed, when set, is the file-name prefix of this subject's reports
	// ("drill-<id>-"): a report of the subject that is on file but that no
	// audit record of Action names (a run killed after filing it, before
	// recording it) is adopted — recorded, its audit head anchored —
	// instead of signing a second report of the same subject.
	Filed string
	// AdoptOnly, with Filed, only adopts: when no unrecorded report of the
	// subject is on file, WriteSignedReport signs nothing and returns a
	// Written with no Path (and records nothing).
	AdoptOnly bool
}

// Written is a signed report on disk.
type Written struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// WriteSignedReport renders, signs and writes r, and audits the outcome
// (a failure too). The report carries the audit-log head seen before it
// was rendered (printed on every page, recorded in its signed Keywords);
// once it is written, the catalog records that head as the report anchor
// (audit.RaiseReportAnchor) and a signed checkpoint of the head after the
// report's own audit record is written, so that `audit verify` detects a
// log that later loses its tail. An error after the file was written says
// so, and Written names the file.
func (a *App) WriteSignedReport(ctx context.Context, r SignedReport) (Written, error) {
	fail := func(err error) (Written, error) {
		_ = a.Record(ctx, r.Action, r.Target, audit.ResultFailed, map[string]string{"error": err.Error()})
		return Written{}, err
	}
	signer, err := certs.NewSigner(a.Config.Signing, r.Reason, a.Clock)
	if err != nil {
		return fail(err)
	}
	seq, hash, err := a.Audit.Head(ctx)
	if err != nil {
		return fail(fmt.Errorf("audit-log head for the report: %w", err))
	}
	if r.Filed != "" {
		w, ok, err := a.adoptFiled(ctx, r, signer)
		if err != nil {
			return fail(err)
		}
		if ok || r.AdoptOnly {
			return w, nil
		}
	}
	ropts := a.RenderOptions()
	ropts.AuditHead = &certs.AuditHead{Seq: uint64(seq), Hash: hash}
	path, sum, err := certs.WriteSigned(ctx, a.State.Reports(), r.File, func(w io.Writer) (*certs.Rendered, error) {
		return r.Render(w, ropts)
	}, signer)
	if err != nil {
		return fail(err)
	}
	crash.Point(crash.CertsPDFWritten)
	written := Written{Path: path, SHA256: sum}
	details := map[string]string{"pdf_sha256": sum, "audit_seq": fmt.Sprint(seq), "audit_hash": hash}
	for k, v := range r.Details {
		details[k] = v
	}
	anchor := audit.Anchor{Seq: seq, Hash: hash, Source: filepath.Base(path), Time: a.Clock.Format(a.Clock.Now())}
	if err := audit.RaiseReportAnchor(ctx, a.Catalog, anchor); err != nil {
		_ = a.Record(ctx, r.Action, r.Target, audit.ResultFailed, map[string]string{"pdf_sha256": sum, "error": "report anchor: " + err.Error()})
		return written, fmt.Errorf("%s was signed, but the catalog did not record the audit head it carries: %w", path, err)
	}
	if err := a.Record(ctx, r.Action, r.Target, audit.ResultOK, details); err != nil {
		return written, fmt.Errorf("%s was signed: %w", path, err)
	}
	if _, err := a.writeCheckpoint(ctx, signer); err != nil {
		return written, fmt.Errorf("%s was signed, but %w", path, err)
	}
	return written, nil
}

// stamp is a file-name-safe time for report names.
func (a *App) stamp() string { return a.Clock.Now().Format("20060102T150405") }

// adoptFiled looks in the reports folder for a report of r's subject
// (r.Filed) that no audit record of r.Action names by its SHA-256: one
// that a run killed at crash point certs.pdf-written filed and never
// recorded. When it finds one signed by this signer and carrying an audit
// head, it records it as the CLI would have (the audit record, with
// "adopted" saying why, the report anchor of the head it carries, a
// signed checkpoint) and returns it, so that the subject never has two
// reports of which one the audit log does not know. A filed report that
// does not verify is left alone (and a new one is signed): it is
// evidence of something, not Steward's to delete.
func (a *App) adoptFiled(ctx context.Context, r SignedReport, signer *certs.Signer) (Written, bool, error) {
	paths, err := filepath.Glob(filepath.Join(a.State.Reports(), r.Filed+"*.pdf"))
	if err != nil || len(paths) == 0 {
		return Written{}, false, err
	}
	recorded := map[string]bool{}
	err = a.Audit.Scan(ctx, func(rec audit.Record) error {
		if rec.Action == r.Action && rec.Details["pdf_sha256"] != "" {
			recorded[rec.Details["pdf_sha256"]] = true
		}
		return nil
	})
	if err != nil {
		return Written{}, false, fmt.Errorf("look for %s reports filed but not recorded: %w", r.Filed, err)
	}
	fp := sha256.Sum256(signer.Certificate.Raw)
	for _, path := range paths {
		sum, err := fileSHA256(path)
		if err != nil {
			return Written{}, false, err
		}
		if recorded[sum] {
			continue
		}
		res, err := certs.Verify(ctx, path, certs.VerifyOptions{Fingerprint: hex.EncodeToString(fp[:])})
		if err != nil || res.ReportAuditHead == nil {
			a.Log.Warn("a filed report that no audit record names does not verify: left alone, a new one is signed", "file", filepath.Base(path), "error", err)
			continue
		}
		head := res.ReportAuditHead
		anchor := audit.Anchor{Seq: int64(head.Seq), Hash: head.Hash, Source: filepath.Base(path), Time: a.Clock.Format(a.Clock.Now())}
		if err := audit.RaiseReportAnchor(ctx, a.Catalog, anchor); err != nil {
			return Written{}, false, fmt.Errorf("%s was filed by an interrupted run, but the catalog did not record the audit head it carries: %w", path, err)
		}
		details := map[string]string{"pdf_sha256": sum, "audit_seq": fmt.Sprint(head.Seq), "audit_hash": head.Hash,
			"adopted": "signed and filed by a run that stopped before recording it; not signed again"}
		for k, v := range r.Details {
			details[k] = v
		}
		if err := a.Record(ctx, r.Action, r.Target, audit.ResultOK, details); err != nil {
			return Written{}, false, fmt.Errorf("%s was filed by an interrupted run: %w", path, err)
		}
		w := Written{Path: path, SHA256: sum}
		if _, err := a.writeCheckpoint(ctx, signer); err != nil {
			return w, true, fmt.Errorf("%s was filed by an interrupted run, but %w", path, err)
		}
		return w, true, nil
	}
	return Written{}, false, nil
}

// fileSHA256 is the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
