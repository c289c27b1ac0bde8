package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"
)

type drillReportOptions struct {
	ID string
}

func newDrillReportCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "render a drill's signed PDF report (復旧訓練報告書) for auditors",
		ArgsUsage: "ID",
		Description: `report renders the drill record ID (see ` + "`steward drill list`" + `) as a signed
PDF in Japanese and English: every step and check, RTO and RPO against their
targets, the read-data subset, deviations, the cleanup result, and a chart
of RTO and RPO over the job's last drills. The record is embedded in the
PDF. The file goes to <state_dir>/reports/; its path and SHA-256 are printed.
When an earlier ` + "`drill report`" + ` of the same drill stopped after filing its PDF
but before recording it (the audit log does not name it), that PDF is
recorded and printed instead: a drill never gets a second report that way.`,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if err := requireArgs(cmd, 1, "one drill id"); err != nil {
				return err
			}
			return runDrillReport(ctx, drillReportOptions{ID: cmd.Args().First()}, g, g.stdout)
		},
	}
}

func runDrillReport(ctx context.Context, opts drillReportOptions, g *globalOptions, out io.Writer) error {
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	w, rep, err := a.DrillReportPDF(ctx, opts.ID)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]string{"path": w.Path, "sha256": w.SHA256, "drill_id": rep.DrillID, "result": string(rep.Overall())})
	}
	fmt.Fprintf(out, "%s\nSHA-256 %s\n", w.Path, w.SHA256)
	return nil
}
