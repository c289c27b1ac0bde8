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
		Usage: "render and sign deletion certificates",
		Commands: []*cli.Command{{
			Name:      "render",
			Usage:     "render a signed deletion certificate (PDF) from an evidence bundle",
			ArgsUsage: "EVIDENCE.json",
			Description: `render reads an erasure evidence bundle (JSON; schema in docs/evidence.md),
renders the Japanese/English deletion certificate with the evidence embedded,
signs it with the configured signing certificate (and TSA, if configured),
writes it to <state_dir>/reports/ and prints its path and SHA-256.
The status reads "Erased with exceptions" whenever any target has one.`,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if err := requireArgs(cmd, 1, "one evidence file"); err != nil {
					return err
				}
				return runCertificateRender(ctx, certificateRenderOptions{Evidence: cmd.Args().First()}, g, g.stdout)
			},
		}},
	}
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
	w, err := a.CertificatePDF(ctx, ev)
	if err != nil {
		return err
	}
	path, sum := w.Path, w.SHA256
	if g.JSON {
		return printJSON(out, map[string]string{"path": path, "sha256": sum, "certificate_id": ev.CertificateID, "status": ev.Status()})
	}
	fmt.Fprintf(out, "%s\nSHA-256 %s\nstatus: %s\n", path, sum, ev.Status())
	return nil
}
