package resticx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"steward/internal/keys"
)

// resticBin finds the pinned restic that scripts/setup.sh builds into ./bin.
func resticBin(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("module root not found")
		}
		dir = parent
	}
	bin, _, err := Find(context.Background(), filepath.Join(dir, "bin", "restic"))
	if err != nil {
		t.Fatalf("restic is needed for this test: %v", err)
	}
	return bin
}

func newRunner(t *testing.T) (*Runner, *Repository) {
	t.Helper()
	state := t.TempDir()
	r := &Runner{Bin: resticBin(t), StateDir: state, Timeout: 2 * time.Minute}
	repo := &Repository{Name: "test", Location: filepath.Join(state, "repo"), Password: keys.RandomSecret(32)}
	return r, repo
}

func TestInitBackupSnapshots(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	var statuses int
	res, err := r.Run(ctx, repo, Call{Args: []string{"backup", "--tag", "t1", data}, OnMessage: func(m Message) {
		if m.MessageType == "status" {
			statuses++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary == nil || res.Summary.SnapshotID == "" || res.Summary.TotalFilesProcessed != 1 {
		t.Fatalf("summary %+v", res.Summary)
	}
	snaps, err := r.Snapshots(ctx, repo, "t1")
	if err != nil || len(snaps) != 1 || snaps[0].ID != res.Summary.SnapshotID {
		t.Fatalf("snapshots %+v, %v", snaps, err)
	}
	if none, err := r.Snapshots(ctx, repo, "other"); err != nil || len(none) != 0 {
		t.Fatalf("tag filter: %v, %v", none, err)
	}
	assertNoPasswordFiles(t, r)
}

func TestTypedErrors(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	if _, err := r.Snapshots(ctx, repo); !errors.Is(err, ErrRepoNotFound) {
		t.Fatalf("missing repo: %v", err)
	} else if !strings.Contains(err.Error(), "steward repo init") {
		t.Fatalf("no hint in %q", err)
	}
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	wrong := *repo
	wrong.Password = keys.Secret("not-the-password")
	_, err := r.Snapshots(ctx, &wrong)
	var re *Error
	if !errors.Is(err, ErrWrongPassword) || !errors.As(err, &re) || re.Code != 12 {
		t.Fatalf("wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatal("password in error text")
	}
	assertNoPasswordFiles(t, r)
}

func TestExitCodeKinds(t *testing.T) {
	for code, want := range map[int]error{1: ErrFailed, 3: ErrIncomplete, 10: ErrRepoNotFound, 11: ErrLocked, 12: ErrWrongPassword, 130: ErrInterrupted, 2: ErrFailed} {
		if got := kindForCode(code); got != want {
			t.Errorf("code %d → %v, want %v", code, got, want)
		}
	}
}

// TestPasswordNeverInArgv starts a backup that waits on stdin, reads the
// child's command line and environment from /proc, then lets it finish.
func TestPasswordNeverInArgv(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	pw := string(repo.Password.Reveal())
	repo.Env = map[string]keys.Secret{"AWS_SECRET_ACCESS_KEY": keys.Secret("aws-secret-value")}
	pr, pw2 := io.Pipe()
	pids := make(chan int, 1)
	r.Started = func(pid int) { pids <- pid }
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, repo, Call{Args: []string{"backup", "--stdin", "--stdin-filename", "x"}, Stdin: pr})
		done <- err
	}()
	pid := <-pids
	// Read the command line once the process shows one; if restic has
	// already ended, say why instead.
	var cmdline []byte
	for deadline := time.Now().Add(5 * time.Second); len(cmdline) == 0 && time.Now().Before(deadline); {
		select {
		case err := <-done:
			t.Fatalf("restic ended before its command line could be read: %v", err)
		default:
		}
		var err error
		if cmdline, err = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err != nil {
			t.Fatal(err)
		}
		if len(cmdline) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if bytes.Contains(cmdline, []byte(pw)) || bytes.Contains(cmdline, []byte("aws-secret-value")) {
		t.Fatalf("secret in argv: %q", cmdline)
	}
	if !bytes.Contains(cmdline, []byte("backup")) {
		t.Fatalf("not the backup process: %q", cmdline)
	}
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(environ, []byte(pw)) {
		t.Fatal("repository password in the environment (it must go through RESTIC_PASSWORD_FILE)")
	}
	if !bytes.Contains(environ, []byte("RESTIC_PASSWORD_FILE=/dev/fd/3")) {
		t.Fatalf("the password does not come through an inherited descriptor: %q", environ)
	}
	// It is a pipe, and no file in the state dir holds the password while
	// restic runs (so none can survive a kill -9 of Steward).
	if link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/3"); err != nil || !strings.HasPrefix(link, "pipe:") {
		t.Fatalf("restic's fd 3 is %q (%v), want a pipe", link, err)
	}
	filepath.WalkDir(r.StateDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(pw)) {
				t.Errorf("the password is on disk in %s", p)
			}
		}
		return nil
	})
	pw2.Write([]byte("data"))
	pw2.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertNoPasswordFiles(t, r)
}

func TestDeadlineInterruptsRestic(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	r.Grace = 2 * time.Second
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	start := time.Now()
	_, err := r.Run(ctx, repo, Call{Args: []string{"backup", "--stdin"}, Stdin: pr, Timeout: 2 * time.Second})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("want timeout, got %v", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("took %v", el)
	}
	snaps, err := r.Snapshots(ctx, repo)
	if err != nil || len(snaps) != 0 {
		t.Fatalf("snapshot saved after interrupt: %v %v", snaps, err)
	}
	assertNoPasswordFiles(t, r)
}

// TestKillOnCancel: a backup --stdin waiting for its input is killed at
// once on cancel and saves nothing.
func TestKillOnCancel(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	r.Grace = 30 * time.Second
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(2*time.Second, cancel)
	start := time.Now()
	_, err := r.Run(cctx, repo, Call{Args: []string{"backup", "--stdin"}, Stdin: pr, KillOnCancel: true})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("want interrupted, got %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %v", el)
	}
	if err := r.Unlock(ctx, repo); err != nil {
		t.Fatal(err)
	}
	snaps, err := r.Snapshots(ctx, repo)
	if err != nil || len(snaps) != 0 {
		t.Fatalf("snapshot saved after a kill: %v %v", snaps, err)
	}
	assertNoPasswordFiles(t, r)
}

// TestBackground: a call at the lowest CPU priority runs restic as usual.
func TestBackground(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := r.Run(ctx, repo, Call{Args: []string{"cat", "config"}, Stdout: &out, Background: true}); err != nil || !bytes.Contains(out.Bytes(), []byte("chunker_polynomial")) {
		t.Fatalf("background call: %v\n%s", err, out.String())
	}
	assertNoPasswordFiles(t, r)
}

func TestFindVersion(t *testing.T) {
	bin := resticBin(t)
	v, err := Version(context.Background(), bin)
	if err != nil || !atLeast(v, MinVersion) {
		t.Fatalf("version %q, %v", v, err)
	}
	if _, _, err := Find(context.Background(), "/nonexistent/restic"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "setup.sh") {
		t.Fatalf("missing restic: %v", err)
	}
	old := filepath.Join(t.TempDir(), "restic")
	os.WriteFile(old, []byte("#!/bin/sh\necho 'restic 0.16.4 compiled with go1.22 on linux/amd64'\n"), 0o755)
	if _, _, err := Find(context.Background(), old); !errors.Is(err, ErrTooOld) || !strings.Contains(err.Error(), "0.18.1") {
		t.Fatalf("old restic: %v", err)
	}
	for _, c := range []struct {
		v    string
		want bool
	}{{"0.18.1", true}, {"0.19.0", true}, {"1.0.0", true}, {"0.18.0", false}, {"0.9.9", false}} {
		if atLeast(c.v, MinVersion) != c.want {
			t.Errorf("atLeast(%s)", c.v)
		}
	}
}

func assertNoPasswordFiles(t *testing.T, r *Runner) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(r.TmpDir(), "restic-pw-*"))
	if len(m) > 0 {
		t.Fatalf("password files left behind: %v", m)
	}
}

// TestPipeStdin: an OS pipe from NewPipe is restic's stdin itself, with a
// 1 MiB capacity; what is written is what restic stores, and closing the
// read end after Run makes a writer still blocked on it fail.
func TestPipeStdin(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := unix.FcntlInt(pw.Fd(), unix.F_GETPIPE_SZ, 0); err != nil || n != pipeSize {
		t.Errorf("pipe capacity %d (%v), want %d", n, err, pipeSize)
	}
	data := bytes.Repeat([]byte("steward pipe "), 300_000) // ~3.9 MB: more than the pipe holds
	go func() {
		pw.Write(data)
		pw.Close()
	}()
	res, err := r.Run(ctx, repo, Call{Args: []string{"backup", "--stdin", "--stdin-filename", "x"}, Stdin: pr})
	pr.Close()
	if err != nil || res.Summary == nil {
		t.Fatalf("backup: %v", err)
	}
	var out bytes.Buffer
	if _, err := r.Run(ctx, repo, Call{Args: []string{"dump", "latest", "/x"}, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("restic stored %d bytes, want the %d written", out.Len(), len(data))
	}

	// restic fails at once (no such repository): the writer, blocked once
	// the pipe is full, gets an error when the read end is closed.
	pr2, pw2, err := NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := pw2.Write(make([]byte, 4*pipeSize))
		werr <- err
	}()
	bad := &Repository{Name: "missing", Location: filepath.Join(t.TempDir(), "none"), Password: repo.Password}
	if _, err := r.Run(ctx, bad, Call{Args: []string{"backup", "--stdin"}, Stdin: pr2}); err == nil {
		t.Fatal("backup to a missing repository succeeded")
	}
	pr2.Close()
	select {
	case err := <-werr:
		if !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("blocked writer: %v, want EPIPE", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer stayed blocked after the read end was closed")
	}
	pw2.Close()
}

// restic runs in the contract's zone whatever the host's: the snapshot
// times it records (and the days retention groups them by) are the
// contract's.
func TestResticRunsInContractZone(t *testing.T) {
	t.Setenv("TZ", "UTC")
	ctx := context.Background()
	r, repo := newRunner(t)
	r.TimeZone = "Asia/Tokyo"
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	if _, err := r.Run(ctx, repo, Call{Args: []string{"backup", data}}); err != nil {
		t.Fatal(err)
	}
	snaps, err := r.Snapshots(ctx, repo)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %+v, %v", snaps, err)
	}
	if _, off := snaps[0].Time.Zone(); off != 9*3600 {
		t.Fatalf("snapshot time %s: restic did not run in Asia/Tokyo", snaps[0].Time.Format(time.RFC3339))
	}
}
