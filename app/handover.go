package app

import (
	"context"
	"errors"
	"io"

	"steward/certs"
	"steward/erase"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/progress"
)

// Exporter is the hand-over exporter.
func (a *App) Exporter(ctx context.Context) (*erase.Exporter, error) {
	repos, err := a.Repos(ctx)
	if err != nil {
		return nil, err
	}
	return erase.NewExporter(erase.HandoverDeps{Repos: repos, Store: a.Catalog, Audit: a.Audit, Clock: a.Clock, Log: a.Log}), nil
}

// HandoverExport writes the hand-over export (req 4) into dir: the latest
// snapshot of every source of every job (or of job), the manifest, and the
// signed receipt (filed in the reports folder and copied into dir). It is
// recorded in the catalog (LastHandover) and audited. A dir that is not
// empty, an unknown job or a source without a snapshot is a usage error
// (exit 2): nothing was written.
func (a *App) HandoverExport(ctx context.Context, dir, job string, prog progress.Func) (*erase.HandoverResult, error) {
	x, err := a.Exporter(ctx)
	if err != nil {
		return nil, err
	}
	res, err := x.Export(ctx, erase.HandoverOptions{To: dir, Job: job, Progress: prog, Receipt: a.handoverReceipt})
	if errors.Is(err, erase.ErrHandoverTarget) || errors.Is(err, config.ErrNoJob) || errors.Is(err, erase.ErrNoHandoverSnapshot) {
		return res, errs.AsUsage(err)
	}
	return res, err
}

// handoverReceipt renders and signs res's receipt.
func (a *App) handoverReceipt(ctx context.Context, res *erase.HandoverResult) (string, string, error) {
	rec := HandoverReceipt(res)
	w, err := a.WriteSignedReport(ctx, SignedReport{
		File:   a.reportFile("handover-" + res.ID),
		Reason: "Data hand-over receipt / データ引渡書",
		Action: "handover.receipt", Target: "handover:" + res.ID,
		Details: map[string]string{"manifest_sha256": res.ManifestSHA256},
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderHandoverReceipt(w, rec, o)
		},
	})
	return w.Path, w.SHA256, err
}

// HandoverReceipt maps an export's result onto the receipt's fields.
func HandoverReceipt(res *erase.HandoverResult) *certs.HandoverReceipt {
	rec := &certs.HandoverReceipt{ExportID: res.ID, Contract: res.Contract, Customer: res.Customer, Operator: res.Operator,
		Started: res.Started, Finished: res.Finished, Manifest: erase.ManifestName, ManifestSHA256: res.ManifestSHA256,
		Files: res.Files, Bytes: res.Bytes}
	for _, s := range res.Sources {
		rec.Sources = append(rec.Sources, certs.HandoverSourceR{Job: s.Job, Source: s.Source, Kind: s.Kind, Repository: s.Repository,
			SnapshotID: s.SnapshotID, SnapshotTime: s.SnapshotTime, Items: s.Items, DataBytes: s.DataBytes, Files: s.Files, Bytes: s.Bytes})
	}
	return rec
}

// LastHandover is the last hand-over export recorded in the catalog (for
// the erase plan: "last hand-over export: <time>, manifest <sha>"); the
// error wraps erase.ErrNoHandover when there has been none.
func (a *App) LastHandover(ctx context.Context) (*erase.HandoverRecord, error) {
	return erase.LastHandover(ctx, a.Catalog)
}
