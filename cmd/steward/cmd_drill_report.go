package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v3"

	"steward/certs"
	"steward/drills"
	"steward/internal/errs"
)

type drillReportOptions struct {
	ID string
}

// historyLength is how many earlier drills the report's chart shows.
const historyLength = 12

func newDrillReportCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "render a drill's signed PDF report (復旧訓練報告書) for auditors",
		ArgsUsage: "ID",
		Description: `report renders the drill record ID (see ` + "`steward drill list`" + `) as a signed
PDF in Japanese and English: every step and check, RTO and RPO against their
targets, the read-data subset, deviations, the cleanup result, and a chart
of RTO and RPO over the job's last drills. The record is embedded in the
PDF. The file goes to <state_dir>/reports/; its path and SHA-256 are printed.`,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if err := requireArgs(cmd, 1, "one drill id"); err != nil {
				return err
			}
			return runDrillReport(ctx, drillReportOptions{ID: cmd.Args().First()}, g, g.stdout)
		},
	}
}

func runDrillReport(ctx context.Context, opts drillReportOptions, g *globalOptions, out io.Writer) error {
	d, e, err := newDriller(ctx, g)
	if err != nil {
		return err
	}
	rec, err := d.Show(ctx, opts.ID)
	if errors.Is(err, drills.ErrNotFound) {
		return errs.AsUsage(err)
	}
	if err != nil {
		return err
	}
	if rec.Result == "" {
		return fmt.Errorf("drill %s has not finished: report it once it has (or run `steward drill cleanup` if it crashed)", rec.DrillID)
	}
	hist, err := d.History(ctx, rec.Job, 0)
	if err != nil {
		return err
	}
	rep := drillReport(rec, hist)
	path, sum, err := writeSignedReport(ctx, e, signedReport{
		File:   fmt.Sprintf("drill-%s-%s.pdf", rec.DrillID, stamp(e)),
		Reason: "Restore drill report / 復旧訓練報告書",
		Action: "drill.report", Target: "drill:" + rec.DrillID,
		Details: map[string]string{"result": rec.Result},
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderDrillReport(w, rep, o)
		},
	})
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]string{"path": path, "sha256": sum, "drill_id": rec.DrillID, "result": string(rep.Overall())})
	}
	fmt.Fprintf(out, "%s\nSHA-256 %s\n", path, sum)
	return nil
}

// drillReport maps a drill record onto the report's fields; history holds
// the job's finished drills, oldest first, this one included.
func drillReport(rec *drills.Record, history []drills.Point) *certs.DrillReport {
	trigger := rec.Trigger
	if rec.Operator != "" {
		trigger += " (" + rec.Operator + ")"
	}
	rep := &certs.DrillReport{
		DrillID: rec.DrillID, Contract: rec.Contract, RunbookVersion: rec.RunbookVersion,
		Trigger: trigger, Participants: rec.Participants,
		Job: rec.Job, SourceKind: rec.SourceKind, Source: rec.Source, Repository: rec.Repository,
		SnapshotID: rec.SnapshotID, SnapshotTime: rec.SnapshotTime, Started: rec.Started, Finished: rec.Finished,
		RTO:            certs.Objective{Actual: rec.RTO.Actual, Target: rec.RTO.Target},
		RPO:            certs.Objective{Actual: rec.RPO.Actual, Target: rec.RPO.Target},
		ReadDataSubset: certs.Subset{K: rec.ReadDataSubset.K, N: rec.ReadDataSubset.N},
		Deviations:     rec.Deviations,
		Cleanup:        drillStep(rec.Cleanup),
	}
	for _, s := range rec.Steps {
		rep.Steps = append(rep.Steps, drillStep(s))
	}
	for _, c := range rec.Checks {
		actual := c.Actual
		if c.Detail != "" {
			actual += " (" + c.Detail + ")"
		}
		rep.Checks = append(rep.Checks, certs.DrillCheck{Name: c.Name, Expected: c.Expected, Actual: actual, Result: certs.Result(c.Result)})
	}
	for _, p := range history {
		if p.DrillID == rec.DrillID {
			continue // the report adds this drill to its chart itself
		}
		rep.History = append(rep.History, drillPoint(p))
	}
	if n := len(rep.History); n > historyLength {
		rep.History = rep.History[n-historyLength:]
	}
	return rep
}

func drillStep(s drills.Step) certs.DrillStep {
	return certs.DrillStep{Name: s.Name, Started: s.Started, Finished: s.Finished, Result: certs.Result(s.Result), Detail: s.Detail}
}

func drillPoint(p drills.Point) certs.DrillPoint {
	return certs.DrillPoint{DrillID: p.DrillID, Time: p.Time, RTO: p.RTO, RPO: p.RPO, Result: certs.Result(p.Result)}
}

// drillPoints is every finished drill's RTO/RPO up to the end of the
// report's month, for the capacity report's trend.
func drillPoints(ctx context.Context, e *env, eng drillHistory, until time.Time) ([]certs.DrillPoint, error) {
	hist, err := eng.History(ctx, "", 0)
	if err != nil {
		return nil, err
	}
	var out []certs.DrillPoint
	for _, p := range hist {
		if p.Time.Before(until) {
			out = append(out, drillPoint(p))
		}
	}
	return out, nil
}

type drillHistory interface {
	History(ctx context.Context, job string, n int) ([]drills.Point, error)
}
