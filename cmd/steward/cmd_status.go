package main

import (
	"context"
	"fmt"
	"io"
	"steward/app"

	"github.com/urfave/cli/v3"
)

type statusOptions struct{}

func newStatusCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the contract, state dir, clock sync, restic and the audit log head",
		Description: `status reads the config and the state dir and shows what Steward would
work with. It changes nothing. Warnings (contract end within 90 days, clock not
synchronised, restic missing) are listed at the end.`,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runStatus(ctx, statusOptions{}, g, g.stdout)
		},
	}
}

func runStatus(ctx context.Context, _ statusOptions, g *globalOptions, out io.Writer) error {
	res, err := app.Status(ctx, g.appOptions())
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, res)
	}
	row := func(k, v string) { fmt.Fprintf(out, "%-14s %s\n", k, v) }
	row("config", res.Config)
	row("contract", fmt.Sprintf("%s — %s (ends %s, %d days left)", res.Contract, res.Customer, res.EndDate, res.DaysLeft))
	row("time", res.Now+" ("+res.TimeZone+")")
	row("clock sync", res.Clock.String())
	if res.Initialised {
		row("state dir", fmt.Sprintf("%s (catalog schema %d)", res.StateDir, res.Schema))
		if res.AuditRecords > 0 {
			row("audit log", fmt.Sprintf("%d records, head %s", res.AuditRecords, res.AuditHead))
		}
	} else {
		row("state dir", res.StateDir+" (not initialised)")
	}
	if res.Restic != "" {
		row("restic", res.ResticVer+" at "+res.Restic)
	}
	if res.Certificate != "" {
		row("signing cert", "SHA-256 "+res.Certificate+", valid until "+res.CertNotAfter)
	}
	row("repositories", joinOrNone(res.Repositories))
	for _, h := range res.Health {
		row("  "+h.Repository, h.String())
	}
	row("sources", joinOrNone(res.Sources))
	row("jobs", joinOrNone(res.Jobs))
	for _, w := range res.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	return nil
}

func joinOrNone(items []string) string {
	if len(items) == 0 {
		return "(none)"
	}
	s := items[0]
	for _, i := range items[1:] {
		s += ", " + i
	}
	return s
}
