package erase

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"steward/internal/progress"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// exportSource writes one source's latest snapshot under
// <job>/<source>/ in the export directory.
func (x *Exporter) exportSource(ctx context.Context, w *fileWriter, p planned, emit progress.Func) (*HandoverSource, error) {
	r, snap := p.repo, p.snap
	src := &HandoverSource{Job: p.job.Name, Source: p.source.Name, Kind: p.source.Kind(), Repository: r.Name(),
		SnapshotID: snap.ID, SnapshotTime: snap.Time.In(x.clock.Location()), Dir: path.Join(p.job.Name, p.source.Name)}
	ev := func(e progress.Event) {
		e.Time, e.Job, e.Source, e.Repository, e.SnapshotID = x.clock.Now(), src.Job, src.Source, src.Repository, src.SnapshotID
		emit.Emit(e)
	}
	var err error
	var total int64
	if snap.Summary != nil {
		total = snap.Summary.TotalBytesProcessed
	}
	ev(progress.Event{Kind: progress.Start, BytesTotal: total, Message: "exporting " + src.Kind})
	m := &progress.Meter{Start: time.Now(), Emit: ev, TotalBytes: total}
	filesBefore, bytesBefore := w.files, w.bytes
	w.meter, w.baseBytes, w.baseFiles = m, bytesBefore, filesBefore
	defer func() { w.meter = nil }()
	switch src.Kind {
	case "path":
		err = x.exportPath(ctx, w, r, snap, src)
	case "postgres":
		err = x.exportPostgres(ctx, w, r, snap, src)
	default:
		err = x.exportBucket(ctx, w, r, snap, src)
	}
	if err != nil {
		ev(progress.Event{Kind: progress.Failed, Error: "export failed"})
		return nil, err
	}
	src.Files, src.Bytes = w.files-filesBefore, w.bytes-bytesBefore
	m.Update(src.Bytes, src.Files, true)
	ev(progress.Event{Kind: progress.Done, BytesDone: src.Bytes, FilesDone: src.Files, Message: "exported"})
	return src, nil
}

// exportPath streams `restic dump <id>:<path> / --archive tar` into
// <job>/<source>/<source>.tar (names in the archive are relative to the
// backed-up directory), counting its regular files on the way.
func (x *Exporter) exportPath(ctx context.Context, w *fileWriter, r *repo.Repo, snap resticx.Snapshot, src *HandoverSource) error {
	args := []string{"dump", snap.ID + ":" + snap.Paths[0], "/", "--archive", "tar"}
	return x.dump(ctx, r, args, func(in io.Reader) error {
		f, err := w.create(path.Join(src.Dir, src.Source+".tar"))
		if err != nil {
			return err
		}
		tee := io.TeeReader(in, f)
		tr := tar.NewReader(tee)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.abort()
				return fmt.Errorf("read the snapshot's archive: %w", err)
			}
			if hdr.Typeflag == tar.TypeReg {
				src.Items++
				src.DataBytes += hdr.Size
			}
		}
		// The end-of-archive blocks and padding, so that the file is the
		// whole archive restic wrote.
		if _, err := io.Copy(io.Discard, tee); err != nil {
			f.abort()
			return err
		}
		return w.commit(f, FileEntry{Job: src.Job, Source: src.Source, Role: "tar"})
	})
}

// exportPostgres streams the custom-format dump the snapshot holds into
// <job>/<source>/<source>.pgdump, then has pg_restore write it out as
// plain SQL (<source>.sql; no database needed), hashing its output as it
// is written. The SQL leaves out ownership and privileges, so that it
// loads into a database of any role; the custom-format file keeps them.
func (x *Exporter) exportPostgres(ctx context.Context, w *fileWriter, r *repo.Repo, snap resticx.Snapshot, src *HandoverSource) error {
	bin, err := x.findPgRestore(ctx)
	if err != nil {
		return err
	}
	dumpRel := path.Join(src.Dir, src.Source+".pgdump")
	err = x.dump(ctx, r, []string{"dump", snap.ID, snap.Paths[0]}, func(in io.Reader) error {
		f, err := w.create(dumpRel)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.abort()
			return err
		}
		src.DataBytes = f.n
		return w.commit(f, FileEntry{Job: src.Job, Source: src.Source, Role: "pg_dump"})
	})
	if err != nil {
		return err
	}
	dumpPath := w.abs(dumpRel)
	if src.Items, err = countTableData(ctx, bin, dumpPath); err != nil {
		return err
	}
	f, err := w.create(path.Join(src.Dir, src.Source+".sql"))
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "--no-owner", "--no-privileges", "--file", "-", dumpPath)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		f.abort()
		return fmt.Errorf("pg_restore --file (plain SQL from the dump): %w: %s", err, lastLine(stderr.String()))
	}
	return w.commit(f, FileEntry{Job: src.Job, Source: src.Source, Role: "sql"})
}

// countTableData counts the dump's TABLE DATA entries (pg_restore --list).
func countTableData(ctx context.Context, bin, dump string) (int64, error) {
	cmd := exec.CommandContext(ctx, bin, "--list", dump)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("pg_restore --list: %w", err)
	}
	var n int64
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, ";") && strings.Contains(line, " TABLE DATA ") {
			n++
		}
	}
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("pg_restore --list: %w: %s", err, lastLine(stderr.String()))
	}
	return n, nil
}

// exportBucket streams the snapshot's archive of the bucket and writes
// each object as a file under <job>/<source>/, its key as the relative
// path (see extractArchive).
func (x *Exporter) exportBucket(ctx context.Context, w *fileWriter, r *repo.Repo, snap resticx.Snapshot, src *HandoverSource) error {
	return x.dump(ctx, r, []string{"dump", snap.ID, snap.Paths[0]}, func(in io.Reader) error {
		n, b, err := extractArchive(in, w, src.Dir, func(e *FileEntry) { e.Job, e.Source, e.Role = src.Job, src.Source, "object" })
		src.Items, src.DataBytes = n, b
		if err == nil {
			_, _ = io.Copy(io.Discard, in) // tar padding after the end marker
		}
		return err
	})
}

var pgMajorDir = regexp.MustCompile(`/usr/lib/postgresql/(\d+)/bin/pg_restore$`)

// findPgRestore picks the newest pg_restore: a dump can be read by a
// pg_restore as new as the pg_dump that made it, or newer.
func (x *Exporter) findPgRestore(ctx context.Context) (string, error) {
	if x.pgRestore != "" {
		return x.pgRestore, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_restore")
	major := func(p string) int {
		m := pgMajorDir.FindStringSubmatch(p)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if len(found) > 0 {
		return slices.MaxFunc(found, func(a, b string) int { return major(a) - major(b) }), nil
	}
	if p, err := exec.LookPath("pg_restore"); err == nil {
		return p, nil
	}
	return "", errors.New("pg_restore not found: install Debian's postgresql-client package (the version of the source's server or newer)")
}

// dump runs restic with args (a dump) and hands its output to consume
// (resticx.Runner.Stream).
func (x *Exporter) dump(ctx context.Context, r *repo.Repo, args []string, consume func(io.Reader) error) error {
	return x.restic.Stream(ctx, r.Restic, resticx.Call{Args: args, Timeout: x.cfg.Restic.Timeout.D()}, consume)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	return s
}
