package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/objstore"
	"steward/internal/pgsql"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// source is one configured source, resolved for a run.
type source struct {
	cfg        *config.Source
	s3         *objstore.Client
	pgPassword keys.Secret
	pgDump     string
	residency  repo.Residency
}

func (s *source) Name() string { return s.cfg.Name }

// Run backs up every source of the job into its primary repository, copies
// each new snapshot to the replicas and applies retention. Before any byte
// is written it resolves every secret, checks the residency of every S3
// repository and source, and probes every endpoint, bucket, database and
// repository, so bad input fails within seconds, naming what to fix. A
// source that fails does not stop the others; the returned error names
// each failure (errors.Is ErrSourceFailed / ErrReplicaFailed / ErrResidency).
func (e *Engine) Run(ctx context.Context, opts RunOptions) (*Report, error) {
	job, err := e.job(opts.Job)
	if err != nil {
		return nil, err
	}
	// Every secret the job needs is there, before anything is recorded.
	var fields []string
	for _, n := range append([]string{job.Repository}, job.Replicas...) {
		fields = append(fields, repo.Field(e.cfg, "repositories", n))
	}
	for _, n := range job.Sources {
		fields = append(fields, repo.Field(e.cfg, "sources", n))
	}
	if ps := keys.CheckConfig(e.cfg, fields...); len(ps) > 0 {
		return nil, ps
	}
	if err := e.cfg.CheckActive(e.clock.Now(), e.clock.Location(), "backups"); err != nil {
		e.rec.Record(ctx, "backup.run", "job:"+job.Name, audit.ResultDenied, map[string]string{"error": errText(err)})
		return nil, err
	}
	jr := &jobRun{e: e, job: job, opts: opts, rep: &Report{Job: job.Name, Repository: job.Repository, Replicas: job.Replicas, DryRun: opts.DryRun}}
	target := "job:" + job.Name
	action := "backup.run"
	if opts.DryRun {
		action = "backup.dry-run"
	}
	if !opts.DryRun {
		jr.rep.RunID = e.newID("job-")
	}
	e.rec.Record(ctx, action, target, audit.ResultStarted, nil)
	fail := func(err error) (*Report, error) {
		if !opts.DryRun {
			jr.hook(ctx, HookOnFailure, ResultFailed)
		}
		e.rec.Record(ctx, action, target, audit.ResultFailed, jr.hookDetails(map[string]string{"error": errText(err)}))
		return jr.rep, err
	}
	// 1. Resolve; 2. residency (req 2); 3. probes — before any byte is
	// written.
	for _, step := range []func(context.Context) error{jr.resolve, jr.checkResidency, jr.probe} {
		if err := step(ctx); err != nil {
			return fail(err)
		}
	}
	if opts.DryRun {
		for _, s := range jr.sources {
			rec := e.newRecord(job, s, jr.primary, jr.rep.Residency, true)
			rec.Result, rec.Finished = ResultChecked, rec.Started
			jr.rep.Runs = append(jr.rep.Runs, *rec)
		}
		e.rec.Record(ctx, action, target, audit.ResultOK, nil)
		return jr.rep, nil
	}

	// 4. One writer per repository.
	release, err := e.repos.Lock(ctx, append([]string{jr.primary.Name()}, job.Replicas...))
	if err != nil {
		return fail(err)
	}
	defer release()
	if err := e.recover(ctx, jr.repos); err != nil {
		return fail(err)
	}

	// Before restic reads anything: the job's before hook (quiesce, snapshot
	// a filesystem). If it fails, nothing is backed up.
	if h := jr.hook(ctx, HookBefore, ""); h != nil && h.failed() {
		return fail(fmt.Errorf("%w: job %q: hooks.before %q %s: nothing was backed up", ErrHookFailed, jr.job.Name, h.Argv[0], h.Error))
	}

	// 5. Each source, then its copies; 6. retention (not on a repository
	// that stopped answering); 7. the verdicts of the last checks and
	// drills.
	errs := jr.backupSources(ctx)
	stalled := slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, resticx.ErrStalled) })
	if ctx.Err() == nil && !stalled {
		errs = append(errs, jr.retention(ctx)...)
	}
	errs = append(errs, jr.health(ctx)...)
	if len(errs) > 0 {
		return fail(errors.Join(errs...))
	}
	if h := jr.hook(ctx, HookAfter, ResultOK); h != nil && h.failed() {
		err := fmt.Errorf("%w: job %q: hooks.after %q %s (the backup itself succeeded)", ErrHookFailed, jr.job.Name, h.Argv[0], h.Error)
		e.rec.Record(ctx, action, target, audit.ResultFailed, jr.hookDetails(map[string]string{"error": errText(err)}))
		return jr.rep, err
	}
	e.rec.Record(ctx, action, target, audit.ResultOK, jr.hookDetails(map[string]string{"sources": fmt.Sprint(len(jr.sources))}))
	return jr.rep, nil
}

// hook runs one of the job's hooks and keeps its result in the report.
func (jr *jobRun) hook(ctx context.Context, which, result string) *HookResult {
	h := jr.e.runHook(ctx, jr.job, which, jr.rep.RunID, result)
	if h != nil {
		jr.rep.Hooks = append(jr.rep.Hooks, *h)
	}
	return h
}

// hookDetails adds the hooks that ran to an audit record's details.
func (jr *jobRun) hookDetails(d map[string]string) map[string]string {
	for _, h := range jr.rep.Hooks {
		d["hook."+h.Hook] = h.auditText()
	}
	if jr.rep.RunID != "" {
		d["run_id"] = jr.rep.RunID
	}
	return d
}

// jobRun is one Run of a job: its repositories and sources, resolved, and
// the report being filled in.
type jobRun struct {
	e       *Engine
	job     *config.Job
	opts    RunOptions
	rep     *Report
	primary *repo.Repo
	// repos is the primary, then the replicas.
	repos   []*repo.Repo
	sources []*source
}

func (jr *jobRun) emit(ev Event) {
	ev.Time, ev.Job = jr.e.clock.Now(), jr.job.Name
	emit(jr.opts, ev)
}

// resolve resolves repositories and sources: secrets, clients.
func (jr *jobRun) resolve(context.Context) error {
	e := jr.e
	for _, name := range append([]string{jr.job.Repository}, jr.job.Replicas...) {
		r, err := e.repos.Resolve(name, false)
		if err != nil {
			return err
		}
		jr.repos = append(jr.repos, r)
	}
	jr.primary = jr.repos[0]
	for _, name := range jr.job.Sources {
		s, err := e.openSource(name)
		if err != nil {
			return err
		}
		jr.sources = append(jr.sources, s)
	}
	return nil
}

// checkResidency checks every S3 repository and source (req 2). When any
// is refused, each source's run is recorded as refused.
func (jr *jobRun) checkResidency(ctx context.Context) error {
	e := jr.e
	var refused []error
	for _, r := range jr.repos {
		err := e.repos.CheckResidency(ctx, r)
		jr.rep.Residency = append(jr.rep.Residency, r.Residency)
		jr.emit(Event{Kind: EventCheck, Repository: r.Name(), Message: "residency: " + r.Residency.Answer})
		if err != nil {
			refused = append(refused, err)
		}
	}
	for _, s := range jr.sources {
		if s.s3 == nil {
			continue
		}
		res, err := e.repos.CheckRegion(ctx, "source:"+s.Name(), repo.Field(e.cfg, "sources", s.Name())+".s3", s.s3)
		s.residency = res
		jr.rep.Residency = append(jr.rep.Residency, res)
		jr.emit(Event{Kind: EventCheck, Source: s.Name(), Message: "residency: " + res.Answer})
		if err != nil {
			refused = append(refused, err)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	err := errors.Join(refused...)
	for _, s := range jr.sources {
		rec := e.newRecord(jr.job, s, jr.primary, jr.rep.Residency, jr.opts.DryRun)
		rec.Result, rec.Error, rec.Finished = ResultRefused, errText(err), rec.Started
		jr.rep.Runs = append(jr.rep.Runs, *rec)
		if !jr.opts.DryRun {
			_ = e.saveRun(ctx, rec)
		}
	}
	return err
}

// probe unseals the repositories' passwords and probes sources and
// repositories with short deadlines. When any fails, each source's run is
// recorded as failed, with what stopped it.
func (jr *jobRun) probe(ctx context.Context) error {
	e := jr.e
	for _, r := range jr.repos {
		pw, err := e.repos.Password(r.Name())
		if err != nil {
			return e.repos.ExplainMissingPassword(ctx, r, err)
		}
		r.Restic.Password = pw
	}
	var probeErrs, repoErrs []error
	sourceErr := map[string]error{}
	for _, s := range jr.sources {
		if err := e.probeSource(ctx, s); err != nil {
			probeErrs = append(probeErrs, err)
			sourceErr[s.Name()] = err
		}
	}
	for _, r := range jr.repos {
		if err := e.repos.Probe(ctx, r); err != nil {
			probeErrs = append(probeErrs, err)
			repoErrs = append(repoErrs, err)
		}
	}
	if len(probeErrs) == 0 {
		return nil
	}
	for _, s := range jr.sources {
		err := errors.Join(append([]error{sourceErr[s.Name()]}, repoErrs...)...)
		if err == nil {
			err = errors.New("not run: another source of the job failed its check")
		}
		rec := e.newRecord(jr.job, s, jr.primary, jr.rep.Residency, jr.opts.DryRun)
		rec.Result, rec.Error, rec.Finished = ResultFailed, errText(err), e.now()
		jr.rep.Runs = append(jr.rep.Runs, *rec)
		if !jr.opts.DryRun {
			_ = e.saveRun(ctx, rec)
		}
	}
	return errors.Join(probeErrs...)
}

// backupSources backs up each source, then copies it to the replicas.
func (jr *jobRun) backupSources(ctx context.Context) []error {
	var errs []error
	for _, s := range jr.sources {
		if err := ctx.Err(); err != nil {
			// Interrupted: the sources not started yet are not started.
			return append(errs, err)
		}
		if slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, resticx.ErrStalled) }) {
			// The repository stopped answering: the other sources would
			// only wait for it in turn.
			return append(errs, fmt.Errorf("source %q not started: repository %q does not answer", s.Name(), jr.primary.Name()))
		}
		rec := jr.e.newRecord(jr.job, s, jr.primary, jr.rep.Residency, false)
		if err := jr.e.runSource(ctx, rec, jr.primary, jr.repos[1:], s, jr.opts); err != nil {
			errs = append(errs, err)
		}
		jr.rep.Runs = append(jr.rep.Runs, *rec)
	}
	return errs
}

// health reports the job's repositories whose last check or drill failed:
// the run wrote into them, but nobody can count on restoring from them
// until a check of them passes again.
func (jr *jobRun) health(ctx context.Context) []error {
	var errs []error
	book := repo.HealthBook{KV: jr.e.store}
	for _, r := range jr.repos {
		h, ok, err := book.Get(ctx, r.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok || !h.Failing() {
			continue
		}
		jr.rep.Failing = append(jr.rep.Failing, h)
		err = fmt.Errorf("repository %q: %w (%s): repair or replace it, then run `steward repo check %s`", r.Name(), ErrRepositoryFailing, h, r.Name())
		errs = append(errs, err)
		jr.emit(Event{Kind: EventFailed, Repository: r.Name(), Error: errText(err)})
	}
	return errs
}

// retention applies the job's retention to the primary and every replica.
func (jr *jobRun) retention(ctx context.Context) []error {
	var errs []error
	for _, r := range jr.repos {
		line, err := jr.e.applyRetention(ctx, r, jr.job)
		if err != nil {
			err = fmt.Errorf("retention on repository %q: %w", r.Name(), err)
			errs = append(errs, err)
			jr.emit(Event{Kind: EventFailed, Repository: r.Name(), Error: errText(err)})
			continue
		}
		if line != "" {
			jr.rep.Retention = append(jr.rep.Retention, r.Name()+": "+line)
			jr.emit(Event{Kind: EventRetention, Repository: r.Name(), Message: line})
		}
	}
	return errs
}

func (e *Engine) newRecord(job *config.Job, s *source, primary *repo.Repo, res []repo.Residency, dry bool) *RunRecord {
	return &RunRecord{ID: e.newID("run-"), Job: job.Name, Source: s.Name(), Kind: s.cfg.Kind(), Repository: primary.Name(),
		Started: e.now(), Residency: res, DryRun: dry}
}

func (e *Engine) openSource(name string) (*source, error) {
	cfg, ok := e.cfg.Source(name)
	if !ok {
		return nil, fmt.Errorf("no source named %q", name)
	}
	s := &source{cfg: cfg}
	field := repo.Field(e.cfg, "sources", name)
	switch {
	case cfg.S3 != nil:
		t, err := e.repos.S3Target(field+".s3", cfg.S3)
		if err != nil {
			return nil, err
		}
		if s.s3, err = objstore.New(t); err != nil {
			return nil, err
		}
	case cfg.Postgres != nil:
		if !cfg.Postgres.Password.IsZero() {
			pw, err := keys.Resolve(e.keys, field+".postgres.password", string(cfg.Postgres.Password))
			if err != nil {
				return nil, err
			}
			s.pgPassword = pw
		}
	}
	return s, nil
}

// probeSource checks that a source can be read: the directory exists, the
// database accepts the login and a suitable pg_dump is installed. (An S3
// source's bucket was probed by the residency check.)
func (e *Engine) probeSource(ctx context.Context, s *source) error {
	field := repo.Field(e.cfg, "sources", s.Name())
	switch {
	case s.cfg.Path != nil:
		st, err := os.Stat(s.cfg.Path.Path)
		if err != nil {
			return fmt.Errorf("source %q (%s.path.path): %w", s.Name(), field, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("source %q (%s.path.path): %s is not a directory", s.Name(), field, s.cfg.Path.Path)
		}
	case s.cfg.Postgres != nil:
		ctx, cancel := context.WithTimeout(ctx, e.probeTimeout())
		defer cancel()
		conn, err := pgsql.Connect(ctx, s.cfg.Postgres, s.pgPassword)
		if err != nil {
			return fmt.Errorf("source %q (%s.postgres): %w", s.Name(), field, err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		major, err := pgsql.ServerMajor(ctx, conn)
		if err != nil {
			return fmt.Errorf("source %q: %w", s.Name(), err)
		}
		if s.pgDump, err = pgsql.FindPgDump(ctx, major, e.pgDump); err != nil {
			return fmt.Errorf("source %q: %w", s.Name(), err)
		}
	}
	return nil
}

// recover cleans up after a Steward that was killed: its runs still marked
// running become interrupted, any snapshot they left (in the primary or,
// copied, in a replica) is forgotten, and
// stale restic locks are removed. It runs with the repositories' file
// locks held, so no live Steward is using them.
func (e *Engine) recover(ctx context.Context, repos []*repo.Repo) error {
	primary := repos[0]
	if e.store != nil {
		running, err := e.store.RunsWithResult(ctx, primary.Name(), "")
		if err != nil {
			return err
		}
		if err := e.checkPending(ctx, primary); err != nil {
			return err
		}
		for _, row := range running {
			// The replicas too: a run killed after its copy left the
			// snapshot there.
			for _, r := range repos {
				if err := e.dropRunSnapshots(ctx, r, row.ID, "interrupted run"); err != nil {
					return err
				}
			}
			var rec RunRecord
			if err := jsonUnmarshal(row.Record, &rec); err != nil {
				rec = RunRecord{ID: row.ID, Job: row.Job, Source: row.Source, Repository: row.Repository, Started: row.Started}
			}
			rec.Result, rec.Finished = ResultInterrupted, e.now()
			rec.Error = "Steward stopped before the run finished; nothing it wrote was kept"
			rec.SnapshotID = ""
			if err := e.saveRun(ctx, &rec); err != nil {
				return err
			}
			e.rec.Record(ctx, "backup.source", "run:"+rec.ID, ResultInterrupted, map[string]string{"job": rec.Job, "source": rec.Source})
			// The killed process never closed its job's "started" record.
			e.rec.Record(ctx, "backup.run", "job:"+rec.Job, ResultInterrupted, map[string]string{"closes": "the run of " + rec.Started + " that Steward did not finish", "run": rec.ID})
		}
	}
	e.sweepTmp(ctx)
	for _, r := range repos {
		locked, err := e.repos.HasResticLocks(ctx, r)
		if err != nil {
			return fmt.Errorf("repository %q: look for restic locks: %w", r.Name(), err)
		}
		if locked {
			if err := e.repos.UnlockStale(ctx, r, "lock left by a stopped process"); err != nil {
				return err
			}
		}
	}
	return nil
}

// staleTmpAge is how old a password file in the state dir's tmp folder
// must be to count as a leftover: restic reads its password file when it
// starts, so a file older than this is no longer needed by any live call.
const staleTmpAge = time.Minute

// sweepTmp removes what a killed Steward left in the tmp folder: password
// files older than staleTmpAge and relay repositories of runs that are no
// longer running. Removals are audited (as a count; names are random).
func (e *Engine) sweepTmp(ctx context.Context) {
	dir := e.restic.TmpDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	removed := 0
	for _, ent := range ents {
		name := ent.Name()
		info, err := ent.Info()
		if err != nil {
			continue
		}
		stale := false
		switch {
		case strings.HasPrefix(name, "restic-pw-"):
			stale = time.Since(info.ModTime()) >= e.tmpAge
		case strings.HasPrefix(name, "relay-run-") && e.store != nil:
			row, err := e.store.Run(ctx, strings.TrimPrefix(name, "relay-"))
			stale = err != nil || row.Result != ""
		}
		if stale && os.RemoveAll(filepath.Join(dir, name)) == nil {
			removed++
		}
	}
	if removed > 0 {
		e.rec.Record(ctx, "backup.sweep-tmp", "state:tmp", audit.ResultOK, map[string]string{"removed": strconv.Itoa(removed)})
	}
}

// checkPending asks the repository, now that it answers again, whether
// runs that failed while it did not answer left a snapshot, and forgets
// any (audited).
func (e *Engine) checkPending(ctx context.Context, primary *repo.Repo) error {
	failed, err := e.store.RunsWithResult(ctx, primary.Name(), ResultFailed)
	if err != nil {
		return err
	}
	for _, row := range failed {
		var rec RunRecord
		if jsonUnmarshal(row.Record, &rec) != nil || !rec.CheckPending {
			continue
		}
		if err := e.dropRunSnapshots(ctx, primary, rec.ID, "run that failed while the repository did not answer"); err != nil {
			return err
		}
		rec.CheckPending = false
		if err := e.saveRun(ctx, &rec); err != nil {
			return err
		}
	}
	return nil
}
