package main

import (
	"context"
	"io"
	"path/filepath"

	"steward/certs"
	"steward/internal/audit"
)

func reportsDir(e *env) string { return filepath.Join(e.cfg.StateDir, "reports") }

func renderOptions(e *env) certs.RenderOptions {
	return certs.RenderOptions{
		FontPath: e.cfg.Signing.Font,
		Location: e.clock.Location(),
		Clock:    e.clock,
		Issuer:   certs.Issuer{Organisation: e.cfg.Signing.Organisation, Signer: e.cfg.Signing.Signer},
		TempDir:  filepath.Join(e.cfg.StateDir, "tmp"),
	}
}

// signedReport is one PDF to render, sign and file in the reports folder.
type signedReport struct {
	// File is the file name in the reports folder.
	File string
	// Reason goes into the signature.
	Reason string
	// Action and Target are the audit record's.
	Action, Target string
	Details        map[string]string
	Render         func(io.Writer, certs.RenderOptions) (*certs.Rendered, error)
}

// writeSignedReport renders, signs and writes the report, and audits the
// outcome (a failure too). It returns the file's path and SHA-256.
func writeSignedReport(ctx context.Context, e *env, r signedReport) (path, sum string, err error) {
	fail := func(err error) (string, string, error) {
		_ = e.record(ctx, r.Action, r.Target, audit.ResultFailed, map[string]string{"error": err.Error()})
		return "", "", err
	}
	signer, err := certs.NewSigner(e.cfg.Signing, r.Reason, e.clock)
	if err != nil {
		return fail(err)
	}
	ropts := renderOptions(e)
	path, sum, err = certs.WriteSigned(ctx, reportsDir(e), r.File, func(w io.Writer) (*certs.Rendered, error) {
		return r.Render(w, ropts)
	}, signer)
	if err != nil {
		return fail(err)
	}
	details := map[string]string{"pdf_sha256": sum}
	for k, v := range r.Details {
		details[k] = v
	}
	if err := e.record(ctx, r.Action, r.Target, audit.ResultOK, details); err != nil {
		return "", "", err
	}
	return path, sum, nil
}

// stamp is a file-name-safe time for report names.
func stamp(e *env) string { return e.clock.Now().Format("20060102T150405") }
