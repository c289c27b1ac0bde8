package app

import (
	"context"
	"io"

	"steward/certs"
	"steward/internal/audit"
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
// (a failure too).
func (a *App) WriteSignedReport(ctx context.Context, r SignedReport) (Written, error) {
	fail := func(err error) (Written, error) {
		_ = a.Record(ctx, r.Action, r.Target, audit.ResultFailed, map[string]string{"error": err.Error()})
		return Written{}, err
	}
	signer, err := certs.NewSigner(a.Config.Signing, r.Reason, a.Clock)
	if err != nil {
		return fail(err)
	}
	ropts := a.RenderOptions()
	path, sum, err := certs.WriteSigned(ctx, a.State.Reports(), r.File, func(w io.Writer) (*certs.Rendered, error) {
		return r.Render(w, ropts)
	}, signer)
	if err != nil {
		return fail(err)
	}
	details := map[string]string{"pdf_sha256": sum}
	for k, v := range r.Details {
		details[k] = v
	}
	if err := a.Record(ctx, r.Action, r.Target, audit.ResultOK, details); err != nil {
		return Written{}, err
	}
	return Written{Path: path, SHA256: sum}, nil
}

// stamp is a file-name-safe time for report names.
func (a *App) stamp() string { return a.Clock.Now().Format("20060102T150405") }
