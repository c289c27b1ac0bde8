package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"steward/certs"
	"steward/internal/errs"
)

type certificateRenderOptions struct {
	Evidence string
}

func newCertificateCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "certificate",
		Usage: "render SPECIMENS (見本) of the deletion certificate",
		Commands: []*cli.Command{{
			Name:      "render",
			Usage:     "render a signed SPECIMEN (見本) of the deletion certificate from an evidence bundle",
			ArgsUsage: "EVIDENCE.json",
			Description: `render makes a SPECIMEN (見本), never a deletion certificate: a deletion
certificate is issued only by erase (to come), from the evidence it produced
and verified itself. render reads an erasure evidence bundle (JSON; schema in
docs/evidence.md), lays out the Japanese/English certificate with the
evidence embedded, marks every page "見本 SPECIMEN" (a banner and a diagonal
mark) and replaces the certification statement with one that says the
document certifies nothing. It signs it with the configured signing
certificate (and TSA, if configured); the signed metadata records
steward.specimen=yes, so "steward verify" reports it as a specimen and exits
3 unless --allow-specimen is given. The PDF goes to <state_dir>/reports/;
its path and SHA-256 are printed.`,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if err := requireArgs(cmd, 1, "one evidence file"); err != nil {
					return err
				}
				return runCertificateRender(ctx, certificateRenderOptions{Evidence: cmd.Args().First()}, g, g.stdout)
			},
		}},
	}
}

// certificateRenderResult is what --json prints.
type certificateRenderResult struct {
	Path          string `json:"path"`
	SHA256        string `json:"sha256"`
	CertificateID string `json:"certificate_id"`
	Status        string `json:"status"`
	Specimen      bool   `json:"specimen"`
}

func runCertificateRender(ctx context.Context, opts certificateRenderOptions, g *globalOptions, out io.Writer) error {
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	ev, err := certs.OpenEvidence(opts.Evidence)
	if err != nil {
		return errs.Usage("evidence %s: %v", opts.Evidence, err)
	}
	w, err := a.SpecimenCertificatePDF(ctx, ev)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, certificateRenderResult{Path: w.Path, SHA256: w.SHA256, CertificateID: ev.CertificateID, Status: ev.Status(), Specimen: true})
	}
	fmt.Fprintf(out, "%s\nSHA-256 %s\nSPECIMEN / 見本: not a deletion certificate; it certifies nothing\nstatus (of the specimen's evidence): %s\n", w.Path, w.SHA256, ev.Status())
	return nil
}
