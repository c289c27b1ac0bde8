package drills

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/crash"
	"steward/internal/errs"
	"steward/internal/manifest"
	"steward/internal/repo"
	"steward/internal/resticx"
	"steward/restore"
)

// Store is what drills keep in the catalog (catalog.SQLite has it).
type Store interface {
	PutDrill(ctx context.Context, r catalog.DrillRow) error
	Drill(ctx context.Context, id string) (catalog.DrillRow, error)
	Drills(ctx context.Context, limit int) ([]catalog.DrillRow, error)
	DrillsWithResult(ctx context.Context, result string) ([]catalog.DrillRow, error)
	Manifest(ctx context.Context, snapshotID string) (catalog.ManifestRow, error)
	ManifestBody(ctx context.Context, sha256 string) (io.ReadCloser, error)
	catalog.KV
}

// Deps is what a Driller needs.
type Deps struct {
	// Repos opens repositories and resolves secrets.
	Repos *repo.Opener
	// Restorer restores into scratch (default: one over Repos).
	Restorer *restore.Restorer
	Store    Store
	Audit    audit.Appender
	Clock    *clock.Zoned
	Log      *slog.Logger
}

// Driller runs drills.
type Driller struct {
	repos  *repo.Opener
	rst    *restore.Restorer
	cfg    *config.Config
	restic *resticx.Runner
	store  Store
	rec    *audit.Recorder
	clock  *clock.Zoned
	log    *slog.Logger
	// hookRestoring, when set by a test, runs once the restore has
	// started writing into scratch.
	hookRestoring func()
	// pick returns a uniform random int in [0, n): which snapshot
	// --snapshot random takes (a test makes it deterministic).
	pick func(n int) int
}

// New returns a Driller over d.
func New(d Deps) *Driller {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clk := d.Clock
	cfg := d.Repos.Config()
	if clk == nil {
		loc, _ := clock.LoadZone(cfg.Contract.TimeZone)
		clk = clock.New(loc, nil)
	}
	rst := d.Restorer
	if rst == nil {
		rst = restore.New(restore.Deps{Repos: d.Repos, Audit: d.Audit, Clock: clk, Log: log})
	}
	log = log.With("component", "drills")
	return &Driller{repos: d.Repos, rst: rst, cfg: cfg, restic: d.Repos.Restic(), store: d.Store, rec: audit.NewRecorder(d.Audit, log),
		clock: clk, log: log, pick: mrand.IntN}
}

// RunOptions says what Run drills.
type RunOptions struct {
	// Job ("" when the config has one job) and Source ("" for every
	// source of the job: one drill each).
	Job    string
	Source string
	// Snapshot is "latest", "random" or a snapshot id ("" means the
	// config's drills.snapshot).
	Snapshot string
	// Repository is the repository to drill: "" for the job's primary, or
	// one of its replicas by name. A copy nobody drills is a copy nobody
	// can trust.
	Repository string
	// Trigger is TriggerOperator (default) or TriggerSchedule.
	Trigger      string
	Participants []string
	// Progress, when set, receives events.
	Progress func(Event)
}

// Event kinds.
const (
	EventStep     = "step"     // a step finished
	EventProgress = "progress" // restore progress
	EventCheck    = "check"    // a check was made
	EventLeftover = "leftover" // a crashed drill's scratch was removed (DrillID is the crashed drill's)
	EventDone     = "done"     // a drill finished
)

// Event is one progress event of a drill. Names of files, tables or
// objects appear only in check details.
type Event struct {
	Time    time.Time      `json:"time"`
	Kind    string         `json:"kind"`
	DrillID string         `json:"drill_id"`
	Source  string         `json:"source,omitempty"`
	Name    string         `json:"name,omitempty"`
	Result  string         `json:"result,omitempty"`
	Detail  string         `json:"detail,omitempty"`
	Restore *restore.Event `json:"restore,omitempty"`
}

// Run drills each chosen source of the job, one drill per source. Before
// it starts, it removes what crashed drills left. It returns every
// record; the error wraps ErrDrillFailed when any drill failed.
func (d *Driller) Run(ctx context.Context, opts RunOptions) ([]*Record, error) {
	job, err := d.cfg.FindJob(opts.Job)
	if err != nil {
		return nil, errs.AsUsage(err)
	}
	if err := d.cfg.CheckActive(d.clock.Now(), d.clock.Location(), "drills"); err != nil {
		d.rec.Record(ctx, "drill.run", "job:"+job.Name, audit.ResultDenied, map[string]string{"error": oneLine(err)})
		return nil, err
	}
	if r := opts.Repository; r != "" && r != job.Repository && !slices.Contains(job.Replicas, r) {
		return nil, errs.Usage("--repository %q: job %q is kept in %s", r, job.Name, strings.Join(append([]string{job.Repository}, job.Replicas...), ", "))
	}
	sources := job.Sources
	if opts.Source != "" {
		if !slices.Contains(job.Sources, opts.Source) {
			return nil, errs.Usage("--source %q: job %q has sources %s", opts.Source, job.Name, strings.Join(job.Sources, ", "))
		}
		sources = []string{opts.Source}
	}
	choice := opts.Snapshot
	if choice == "" {
		choice = d.cfg.Drills.Snapshot
	}
	if choice != "latest" && choice != "random" && len(sources) > 1 {
		return nil, errs.Usage("--snapshot %s names one snapshot: give --source too (job %q has %d sources)", choice, job.Name, len(sources))
	}
	for _, s := range sources {
		if err := d.scratchConfigured(s); err != nil {
			return nil, err
		}
	}
	trigger := opts.Trigger
	if trigger == "" {
		trigger = TriggerOperator
	}
	leftovers, lerr := d.cleanupLeftovers(ctx, opts.Progress)
	// One Steward run per repository: taken first, so that a drill never
	// loses the repository to another run after a full restore.
	release, err := d.repos.Lock(ctx, []string{cmp.Or(opts.Repository, job.Repository)})
	if err != nil {
		return nil, err
	}
	defer release()
	var records []*Record
	var failed []string
	for i, s := range sources {
		rec := d.drill(ctx, job, s, choice, trigger, opts)
		if i == 0 {
			rec.Leftovers = leftovers
			if lerr != nil {
				rec.Deviations = append(rec.Deviations, "leftovers of crashed drills could not all be removed: "+oneLine(lerr))
				rec.Result = ResultFailed
				rec.Problems = rec.problems()
			}
			d.save(ctx, rec)
		}
		records = append(records, rec)
		if rec.Result != ResultPassed {
			failed = append(failed, fmt.Sprintf("drill %s (source %q, repository %q): %s", rec.DrillID, rec.Source, rec.Repository, strings.Join(rec.Problems, "; ")))
		}
		if ctx.Err() != nil {
			return records, ctx.Err()
		}
	}
	if len(failed) > 0 {
		return records, fmt.Errorf("%w: %s", ErrDrillFailed, strings.Join(failed, "; "))
	}
	return records, nil
}

// scratchConfigured checks, before anything runs, that a source's kind
// has somewhere to be restored to.
func (d *Driller) scratchConfigured(source string) error {
	src, ok := d.cfg.Source(source)
	if !ok {
		return errs.Usage("no source named %q", source)
	}
	if src.Kind() == "postgres" && d.cfg.Drills.Scratch.Postgres == nil {
		return errs.AsUsage(fmt.Errorf("%w: source %q is a PostgreSQL database; set drills.scratch.postgres to the server where drills may create steward_drill_<id> databases", ErrNoScratch, source))
	}
	return nil
}

// newID is a drill id: the time in the configured zone and random bits;
// it is safe in database and bucket names.
func (d *Driller) newID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return d.clock.Now().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

func (d *Driller) now() time.Time { return d.clock.Now().Truncate(time.Millisecond) }

// drill runs one drill of one source and returns its record (never nil).
func (d *Driller) drill(ctx context.Context, job *config.Job, source, choice, trigger string, opts RunOptions) *Record {
	src, _ := d.cfg.Source(source)
	rec := &Record{Schema: Schema, DrillID: d.newID(), Contract: d.cfg.Contract.ID, RunbookVersion: RunbookVersion,
		Trigger: trigger, Operator: audit.OSActor(), Participants: append([]string{}, opts.Participants...),
		Job: job.Name, Source: source, SourceKind: src.Kind(), Repository: cmp.Or(opts.Repository, job.Repository), SnapshotChoice: choice,
		Started: d.now(), Steps: []Step{}, Checks: []Check{}, Deviations: []string{}, Scratch: []Scratch{},
		ReadDataSubset: Subset{N: d.cfg.Drills.ReadDataSubsets}}
	dr := &drillRun{d: d, rec: rec, src: src, job: job, choice: choice, opts: opts}
	unlock, err := lockDrill(d.cfg.StateDir, rec.DrillID)
	if err != nil {
		rec.Steps = append(rec.Steps, Step{Name: StepChooseSnapshot, Started: rec.Started, Finished: d.now(), Result: ResultFailed, Detail: oneLine(err)})
		return d.finish(ctx, rec, dr.emit)
	}
	defer unlock()
	d.save(ctx, rec)
	d.rec.Record(ctx, "drill.run", "drill:"+rec.DrillID, audit.ResultStarted, map[string]string{"job": rec.Job, "source": rec.Source, "trigger": trigger})

	// 1. Choose the snapshot; 2. load its backup-time manifest;
	// 3. restore it into scratch; 4. verify against the manifest.
	defer func() { dr.m.Close() }() // the manifest's spool
	verified := dr.step(ctx, StepChooseSnapshot, dr.chooseSnapshot) &&
		dr.step(ctx, StepLoadManifest, dr.loadManifest) &&
		dr.step(ctx, StepRestore, dr.restore) &&
		dr.step(ctx, StepVerify, dr.verify)
	// 5. RTO (start → restored and verified) and RPO against targets.
	dr.objectives(verified)
	// 6. Read a rotating subset of the repository.
	if dr.rs != nil {
		dr.step(ctx, StepReadData, dr.readData)
	}
	// 7. Remove the scratch copy and check by listing that it is gone.
	if verified {
		crash.Point(crash.DrillVerified)
	}
	dr.cleanup(ctx)
	d.finish(ctx, rec, dr.emit)
	dr.recordHealth(ctx)
	return rec
}

// drillRun is one drill of one source as it goes: its record, and what
// each step found for the next.
type drillRun struct {
	d      *Driller
	rec    *Record
	src    *config.Source
	job    *config.Job
	choice string
	opts   RunOptions
	rs     *restore.Resolved
	snap   restore.Snapshot
	m      *manifest.Loaded
	sc     *scratch
	// fault, when set, says how the repository's own data failed the
	// drill (as opposed to scratch or config problems).
	fault string
}

// recordHealth keeps the repository's verdict: a passed drill read and
// verified its data; a drill the repository's data failed marks it
// failing until a check or drill of it passes again.
func (dr *drillRun) recordHealth(ctx context.Context) {
	if dr.rs == nil {
		return
	}
	h := repo.Health{Repository: dr.rec.Repository, Time: dr.d.clock.Format(dr.d.now()), By: "drill:" + dr.rec.DrillID}
	switch {
	case dr.rec.Result == ResultPassed:
		h.Result, h.Detail = repo.HealthOK, "restored and verified snapshot "+short(dr.rec.SnapshotID)+", read-data subset "+dr.rec.ReadDataSubset.String()
	case dr.fault != "":
		h.Result, h.Detail = repo.HealthFailing, dr.fault
	default:
		return
	}
	if err := (repo.HealthBook{KV: dr.d.store}).Put(ctx, h); err != nil {
		dr.d.log.Error("record repository health failed", "repository", h.Repository, "err", err)
	}
}

// repositoryFault reports whether err came from restic reading the
// repository (damaged data), not from Steward's side. A restore that
// restic completed but that differs from the manifest is not one: restic
// checks every blob's hash as it reads, so the difference lies in what was
// recorded at backup time; the drill fails and says so, the repository's
// verdict stands.
func repositoryFault(err error) bool {
	return errors.Is(err, resticx.ErrFailed) || errors.Is(err, resticx.ErrIncomplete)
}

func (dr *drillRun) emit(ev Event) {
	if dr.opts.Progress != nil {
		ev.Time, ev.DrillID, ev.Source = dr.d.clock.Now(), dr.rec.DrillID, dr.src.Name
		dr.opts.Progress(ev)
	}
}

// step runs one step, records it (saving the record) and reports whether
// it succeeded.
func (dr *drillRun) step(ctx context.Context, name string, fn func(context.Context, *Step) error) bool {
	s := Step{Name: name, Started: dr.d.now()}
	err := fn(ctx, &s)
	s.Finished = dr.d.now()
	switch {
	case err != nil:
		s.Result, s.Detail = ResultFailed, oneLine(err)
	case s.Result == "":
		s.Result = ResultPassed
	}
	dr.rec.Steps = append(dr.rec.Steps, s)
	dr.d.save(ctx, dr.rec)
	dr.emit(Event{Kind: EventStep, Name: name, Result: s.Result, Detail: s.Detail})
	return err == nil
}

func (dr *drillRun) chooseSnapshot(ctx context.Context, s *Step) error {
	d, rec := dr.d, dr.rec
	var err error
	if dr.rs, err = d.rst.ResolveIn(ctx, dr.job.Name, dr.src.Name, dr.opts.Repository); err != nil {
		return err
	}
	rec.RepositoryResidency = dr.rs.Residency.Answer
	if dr.snap, err = d.choose(ctx, dr.rs, dr.choice); err != nil {
		return err
	}
	rec.SnapshotID, rec.SnapshotTime = dr.snap.ID, dr.snap.Time
	rec.RPO = objective(rec.Started.Sub(dr.snap.Time), d.cfg.Drills.RPOTarget.D())
	s.Detail = fmt.Sprintf("%s: snapshot %s of %s", dr.choice, short(dr.snap.ID), d.clock.Format(dr.snap.Time))
	return nil
}

func (dr *drillRun) loadManifest(ctx context.Context, s *Step) error {
	var err error
	dr.m, err = dr.d.manifest(ctx, dr.rs, dr.snap, dr.rec)
	if repositoryFault(err) {
		dr.fault = "reading the manifest failed: " + oneLine(err)
	}
	if err == nil {
		s.Detail = fmt.Sprintf("from the %s: %d %s, %d bytes, SHA-256 %s", dr.rec.Manifest.Origin, dr.m.Count, countUnit(dr.m.Kind), dr.m.Bytes, dr.rec.Manifest.SHA256)
	}
	return err
}

func (dr *drillRun) restore(ctx context.Context, s *Step) error {
	d, rec := dr.d, dr.rec
	var err error
	if dr.sc, err = d.planScratch(ctx, rec, dr.src); err != nil {
		return err
	}
	d.save(ctx, rec) // scratch names are on record before anything is made
	res, err := d.rst.RunSnapshot(ctx, dr.rs, dr.snap, restore.Options{Source: dr.src.Name, To: dr.sc.target, Reason: "drill:" + rec.DrillID,
		Progress: func(ev restore.Event) {
			if ev.Kind == restore.EventStart && d.hookRestoring != nil {
				d.hookRestoring()
			}
			dr.emit(Event{Kind: EventProgress, Restore: &ev})
		}})
	if res != nil {
		s.Detail = fmt.Sprintf("into %s %s: %d bytes", dr.sc.target.Kind(), dr.sc.item().Name, res.Bytes)
	}
	if repositoryFault(err) {
		dr.fault = "the restore failed: " + oneLine(err)
	}
	if err == nil {
		crash.Point(crash.DrillRestored)
	}
	return err
}

func (dr *drillRun) verify(ctx context.Context, s *Step) error {
	checks, err := dr.d.verify(ctx, dr.sc, dr.m)
	for _, c := range checks {
		dr.rec.Checks = append(dr.rec.Checks, c)
		dr.emit(Event{Kind: EventCheck, Name: c.Name, Result: c.Result, Detail: c.Actual})
	}
	if err != nil {
		return err
	}
	bad := 0
	for _, c := range checks {
		if c.Result != ResultPassed {
			bad++
		}
	}
	s.Detail = fmt.Sprintf("%d checks, %d failed", len(checks), bad)
	if bad > 0 {
		return fmt.Errorf("%d of %d checks failed", bad, len(checks))
	}
	return nil
}

// objectives records RTO (met only when the data was restored and
// verified) and RPO against their targets.
func (dr *drillRun) objectives(verified bool) {
	d, rec := dr.d, dr.rec
	rtoCheck := Check{Name: "RTO (restore and verify)", Expected: "≤ " + d.cfg.Drills.RTOTarget.D().String(),
		Actual: "not reached: the data was not restored and verified", Result: ResultFailed}
	if verified {
		rec.RTO = objective(d.now().Sub(rec.Started), d.cfg.Drills.RTOTarget.D())
		rtoCheck = objectiveCheck(rtoCheck.Name, rec.RTO)
	} else {
		rec.RTO = Objective{Actual: d.now().Sub(rec.Started), Target: d.cfg.Drills.RTOTarget.D()}
	}
	rec.Checks = append(rec.Checks, rtoCheck)
	if !rec.SnapshotTime.IsZero() {
		rec.Checks = append(rec.Checks, objectiveCheck("RPO (snapshot age)", rec.RPO))
	}
}

func (dr *drillRun) readData(ctx context.Context, s *Step) error {
	c, err := dr.d.readDataSubset(ctx, dr.rs, dr.rec)
	if repositoryFault(err) {
		// Not a cancel or a timeout: those say nothing of the data (a
		// daemon stopped mid-drill must not mark the repository failing).
		dr.fault = "restic check --read-data-subset " + dr.rec.ReadDataSubset.String() + " failed: " + oneLine(err)
	}
	dr.rec.Checks = append(dr.rec.Checks, c)
	dr.emit(Event{Kind: EventCheck, Name: c.Name, Result: c.Result, Detail: c.Actual})
	s.Detail = "restic check --read-data-subset " + dr.rec.ReadDataSubset.String()
	return err
}

// cleanup removes the scratch copy, even after a cancel, and checks by
// listing that it is gone.
func (dr *drillRun) cleanup(ctx context.Context) {
	d, rec := dr.d, dr.rec
	rec.Cleanup = Step{Name: StepCleanup, Started: d.now()}
	if dr.sc != nil {
		rec.Cleanup.Detail = d.removeScratch(context.WithoutCancel(ctx), &rec.Scratch[len(rec.Scratch)-1])
	} else {
		rec.Cleanup.Detail = "no scratch was made"
	}
	rec.Cleanup.Finished = d.now()
	rec.Cleanup.Result = ResultPassed
	for _, s := range rec.Scratch {
		if !s.Gone {
			rec.Cleanup.Result = ResultFailed
		}
	}
	if dr.sc != nil {
		c := Check{Name: "scratch gone (checked by listing)", Expected: "no " + dr.sc.item().Kind + " " + dr.sc.item().Name, Result: ResultPassed}
		if rec.Cleanup.Result == ResultPassed {
			c.Actual = "not listed"
		} else {
			c.Actual, c.Result = "still present: "+rec.Cleanup.Detail, ResultFailed
		}
		rec.Checks = append(rec.Checks, c)
	}
	dr.emit(Event{Kind: EventStep, Name: StepCleanup, Result: rec.Cleanup.Result, Detail: rec.Cleanup.Detail})
}

func objectiveCheck(name string, o Objective) Check {
	c := Check{Name: name, Expected: "≤ " + o.Target.String(), Actual: o.Actual.Round(time.Millisecond).String(), Result: ResultPassed}
	if !o.Met {
		c.Result = ResultFailed
	}
	return c
}

func (d *Driller) finish(ctx context.Context, rec *Record, emit func(Event)) *Record {
	rec.Finished = d.now()
	rec.Problems = rec.problems()
	rec.Result = ResultPassed
	if len(rec.Problems) > 0 {
		rec.Result = ResultFailed
	}
	d.save(ctx, rec)
	details := map[string]string{"job": rec.Job, "source": rec.Source, "snapshot": rec.SnapshotID, "repository": rec.Repository,
		"runbook": rec.RunbookVersion, "read_data_subset": rec.ReadDataSubset.String(), "rto_ns": fmt.Sprint(int64(rec.RTO.Actual)),
		"rpo_ns": fmt.Sprint(int64(rec.RPO.Actual)), "manifest_sha256": rec.Manifest.SHA256, "cleanup": rec.Cleanup.Result}
	res := audit.ResultOK
	if rec.Result != ResultPassed {
		res = audit.ResultFailed
		details["failed_checks"] = fmt.Sprint(len(rec.Problems))
	}
	d.rec.Record(ctx, "drill.run", "drill:"+rec.DrillID, res, details)
	emit(Event{Kind: EventDone, Result: rec.Result, Detail: strings.Join(rec.Problems, "; ")})
	return rec
}

// choose picks the snapshot: the newest, a random one within
// drills.random_window, or the one named by id.
func (d *Driller) choose(ctx context.Context, rs *restore.Resolved, choice string) (restore.Snapshot, error) {
	if choice != "random" {
		return d.rst.FindSnapshot(ctx, rs, choice)
	}
	snaps, err := d.rst.Snapshots(ctx, rs)
	if err != nil {
		return restore.Snapshot{}, err
	}
	window := d.cfg.Drills.RandomWindow.D()
	since := d.clock.Now().Add(-window)
	var in []restore.Snapshot
	for _, s := range snaps {
		if !s.Time.Before(since) {
			in = append(in, s)
		}
	}
	if len(in) == 0 {
		newest := "it has no snapshot at all"
		if len(snaps) > 0 {
			s := snaps[len(snaps)-1]
			newest = fmt.Sprintf("its newest, %s, is of %s", short(s.ID), d.clock.Format(s.Time))
		}
		return restore.Snapshot{}, fmt.Errorf("%w: source %q has no snapshot within drills.random_window (%s, since %s): %s; run a backup, widen drills.random_window or drill --snapshot latest",
			restore.ErrNoSnapshot, rs.Source.Name, d.cfg.Drills.RandomWindow, d.clock.Format(since), newest)
	}
	return in[d.pick(len(in))], nil
}

// manifest reads the snapshot's backup-time manifest from the catalog,
// or, when the catalog has none, from the repository's companion
// snapshot (a repository alone can be drilled).
func (d *Driller) manifest(ctx context.Context, rs *restore.Resolved, snap restore.Snapshot, rec *Record) (*manifest.Loaded, error) {
	tmp := d.tmpDir()
	rec.Manifest = Manifest{Origin: "catalog"}
	m, err := manifest.FromCatalog(ctx, d.store, snap.ID, tmp)
	if errors.Is(err, manifest.ErrNotFound) {
		rec.Manifest = Manifest{Origin: "repository"}
		m, err = manifest.FromRepository(ctx, d.restic, rs.Repository, snap.Restic, tmp)
	}
	if err != nil {
		return nil, err
	}
	rec.Manifest.SHA256 = m.SHA256
	if !manifest.Known(m.Format) {
		m.Close()
		return nil, fmt.Errorf("manifest of snapshot %s has format %q, which this version does not read (it reads %q and %q): drill it with the Steward version that wrote it", short(snap.ID), m.Format, manifest.Format, manifest.FormatV1)
	}
	if m.Kind != rs.Source.Kind() {
		m.Close()
		return nil, fmt.Errorf("manifest of snapshot %s is for a %s source, but source %q is %s", short(snap.ID), m.Kind, rs.Source.Name, rs.Source.Kind())
	}
	rec.Manifest.Format, rec.Manifest.Count, rec.Manifest.Bytes = m.Format, m.Count, m.Bytes
	return m, nil
}

// tmpDir is where manifests are spooled while a drill reads them: the
// state dir's tmp folder (made if missing).
func (d *Driller) tmpDir() string {
	if d.restic == nil || d.restic.StateDir == "" {
		return os.TempDir()
	}
	dir := d.restic.TmpDir()
	_ = os.MkdirAll(dir, 0o700)
	return dir
}

// readDataSubset runs restic check --read-data-subset k/N, k advancing by
// one per drill of the repository (kept in the catalog), so N drills read
// every pack.
func (d *Driller) readDataSubset(ctx context.Context, rs *restore.Resolved, rec *Record) (Check, error) {
	sub, c, err := d.readSubset(ctx, rs.Repository)
	if errors.Is(err, resticx.ErrLocked) {
		// A lock left by a restic that was stopped (its storage went away
		// mid-restore, so it could not remove its lock) or killed; the
		// drill holds Steward's lock on the repository.
		if r, oerr := d.repos.Open(ctx, rs.Repository.Name); oerr == nil {
			if uerr := d.repos.UnlockStale(ctx, r, "locked"); uerr == nil {
				sub, c, err = d.readSubset(ctx, rs.Repository)
			}
		}
	}
	rec.ReadDataSubset = sub
	return c, err
}

// readSubset runs restic check --read-data-subset k/N on r, k advancing
// by one per read of the repository (drills and checks share the count,
// kept in the catalog), so N reads cover every pack.
func (d *Driller) readSubset(ctx context.Context, r *resticx.Repository) (Subset, Check, error) {
	n := d.cfg.Drills.ReadDataSubsets
	if n < 1 {
		n = 1
	}
	key := "drills.read_data_subset." + r.Name
	last := 0
	if raw, err := d.store.Get(ctx, key); err == nil {
		_ = json.Unmarshal(raw, &last)
	}
	sub := Subset{K: last%n + 1, N: n}
	_ = d.store.Put(ctx, key, json.RawMessage(fmt.Sprint(sub.K)))
	c := Check{Name: "repository data read (restic check --read-data-subset " + sub.String() + ")", Expected: "no errors"}
	_, err := d.restic.Run(ctx, r, resticx.Call{Args: []string{"check", "--read-data-subset", sub.String()}, Timeout: d.cfg.Restic.Timeout.D()})
	if err != nil {
		c.Actual, c.Result = oneLine(err), ResultFailed
		return sub, c, fmt.Errorf("repository %q: %w", r.Name, err)
	}
	c.Actual, c.Result = "no errors", ResultPassed
	return sub, c, nil
}

// List returns the newest drills first (at most limit; all when 0).
func (d *Driller) List(ctx context.Context, limit int) ([]*Record, error) {
	rows, err := d.store.Drills(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*Record, 0, len(rows))
	for _, row := range rows {
		rec, err := decode(row)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Show returns one drill's record.
func (d *Driller) Show(ctx context.Context, id string) (*Record, error) {
	row, err := d.store.Drill(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q (see `steward drill list`)", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	return decode(row)
}

// History returns the last n finished drills, oldest first, for the
// RTO/RPO chart (certs.DrillReport.History). job "" means every job.
func (d *Driller) History(ctx context.Context, job string, n int) ([]Point, error) {
	rows, err := d.store.Drills(ctx, 0)
	if err != nil {
		return nil, err
	}
	var out []Point
	for _, row := range rows {
		if row.Result == "" || (job != "" && row.Job != job) {
			continue
		}
		rec, err := decode(row)
		if err != nil {
			return nil, err
		}
		out = append(out, Point{DrillID: rec.DrillID, Job: rec.Job, Source: rec.Source, Time: rec.Started, RTO: rec.RTO.Actual, RPO: rec.RPO.Actual, Result: rec.Result})
		if n > 0 && len(out) == n {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

func decode(row catalog.DrillRow) (*Record, error) {
	var rec Record
	if err := json.Unmarshal(row.Record, &rec); err != nil {
		return nil, fmt.Errorf("drill %s: record is not JSON: %w", row.ID, err)
	}
	return &rec, nil
}

func (d *Driller) save(ctx context.Context, rec *Record) {
	body, err := json.Marshal(rec)
	if err == nil {
		fin := ""
		if !rec.Finished.IsZero() {
			fin = d.clock.Format(rec.Finished)
		}
		err = d.store.PutDrill(context.WithoutCancel(ctx), catalog.DrillRow{ID: rec.DrillID, Job: rec.Job, Started: d.clock.Format(rec.Started),
			Finished: fin, Result: rec.Result, Record: body})
	}
	if err != nil {
		d.log.Error("save drill record failed", "drill", rec.DrillID, "err", err)
	}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// countUnit names what a manifest's Count counts for a source kind.
func countUnit(kind string) string {
	switch kind {
	case "postgres":
		return "table rows"
	case "s3":
		return "objects"
	}
	return "files and symlinks"
}
