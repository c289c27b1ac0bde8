package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"steward/backup"
	"steward/certs"
	"steward/drills"
	"steward/internal/audit"
	"steward/internal/errs"
)

// RenderOptions are the options every signed report is rendered with.
func (a *App) RenderOptions() certs.RenderOptions {
	return certs.RenderOptions{
		FontPath: a.Config.Signing.Font,
		Location: a.Clock.Location(),
		Clock:    a.Clock,
		Issuer:   certs.Issuer{Organisation: a.Config.Signing.Organisation, Signer: a.Config.Signing.Signer},
		TempDir:  a.State.Tmp(),
	}
}

// SignedReport is one PDF to render, sign and file in the reports folder.
type SignedReport struct {
	// File is the file name in the reports folder.
	File string
	// Reason goes into the signature.
	Reason string
	// Action and Target are the audit record's.
	Action, Target string
	Details        map[string]string
	Render         func(io.Writer, certs.RenderOptions) (*certs.Rendered, error)
}

// Written is a signed report on disk.
type Written struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// WriteSignedReport renders, signs and writes r, and audits the outcome
// (a failure too).
func (a *App) WriteSignedReport(ctx context.Context, r SignedReport) (Written, error) {
	fail := func(err error) (Written, error) {
		_ = a.Record(ctx, r.Action, r.Target, audit.ResultFailed, map[string]string{"error": err.Error()})
		return Written{}, err
	}
	signer, err := certs.NewSigner(a.Config.Signing, r.Reason, a.Clock)
	if err != nil {
		return fail(err)
	}
	ropts := a.RenderOptions()
	path, sum, err := certs.WriteSigned(ctx, a.State.Reports(), r.File, func(w io.Writer) (*certs.Rendered, error) {
		return r.Render(w, ropts)
	}, signer)
	if err != nil {
		return fail(err)
	}
	details := map[string]string{"pdf_sha256": sum}
	for k, v := range r.Details {
		details[k] = v
	}
	if err := a.Record(ctx, r.Action, r.Target, audit.ResultOK, details); err != nil {
		return Written{}, err
	}
	return Written{Path: path, SHA256: sum}, nil
}

// stamp is a file-name-safe time for report names.
func (a *App) stamp() string { return a.Clock.Now().Format("20060102T150405") }

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
		File:   fmt.Sprintf("drill-%s-%s.pdf", rec.DrillID, a.stamp()),
		Reason: "Restore drill report / 復旧訓練報告書",
		Action: "drill.report", Target: "drill:" + rec.DrillID,
		Details: map[string]string{"result": rec.Result},
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderDrillReport(w, rep, o)
		},
	})
	return w, rep, err
}

// DrillReport maps a drill record onto the report's fields; history holds
// the job's finished drills, oldest first, this one included.
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

// CapacityReport gathers month's figures (YYYY-MM; "" for the current
// month) from the catalog: per source its data volume and backup runs, per
// repository the data added and snapshots, and the drills' RTO trend.
func (a *App) CapacityReport(ctx context.Context, month string) (*certs.CapacityReport, error) {
	eng, err := a.Backup(ctx)
	if err != nil {
		return nil, err
	}
	d, err := a.Driller(ctx)
	if err != nil {
		return nil, err
	}
	if month == "" {
		month = a.Clock.Now().Format("2006-01")
	}
	start, err := time.ParseInLocation("2006-01", month, a.Clock.Location())
	if err != nil {
		return nil, errs.Usage("--month %q: write YYYY-MM, e.g. 2026-04", month)
	}
	end := start.AddDate(0, 1, 0)
	capa, err := eng.Capacity(ctx, a.Catalog, start, end)
	if err != nil {
		return nil, err
	}
	hist, err := d.History(ctx, "", 0)
	if err != nil {
		return nil, err
	}
	rep := &certs.CapacityReport{Month: month, Contract: a.Config.Contract.ID}
	for _, p := range hist {
		if p.Time.Before(end) {
			rep.Drills = append(rep.Drills, drillPoint(p))
		}
	}
	for _, s := range capa.Sources {
		sc := certs.SourceCapacity{Name: s.Name, Kind: s.Kind, Volume: volumePoints(s.Volume)}
		sc.Backups = certs.BackupStats{Runs: s.Runs, Failed: s.Failed, Bytes: s.BytesRead}
		for _, d := range s.Durations {
			sc.Backups.Total += d
			sc.Backups.Max = max(sc.Backups.Max, d)
		}
		if n := len(s.Durations); n > 0 {
			sc.Backups.Mean = sc.Backups.Total / time.Duration(n)
		}
		rep.Sources = append(rep.Sources, sc)
	}
	for _, r := range capa.Repositories {
		rep.Repositories = append(rep.Repositories, certs.RepositoryCapacity{Name: r.Name, Location: r.Kind, Region: r.Region, Snapshots: r.Snapshots, Volume: volumePoints(r.Volume)})
	}
	return rep, nil
}

// CapacityReportPDF renders rep as a signed PDF.
func (a *App) CapacityReportPDF(ctx context.Context, rep *certs.CapacityReport) (Written, error) {
	return a.WriteSignedReport(ctx, SignedReport{
		File:   fmt.Sprintf("capacity-%s-%s.pdf", rep.Month, a.stamp()),
		Reason: "Capacity and performance report / 容量・性能報告書",
		Action: "report.capacity", Target: "month:" + rep.Month,
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderCapacityReport(w, rep, o)
		},
	})
}

// CertificatePDF renders the deletion certificate of evidence bundle ev
// as a signed PDF.
func (a *App) CertificatePDF(ctx context.Context, ev *certs.Evidence) (Written, error) {
	return a.WriteSignedReport(ctx, SignedReport{
		File:   "certificate-" + ev.CertificateID + ".pdf",
		Reason: "Certificate of data deletion / データ消去証明書",
		Action: "certificate.render", Target: "certificate:" + ev.CertificateID,
		Details: map[string]string{"status": ev.Status(), "contract": ev.Contract.ID},
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderCertificate(w, ev, o)
		},
	})
}

func volumePoints(v []backup.DayVolume) []certs.VolumePoint {
	out := make([]certs.VolumePoint, 0, len(v))
	for _, p := range v {
		out = append(out, certs.VolumePoint{Date: p.Date, Bytes: p.Bytes})
	}
	return out
}
