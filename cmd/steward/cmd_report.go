package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v3"

	"steward/backup"
	"steward/certs"
	"steward/internal/errs"
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
			Description: `capacity summarises one month from the catalog: per source the data volume
(the size each day's last successful backup read) and its backup runs
(count, failures, mean and longest duration, throughput); per repository
the data Steward's backups added (accumulated, before pruning) and the
snapshot count; and the restore drills' RTO trend. It writes a signed PDF
(Japanese and English) to <state_dir>/reports/ and prints its path and
SHA-256; with --json it also prints the figures.`,
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
	eng, e, err := newEngine(ctx, g)
	if err != nil {
		return err
	}
	d, err := drillerFor(eng, e)
	if err != nil {
		return err
	}
	if opts.Month == "" {
		opts.Month = e.clock.Now().Format("2006-01")
	}
	start, err := time.ParseInLocation("2006-01", opts.Month, e.clock.Location())
	if err != nil {
		return errs.Usage("--month %q: write YYYY-MM, e.g. 2026-04", opts.Month)
	}
	store, ok := e.store.(backup.CapacityStore)
	if !ok {
		return errors.New("this catalog does not keep backup runs")
	}
	capa, err := eng.Capacity(ctx, store, start, start.AddDate(0, 1, 0))
	if err != nil {
		return err
	}
	points, err := drillPoints(ctx, e, d, start.AddDate(0, 1, 0))
	if err != nil {
		return err
	}
	rep := &certs.CapacityReport{Month: opts.Month, Contract: e.cfg.Contract.ID, Drills: points}
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
	path, sum, err := writeSignedReport(ctx, e, signedReport{
		File:   fmt.Sprintf("capacity-%s-%s.pdf", opts.Month, stamp(e)),
		Reason: "Capacity and performance report / 容量・性能報告書",
		Action: "report.capacity", Target: "month:" + opts.Month,
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderCapacityReport(w, rep, o)
		},
	})
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]any{"path": path, "sha256": sum, "report": rep})
	}
	fmt.Fprintf(out, "%s\nSHA-256 %s\n", path, sum)
	return nil
}

func volumePoints(v []backup.DayVolume) []certs.VolumePoint {
	out := make([]certs.VolumePoint, 0, len(v))
	for _, p := range v {
		out = append(out, certs.VolumePoint{Date: p.Date, Bytes: p.Bytes})
	}
	return out
}
