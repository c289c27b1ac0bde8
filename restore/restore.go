package restore

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/crash"
	"steward/internal/keys"
	"steward/internal/manifest"
	"steward/internal/objstore"
	"steward/internal/pgsql"
	"steward/internal/progress"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// Deps is what a Restorer needs.
type Deps struct {
	// Repos opens repositories and resolves secrets.
	Repos *repo.Opener
	Audit audit.Appender
	Clock *clock.Zoned
	Log   *slog.Logger
	// PgRestore overrides where pg_restore is looked for (default: next
	// to the pg_dump that pgsql.FindPgDump picks for the server's major).
	PgRestore string
	// PgDump overrides where pg_dump is looked for (pg_restore is taken
	// from beside it).
	PgDump string
}

// Restorer restores snapshots. It is safe for concurrent use.
type Restorer struct {
	repos     *repo.Opener
	cfg       *config.Config
	restic    *resticx.Runner
	rec       *audit.Recorder
	clock     *clock.Zoned
	log       *slog.Logger
	pgRestore string
	pgDump    string
}

// New returns a Restorer over d.
func New(d Deps) *Restorer {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clk := d.Clock
	if clk == nil {
		loc, _ := clock.LoadZone(d.Repos.Config().Contract.TimeZone)
		clk = clock.New(loc, nil)
	}
	log = log.With("component", "restore")
	return &Restorer{repos: d.Repos, cfg: d.Repos.Config(), restic: d.Repos.Restic(), rec: audit.NewRecorder(d.Audit, log), clock: clk,
		log: log, pgRestore: d.PgRestore, pgDump: d.PgDump}
}

// Target is where a restore writes: exactly one of Dir, Postgres, Bucket.
type Target struct {
	// Dir receives a path source's tree, or a bucket source's objects as
	// files (the key is the relative path).
	Dir string
	// Postgres names the database to restore a postgres source into
	// (created when missing); PostgresPassword logs in.
	Postgres         *config.PostgresSource
	PostgresPassword keys.Secret
	// PostgresAdminDB is the database to connect to when creating the
	// target database (default "postgres").
	PostgresAdminDB string
	// Bucket receives a bucket source's objects (created when missing).
	Bucket *objstore.Target
}

// Kind is "dir", "database" or "bucket".
func (t Target) Kind() string {
	switch {
	case t.Postgres != nil:
		return "database"
	case t.Bucket != nil:
		return "bucket"
	default:
		return "dir"
	}
}

// String names the target for messages.
func (t Target) String() string {
	switch {
	case t.Postgres != nil:
		return fmt.Sprintf("database %q at %s:%d", t.Postgres.Database, t.Postgres.Host, t.Postgres.Port)
	case t.Bucket != nil:
		return t.Bucket.String()
	default:
		return "directory " + t.Dir
	}
}

// Options says what Run restores and where.
type Options struct {
	// Job and Source name what to restore (Job may be "" when the config
	// has one job; Source may be "" when the job has one source).
	Job    string
	Source string
	// Snapshot is "latest" (or "") or a snapshot id (a unique prefix is
	// enough); it must be a data snapshot of that job's source.
	Snapshot string
	// Repository is the repository to restore from: "" for the job's
	// primary, or the name of one of its replicas.
	Repository string
	// To is the target. With IntoSource it may be left empty: the live
	// source is the target.
	To Target
	// Force allows a non-empty target (its data is overwritten or merged).
	Force bool
	// IntoSource allows restoring into the live source; Confirm must then
	// be the source's name, typed by the operator.
	IntoSource bool
	Confirm    string
	// Reason is recorded in the audit log: "operator" or "drill:<id>".
	Reason string
	// Progress, when set, receives events (from the restoring goroutine).
	Progress func(Event)
	// OnTarget, when set, is called once the target is checked and just
	// before anything is created or written (drills record it first).
	OnTarget func(Target) error
}

// Event kinds (see package progress).
const (
	EventStart    = progress.Start
	EventProgress = progress.Progress
	EventDone     = progress.Done
	EventFailed   = progress.Failed
)

// Event is one progress event; names of files or objects never appear.
type Event = progress.Event

// Result is what a restore did.
type Result struct {
	Job          string    `json:"job"`
	Source       string    `json:"source"`
	Kind         string    `json:"kind"`
	Repository   string    `json:"repository"`
	SnapshotID   string    `json:"snapshot_id"`
	SnapshotTime time.Time `json:"snapshot_time"`
	TargetKind   string    `json:"target_kind"`
	Target       string    `json:"target"`
	Bytes        int64     `json:"bytes"`
	// Files counts regular files (a path source), objects (a bucket
	// source) or nothing (a database).
	Files    int64     `json:"files"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// Snapshot is a data snapshot chosen for a restore.
type Snapshot struct {
	ID   string
	Time time.Time
	// Path is the backed-up directory, or the single stdin file
	// ("/<source>.pgdump", "/<source>.tar").
	Path  string
	Bytes int64
	Files int64
	// Restic is the snapshot as the repository lists it (tags, original).
	Restic resticx.Snapshot
}

// Resolved is a job's source and its primary repository, opened.
type Resolved struct {
	Job        *config.Job
	Source     *config.Source
	Repository *resticx.Repository
	Residency  repo.Residency
}

// Resolve finds the job and source and opens the job's primary
// repository (residency-checked).
func (r *Restorer) Resolve(ctx context.Context, jobName, sourceName string) (*Resolved, error) {
	return r.ResolveIn(ctx, jobName, sourceName, "")
}

// ResolveIn is Resolve with the repository to read from: the job's
// primary ("") or one of its replicas, by name.
func (r *Restorer) ResolveIn(ctx context.Context, jobName, sourceName, repository string) (*Resolved, error) {
	job, err := r.cfg.FindJob(jobName)
	if err != nil {
		return nil, err
	}
	if sourceName == "" {
		if len(job.Sources) != 1 {
			return nil, fmt.Errorf("job %q has sources %s: name one (--source)", job.Name, strings.Join(job.Sources, ", "))
		}
		sourceName = job.Sources[0]
	}
	if !slices.Contains(job.Sources, sourceName) {
		return nil, fmt.Errorf("job %q has no source %q (sources: %s)", job.Name, sourceName, strings.Join(job.Sources, ", "))
	}
	src, ok := r.cfg.Source(sourceName)
	if !ok {
		return nil, fmt.Errorf("no source named %q", sourceName)
	}
	if repository == "" {
		repository = job.Repository
	}
	if repository != job.Repository && !slices.Contains(job.Replicas, repository) {
		return nil, fmt.Errorf("%w: repository %q holds no copy of job %q (its repositories: %s)", ErrBadRepository, repository, job.Name,
			strings.Join(append([]string{job.Repository}, job.Replicas...), ", "))
	}
	rp, err := r.repos.Open(ctx, repository)
	if err != nil {
		return nil, err
	}
	return &Resolved{Job: job, Source: src, Repository: rp.Restic, Residency: rp.Residency}, nil
}

// Snapshots lists the source's data snapshots in the repository, oldest
// first, asking the repository (not the catalog).
func (r *Restorer) Snapshots(ctx context.Context, rs *Resolved) ([]Snapshot, error) {
	snaps, err := r.restic.Snapshots(ctx, rs.Repository, manifest.TagData, manifest.TagJob+rs.Job.Name, manifest.TagSource+rs.Source.Name)
	if err != nil {
		return nil, err
	}
	out := make([]Snapshot, 0, len(snaps))
	for _, s := range snaps {
		sn := Snapshot{ID: s.ID, Time: s.Time.In(r.clock.Location()), Restic: s}
		if len(s.Paths) > 0 {
			sn.Path = s.Paths[0]
		}
		if s.Summary != nil {
			sn.Bytes, sn.Files = s.Summary.TotalBytesProcessed, s.Summary.TotalFilesProcessed
		}
		out = append(out, sn)
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// FindSnapshot picks "latest" (or "") or the snapshot whose id starts
// with want.
func (r *Restorer) FindSnapshot(ctx context.Context, rs *Resolved, want string) (Snapshot, error) {
	snaps, err := r.Snapshots(ctx, rs)
	if err != nil {
		return Snapshot{}, err
	}
	if len(snaps) == 0 {
		return Snapshot{}, fmt.Errorf("%w: source %q of job %q has no snapshot in repository %q: run `steward backup run --job %s`",
			ErrNoSnapshot, rs.Source.Name, rs.Job.Name, rs.Repository.Name, rs.Job.Name)
	}
	if want == "" || want == "latest" {
		return snaps[len(snaps)-1], nil
	}
	var found []Snapshot
	for _, s := range snaps {
		// In a replica a copy has its own id; the primary's id (its
		// original, as `steward snapshots` lists it) names it too.
		if strings.HasPrefix(s.ID, want) || (s.Restic.Original != "" && strings.HasPrefix(s.Restic.Original, want)) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Snapshot{}, fmt.Errorf("%w: %q is not a snapshot of source %q in repository %q (see `steward snapshots --job %s`)",
			ErrNoSnapshot, want, rs.Source.Name, rs.Repository.Name, rs.Job.Name)
	}
	return Snapshot{}, fmt.Errorf("%w: %q matches %d snapshots: give more of the id", ErrNoSnapshot, want, len(found))
}

// Run restores one snapshot of a job's source into opts.To.
func (r *Restorer) Run(ctx context.Context, opts Options) (*Result, error) {
	rs, err := r.ResolveIn(ctx, opts.Job, opts.Source, opts.Repository)
	if err != nil {
		return nil, err
	}
	snap, err := r.FindSnapshot(ctx, rs, opts.Snapshot)
	if err != nil {
		return nil, err
	}
	return r.RunSnapshot(ctx, rs, snap, opts)
}

// RunSnapshot restores snap (of rs) into opts.To.
func (r *Restorer) RunSnapshot(ctx context.Context, rs *Resolved, snap Snapshot, opts Options) (res *Result, err error) {
	src := rs.Source
	to, err := r.target(src, opts)
	if err != nil {
		return nil, err
	}
	res = &Result{Job: rs.Job.Name, Source: src.Name, Kind: src.Kind(), Repository: rs.Repository.Name, SnapshotID: snap.ID,
		SnapshotTime: snap.Time, TargetKind: to.Kind(), Target: to.String(), Started: r.clock.Now()}
	reason := opts.Reason
	if reason == "" {
		reason = "operator"
	}
	details := map[string]string{"job": res.Job, "source": res.Source, "repository": res.Repository, "kind": res.Kind,
		"target_kind": res.TargetKind, "target_sha256": audit.HashName(res.Target), "reason": reason}
	if opts.IntoSource {
		details["into_source"] = "true"
	}
	if opts.Force {
		details["force"] = "true"
	}
	target := "snapshot:" + snap.ID
	if err := r.rec.Begin(ctx, "restore", target, audit.ResultStarted, details); err != nil {
		return nil, fmt.Errorf("restore of source %q: the audit log cannot record it, so nothing was restored: %w", src.Name, err)
	}
	emit := func(ev Event) {
		if opts.Progress != nil {
			ev.Time, ev.Source, ev.SnapshotID = r.clock.Now(), src.Name, snap.ID
			opts.Progress(ev)
		}
	}
	defer func() {
		res.Finished = r.clock.Now()
		d := map[string]string{"job": res.Job, "source": res.Source, "bytes": fmt.Sprint(res.Bytes), "files": fmt.Sprint(res.Files), "reason": reason}
		if err != nil {
			d["error"] = oneLine(err)
			r.rec.Record(ctx, "restore", target, audit.ResultFailed, d)
			emit(Event{Kind: EventFailed, Error: oneLine(err)})
			return
		}
		r.rec.Record(ctx, "restore", target, audit.ResultOK, d)
		emit(Event{Kind: EventDone, BytesDone: res.Bytes, FilesDone: res.Files})
	}()
	if err := r.checkTarget(ctx, src, to, opts); err != nil {
		return res, err
	}
	if opts.OnTarget != nil {
		if err := opts.OnTarget(to); err != nil {
			return res, err
		}
	}
	emit(Event{Kind: EventStart, BytesTotal: snap.Bytes, FilesTotal: snap.Files, Message: "restoring into " + to.Kind()})
	p := &progress.Meter{Start: time.Now(), Emit: emit, TotalBytes: snap.Bytes, TotalFiles: snap.Files}
	switch src.Kind() {
	case "path":
		err = r.restorePath(ctx, rs, snap, to.Dir, res, p)
	case "postgres":
		err = r.restorePostgres(ctx, rs, snap, to, res, p)
	default:
		err = r.restoreBucket(ctx, rs, snap, to, res, p)
	}
	if err != nil {
		return res, fmt.Errorf("restore snapshot %s of source %q from repository %q into %s: %w", short(snap.ID), src.Name, rs.Repository.Name, to, err)
	}
	crash.Point(crash.RestoreWritten)
	return res, nil
}

// target works out where to restore: opts.To, or the live source.
func (r *Restorer) target(src *config.Source, opts Options) (Target, error) {
	if opts.IntoSource {
		if opts.Confirm != src.Name {
			return Target{}, fmt.Errorf("%w: type the source's name %q to confirm (--confirm %s)", ErrConfirmation, src.Name, src.Name)
		}
		if opts.To.Dir != "" || opts.To.Postgres != nil || opts.To.Bucket != nil {
			return Target{}, fmt.Errorf("%w: --into-source restores into the source itself; give no other target", ErrBadTarget)
		}
		return r.SourceTarget(src)
	}
	to := opts.To
	n := 0
	for _, set := range []bool{to.Dir != "", to.Postgres != nil, to.Bucket != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return Target{}, fmt.Errorf("%w: give exactly one target (a directory, a database or a bucket)", ErrBadTarget)
	}
	switch src.Kind() {
	case "path":
		if to.Dir == "" {
			return Target{}, fmt.Errorf("%w: source %q is a directory tree: restore it into a directory", ErrBadTarget, src.Name)
		}
	case "postgres":
		if to.Postgres == nil {
			return Target{}, fmt.Errorf("%w: source %q is a PostgreSQL database: restore it into a database", ErrBadTarget, src.Name)
		}
	case "s3":
		if to.Postgres != nil {
			return Target{}, fmt.Errorf("%w: source %q is a bucket: restore it into a bucket or a directory", ErrBadTarget, src.Name)
		}
	}
	if to.Dir != "" {
		abs, err := filepath.Abs(to.Dir)
		if err != nil {
			return Target{}, err
		}
		to.Dir = abs
	}
	return to, nil
}

// SourceTarget is the live source as a restore target.
func (r *Restorer) SourceTarget(src *config.Source) (Target, error) {
	field := repo.Field(r.cfg, "sources", src.Name)
	switch src.Kind() {
	case "path":
		return Target{Dir: src.Path.Path}, nil
	case "postgres":
		return r.DatabaseTarget(src, src.Postgres.Database)
	default:
		t, err := r.repos.S3Target(field+".s3", src.S3)
		if err != nil {
			return Target{}, err
		}
		return Target{Bucket: &t}, nil
	}
}

// DatabaseTarget is database name on a postgres source's server, logged
// in as the source's restore role (sources[].restore.postgres) when one is
// configured, else as its backup role.
func (r *Restorer) DatabaseTarget(src *config.Source, name string) (Target, error) {
	field := repo.Field(r.cfg, "sources", src.Name)
	db := *src.Postgres
	db.Database = name
	admin := src.Postgres.Database
	login := field + ".postgres"
	if src.Restore != nil && src.Restore.Postgres != nil {
		rp := src.Restore.Postgres
		db.User, db.Password = rp.User, rp.Password
		admin = cmp.Or(rp.Database, "postgres")
		login = field + ".restore.postgres"
	}
	pw, err := r.repos.PostgresPassword(login, &db)
	if err != nil {
		return Target{}, err
	}
	return Target{Postgres: &db, PostgresPassword: pw, PostgresAdminDB: admin}, nil
}

// checkTarget refuses the live source (unless IntoSource) and a non-empty
// target (unless Force or IntoSource).
func (r *Restorer) checkTarget(ctx context.Context, src *config.Source, to Target, opts Options) error {
	if !opts.IntoSource && isSource(src, to) {
		return fmt.Errorf("%w: %s is where source %q lives: restore elsewhere, or pass --into-source --confirm %s to overwrite it",
			ErrIntoSource, to, src.Name, src.Name)
	}
	if opts.Force || opts.IntoSource {
		return nil
	}
	var empty bool
	var err error
	switch to.Kind() {
	case "dir":
		empty, err = dirEmpty(to.Dir)
	case "database":
		empty, err = pgsql.DatabaseEmpty(ctx, to.Postgres, to.PostgresPassword)
	case "bucket":
		var c *objstore.Client
		if c, err = objstore.New(*to.Bucket); err == nil {
			empty, err = c.Empty(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("check restore target %s: %w", to, err)
	}
	if !empty {
		return fmt.Errorf("%w: %s holds data: restore into an empty or new target, or pass --force to write over it", ErrNotEmpty, to)
	}
	return nil
}

func isSource(src *config.Source, to Target) bool {
	switch {
	case src.Path != nil && to.Dir != "":
		// Compared as the kernel resolves them: a symlink to the source
		// (or into it, or to a parent of it) is the source.
		a, b := resolvePath(src.Path.Path), resolvePath(to.Dir)
		return within(a, b) || within(b, a)
	case src.Postgres != nil && to.Postgres != nil:
		p, q := src.Postgres, to.Postgres
		return p.Database == q.Database && p.Port == q.Port && sameHost(p.Host, q.Host)
	case src.S3 != nil && to.Bucket != nil:
		host, _, _ := objstore.ParseEndpoint(src.S3.Endpoint, src.S3.Insecure)
		return src.S3.Bucket == to.Bucket.Bucket && host == to.Bucket.Host
	}
	return false
}

// within reports whether path p is dir or below it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// resolvePath is p made absolute with every symlink resolved; the part of
// p that does not exist yet (a new restore target) is kept as written
// below its deepest existing, resolved ancestor.
func resolvePath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for dir := abs; ; dir = filepath.Dir(dir) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(real, rest)
		}
		if parent := filepath.Dir(dir); parent == dir {
			return abs
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

func sameHost(a, b string) bool {
	norm := func(h string) string {
		if h == "localhost" || h == "" || h == "::1" {
			return "127.0.0.1"
		}
		return h
	}
	return norm(a) == norm(b)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
