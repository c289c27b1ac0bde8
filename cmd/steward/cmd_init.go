package main

import (
	"context"
	"fmt"
	"io"
	"steward/app"

	"github.com/urfave/cli/v3"
)

type initOptions struct{}

func newInitCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create the state dir: catalog, master key and signing certificate",
		Description: `init creates the state dir named by state_dir (or --state-dir) with mode
0700, and in it:
   catalog.db           the catalog (SQLite, WAL)
   keys/master.key      the master key that seals repository passwords (0600)
   keys/api.token       the daemon API's bearer token, 256 random bits (0600)
   keys/signing.crt     a self-signed ECDSA P-256 signing certificate and
   keys/signing.key     its key (0600), unless signing.certificate and
                        signing.key name files that already exist
   audit.jsonl          the audit log's mirror
It refuses to touch a state dir that already holds anything.`,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runInit(ctx, initOptions{}, g, g.stdout)
		},
	}
}

func runInit(ctx context.Context, _ initOptions, g *globalOptions, out io.Writer) error {
	res, err := app.Init(ctx, g.appOptions())
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, res)
	}
	fmt.Fprintf(out, "Initialised state dir %s (mode 0700)\n", res.StateDir)
	fmt.Fprintf(out, "  catalog              %s\n", res.Catalog)
	fmt.Fprintf(out, "  master key           %s (0600)\n", res.MasterKey)
	fmt.Fprintf(out, "  API token            %s (0600; `steward token show` prints it)\n", res.APIToken)
	how := "generated, self-signed ECDSA P-256"
	if !res.Generated {
		how = "existing"
	}
	fmt.Fprintf(out, "  signing certificate  %s (%s, valid until %s)\n", res.Certificate, how, res.NotAfter)
	fmt.Fprintf(out, "  signing key          %s (0600)\n", res.Key)
	fmt.Fprintf(out, "  certificate SHA-256  %s\n", res.Fingerprint)
	fmt.Fprintf(out, "  audit log            %s (record %d)\n", res.AuditLog, res.AuditSeq)
	fmt.Fprintf(out, "Give the certificate's SHA-256 to the city: `steward verify --fingerprint` checks reports against it.\nNext: steward config check; steward status\n")
	return nil
}
