package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/manifest"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// ErrIncomplete means the catalog was not rebuilt from every configured
// repository (one had no password, did not answer or did not open with
// its password), or some of a repository's snapshots could not be
// catalogued. What was read is in the catalog all the same.
var ErrIncomplete = errors.New("catalog not rebuilt from everything")

// Store is what Rebuild writes into the catalog (catalog.SQLite has it).
type Store interface {
	PutRun(ctx context.Context, r catalog.RunRow) error
	Run(ctx context.Context, id string) (catalog.RunRow, error)
	PutSnapshot(ctx context.Context, r catalog.SnapshotRow) error
	Snapshot(ctx context.Context, repository, snapshotID string) (catalog.SnapshotRow, error)
	PutManifest(ctx context.Context, m catalog.ManifestRow, body io.Reader) error
	Manifest(ctx context.Context, snapshotID string) (catalog.ManifestRow, error)
}

// Deps is what Rebuild needs; app builds it.
type Deps struct {
	// Repos resolves the configured repositories and holds Steward's
	// repository locks while they are read.
	Repos *repo.Opener
	Store Store
	// Audit receives the recovery.rebuild record.
	Audit audit.Appender
	Clock *clock.Zoned
	Log   *slog.Logger
}

// Options say what Rebuild reads.
type Options struct {
	// Passwords open the repositories, by name. A configured repository
	// without one is not read (and the rebuild is incomplete).
	Passwords map[string]keys.Secret
	// Origin says where the passwords came from, for the audit record
	// (e.g. "password files", or the recovery kit's file name).
	Origin string
}

// RepositoryResult is what Rebuild found in one repository and added to
// the catalog from it.
type RepositoryResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Read says the repository answered and opened with its password.
	Read bool `json:"read"`
	// Snapshots counts the Steward data snapshots it holds (in a replica,
	// the copies).
	Snapshots int `json:"snapshots"`
	// SnapshotRows, Manifests and Runs count the catalog rows this rebuild
	// added (from a job's primary repository; a replica's copies are
	// recorded with the primary's snapshots). A second rebuild adds none.
	SnapshotRows int `json:"snapshot_rows_added"`
	Manifests    int `json:"manifests_added"`
	Runs         int `json:"runs_added"`
	// Known counts data snapshots the catalog held already.
	Known int `json:"already_catalogued"`
	// Unclaimed counts data snapshots of a job the config does not have,
	// or does not give this repository to: they are left out.
	Unclaimed int `json:"unclaimed"`
	// Problems name snapshots that could not be catalogued in full.
	Problems []string `json:"problems,omitempty"`
	// Error says why the repository was not read.
	Error string `json:"error,omitempty"`
}

// RebuildResult is what Rebuild did, per configured repository.
type RebuildResult struct {
	Repositories []RepositoryResult `json:"repositories"`
}

// ReadRepositories names the repositories that answered and opened with
// the password given: those whose passwords are worth keeping.
func (r *RebuildResult) ReadRepositories() []string {
	var names []string
	for _, rr := range r.Repositories {
		if rr.Read {
			names = append(names, rr.Name)
		}
	}
	return names
}

// Rebuild rebuilds a new state dir's catalog from the repositories: for
// each configured repository whose password is given, it lists Steward's
// snapshots, and for each data snapshot in its job's primary repository
// it writes the snapshot row (with the replicas that hold a copy), the
// run that made it, and its manifest, read from the companion manifest
// snapshot in the repository (manifest.FromRepository) and stored through
// the catalog's ManifestStore. That is what `snapshots`, drills (the
// manifest from the catalog) and backups (the previous manifest, for
// hash reuse and unchanged sources) read.
//
// Rows already in the catalog are left as they are, so a second Rebuild
// adds nothing. A repository that cannot be read is named in the result
// and the others are still rebuilt; the error then wraps ErrIncomplete.
// Rebuilt runs and snapshots carry "rebuilt" in their records: their
// start time is the snapshot's, and what restic did not keep (when a run
// finished, the residency answers of the day) is left out, not made up.
func Rebuild(ctx context.Context, d Deps, opts Options) (*RebuildResult, error) {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "recovery")
	b := &builder{d: d, cfg: d.Repos.Config(), rec: audit.NewRecorder(d.Audit, log), log: log, listed: map[string]*listing{}}
	res := &RebuildResult{}
	var names []string
	for _, rc := range b.cfg.Repositories {
		res.Repositories = append(res.Repositories, RepositoryResult{Name: rc.Name, Kind: rc.Kind()})
		if _, ok := opts.Passwords[rc.Name]; ok {
			names = append(names, rc.Name)
		} else {
			res.Repositories[len(res.Repositories)-1].Error = "no password given"
		}
	}
	for name := range opts.Passwords {
		if _, ok := b.cfg.Repository(name); !ok {
			return nil, fmt.Errorf("%w: %q (a password was given for it)", repo.ErrNoRepository, name)
		}
	}
	b.rec.Record(ctx, "recovery.rebuild", "catalog", audit.ResultStarted, map[string]string{"origin": opts.Origin, "repositories": strings.Join(names, ",")})
	release, err := d.Repos.Lock(ctx, names)
	if err != nil {
		b.rec.Record(ctx, "recovery.rebuild", "catalog", audit.ResultFailed, map[string]string{"error": oneLine(err)})
		return nil, err
	}
	defer release()

	for i := range res.Repositories {
		rr := &res.Repositories[i]
		if rr.Error != "" {
			continue
		}
		l, err := b.list(ctx, rr.Name, opts.Passwords[rr.Name])
		if err != nil {
			rr.Error = oneLine(err)
			log.Warn("repository not read", "repository", rr.Name, "err", err)
			continue
		}
		rr.Read = true
		b.listed[rr.Name] = l
		for _, s := range l.snaps {
			if s.HasTag(manifest.TagData) {
				rr.Snapshots++
			}
		}
	}
	for i := range res.Repositories {
		rr := &res.Repositories[i]
		if l := b.listed[rr.Name]; l != nil {
			b.rebuildRepository(ctx, l, rr)
		}
	}
	return res, b.finish(ctx, res, opts)
}

// finish writes the audit record and says whether anything was left out.
func (b *builder) finish(ctx context.Context, res *RebuildResult, opts Options) error {
	details := map[string]string{"origin": opts.Origin}
	var missing []string
	for _, rr := range res.Repositories {
		details["repository:"+rr.Name] = fmt.Sprintf("read=%t snapshots=%d snapshot_rows_added=%d manifests_added=%d runs_added=%d already_catalogued=%d unclaimed=%d problems=%d",
			rr.Read, rr.Snapshots, rr.SnapshotRows, rr.Manifests, rr.Runs, rr.Known, rr.Unclaimed, len(rr.Problems))
		switch {
		case rr.Error != "":
			missing = append(missing, fmt.Sprintf("repository %q not read (%s)", rr.Name, rr.Error))
		case len(rr.Problems) > 0:
			missing = append(missing, fmt.Sprintf("repository %q: %s", rr.Name, strings.Join(rr.Problems, "; ")))
		}
	}
	if len(missing) > 0 {
		err := fmt.Errorf("%w: %s; what was read is catalogued: once the others answer, rebuild again with their passwords (nothing is added twice)", ErrIncomplete, strings.Join(missing, "; "))
		details["error"] = oneLine(err)
		b.rec.Record(ctx, "recovery.rebuild", "catalog", audit.ResultFailed, details)
		return err
	}
	b.rec.Record(ctx, "recovery.rebuild", "catalog", audit.ResultOK, details)
	return nil
}

// builder is one Rebuild.
type builder struct {
	d      Deps
	cfg    *config.Config
	rec    *audit.Recorder
	log    *slog.Logger
	listed map[string]*listing
}

// listing is one repository's Steward snapshots, listed once. It serves
// manifest.FromRepository's lookups from the list, so that reading a
// manifest costs one `restic dump` and no further listing.
type listing struct {
	r      *repo.Repo
	restic *resticx.Runner
	snaps  []resticx.Snapshot
	// loaded holds the manifests stored so far, by companion snapshot
	// id: the data snapshots of an unchanged source share one.
	loaded map[string]storedManifest
}

type storedManifest struct {
	job, source, kind, sha256 string
}

// list opens repository name with pw (after the residency check, for S3)
// and lists its Steward snapshots.
func (b *builder) list(ctx context.Context, name string, pw keys.Secret) (*listing, error) {
	r, err := b.d.Repos.Resolve(name, false)
	if err != nil {
		return nil, err
	}
	r.Restic.Password = pw
	if err := b.d.Repos.CheckResidency(ctx, r); err != nil {
		return nil, err
	}
	snaps, err := b.d.Repos.Snapshots(ctx, r, manifest.TagSteward)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	return &listing{r: r, restic: b.d.Repos.Restic(), snaps: snaps, loaded: map[string]storedManifest{}}, nil
}

// Snapshots filters the listing: the snapshots carrying every tag.
func (l *listing) Snapshots(_ context.Context, _ *resticx.Repository, tags ...string) ([]resticx.Snapshot, error) {
	var out []resticx.Snapshot
	for _, s := range l.snaps {
		if !slices.ContainsFunc(tags, func(t string) bool { return !s.HasTag(t) }) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Run runs restic.
func (l *listing) Run(ctx context.Context, r *resticx.Repository, call resticx.Call) (*resticx.Result, error) {
	return l.restic.Run(ctx, r, call)
}

// companion is the id of data snapshot s's manifest snapshot in this
// repository ("" when there is none, or more than one: reading the
// manifest then says why).
func (l *listing) companion(s resticx.Snapshot) string {
	var found []string
	ref, run := s.TagValue(manifest.TagManifestRef), s.TagValue(manifest.TagRun)
	for _, m := range l.snaps {
		switch {
		case !m.HasTag(manifest.TagManifest):
		case ref != "" && (m.ID == ref || m.Original == ref):
			found = append(found, m.ID)
		case ref == "" && m.TagValue(manifest.TagRun) == run:
			found = append(found, m.ID)
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// hasCopy reports whether the listing holds a copy of snapshot id.
func (l *listing) hasCopy(id string) bool {
	return slices.ContainsFunc(l.snaps, func(s resticx.Snapshot) bool { return s.HasTag(manifest.TagData) && s.OriginalID() == id })
}

// rebuildRepository catalogues the data snapshots of the jobs whose
// primary repository l is.
func (b *builder) rebuildRepository(ctx context.Context, l *listing, rr *RepositoryResult) {
	for _, s := range l.snaps {
		if !s.HasTag(manifest.TagData) {
			continue
		}
		job, ok := b.cfg.Job(s.TagValue(manifest.TagJob))
		switch {
		case !ok:
			rr.Unclaimed++
		case job.Repository == rr.Name:
			if err := b.snapshot(ctx, l, job, s, rr); err != nil {
				rr.Problems = append(rr.Problems, fmt.Sprintf("snapshot %s: %s", short(s.ID), oneLine(err)))
			}
		case !slices.Contains(job.Replicas, rr.Name):
			rr.Unclaimed++
		}
	}
}

// snapshot catalogues data snapshot s of job in its primary repository:
// its manifest, its run and its snapshot row, each unless the catalog
// has it already.
func (b *builder) snapshot(ctx context.Context, l *listing, job *config.Job, s resticx.Snapshot, rr *RepositoryResult) error {
	source, runID := s.TagValue(manifest.TagSource), s.TagValue(manifest.TagRun)
	if source == "" || runID == "" {
		return fmt.Errorf("not a Steward data snapshot (no %s or %s tag)", manifest.TagSource, manifest.TagRun)
	}
	added := false
	companion := l.companion(s)
	var mErr error
	m, err := b.d.Store.Manifest(ctx, s.ID)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		m, mErr = b.putManifest(ctx, l, s, companion)
		if mErr == nil {
			rr.Manifests++
			added = true
		}
	case err != nil:
		return err
	}
	kind := m.Kind
	if src, ok := b.cfg.Source(source); ok && kind == "" {
		kind = src.Kind()
	}
	rec := runRecord{ID: runID, Job: job.Name, Source: source, Kind: kind, Repository: rr.Name, SnapshotID: s.ID,
		Started: b.d.Clock.Format(s.Time), ManifestSHA256: m.SHA256, ManifestReused: s.TagValue(manifest.TagManifestRef) != "",
		Result: "ok", Rebuilt: &rebuilt{From: rr.Name, At: b.d.Clock.Format(b.d.Clock.Now())}}
	if m.SHA256 != "" {
		rec.ManifestID = companion
	}
	if s.Summary != nil {
		rec.BytesRead, rec.Files, rec.DataAdded = s.Summary.TotalBytesProcessed, s.Summary.TotalFilesProcessed, s.Summary.DataAdded
	}
	for _, name := range job.Replicas {
		if c := b.listed[name]; c != nil && c.hasCopy(s.ID) {
			rec.Copies = append(rec.Copies, copyRecord{Repository: name, Result: "ok"})
		}
	}
	if _, err := b.d.Store.Run(ctx, runID); errors.Is(err, catalog.ErrNotFound) {
		body, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := b.d.Store.PutRun(ctx, catalog.RunRow{ID: rec.ID, Job: rec.Job, Source: rec.Source, Repository: rec.Repository,
			SnapshotID: rec.SnapshotID, Started: rec.Started, Result: rec.Result, Record: body}); err != nil {
			return err
		}
		rr.Runs++
		added = true
	} else if err != nil {
		return err
	}
	if _, err := b.d.Store.Snapshot(ctx, rr.Name, s.ID); errors.Is(err, catalog.ErrNotFound) {
		body, err := json.Marshal(snapshotRecord{RunID: rec.ID, ManifestID: rec.ManifestID, ManifestReused: rec.ManifestReused,
			Kind: rec.Kind, Bytes: rec.BytesRead, Files: rec.Files, Copies: rec.Copies, Rebuilt: rec.Rebuilt})
		if err != nil {
			return err
		}
		if err := b.d.Store.PutSnapshot(ctx, catalog.SnapshotRow{Repository: rr.Name, SnapshotID: s.ID, Job: job.Name, Source: source,
			Time: rec.Started, Record: body}); err != nil {
			return err
		}
		rr.SnapshotRows++
		added = true
	} else if err != nil {
		return err
	}
	if !added && mErr == nil {
		rr.Known++
	}
	return mErr
}

// putManifest stores data snapshot s's manifest in the catalog, read
// from its companion snapshot (once per companion: the data snapshots of
// an unchanged source name the same one and the same body).
func (b *builder) putManifest(ctx context.Context, l *listing, s resticx.Snapshot, companion string) (catalog.ManifestRow, error) {
	source, job := s.TagValue(manifest.TagSource), s.TagValue(manifest.TagJob)
	if c, ok := l.loaded[companion]; ok && companion != "" && c.source == source && c.job == job {
		row := catalog.ManifestRow{SnapshotID: s.ID, Source: source, Kind: c.kind, SHA256: c.sha256}
		return row, b.d.Store.PutManifest(ctx, row, nil)
	}
	tmp := b.d.Repos.Restic().TmpDir()
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return catalog.ManifestRow{}, err
	}
	m, err := manifest.FromRepository(ctx, l, l.r.Restic, s, tmp)
	if err != nil {
		return catalog.ManifestRow{}, err
	}
	defer m.Close()
	row := catalog.ManifestRow{SnapshotID: s.ID, Source: source, Kind: m.Kind, SHA256: m.SHA256}
	if err := b.d.Store.PutManifest(ctx, row, m.Body()); err != nil {
		return catalog.ManifestRow{}, err
	}
	if companion != "" {
		l.loaded[companion] = storedManifest{job: m.Job, source: m.Source, kind: m.Kind, sha256: m.SHA256}
	}
	return row, nil
}

// runRecord is a rebuilt run as the catalog keeps runs: the fields of
// backup's RunRecord that a repository can tell (rebuild_test checks
// that backup reads it back), and what it was rebuilt from.
type runRecord struct {
	ID             string       `json:"id"`
	Job            string       `json:"job"`
	Source         string       `json:"source"`
	Kind           string       `json:"kind"`
	Repository     string       `json:"repository"`
	SnapshotID     string       `json:"snapshot_id,omitempty"`
	ManifestID     string       `json:"manifest_snapshot_id,omitempty"`
	Started        string       `json:"started"`
	BytesRead      int64        `json:"bytes_read"`
	DataAdded      int64        `json:"data_added"`
	Files          int64        `json:"files"`
	Copies         []copyRecord `json:"replica_copies,omitempty"`
	ManifestSHA256 string       `json:"manifest_sha256,omitempty"`
	ManifestReused bool         `json:"manifest_reused,omitempty"`
	Result         string       `json:"result"`
	Rebuilt        *rebuilt     `json:"rebuilt,omitempty"`
}

// snapshotRecord is a rebuilt snapshot row's record, as backup writes it.
type snapshotRecord struct {
	RunID          string       `json:"run_id"`
	ManifestID     string       `json:"manifest_snapshot_id"`
	ManifestReused bool         `json:"manifest_reused"`
	Kind           string       `json:"kind"`
	Bytes          int64        `json:"bytes"`
	Files          int64        `json:"files"`
	Copies         []copyRecord `json:"copies"`
	Rebuilt        *rebuilt     `json:"rebuilt,omitempty"`
}

// copyRecord is a replica found holding a copy.
type copyRecord struct {
	Repository string `json:"repository"`
	Result     string `json:"result"`
}

// rebuilt says where and when a row was rebuilt from.
type rebuilt struct {
	From string `json:"from_repository"`
	At   string `json:"at"`
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
