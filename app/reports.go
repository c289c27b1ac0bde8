package app

import (
	"context"
	"fmt"
	"io"
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
