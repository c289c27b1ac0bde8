package app

import (
	"context"
	"io"
	"steward/certs"
)

// CertificatePDF renders the deletion certificate of evidence bundle ev
// as a signed PDF.
func (a *App) CertificatePDF(ctx context.Context, ev *certs.Evidence) (Written, error) {
	return a.WriteSignedReport(ctx, SignedReport{
		File:   "certificate-" + ev.CertificateID + ".pdf",
		Reason: "Certificate of data deletion / データ消去証明書",
		Action: "certificate.render", Target: "certificate:" + ev.CertificateID,
		Details: map[string]string{"status": ev.Status(), "contract": ev.Contract.ID},
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderCertificate(w, ev, o)
		},
	})
}
