package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"steward/app"
	"steward/internal/errs"
)

type catalogMigrateOptions struct {
	To string
}

func newCatalogCommand(g *globalOptions) *cli.Command {
	var opts catalogMigrateOptions
	return &cli.Command{
		Name:  "catalog",
		Usage: "move the catalog to PostgreSQL (for redundant daemons)",
		Commands: []*cli.Command{{
			Name:  "migrate",
			Usage: "copy the state dir's SQLite catalog into the configured PostgreSQL catalog",
			Description: `migrate --to postgres copies every record of the SQLite catalog in the state
dir (the audit log with its seqs and hashes, runs, snapshots, manifests with
their bodies, drills, erase plans and journals, operators, settings) into the
database the config's catalog.postgres names, which must be empty: a database
holding any record is refused, naming its tables, and nothing is changed.
After copying it checks every table's count and verifies the audit log there,
then records catalog.migrate in it. Stop the daemon first. The config already
names the PostgreSQL catalog, so every command and the daemon use it from then
on; the SQLite file is left as it was (keep it as a backup). See
docs/daemon.md, "Two daemons".`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "to", Usage: "the kind of catalog to move to: postgres", Destination: &opts.To},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runCatalogMigrate(ctx, opts, g, g.stdout)
			},
		}},
	}
}

func runCatalogMigrate(ctx context.Context, opts catalogMigrateOptions, g *globalOptions, out io.Writer) error {
	if opts.To != "postgres" {
		return errs.Usage("--to %q: the only catalog to migrate to is postgres (--to postgres)", opts.To)
	}
	res, err := app.MigrateCatalog(ctx, g.appOptions())
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, res)
	}
	fmt.Fprintf(out, "copied the catalog %s\n     to %s\n", res.From, res.To)
	for _, t := range res.Tables {
		fmt.Fprintf(out, "  %-16s %d\n", t.Table, t.Rows)
	}
	fmt.Fprintf(out, "verified: every table's count, and the audit log (%d records, head %s) against this state dir's mirror\n", res.AuditRecords, res.AuditHead)
	fmt.Fprintf(out, "recorded: catalog.migrate (audit seq %d)\n", res.AuditSeq)
	fmt.Fprintf(out, "the config's catalog.postgres is the catalog from now on, for every command and the daemon; %s is no longer read (keep it as a backup)\n", res.From)
	return nil
}
