package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"steward/backup"
	"steward/certs"
	"steward/internal/errs"
	"time"
)

// CapacityReport gathers month's figures (YYYY-MM; "" for the current
// month): per source its data volume and backup runs (from the catalog),
// per repository what it holds now (read from it with restic) and the
// data the month's backups added (from the catalog), and the drills' RTO
// trend.
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
		rc := certs.RepositoryCapacity{Name: r.Name, Location: r.Kind, Region: r.Region, Roles: r.Roles, Unreadable: r.Unreadable, Added: volumePoints(r.Added)}
		if s := r.Stored; s != nil {
			rc.Stored = &certs.StoredNow{At: s.At, Snapshots: s.Snapshots, DataSnapshots: s.Data, Bytes: s.Bytes, UncompressedBytes: s.Uncompressed}
		}
		rep.Repositories = append(rep.Repositories, rc)
	}
	return rep, nil
}

// CapacityReportPDF renders rep as a signed PDF.
func (a *App) CapacityReportPDF(ctx context.Context, rep *certs.CapacityReport) (Written, error) {
	return a.WriteSignedReport(ctx, SignedReport{
		File:   a.reportFile("capacity-" + rep.Month),
		Reason: "Capacity and performance report / 容量・性能報告書",
		Action: "report.capacity", Target: "month:" + rep.Month,
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderCapacityReport(w, rep, o)
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

// reportFile is a report's file name: prefix, the time to the second and
// a short random suffix, so that two reports made in the same second get
// two files (a report is never overwritten: WriteSigned refuses).
func (a *App) reportFile(prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + a.stamp() + "-" + hex.EncodeToString(b[:]) + ".pdf"
}
