package app

import (
	"context"
	"fmt"
	"io"

	"steward/certs"
)

// SpecimenCertificatePDF renders a SPECIMEN (見本) of the deletion
// certificate of evidence bundle ev as a signed PDF: every page is marked,
// the signed Keywords say specimen, and `steward verify` refuses it unless
// asked to accept specimens. A real deletion certificate is issued only by
// erase from its own verified evidence (certs.IssueCertificate); no
// command renders one from a file.
func (a *App) SpecimenCertificatePDF(ctx context.Context, ev *certs.Evidence) (Written, error) {
	return a.WriteSignedReport(ctx, SignedReport{
		File:   fmt.Sprintf("specimen-certificate-%s-%s.pdf", ev.CertificateID, a.stamp()),
		Reason: "SPECIMEN / 見本: certifies nothing",
		Action: "certificate.render", Target: "certificate:" + ev.CertificateID,
		Details: map[string]string{"specimen": "yes", "status": ev.Status(), "contract": ev.Contract.ID},
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderCertificate(w, ev, o)
		},
	})
}
