package pgsql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"steward/internal/config"
	"steward/internal/keys"
)

// DumpOptions is one run of pg_dump.
type DumpOptions struct {
	// Bin is the pg_dump to run (FindPgDump).
	Bin string
	// Source and Password are the database and its password; the password
	// reaches pg_dump in a password file on a memfd (Credentials), never
	// argv or the environment.
	Source   *config.PostgresSource
	Password keys.Secret
	// Snapshot is an exported snapshot (Export) that pg_dump dumps.
	Snapshot string
	// BaseEnv is the rest of pg_dump's environment (PATH, HOME, …); the
	// caller's own environment is not inherited.
	BaseEnv []string
}

// DumpSession pins, for pg_dump's session, the settings that change the
// COPY text of some types and that pg_dump leaves as the server, database
// or role has them: timestamptz is written in UTC and bytea in hex,
// whatever the defaults where the dump is made or drilled. (pg_dump itself
// sets DateStyle, IntervalStyle, extra_float_digits and search_path.) The
// values only change how data is spelled, not what it is: the archive
// restores the same data. CopyChecksums sets the same on its session.
const DumpSession = "-c TimeZone=UTC -c bytea_output=hex"

// stderrKeep is how much of pg_dump's stderr an error quotes (its end).
const stderrKeep = 4 << 10

// Dump runs pg_dump --format=custom --compress=0 on the exported snapshot
// and writes the archive to w as it comes, reading it on the way
// (ReadArchive): the result is the manifest of exactly the bytes written,
// with no second read of the database and no temporary file. It returns
// only once pg_dump has exited; any failure — pg_dump's exit status, an
// archive it cannot read, a write to w that fails — is an error, and
// pg_dump is killed if it still runs. A caller that forwards w to a
// consumer (restic) must treat an error as "the archive is incomplete",
// whatever was written.
func Dump(ctx context.Context, o DumpOptions, w io.Writer) (*Archive, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	// 1 MiB of pipe (the default /proc/sys/fs/pipe-max-size) lets pg_dump
	// and the reader run in long strides; the kernel's default is 64 KiB.
	_, _ = unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, 1<<20)

	// --compress=0: restic compresses (zstd) what it stores; a dump that
	// pg_dump has compressed is slower (gzip in one thread), neither
	// compresses nor deduplicates further, and hides the COPY text that
	// ReadArchive reads.
	cmd := exec.CommandContext(ctx, o.Bin, "--snapshot="+o.Snapshot, "--format=custom", "--compress=0", "--no-password")
	cmd.Env = append(append([]string{}, o.BaseEnv...), "PGOPTIONS="+DumpSession)
	closePassfile, err := Credentials(cmd, o.Source, o.Password)
	if err != nil {
		pw.Close()
		return nil, err
	}
	defer closePassfile()
	cmd.Stdout = pw
	stderr := &tail{max: stderrKeep}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	// If Steward dies, pg_dump goes too (see resticx's note on threads).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("start pg_dump: %w", err)
	}
	pw.Close() // pg_dump holds the write end; its exit ends the stream
	closePassfile()

	out := &errWriter{w: w}
	archive, readErr := ReadArchive(&batchTee{r: pr, w: out})
	// A stream that ended (whole or not) means pg_dump closed it: it exits
	// by itself, with a status that says why. Otherwise the reader gave up
	// (unreadable archive, failed write) while pg_dump may still be
	// writing: it is killed.
	ended := readErr == nil || errors.Is(readErr, io.ErrUnexpectedEOF)
	if !ended {
		cancel()
	}
	waitErr := cmd.Wait()
	switch {
	case out.err != nil:
		return nil, fmt.Errorf("write the dump: %w", out.err)
	case waitErr != nil && readErr != nil && ended:
		return nil, fmt.Errorf("pg_dump: %w%s (%w)", waitErr, stderr.say(), readErr)
	case waitErr != nil && ended:
		return nil, fmt.Errorf("pg_dump: %w%s", waitErr, stderr.say())
	case readErr != nil:
		return nil, readErr
	}
	return archive, nil
}

// teeBatch is how much a batchTee gathers before it writes on.
const teeBatch = 256 << 10

// batchTee is io.TeeReader in batches: each Read waits for up to teeBatch
// bytes (fewer at the end of the stream) and writes them to w before
// returning them. pg_dump writes its archive 8 KiB at a time; passed on
// that way, every piece would cost a write and a wake-up of the reader on
// the far side (restic).
type batchTee struct {
	r   io.Reader
	w   io.Writer
	err error // the read error to return once the batch before it is out
}

func (t *batchTee) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := io.ReadAtLeast(t.r, p, min(len(p), teeBatch))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			return n, werr
		}
		t.err, err = err, nil
	}
	return n, err
}

// errWriter remembers the first error of w.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// say is ": <last lines of stderr>" or "".
func (t *tail) say() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": " + strings.ReplaceAll(s, "\n", " | ")
}

// IsBrokenPipe reports whether err is a write to a pipe nobody reads:
// the consumer ended first, and its own error says why.
func IsBrokenPipe(err error) bool { return errors.Is(err, syscall.EPIPE) }
