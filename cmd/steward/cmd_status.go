package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"steward/app"
)

type statusOptions struct{}

func newStatusCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the contract, backups, drills, checks, clock sync and the audit log head; exit 4 when something needs attention",
		Description: `status reads the config and the state dir and shows what Steward would
work with: per job and source the newest backup, its age and result and the
next scheduled run; per repository the last check or drill verdict; the newest
drill and the next scheduled one. It changes nothing. Warnings (contract end
within 90 days, restic missing, a failed last run) are listed at the end.

It exits 4 ("attention needed", for monitoring systems) when an initialised
state dir has:
   a source whose newest backup is older than drills.rpo_target (or none,
     once the state dir itself is older than that)
   a newest drill that did not pass, or a drill overdue by drills.schedule
     (more than an hour past a scheduled time with no drill since)
   a repository whose last check or drill failed
   an unsynchronised system clock (req 15)
and 0 when everything is fresh.`,
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
		if err := printJSON(out, res); err != nil {
			return err
		}
		return attention(res)
	}
	row := func(k, v string) { fmt.Fprintf(out, "%-14s %s\n", k, v) }
	row("config", res.Config)
	row("contract", fmt.Sprintf("%s — %s (ends %s, %d days left)", res.Contract, res.Customer, res.EndDate, res.DaysLeft))
	row("time", res.Now+" ("+res.TimeZone+")")
	row("clock sync", res.Clock.String())
	if res.Initialised {
		row("state dir", res.StateDir)
		row("catalog", fmt.Sprintf("%s (schema %d)", res.Catalog, res.Schema))
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
	for _, b := range res.Backups {
		row("  "+b.Job+"/"+b.Source, backupLine(b))
	}
	if d := res.LastDrill; d != nil {
		row("last drill", fmt.Sprintf("%s %s (%s from %s, started %s)", d.ID, d.Result, d.Source, d.Repository, d.Started))
	}
	if res.NextDrill != "" {
		row("next drill", res.NextDrill)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	for _, a := range res.Attention {
		fmt.Fprintf(out, "ATTENTION: %s\n", a)
	}
	return attention(res)
}

// attention is app.ErrAttention when status found something to act on.
func attention(res *app.StatusResult) error {
	if len(res.Attention) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d problem(s), listed above", app.ErrAttention, len(res.Attention))
}

func backupLine(b app.BackupStatus) string {
	s := "never backed up"
	if b.LastSuccess != "" {
		s = "last success " + b.LastSuccess + " (" + b.Age + " ago)"
	}
	if b.LastResult != "" && b.LastResult != "ok" {
		s += ", last run " + b.LastRun + " " + b.LastResult
	}
	if b.NextRun != "" {
		s += ", next " + b.NextRun
	}
	return s
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
