package erase

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/manifest"
	"steward/internal/progress"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// Errors of the hand-over export.
var (
	// ErrHandoverTarget means the export directory cannot be used: it
	// exists and is not empty, or it is not a directory. Nothing was
	// written.
	ErrHandoverTarget = errors.New("hand-over directory is not usable")
	// ErrNoHandoverSnapshot means a source has no data snapshot to hand
	// over.
	ErrNoHandoverSnapshot = errors.New("no snapshot to hand over")
	// ErrUnsafeEntry means a bucket archive holds an entry that cannot be
	// written safely under the export directory (an absolute name, "..",
	// an empty or "." component, a link or a device).
	ErrUnsafeEntry = errors.New("unsafe archive entry")
	// ErrNoHandover means no hand-over export has been recorded.
	ErrNoHandover = errors.New("no hand-over export recorded")
)

// ManifestName is the manifest's file name in the export directory, and
// ManifestSumName the file holding its SHA-256 (sha256sum format).
const (
	ManifestName    = "handover-manifest.json"
	ManifestSumName = ManifestName + ".sha256"
	// HandoverSchema is the manifest's schema.
	HandoverSchema = "steward.handover/v1"
)

// HandoverDeps is what an Exporter needs.
type HandoverDeps struct {
	// Repos opens repositories (with their unsealed passwords).
	Repos *repo.Opener
	// Store records the export (LastHandover reads it back).
	Store catalog.KV
	Audit audit.Appender
	Clock *clock.Zoned
	Log   *slog.Logger
	// PgRestore overrides the pg_restore that turns a dump into SQL
	// (default: the newest /usr/lib/postgresql/<N>/bin/pg_restore, else
	// PATH's).
	PgRestore string
}

// Exporter writes hand-over exports. It is safe for concurrent use.
type Exporter struct {
	repos     *repo.Opener
	cfg       *config.Config
	restic    *resticx.Runner
	store     catalog.KV
	rec       *audit.Recorder
	clock     *clock.Zoned
	log       *slog.Logger
	pgRestore string
}

// NewExporter returns an Exporter over d.
func NewExporter(d HandoverDeps) *Exporter {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "erase")
	clk := d.Clock
	if clk == nil {
		loc, _ := clock.LoadZone(d.Repos.Config().Contract.TimeZone)
		clk = clock.New(loc, nil)
	}
	return &Exporter{repos: d.Repos, cfg: d.Repos.Config(), restic: d.Repos.Restic(), store: d.Store,
		rec: audit.NewRecorder(d.Audit, log), clock: clk, log: log, pgRestore: d.PgRestore}
}

// HandoverOptions say what to export and where.
type HandoverOptions struct {
	// To is the export directory: new, or existing and empty.
	To string
	// Job limits the export to one job ("" exports every job).
	Job string
	// Operator is who runs the export (default: audit.OSActor()).
	Operator string
	// Progress, when set, receives events (names of files never appear).
	Progress progress.Func
	// Receipt, when set, renders and signs the hand-over receipt once the
	// data and the manifest are written, and returns its path and
	// SHA-256. The export is recorded as done only after it succeeded.
	Receipt func(ctx context.Context, res *HandoverResult) (path, sha256 string, err error)
}

// HandoverSource is one exported source: its snapshot and what was
// written for it.
type HandoverSource struct {
	Job        string `json:"job"`
	Source     string `json:"source"`
	Kind       string `json:"kind"`
	Repository string `json:"repository"`
	SnapshotID string `json:"snapshot_id"`
	// SnapshotTime is when the snapshot was taken (RFC 3339, contract
	// zone).
	SnapshotTime time.Time `json:"snapshot_time"`
	// Dir is the source's directory, relative to the export directory.
	Dir string `json:"dir"`
	// Items counts what the source holds: regular files in the tar (a
	// path source), tables with data (a database), objects (a bucket).
	Items int64 `json:"items"`
	// DataBytes is the size of that content: the files' bytes, the
	// custom-format dump's bytes, the objects' bytes.
	DataBytes int64 `json:"data_bytes"`
	// Files and Bytes count the files written for the source.
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// HandoverResult is what an export wrote.
type HandoverResult struct {
	ID       string    `json:"id"`
	Dir      string    `json:"dir"`
	Contract string    `json:"contract"`
	Customer string    `json:"customer"`
	Operator string    `json:"operator"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Sources are in config order: jobs, then each job's sources.
	Sources []HandoverSource `json:"sources"`
	// Files and Bytes count every data file written (the manifest's
	// list; not the manifest itself nor the receipt).
	Files          int64  `json:"files"`
	Bytes          int64  `json:"bytes"`
	ManifestPath   string `json:"manifest_path"`
	ManifestSHA256 string `json:"manifest_sha256"`
	ReceiptPath    string `json:"receipt_path,omitempty"`
	ReceiptSHA256  string `json:"receipt_sha256,omitempty"`
	// ReceiptCopy is the receipt's copy in the export directory.
	ReceiptCopy string `json:"receipt_copy,omitempty"`
}

// Export writes the latest snapshot of every source of every job (or of
// opts.Job) into opts.To, then the manifest, then (opts.Receipt) the
// signed receipt, and records the export in the catalog. A directory that
// exists and is not empty is refused before anything is written. If the
// export fails, what it wrote is removed again (the directory too, if it
// made it), so that a partial export is never mistaken for one.
func (x *Exporter) Export(ctx context.Context, opts HandoverOptions) (res *HandoverResult, err error) {
	plan, err := x.plan(opts.Job)
	if err != nil {
		return nil, err
	}
	// Every source's snapshot is found before anything is written: a
	// source without one is refused with nothing changed.
	if err := x.resolve(ctx, plan); err != nil {
		return nil, err
	}
	dir, made, err := prepareDir(opts.To)
	if err != nil {
		return nil, err
	}
	operator := opts.Operator
	if operator == "" {
		operator = audit.OSActor()
	}
	res = &HandoverResult{ID: x.newID(), Dir: dir, Contract: x.cfg.Contract.ID, Customer: x.cfg.Contract.Customer,
		Operator: operator, Started: x.clock.Now()}
	target := "handover:" + res.ID
	x.rec.Record(ctx, "handover.export", target, audit.ResultStarted, map[string]string{
		"jobs": strings.Join(jobNames(plan), ","), "to_sha256": audit.HashName(dir), "operator": operator})
	defer func() {
		if err == nil {
			return
		}
		if cerr := clearDir(dir, made); cerr != nil {
			err = fmt.Errorf("%w; and removing the partial export failed: %v: remove %s by hand", err, cerr, dir)
		} else {
			err = fmt.Errorf("%w (the partial export was removed)", err)
		}
		// The error text may name files (contract data): only its hash
		// and where it happened are audited.
		x.rec.Record(ctx, "handover.export", target, audit.ResultFailed, map[string]string{
			"error_sha256": audit.HashName(err.Error()), "sources_done": fmt.Sprint(len(res.Sources))})
	}()
	w, err := newFileWriter(dir, x.cfg.StateDir)
	if err != nil {
		return res, err
	}
	defer w.close()
	for _, p := range plan {
		src, err := x.exportSource(ctx, w, p, opts.Progress)
		if err != nil {
			return res, fmt.Errorf("hand over source %q of job %q: %w", p.source.Name, p.job.Name, err)
		}
		res.Sources = append(res.Sources, *src)
	}
	res.Files, res.Bytes = w.files, w.bytes
	res.Finished = x.clock.Now()
	if err := x.writeManifest(w, res); err != nil {
		return res, fmt.Errorf("write the hand-over manifest: %w", err)
	}
	if opts.Receipt != nil {
		if res.ReceiptPath, res.ReceiptSHA256, err = opts.Receipt(ctx, res); err != nil {
			return res, fmt.Errorf("hand-over receipt: %w", err)
		}
		if res.ReceiptCopy, err = copyReceipt(res.ReceiptPath, dir); err != nil {
			return res, fmt.Errorf("copy the hand-over receipt into %s: %w", dir, err)
		}
	}
	if err := x.record(ctx, res); err != nil {
		return res, err
	}
	x.rec.Record(ctx, "handover.export", target, audit.ResultOK, map[string]string{
		"manifest_sha256": res.ManifestSHA256, "receipt_sha256": res.ReceiptSHA256,
		"sources": fmt.Sprint(len(res.Sources)), "files": fmt.Sprint(res.Files), "bytes": fmt.Sprint(res.Bytes),
		"snapshots": strings.Join(snapshotIDs(res.Sources), ",")})
	return res, nil
}

// planned is one source of one job to export, and (once resolved) its
// job's primary repository and the snapshot to export.
type planned struct {
	job    *config.Job
	source *config.Source
	repo   *repo.Repo
	snap   resticx.Snapshot
}

// resolve opens each job's primary repository and finds each source's
// latest snapshot in it.
func (x *Exporter) resolve(ctx context.Context, plan []planned) error {
	opened := map[string]*repo.Repo{}
	for i := range plan {
		p := &plan[i]
		r, ok := opened[p.job.Repository]
		if !ok {
			var err error
			if r, err = x.repos.Open(ctx, p.job.Repository); err != nil {
				return err
			}
			opened[p.job.Repository] = r
		}
		snap, err := x.latestSnapshot(ctx, r, *p)
		if err != nil {
			return err
		}
		p.repo, p.snap = r, snap
	}
	return nil
}

// plan lists the sources to export: every job's (or job's) sources, in
// config order.
func (x *Exporter) plan(job string) ([]planned, error) {
	var jobs []*config.Job
	if job != "" {
		j, ok := x.cfg.Job(job)
		if !ok {
			return nil, fmt.Errorf("%w %q: --job names a job of the config (jobs: %s)", config.ErrNoJob, job, strings.Join(allJobs(x.cfg), ", "))
		}
		jobs = append(jobs, j)
	} else {
		for i := range x.cfg.Jobs {
			jobs = append(jobs, &x.cfg.Jobs[i])
		}
	}
	var out []planned
	for _, j := range jobs {
		for _, name := range j.Sources {
			src, ok := x.cfg.Source(name)
			if !ok {
				return nil, fmt.Errorf("job %q names source %q, which the config does not define", j.Name, name)
			}
			out = append(out, planned{job: j, source: src})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the config has no job with sources", ErrNoHandoverSnapshot)
	}
	return out, nil
}

func allJobs(cfg *config.Config) []string {
	var names []string
	for _, j := range cfg.Jobs {
		names = append(names, j.Name)
	}
	return names
}

func jobNames(plan []planned) []string {
	var names []string
	for _, p := range plan {
		if !slices.Contains(names, p.job.Name) {
			names = append(names, p.job.Name)
		}
	}
	return names
}

func snapshotIDs(srcs []HandoverSource) []string {
	ids := make([]string, 0, len(srcs))
	for _, s := range srcs {
		ids = append(ids, s.SnapshotID)
	}
	return ids
}

// prepareDir makes dir (0700) or accepts it when it exists and is empty.
// made says whether it was made here.
func prepareDir(dir string) (abs string, made bool, err error) {
	if dir == "" {
		return "", false, fmt.Errorf("%w: --to: name a new or empty directory to export into", ErrHandoverTarget)
	}
	abs, err = filepath.Abs(dir)
	if err != nil {
		return "", false, err
	}
	st, err := os.Stat(abs) // a link to a directory is that directory
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
			return "", false, fmt.Errorf("--to: %w", err)
		}
		if err := os.Mkdir(abs, 0o700); err != nil {
			return "", false, fmt.Errorf("--to: %w", err)
		}
		return abs, true, nil
	case err != nil:
		return "", false, fmt.Errorf("--to: %w", err)
	case !st.IsDir():
		return "", false, fmt.Errorf("%w: --to %s is not a directory: name a new or empty directory", ErrHandoverTarget, abs)
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return "", false, fmt.Errorf("--to: %w", err)
	}
	if len(ents) > 0 {
		return "", false, fmt.Errorf("%w: --to %s holds %d entries: export into a new or empty directory (nothing was written)", ErrHandoverTarget, abs, len(ents))
	}
	return abs, false, nil
}

// clearDir removes what an export wrote into dir, and dir itself when the
// export made it.
func clearDir(dir string, made bool) error {
	if made {
		return os.RemoveAll(dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// newID is the export's id: HO-<time to the second>-<random>.
func (x *Exporter) newID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "HO-" + x.clock.Now().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// latestSnapshot is the newest data snapshot of p's source in its job's
// primary repository.
func (x *Exporter) latestSnapshot(ctx context.Context, r *repo.Repo, p planned) (resticx.Snapshot, error) {
	snaps, err := x.repos.Snapshots(ctx, r, manifest.TagData, manifest.TagJob+p.job.Name, manifest.TagSource+p.source.Name)
	if err != nil {
		return resticx.Snapshot{}, err
	}
	if len(snaps) == 0 {
		return resticx.Snapshot{}, fmt.Errorf("%w: source %q of job %q has no snapshot in repository %q: run `steward backup run --job %s` first",
			ErrNoHandoverSnapshot, p.source.Name, p.job.Name, r.Name(), p.job.Name)
	}
	latest := slices.MaxFunc(snaps, func(a, b resticx.Snapshot) int { return a.Time.Compare(b.Time) })
	if len(latest.Paths) == 0 {
		return resticx.Snapshot{}, fmt.Errorf("snapshot %s of source %q records no path", latest.ShortID, p.source.Name)
	}
	return latest, nil
}
