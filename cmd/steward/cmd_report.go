package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"
)

type reportCapacityOptions struct {
	Month string
}

func newReportCommand(g *globalOptions) *cli.Command {
	var opts reportCapacityOptions
	return &cli.Command{
		Name:  "report",
		Usage: "signed reports for the city",
		Commands: []*cli.Command{{
			Name:  "capacity",
			Usage: "capacity and performance report for a month (req 17), signed PDF",
			Description: `capacity summarises one month: per source the data volume (the size each
day's last successful backup read) and its backup runs (count, failures,
mean and longest duration, throughput), from the catalog; per repository
what it holds now, read from it with restic when the report is made
(restic stats --mode raw-data, restic snapshots; a repository that cannot
be read is reported as unreadable), and the data the month's backups added
(from the catalog, which records runs under their primary repository);
and the restore drills' RTO trend (failed drills are marked, not plotted).
It writes a signed PDF (Japanese and English) to <state_dir>/reports/ and
prints its path and SHA-256; with --json it also prints the figures.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "month", Usage: "the `YYYY-MM` to report (default: the current month)", Destination: &opts.Month},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runReportCapacity(ctx, opts, g, g.stdout)
			},
		}},
	}
}

func runReportCapacity(ctx context.Context, opts reportCapacityOptions, g *globalOptions, out io.Writer) error {
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	rep, err := a.CapacityReport(ctx, opts.Month)
	if err != nil {
		return err
	}
	w, err := a.CapacityReportPDF(ctx, rep)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]any{"path": w.Path, "sha256": w.SHA256, "report": rep})
	}
	fmt.Fprintf(out, "%s\nSHA-256 %s\n", w.Path, w.SHA256)
	return nil
}
