package drills

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"steward/internal/audit"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/objstore"
	"steward/internal/pgsql"
	"steward/internal/state"
	"steward/restore"
)

// DatabasePrefix starts the name of every scratch database.
const DatabasePrefix = state.ScratchDatabasePrefix

// DirPrefix starts the name of every scratch directory in drills.scratch.dir.
const DirPrefix = state.ScratchDirPrefix

// DatabaseName is the scratch database of drill id.
func DatabaseName(id string) string { return DatabasePrefix + strings.ReplaceAll(id, "-", "_") }

// BucketName is the scratch bucket of drill id: drills.scratch.s3.bucket
// followed by the id.
func BucketName(prefix, id string) string { return prefix + "-" + id }

// scratch is where one drill restores to.
type scratch struct {
	target restore.Target
	rec    *Record
	idx    int
	// s3 is the scratch bucket's target (bucket scratch only).
	s3 *objstore.Target
}

func (s *scratch) item() Scratch { return s.rec.Scratch[s.idx] }

// planScratch names the drill's scratch and records it; nothing is created
// yet (the caller saves the record first).
func (d *Driller) planScratch(ctx context.Context, rec *Record, src *config.Source) (*scratch, error) {
	sc := &scratch{rec: rec}
	var it Scratch
	switch {
	case src.Kind() == "postgres":
		pg := d.cfg.Drills.Scratch.Postgres
		pw, err := d.repos.PostgresPassword("drills.scratch.postgres", pg)
		if err != nil {
			return nil, err
		}
		db := *pg
		db.Database = DatabaseName(rec.DrillID)
		sc.target = restore.Target{Postgres: &db, PostgresPassword: pw, PostgresAdminDB: pg.Database}
		it = Scratch{Kind: ScratchDatabase, Name: db.Database, Location: fmt.Sprintf("%s:%d", pg.Host, pg.Port)}
	case src.Kind() == "s3" && d.cfg.Drills.Scratch.S3 != nil:
		t, err := d.repos.S3Target("drills.scratch.s3", d.cfg.Drills.Scratch.S3)
		if err != nil {
			return nil, err
		}
		t.Bucket, t.Prefix = BucketName(d.cfg.Drills.Scratch.S3.Bucket, rec.DrillID), ""
		if len(t.Bucket) > 63 {
			return nil, fmt.Errorf("drills.scratch.s3.bucket: %q is too long for a scratch bucket name (at most 40 characters)", d.cfg.Drills.Scratch.S3.Bucket)
		}
		sc.target, sc.s3 = restore.Target{Bucket: &t}, &t
		it = Scratch{Kind: ScratchBucket, Name: t.Bucket, Location: t.Host}
	default:
		dir := filepath.Join(d.cfg.Drills.Scratch.Dir, DirPrefix+rec.DrillID)
		sc.target = restore.Target{Dir: dir}
		it = Scratch{Kind: ScratchDir, Name: dir}
	}
	if err := os.MkdirAll(d.cfg.Drills.Scratch.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("drills.scratch.dir: %w", err)
	}
	rec.Scratch = append(rec.Scratch, it)
	sc.idx = len(rec.Scratch) - 1
	return sc, nil
}

// removeScratch removes one scratch copy and checks by listing that it is
// gone; it updates it and returns a line for the record.
func (d *Driller) removeScratch(ctx context.Context, it *Scratch) string {
	err := d.removeOne(ctx, it)
	if err != nil {
		it.Detail = oneLine(err)
	} else {
		it.Removed = true
	}
	gone, lerr := d.isGone(ctx, it)
	it.Gone = gone && lerr == nil
	switch {
	case lerr != nil:
		it.Detail = strings.TrimPrefix(it.Detail+"; ", "; ") + "listing failed: " + oneLine(lerr)
	case !gone:
		it.Detail = strings.TrimPrefix(it.Detail+"; ", "; ") + "still listed"
	case it.Detail == "":
		it.Detail = "removed; not listed any more"
	}
	return fmt.Sprintf("%s %s: %s", it.Kind, it.Name, it.Detail)
}

func (d *Driller) removeOne(ctx context.Context, it *Scratch) error {
	switch it.Kind {
	case ScratchDir:
		if !strings.HasPrefix(filepath.Base(it.Name), DirPrefix) {
			return fmt.Errorf("refusing to remove %s: not a drill scratch dir", it.Name)
		}
		return os.RemoveAll(it.Name)
	case ScratchDatabase:
		pg, pw, err := d.scratchPostgres()
		if err != nil {
			return err
		}
		return pgsql.DropDatabase(ctx, pg, pw, it.Name)
	case ScratchBucket:
		b, err := d.scratchBucket(it.Name)
		if err != nil {
			return err
		}
		rm, err := b.RemoveBucket(ctx, objstore.DeleteOptions{GovernanceBypass: true})
		if err == nil && (rm.Versions+rm.DeleteMarkers+rm.UnfinishedUploads) > 0 {
			it.Detail = fmt.Sprintf("deleted %d versions, %d delete markers, %d unfinished uploads", rm.Versions, rm.DeleteMarkers, rm.UnfinishedUploads)
		}
		return err
	}
	return fmt.Errorf("unknown scratch kind %q", it.Kind)
}

// isGone lists where the scratch copy was and reports whether it is
// absent: the scratch dir's entries, the server's databases, the
// endpoint's buckets.
func (d *Driller) isGone(ctx context.Context, it *Scratch) (bool, error) {
	switch it.Kind {
	case ScratchDir:
		ents, err := os.ReadDir(filepath.Dir(it.Name))
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		for _, e := range ents {
			if e.Name() == filepath.Base(it.Name) {
				return false, nil
			}
		}
		return true, nil
	case ScratchDatabase:
		pg, pw, err := d.scratchPostgres()
		if err != nil {
			return false, err
		}
		names, err := pgsql.ListDatabases(ctx, pg, pw, DatabasePrefix)
		return err == nil && !slices.Contains(names, it.Name), err
	case ScratchBucket:
		b, err := d.scratchBucket(it.Name)
		if err != nil {
			return false, err
		}
		names, err := b.ListBuckets(ctx, it.Name)
		return err == nil && !slices.Contains(names, it.Name), err
	}
	return false, fmt.Errorf("unknown scratch kind %q", it.Kind)
}

func (d *Driller) scratchPostgres() (*config.PostgresSource, keys.Secret, error) {
	pg := d.cfg.Drills.Scratch.Postgres
	if pg == nil {
		return nil, nil, fmt.Errorf("%w: drills.scratch.postgres is no longer configured", ErrNoScratch)
	}
	pw, err := d.repos.PostgresPassword("drills.scratch.postgres", pg)
	return pg, pw, err
}

func (d *Driller) scratchBucket(name string) (*objstore.Client, error) {
	s3 := d.cfg.Drills.Scratch.S3
	if s3 == nil {
		return nil, fmt.Errorf("%w: drills.scratch.s3 is no longer configured", ErrNoScratch)
	}
	t, err := d.repos.S3Target("drills.scratch.s3", s3)
	if err != nil {
		return nil, err
	}
	t.Bucket, t.Prefix = name, ""
	return objstore.New(t)
}

// lockPath is the file lock a running drill holds.
func lockPath(stateDir, id string) string { return state.Dir(stateDir).DrillLock(id) }

// lockDrill takes drill id's lock; the kernel drops it when the process
// dies, which is how a crashed drill is told from a running one.
func lockDrill(stateDir, id string) (func(), error) {
	p := lockPath(stateDir, id)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("drill %s: lock %s: %w", id, p, err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
		os.Remove(p)
	}, nil
}

// running reports whether drill id's process is alive (holds its lock).
func running(stateDir, id string) bool {
	f, err := os.OpenFile(lockPath(stateDir, id), os.O_RDWR, 0o600)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// CleanupReport is what Cleanup found and did.
type CleanupReport struct {
	// Drills are the crashed drills whose leftovers were handled.
	Drills []string `json:"drills"`
	// Removed lists each leftover scratch copy and whether it is gone.
	Removed []Scratch `json:"removed"`
	// Running are drills still running (left alone).
	Running []string `json:"running,omitempty"`
}

// Cleanup finds drills that crashed (marked running, nobody holds their
// lock), removes their recorded scratch copies, checks by listing that
// they are gone, removes stale restic locks their restic left, and marks
// them interrupted. The error names anything that could not be removed.
func (d *Driller) Cleanup(ctx context.Context) (*CleanupReport, error) {
	rep := &CleanupReport{Drills: []string{}, Removed: []Scratch{}}
	rows, err := d.store.DrillsWithResult(ctx, "")
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, row := range rows {
		if running(d.cfg.StateDir, row.ID) {
			rep.Running = append(rep.Running, row.ID)
			continue
		}
		rec, err := decode(row)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Drills = append(rep.Drills, rec.DrillID)
		rec.Cleanup = Step{Name: StepCleanup, Started: d.now()}
		var lines []string
		failed := false
		for i := range rec.Scratch {
			it := &rec.Scratch[i]
			if it.Gone {
				continue
			}
			lines = append(lines, d.removeScratch(ctx, it))
			left := *it
			left.Drill = rec.DrillID
			rep.Removed = append(rep.Removed, left)
			if !it.Gone {
				failed = true
				errs = append(errs, fmt.Errorf("drill %s: %s %s: %s", rec.DrillID, it.Kind, it.Name, it.Detail))
			}
		}
		if rec.Repository != "" {
			// A killed restic leaves its lock; only stale locks are removed.
			if err := d.repos.Unlock(ctx, rec.Repository); err != nil {
				lines = append(lines, "stale restic locks not removed: "+oneLine(err))
			}
		}
		if len(lines) == 0 {
			lines = append(lines, "no scratch had been made")
		}
		rec.Cleanup.Finished = d.now()
		rec.Cleanup.Detail = "after the drill was interrupted: " + strings.Join(lines, "; ")
		rec.Cleanup.Result = ResultPassed
		if failed {
			rec.Cleanup.Result = ResultFailed
		}
		rec.Finished = d.now()
		rec.Deviations = append(rec.Deviations, "the drill was interrupted before it finished; its scratch was removed afterwards")
		rec.Problems = rec.problems()
		rec.Result = ResultInterrupted
		d.save(ctx, rec)
		res := audit.ResultOK
		if failed {
			res = audit.ResultFailed
		}
		d.rec.Record(ctx, "drill.cleanup", "drill:"+rec.DrillID, res, map[string]string{"scratch": fmt.Sprint(len(lines)), "job": rec.Job, "source": rec.Source})
		// The crashed drill never closed its "started" record.
		d.rec.Record(ctx, "drill.run", "drill:"+rec.DrillID, ResultInterrupted, map[string]string{"job": rec.Job, "source": rec.Source})
	}
	errs = append(errs, d.sweepScratch(ctx, rep)...)
	return rep, errors.Join(errs...)
}

// sweepScratch looks, whatever the drills' records say, in every place
// drills restore to — the scratch dir, the scratch server's databases, the
// scratch endpoint's buckets — for anything named like a drill's scratch
// (drill-<id>, steward_drill_<id>, <bucket>-<id>) whose drill is not
// running, removes it and checks by listing that it is gone. A drill whose
// cleanup failed, or one killed before its record named its scratch,
// leaves nothing behind for long: contract data must not outlive a drill.
func (d *Driller) sweepScratch(ctx context.Context, rep *CleanupReport) []error {
	var errs []error
	found, err := d.findScratch(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, it := range found {
		if slices.ContainsFunc(rep.Removed, func(s Scratch) bool { return s.Kind == it.Kind && s.Name == it.Name && s.Gone }) {
			continue // removed above, by its record
		}
		if running(d.cfg.StateDir, it.Drill) {
			continue
		}
		d.removeScratch(ctx, &it)
		rep.Removed = append(rep.Removed, it)
		res := audit.ResultOK
		if !it.Gone {
			res = audit.ResultFailed
			errs = append(errs, fmt.Errorf("drill %s: %s %s: %s", it.Drill, it.Kind, it.Name, it.Detail))
		}
		d.rec.Record(ctx, "drill.cleanup", "drill:"+it.Drill, res, map[string]string{"found": it.Kind, "gone": fmt.Sprint(it.Gone)})
	}
	return errs
}

// drillID is the form of a drill id (see Driller.newID): only names that
// end in one are taken for scratch.
var drillID = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$`)

// findScratch lists every scratch copy that exists now, by its name.
func (d *Driller) findScratch(ctx context.Context) ([]Scratch, error) {
	var found []Scratch
	var errs []error
	ents, err := os.ReadDir(d.cfg.Drills.Scratch.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("drills.scratch.dir: %w", err))
	}
	for _, e := range ents {
		if id, ok := strings.CutPrefix(e.Name(), DirPrefix); ok && e.IsDir() && drillID.MatchString(id) {
			found = append(found, Scratch{Kind: ScratchDir, Name: filepath.Join(d.cfg.Drills.Scratch.Dir, e.Name()), Drill: id})
		}
	}
	if d.cfg.Drills.Scratch.Postgres != nil {
		pg, pw, err := d.scratchPostgres()
		var names []string
		if err == nil {
			names, err = pgsql.ListDatabases(ctx, pg, pw, DatabasePrefix)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drills.scratch.postgres: list scratch databases: %w", err))
		}
		for _, n := range names {
			id := strings.ReplaceAll(strings.TrimPrefix(n, DatabasePrefix), "_", "-")
			if !drillID.MatchString(id) {
				continue
			}
			found = append(found, Scratch{Kind: ScratchDatabase, Name: n, Location: fmt.Sprintf("%s:%d", pg.Host, pg.Port), Drill: id})
		}
	}
	if s3 := d.cfg.Drills.Scratch.S3; s3 != nil {
		prefix := s3.Bucket + "-"
		c, err := d.scratchBucket(prefix)
		var names []string
		if err == nil {
			names, err = c.ListBuckets(ctx, prefix)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drills.scratch.s3: list scratch buckets: %w", err))
		}
		for _, n := range names {
			if !drillID.MatchString(strings.TrimPrefix(n, prefix)) {
				continue
			}
			found = append(found, Scratch{Kind: ScratchBucket, Name: n, Location: c.Target().Host, Drill: strings.TrimPrefix(n, prefix)})
		}
	}
	return found, errors.Join(errs...)
}

// cleanupLeftovers runs Cleanup before a drill and reports each removal.
func (d *Driller) cleanupLeftovers(ctx context.Context, progress func(Event)) ([]Scratch, error) {
	rep, err := d.Cleanup(ctx)
	for _, s := range rep.Removed {
		if progress != nil {
			progress(Event{Time: d.clock.Now(), Kind: EventLeftover, DrillID: s.Drill, Name: s.Kind + " " + s.Name, Detail: s.Detail})
		}
	}
	return rep.Removed, err
}
