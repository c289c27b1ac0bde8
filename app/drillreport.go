package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"steward/certs"
	"steward/drills"
	"steward/internal/errs"
)

// historyLength is how many earlier drills a drill report's chart shows.
const historyLength = 12

// DrillReportPDF renders drill id's record as a signed PDF. It returns the
// file and the report's overall result.
func (a *App) DrillReportPDF(ctx context.Context, id string) (Written, *certs.DrillReport, error) {
	d, err := a.Driller(ctx)
	if err != nil {
		return Written{}, nil, err
	}
	rec, err := d.Show(ctx, id)
	if errors.Is(err, drills.ErrNotFound) {
		return Written{}, nil, errs.AsUsage(err)
	}
	if err != nil {
		return Written{}, nil, err
	}
	if rec.Result == "" {
		return Written{}, nil, fmt.Errorf("drill %s has not finished: report it once it has (or run `steward drill cleanup` if it crashed)", rec.DrillID)
	}
	hist, err := d.History(ctx, rec.Job, 0)
	if err != nil {
		return Written{}, nil, err
	}
	rep := DrillReport(rec, hist)
	w, err := a.WriteSignedReport(ctx, SignedReport{
		File:   a.reportFile("drill-" + rec.DrillID),
		Reason: "Restore drill report / 復旧訓練報告書",
		Action: "drill.report", Target: "drill:" + rec.DrillID,
		Details: map[string]string{"result": rec.Result},
		// A finished drill's record does not change: a report of it filed
		// by a run killed before recording it is that report.
		Filed: "drill-" + rec.DrillID + "-",
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderDrillReport(w, rep, o)
		},
	})
	return w, rep, err
}

// DrillReport maps a drill record onto the report's fields; history holds
// the job's finished drills, oldest first, this one included. The report
// is the record's: its result, its problems and its objectives' verdicts
// are copied, never judged again.
func DrillReport(rec *drills.Record, history []drills.Point) *certs.DrillReport {
	trigger := rec.Trigger
	if rec.Operator != "" {
		trigger += " (" + rec.Operator + ")"
	}
	rep := &certs.DrillReport{
		DrillID: rec.DrillID, Contract: rec.Contract, RunbookVersion: rec.RunbookVersion,
		Trigger: trigger, Participants: rec.Participants,
		Job: rec.Job, SourceKind: rec.SourceKind, Source: rec.Source, Repository: rec.Repository,
		SnapshotID: rec.SnapshotID, SnapshotTime: rec.SnapshotTime, Started: rec.Started, Finished: rec.Finished,
		// The record's verdicts, as they are: the RTO was measured only
		// once the data was restored and verified, the RPO once a
		// snapshot was chosen.
		RTO:            certs.Objective{Actual: rec.RTO.Actual, Target: rec.RTO.Target, Measured: rec.Verified(), Met: rec.RTO.Met},
		RPO:            certs.Objective{Actual: rec.RPO.Actual, Target: rec.RPO.Target, Measured: !rec.SnapshotTime.IsZero(), Met: rec.RPO.Met},
		ReadDataSubset: certs.Subset{K: rec.ReadDataSubset.K, N: rec.ReadDataSubset.N},
		Deviations:     rec.Deviations,
		Cleanup:        drillStep(rec.Cleanup),
		Result:         certs.Result(rec.Result),
		Failures:       rec.Problems,
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
