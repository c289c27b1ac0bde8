package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/config"
	"steward/internal/crash"
	"steward/internal/manifest"
	"steward/internal/objstore"
	"steward/internal/pgsql"
	"steward/internal/progress"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// Tags every Steward snapshot carries (see package manifest).
const (
	TagSteward     = manifest.TagSteward
	TagData        = manifest.TagData
	TagManifest    = manifest.TagManifest
	TagManifestRef = manifest.TagManifestRef
	SnapshotHost   = manifest.SnapshotHost
)

func runTags(rec *RunRecord, kind string) []string {
	return []string{"--host", SnapshotHost, "--tag", TagSteward, "--tag", kind, "--tag", "job:" + rec.Job,
		"--tag", "source:" + rec.Source, "--tag", "run:" + rec.ID}
}

// progressFPS is how often restic reports status while backing up.
const progressFPS = 2

// runSource backs one source up, stores its manifest, copies the snapshot
// to the replicas and records everything. rec is filled in.
func (e *Engine) runSource(ctx context.Context, rec *RunRecord, primary *repo.Repo, replicas []*repo.Repo, s *source, opts RunOptions) error {
	if err := e.saveRun(ctx, rec); err != nil {
		return sourceErr(s.Name(), err)
	}
	target := "run:" + rec.ID
	e.rec.Record(ctx, "backup.source", target, audit.ResultStarted, map[string]string{"job": rec.Job, "source": rec.Source, "repository": rec.Repository, "kind": rec.Kind})
	emit(opts, Event{Time: e.clock.Now(), Kind: EventStart, Job: rec.Job, Source: s.Name(), Repository: primary.Name()})
	crash.Point(crash.BackupRunStarted)

	finish := func(err error) error {
		rec.Finished = e.now()
		if err != nil {
			rec.Result, rec.Error = ResultFailed, errText(err)
			if errors.Is(err, context.Canceled) || errors.Is(err, resticx.ErrInterrupted) {
				rec.Result = ResultInterrupted
			}
			rec.SnapshotID = ""
		} else {
			rec.Result = ResultOK
		}
		if serr := e.saveRun(ctx, rec); serr != nil && err == nil {
			err = serr
		}
		details := map[string]string{"job": rec.Job, "source": rec.Source, "repository": rec.Repository}
		if err != nil {
			details["error"] = rec.Error
			e.rec.Record(ctx, "backup.source", target, audit.ResultFailed, details)
			emit(opts, Event{Time: e.clock.Now(), Kind: EventFailed, Job: rec.Job, Source: s.Name(), Repository: primary.Name(), Error: rec.Error})
			return sourceErr(s.Name(), err)
		}
		details["snapshot"] = rec.SnapshotID
		details["manifest_sha256"] = rec.ManifestSHA256
		details["bytes_read"] = fmt.Sprint(rec.BytesRead)
		details["files"] = fmt.Sprint(rec.Files)
		e.rec.Record(ctx, "backup.source", target, audit.ResultOK, details)
		return nil
	}

	var (
		sum *resticx.Message
		b   *built
		err error
	)
	switch {
	case s.cfg.Path != nil:
		sum, b, err = e.backupPath(ctx, rec, primary, s, opts)
	case s.cfg.Postgres != nil:
		sum, b, err = e.backupPostgres(ctx, rec, primary, s, opts)
	default:
		sum, b, err = e.backupS3(ctx, rec, primary, s, opts)
	}
	if err == nil && (sum == nil || sum.SnapshotID == "") {
		err = errors.New("restic reported no snapshot")
	}
	defer b.close()
	if err != nil {
		if b != nil {
			b.companion.abort()
		}
		if errors.Is(err, resticx.ErrStalled) {
			// The repository does not answer, so it cannot be asked now
			// whether this run left a snapshot (restic saves one only at
			// its very end): the next run asks, before anything else.
			rec.CheckPending = true
			return finish(fmt.Errorf("%w; whether this run left a partial snapshot is checked by the next run", err))
		}
		if derr := e.dropRunSnapshots(context.WithoutCancel(ctx), primary, rec.ID, "failed run"); derr != nil {
			err = errors.Join(err, derr)
		}
		return finish(err)
	}
	crash.Point(crash.BackupSnapshotSaved)
	rec.SnapshotID = sum.SnapshotID
	rec.DataAdded = sum.DataAdded
	if rec.BytesRead == 0 {
		rec.BytesRead = sum.TotalBytesProcessed
	}
	if rec.Files == 0 {
		rec.Files = sum.TotalFilesProcessed
	}
	if b.reused == nil {
		b.m.SnapshotID, b.m.RunID, b.m.Job, b.m.Source, b.m.Created = sum.SnapshotID, rec.ID, rec.Job, rec.Source, e.now()
	}
	if err := e.storeManifest(ctx, rec, primary, b); err != nil {
		_ = e.dropRunSnapshots(context.WithoutCancel(ctx), primary, rec.ID, "manifest not stored")
		return finish(err)
	}
	emit(opts, Event{Time: e.clock.Now(), Kind: EventDone, Job: rec.Job, Source: s.Name(), Repository: primary.Name(),
		SnapshotID: rec.SnapshotID, BytesDone: rec.BytesRead, FilesDone: rec.Files})
	crash.Point(crash.BackupManifestStored)

	var copyErrs []error
	for _, r := range replicas {
		// A reused manifest snapshot is named too: restic copy skips it
		// where it is already, and copies it where an earlier copy failed.
		c := e.copyTo(ctx, rec.ID, primary, r, []string{rec.SnapshotID, rec.ManifestID})
		rec.Copies = append(rec.Copies, c)
		ev := Event{Time: e.clock.Now(), Kind: EventCopy, Job: rec.Job, Source: s.Name(), Repository: r.Name(), SnapshotID: rec.SnapshotID, Message: c.Method}
		if c.Result != ResultOK {
			ev.Kind, ev.Error = EventFailed, c.Error
			copyErrs = append(copyErrs, fmt.Errorf("replica %q: %w: %s", r.Name(), ErrReplicaFailed, c.Error))
		}
		emit(opts, ev)
	}
	snapRec, _ := json.Marshal(map[string]any{"run_id": rec.ID, "manifest_snapshot_id": rec.ManifestID, "manifest_reused": rec.ManifestReused,
		"kind": rec.Kind, "bytes": rec.BytesRead, "files": rec.Files, "copies": rec.Copies})
	if e.store != nil {
		if err := e.store.PutSnapshot(ctx, catalog.SnapshotRow{Repository: primary.Name(), SnapshotID: rec.SnapshotID, Job: rec.Job,
			Source: rec.Source, Time: rec.Started, Record: snapRec}); err != nil {
			copyErrs = append(copyErrs, err)
		}
	}
	crash.Point(crash.BackupReplicasCopied)
	if len(copyErrs) > 0 {
		// The snapshot itself is good and kept; the run fails so that the
		// operator sees the missing replica.
		_ = finish(nil)
		rec.Result, rec.Error = ResultFailed, errText(errors.Join(copyErrs...))
		_ = e.saveRun(ctx, rec)
		return sourceErr(s.Name(), errors.Join(copyErrs...))
	}
	return finish(nil)
}

// storeManifest writes the manifest into the catalog and, as a companion
// snapshot tagged with the same run id, into the repository (through the
// restic process started ahead, if any), streaming its body to both. A
// reused manifest (unchanged source) is already in the repository and the
// catalog: the new data snapshot names the same body, which is not stored
// again, and the record names the existing companion.
func (e *Engine) storeManifest(ctx context.Context, rec *RunRecord, r *repo.Repo, b *built) error {
	m := b.m
	if p := b.reused; p != nil {
		rec.ManifestID, rec.ManifestSHA256, rec.ManifestReused = p.companion, p.sha256, true
		if e.store == nil {
			return nil
		}
		return e.store.PutManifest(ctx, catalog.ManifestRow{SnapshotID: rec.SnapshotID, Source: rec.Source, Kind: m.Kind, SHA256: p.sha256}, nil)
	}
	m.Format = ManifestFormat
	body, err := b.body()
	if err != nil {
		return err
	}
	h := sha256.New()
	body = io.TeeReader(body, h)
	var res *resticx.Result
	if b.companion != nil {
		res, err = b.companion.finish(body)
	} else {
		args := append([]string{"backup", "--stdin", "--stdin-filename", rec.Source + ".manifest.json"}, runTags(rec, TagManifest)...)
		res, err = e.restic.Run(ctx, r.Restic, resticx.Call{Args: args, Stdin: body})
	}
	if err != nil {
		return fmt.Errorf("store manifest in the repository: %w", err)
	}
	if res.Summary == nil || res.Summary.SnapshotID == "" {
		return errors.New("store manifest in the repository: restic reported no snapshot")
	}
	rec.ManifestSHA256 = hex.EncodeToString(h.Sum(nil))
	rec.ManifestID = res.Summary.SnapshotID
	if e.store == nil {
		return nil
	}
	if body, err = b.body(); err != nil {
		return err
	}
	return e.store.PutManifest(ctx, catalog.ManifestRow{SnapshotID: m.SnapshotID, Source: rec.Source, Kind: m.Kind, SHA256: rec.ManifestSHA256}, body)
}

// meter turns restic status messages into events; for stdin sources
// the caller's counters (bytes read from the source) take precedence.
type meter struct {
	e     *Engine
	opts  RunOptions
	rec   *RunRecord
	repo  string
	bytes *atomic.Int64 // nil: use restic's bytes_done
	files *atomic.Int64
	// totalB, totalF: an S3 source's listed size, once counted (zero until
	// then: no percentage or ETA yet).
	totalB atomic.Int64
	totalF atomic.Int64
	start  time.Time
}

func (p *meter) onMessage(m resticx.Message) {
	if m.MessageType != "status" || p.opts.Progress == nil {
		return
	}
	ev := Event{Time: p.e.clock.Now(), Kind: EventProgress, Job: p.rec.Job, Source: p.rec.Source, Repository: p.repo,
		BytesDone: m.BytesDone, BytesTotal: m.TotalBytes, FilesDone: m.FilesDone, FilesTotal: m.TotalFiles}
	if m.SecondsRemaining > 0 {
		ev.ETA = time.Duration(m.SecondsRemaining * float64(time.Second))
	}
	if p.bytes != nil {
		ev.BytesDone, ev.BytesTotal = p.bytes.Load(), p.totalB.Load()
		ev.FilesDone, ev.FilesTotal = p.files.Load(), p.totalF.Load()
		ev.ETA = 0
	}
	progress.Estimate(&ev, p.start, time.Now())
	p.opts.Progress(ev)
}

// watch makes call stop restic once its progress has stopped for
// restic.stall_timeout, and report the wait as it goes, naming the
// repository it waits for.
func (p *meter) watch(call resticx.Call, r *repo.Repo) resticx.Call {
	call.StallAfter = p.e.cfg.Restic.StallTimeout.D()
	call.OnWait = func(waited time.Duration) {
		if p.opts.Progress == nil {
			return
		}
		p.opts.Progress(Event{Time: p.e.clock.Now(), Kind: EventCheck, Job: p.rec.Job, Source: p.rec.Source, Repository: r.Name(),
			Message: fmt.Sprintf("no progress for %s: waiting for repository %s (%s); stopping after %s", waited.Round(time.Second), r.Name(), r.Restic.Location, p.e.cfg.Restic.StallTimeout)})
	}
	return call
}

// backupPath runs `restic backup <path>` while the manifest is hashed
// alongside (the second reader of each file mostly hits the page cache).
//
// First, when the catalog has a previous manifest of this job, a pre-pass
// that reads no file walks the tree beside it: when every file's size,
// mtime, ctime and inode equal the previous manifest's and the entries are
// the same, the source is unchanged and its manifest is the previous one
// byte for byte (reused only within one job, whose retention keeps the
// companion while it is named). The data snapshot then names the
// companion snapshot already holding it (tag manifest:<id>), no new
// companion is written and the catalog names the stored body again
// instead of storing it twice (see storeManifest). The same walk after
// restic must find the tree still unchanged (so nothing changed while
// restic read it); otherwise that snapshot is forgotten and the backup
// runs again, hashing as usual. The walks stream: the previous manifest
// is read from the catalog as the tree is walked, and the new one is
// written to a spool on disk, so memory does not grow with the number of
// files.
func (e *Engine) backupPath(ctx context.Context, rec *RunRecord, r *repo.Repo, s *source, opts RunOptions) (*resticx.Message, *built, error) {
	ps := s.cfg.Path
	prevM := e.previousManifest(ctx, r.Name(), s.Name())
	if prevM != nil && prevM.job == rec.Job && prevM.companion != "" {
		if head, same := e.sameTree(ctx, prevM, rec.Job, ps.Path, ps.Excludes); same && e.repos.HasSnapshot(ctx, r, prevM.companion) {
			args := append([]string{"backup"}, runTags(rec, TagData)...)
			args = append(args, "--tag", TagManifestRef+prevM.companion)
			res, err := e.resticPath(ctx, rec, r, ps, args, opts)
			if err != nil {
				return nil, nil, err
			}
			if _, same := e.sameTree(ctx, prevM, rec.Job, ps.Path, ps.Excludes); same {
				return res.Summary, &built{m: head, reused: prevM}, nil
			}
			if err := e.dropRunSnapshots(ctx, r, rec.ID, "source changed during the backup"); err != nil {
				return nil, nil, err
			}
		}
	}

	sp, err := manifest.NewSpool(e.tmpDir())
	if err != nil {
		return nil, nil, err
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		hashErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		prev := e.previousFiles(hctx, prevM)
		defer prev.stop()
		hashErr = hashTree(hctx, ps.Path, ps.Excludes, prev, sp)
	})
	comp := e.startCompanion(ctx, rec, r)
	res, err := e.resticPath(ctx, rec, r, ps, append([]string{"backup"}, runTags(rec, TagData)...), opts)
	if err != nil {
		cancel()
		wg.Wait()
		comp.abort()
		sp.Close()
		return nil, nil, err
	}
	wg.Wait()
	if hashErr != nil {
		comp.abort()
		sp.Close()
		return nil, nil, fmt.Errorf("manifest: %w", hashErr)
	}
	return res.Summary, &built{m: &Manifest{Kind: "path", Root: ps.Path}, companion: comp, spool: sp}, nil
}

// tmpDir is where manifests are spooled: the state dir's tmp folder
// (made if missing), or the system's without a state dir.
func (e *Engine) tmpDir() string {
	if e.restic == nil || e.restic.StateDir == "" {
		return os.TempDir()
	}
	dir := e.restic.TmpDir()
	_ = os.MkdirAll(dir, 0o700)
	return dir
}

// resticPath runs restic backup (args: command and tags) of a path source.
func (e *Engine) resticPath(ctx context.Context, rec *RunRecord, r *repo.Repo, ps *config.PathSource, args []string, opts RunOptions) (*resticx.Result, error) {
	for _, x := range ps.Excludes {
		args = append(args, "--exclude", x)
	}
	args = append(args, ps.Path)
	p := &meter{e: e, opts: opts, rec: rec, repo: r.Name(), start: time.Now()}
	return e.restic.Run(ctx, r.Restic, p.watch(resticx.Call{Args: args, OnMessage: p.onMessage, Progress: progressFPS}, r))
}

// backupPostgres dumps the database inside an exported snapshot: Steward
// runs pg_dump --snapshot=… and streams its archive into `restic backup
// --stdin` through an OS pipe, reading it on the way (pgsql.Dump): the
// manifest (each table's rows and copyxxh3/v1 checksum) comes from the very
// bytes restic stores, in the same pass, with no second read of the
// database and nothing on disk. The password reaches pg_dump in a
// password file on a memfd (pgsql.Credentials), never argv or environment.
// If pg_dump fails (its exit status) or its archive cannot be read, restic's stdin is not closed — that would look
// like the end of a valid dump and restic would save it — restic is
// interrupted, and the caller checks that no snapshot was saved.
func (e *Engine) backupPostgres(ctx context.Context, rec *RunRecord, r *repo.Repo, s *source, opts RunOptions) (*resticx.Message, *built, error) {
	pg := s.cfg.Postgres
	conn, err := pgsql.Connect(ctx, pg, s.pgPassword)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	major, err := pgsql.ServerMajor(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	if s.pgDump == "" {
		if s.pgDump, err = pgsql.FindPgDump(ctx, major, e.pgDump); err != nil {
			return nil, nil, err
		}
	}
	snap, err := pgsql.Export(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	defer snap.Close(context.WithoutCancel(ctx))

	rctx, abort := context.WithCancel(ctx)
	defer abort()
	pr, pw, err := resticx.NewPipe()
	if err != nil {
		return nil, nil, err
	}
	defer pr.Close()
	dump := pgsql.DumpOptions{Bin: s.pgDump, Source: pg, Password: s.pgPassword, Snapshot: snap.ID,
		BaseEnv: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.restic.StateDir, "TMPDIR=" + e.restic.TmpDir(), "LANG=C.UTF-8"}}
	resticDone := make(chan struct{})
	var (
		archive *pgsql.Archive
		srcErr  error
		written atomic.Int64
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		archive, srcErr = pgsql.Dump(rctx, dump, &countingWriter{w: pw, n: &written})
		if srcErr != nil {
			// The archive is incomplete: restic is interrupted first, and
			// the pipe closed only once it is gone.
			abort()
			<-resticDone
		}
		pw.Close()
	})
	name := s.Name() + ".pgdump"
	args := append([]string{"backup", "--stdin", "--stdin-filename", name}, runTags(rec, TagData)...)
	p := &meter{e: e, opts: opts, rec: rec, repo: r.Name(), start: time.Now()}
	comp := e.startCompanion(ctx, rec, r)
	res, err := e.restic.Run(rctx, r.Restic, resticx.Call{Args: args, Stdin: pr, OnMessage: p.onMessage, Progress: progressFPS})
	close(resticDone)
	// A write still blocked on the pipe fails once no reader is left.
	pr.Close()
	wg.Wait()
	rec.BytesRead = written.Load()
	// A broken pipe only means that restic ended first: its own error
	// says why.
	if srcErr != nil && (err == nil || !pgsql.IsBrokenPipe(srcErr)) {
		comp.abort()
		return nil, nil, fmt.Errorf("%w (restic was stopped before saving)", srcErr)
	}
	if err != nil {
		comp.abort()
		return nil, nil, fmt.Errorf("pg_dump into restic: %w", err)
	}
	m := &Manifest{Kind: "postgres", Database: pg.Database, ServerMajor: major, PgSnapshot: snap.ID, DumpFormat: "custom",
		DumpEncoding: archive.Encoding, Tables: archive.Tables, StdinFilename: name, Bytes: written.Load()}
	for _, t := range archive.Tables {
		m.Count += t.Rows
	}
	return res.Summary, &built{m: m, companion: comp}, nil
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// backupS3 streams every current object as one tar archive into `restic
// backup --stdin`, hashing each object on the way; objects are fetched
// ahead by a bounded pipeline (see streamBucket), so memory is bounded
// whatever the bucket's size. If the source fails, restic is interrupted while
// its input is still open (an ended input would make it save a partial
// snapshot) and the caller checks that no snapshot was saved.
func (e *Engine) backupS3(ctx context.Context, rec *RunRecord, r *repo.Repo, s *source, opts RunOptions) (*resticx.Message, *built, error) {
	var bytesRead, filesDone atomic.Int64
	m := &Manifest{Kind: "s3", Bucket: s.s3.Target().Bucket, StdinFilename: s.Name() + ".tar"}

	rctx, abort := context.WithCancel(ctx)
	defer abort()
	// restic reads the archive from an OS pipe directly (no copy through
	// another goroutine, 1 MiB of pipe so that both sides run in long
	// strides).
	pr, pw, err := resticx.NewPipe()
	if err != nil {
		return nil, nil, err
	}
	defer pr.Close()
	resticDone := make(chan struct{})
	var srcErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		srcErr = e.streamBucket(rctx, s.s3, pw, m, &bytesRead, &filesDone)
		if srcErr != nil {
			// The archive is incomplete. Closing the pipe now would look
			// like its end, and restic would save what it has: restic is
			// interrupted first, and the pipe closed only once it is gone.
			abort()
			<-resticDone
		}
		pw.Close()
	})
	args := append([]string{"backup", "--stdin", "--stdin-filename", m.StdinFilename}, runTags(rec, TagData)...)
	p := &meter{e: e, opts: opts, rec: rec, repo: r.Name(), bytes: &bytesRead, files: &filesDone, start: time.Now()}
	// The bucket is counted for the progress bar beside the stream, not
	// before it (a listing of 10,000 objects takes about 0.4 s). A failed
	// count only leaves the bar without a total: the stream's own listing
	// reports the error.
	cctx, stopCount := context.WithCancel(rctx)
	defer stopCount()
	wg.Go(func() {
		var b, n int64
		if s.s3.List(cctx, func(o objstore.Object) error { b += o.Size; n++; return nil }) == nil {
			p.totalB.Store(b)
			p.totalF.Store(n)
		}
	})
	comp := e.startCompanion(ctx, rec, r)
	res, err := e.restic.Run(rctx, r.Restic, p.watch(resticx.Call{Args: args, Stdin: pr, OnMessage: p.onMessage, Progress: progressFPS}, r))
	close(resticDone)
	stopCount()
	// A write still blocked on the pipe fails once no reader is left.
	pr.Close()
	wg.Wait()
	rec.BytesRead, rec.Files = bytesRead.Load(), filesDone.Load()
	// A broken pipe only means that restic ended first: its own error
	// says why.
	if srcErr != nil && (err == nil || !errors.Is(srcErr, syscall.EPIPE)) {
		comp.abort()
		return nil, nil, fmt.Errorf("read source bucket: %w (restic was stopped before saving)", srcErr)
	}
	if err != nil {
		comp.abort()
		return nil, nil, err
	}
	return res.Summary, &built{m: m, companion: comp}, nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (e *Engine) listSnapshots(ctx context.Context, r *repo.Repo, tags string) ([]resticx.Snapshot, error) {
	if tags == "" {
		return e.restic.Snapshots(ctx, r.Restic)
	}
	return e.restic.Snapshots(ctx, r.Restic, tags)
}

// dropRunSnapshots makes sure no snapshot of run id is left in r: a
// failed or interrupted run must leave nothing. Stale restic locks of a
// killed restic are removed first. Anything found is forgotten, audited.
func (e *Engine) dropRunSnapshots(ctx context.Context, r *repo.Repo, runID, why string) error {
	if locked, err := e.repos.HasResticLocks(ctx, r); err == nil && locked {
		if err := e.repos.UnlockStale(ctx, r, why); err != nil {
			return err
		}
	}
	snaps, err := e.listSnapshots(ctx, r, "run:"+runID)
	if err != nil {
		return fmt.Errorf("check that the run left no snapshot: %w", err)
	}
	if len(snaps) == 0 {
		return nil
	}
	args := []string{"forget"}
	for _, s := range snaps {
		args = append(args, s.ID)
	}
	err = e.repos.WithRetry(ctx, r, func() error { _, err := e.restic.Run(ctx, r.Restic, resticx.Call{Args: args}); return err })
	res := audit.ResultOK
	details := map[string]string{"run": runID, "reason": why, "snapshots": fmt.Sprint(len(snaps))}
	if err != nil {
		res, details["error"] = audit.ResultFailed, errText(err)
	}
	e.rec.Record(ctx, "backup.drop-partial", "repository:"+r.Name(), res, details)
	if err != nil {
		return fmt.Errorf("forget the snapshot a %s left: %w", why, err)
	}
	return nil
}
