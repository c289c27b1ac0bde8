package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"steward/internal/testenv"
)

// stallTimeout is restic.stall_timeout in the tests of a restic that
// stops answering; stallBound is how long a command may then take to fail
// (the deadline, the watchdog's sampling, restic's exit and the command's
// own work before the stop).
const (
	stallTimeout = 3 * time.Second
	stallBound   = stallTimeout + 20*time.Second
)

// resticStopper SIGSTOPs restic processes (the pinned binary) that are
// children of one parent and run a given subcommand, as an operator's
// `kill -STOP`, a debugger or a hung storage driver would leave them.
type resticStopper struct {
	exe  string
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	pids []int
}

// stopRestic stops the first restic child of parent whose arguments hold
// sub, once; stop the watch with the returned stopper's end.
func stopRestic(t *testing.T, parent int, sub string) *resticStopper {
	t.Helper()
	exe, err := filepath.EvalSymlinks(filepath.Join(repoRoot(t), "bin", "restic"))
	if err != nil {
		t.Fatal(err)
	}
	s := &resticStopper{exe: exe, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if pid := s.find(parent, sub); pid > 0 {
				syscall.Kill(pid, syscall.SIGSTOP)
				s.mu.Lock()
				s.pids = append(s.pids, pid)
				s.mu.Unlock()
				return
			}
		}
	}()
	t.Cleanup(s.end)
	return s
}

func (s *resticStopper) find(parent int, sub string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != s.exe {
			continue
		}
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
		if len(f) < 2 || string(f[1]) != strconv.Itoa(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		for _, a := range bytes.Split(cmdline, []byte{0}) {
			if string(a) == sub {
				return pid
			}
		}
	}
	return 0
}

// end stops watching and returns the pids it stopped; each must be gone.
func (s *resticStopper) end() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}

func (s *resticStopper) stopped() []int {
	s.end()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pids
}

// TestResticStopsAnswering: a restic process that stops answering (it is
// SIGSTOPped) during a backup, a drill, a restore, a recovery kit and the
// daemon's scheduled check makes the command fail within
// restic.stall_timeout plus a margin, naming restic, its subcommand and
// the repository; no success is recorded, nothing is left (no scratch, no
// restored files, no kit, no escrow key, the restic process gone) and
// restic itself finds the repository clean; the same command then
// completes. Only local repositories: the fault is restic's, not the
// storage's.
func TestResticStopsAnswering(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 3, 1000)
	officer, _ := age.GenerateX25519Identity()
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s, stall_timeout: %s}
repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk, replicas: [copy]}
drills: {read_data_subsets: 1}
recovery: {recipients: [%s]}
`, filepath.Join(repoRoot(t), "bin", "restic"), stallTimeout, data, officer.Recipient())
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	snapshots := func() int { return strings.Count(plainRestic(t, dir, "disk", "snapshots", "--json"), `"id"`) }
	snapsBefore := snapshots()

	// fails runs args with the first restic child running sub stopped: it
	// must fail in time, naming restic sub and the repository.
	fails := func(t *testing.T, sub, repository string, args ...string) {
		t.Helper()
		s := stopRestic(t, os.Getpid(), sub)
		start := time.Now()
		code, out, errOut := stewardRun(t, dir, "", args...)
		took := time.Since(start)
		pids := s.stopped()
		t.Logf("%v with restic %s stopped: exit %d in %s", args, sub, code, took.Round(time.Millisecond))
		if len(pids) == 0 {
			t.Fatalf("%v: no restic %s was seen to stop (exit %d)\n%s%s", args, sub, code, out, errOut)
		}
		if code == 0 || strings.Contains(out, "PASSED") {
			t.Errorf("%v succeeded with restic %s stopped:\n%s%s", args, sub, out, errOut)
		}
		if took > stallBound {
			t.Errorf("%v took %s to fail, more than %s", args, took, stallBound)
		}
		for _, want := range []string{"restic " + sub, `repository "` + repository + `"`, "no sign of life", "restic.stall_timeout"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v: the error does not say %q:\n%s", args, want, errOut)
			}
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("%v: the stopped restic %d is still there", args, pid)
			}
		}
	}
	succeeds := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != 0 {
			t.Fatalf("%v once restic answers: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	clean := func(t *testing.T, what string) {
		t.Helper()
		for _, name := range []string{"disk", "copy"} {
			plainRestic(t, dir, name, "check")
		}
		if ents, err := os.ReadDir(filepath.Join(dir, "state", "scratch")); err == nil && len(ents) > 0 {
			t.Errorf("%s: scratch holds %d entries", what, len(ents))
		}
	}

	t.Run("backup", func(t *testing.T) {
		ok := readRecords(t, dir, "nightly").backupsOK
		fails(t, "backup", "disk", "backup", "run")
		if got := readRecords(t, dir, "nightly").backupsOK; got != ok {
			t.Errorf("%d successful backups recorded, want %d", got, ok)
		}
		clean(t, "backup")
		if got := snapshots(); got < snapsBefore {
			t.Errorf("%d snapshots after the stall, had %d", got, snapsBefore)
		}
		succeeds(t, "backup", "run")
		if got := readRecords(t, dir, "nightly").backupsOK; got != ok+1 {
			t.Errorf("%d successful backups after the rerun, want %d", got, ok+1)
		}
	})
	t.Run("replica copy", func(t *testing.T) {
		testenv.Heavy(t)
		ok := readRecords(t, dir, "nightly").backupsOK
		fails(t, "copy", "copy", "backup", "run")
		if got := readRecords(t, dir, "nightly").backupsOK; got != ok {
			t.Errorf("%d successful backups recorded, want %d", got, ok)
		}
		clean(t, "replica copy")
		succeeds(t, "backup", "run")
	})
	t.Run("drill", func(t *testing.T) {
		passed := readRecords(t, dir, "nightly").drillsPassed
		fails(t, "restore", "disk", "drill", "run")
		if got := readRecords(t, dir, "nightly").drillsPassed; got != passed {
			t.Errorf("%d passed drills recorded, want %d", got, passed)
		}
		clean(t, "drill")
		succeeds(t, "drill", "run")
		if got := readRecords(t, dir, "nightly").drillsPassed; got != passed+1 {
			t.Errorf("%d passed drills after the rerun, want %d", got, passed+1)
		}
	})
	t.Run("restore", func(t *testing.T) {
		testenv.Heavy(t)
		to := filepath.Join(dir, "restored")
		fails(t, "restore", "disk", "restore", "--to", to)
		if ents, err := os.ReadDir(to); err == nil && len(ents) > 0 {
			t.Errorf("the failed restore left %d entries in %s", len(ents), to)
		}
		clean(t, "restore")
		succeeds(t, "restore", "--to", to)
		if n := countFiles(to); n != 3 {
			t.Errorf("the rerun restored %d files, want 3", n)
		}
	})
	t.Run("recovery kit", func(t *testing.T) {
		testenv.Heavy(t)
		kit := filepath.Join(dir, "kit.age")
		keys := func() int {
			ents, _ := os.ReadDir(filepath.Join(dir, "state", "repositories", "disk", "keys"))
			return len(ents)
		}
		before := keys()
		fails(t, "key", "disk", "recovery", "kit", "--to", kit)
		if _, err := os.Stat(kit); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the failed kit left its file: %v", err)
		}
		if got := keys(); got != before {
			t.Errorf("disk has %d key files after the failed kit, want %d", got, before)
		}
		clean(t, "recovery kit")
		succeeds(t, "recovery", "kit", "--to", kit)
		if _, err := openKit(t, kit, officer); err != nil {
			t.Errorf("the rerun's kit: %v", err)
		}
	})
	t.Run("erase hand-over export", func(t *testing.T) {
		testenv.Heavy(t)
		// The export the city receives before erasure (req 4) reads each
		// source's snapshot with restic dump.
		to := filepath.Join(dir, "handover")
		fails(t, "dump", "disk", "handover", "export", "--to", to)
		if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the failed hand-over export left %s: %v", to, err)
		}
		if n := strings.Count(auditActions(t, dir), "handover.export:ok"); n != 0 {
			t.Errorf("%d hand-over exports recorded ok after the failure", n)
		}
		clean(t, "hand-over export")
		succeeds(t, "handover", "export", "--to", to)
		if n := strings.Count(auditActions(t, dir), "handover.export:ok"); n != 1 {
			t.Errorf("%d hand-over exports recorded ok after the rerun, want 1", n)
		}
	})
	t.Run("daemon check", func(t *testing.T) {
		testenv.Heavy(t)
		os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg+"checks: {schedule: \"*/2 * * * * *\"}\n"), 0o600)
		d := startServe(t, dir, nil)
		s := stopRestic(t, d.cmd.Process.Pid, "check")
		d.waitUntil(t, "the stopped check reported", stallBound, func() bool {
			return strings.Contains(d.out.String(), "no sign of life") && strings.Contains(d.out.String(), "restic check")
		})
		pids := s.stopped()
		if len(pids) == 0 {
			t.Fatalf("no restic check was stopped:\n%s", d.out.String())
		}
		d.waitUntil(t, "a later check that passes", 60*time.Second, func() bool {
			return readRecords(t, dir, "nightly").checked["disk"]
		})
		if code := d.stop(t, 30*time.Second); code != 0 {
			t.Errorf("serve exit %d:\n%s", code, d.out.String())
		}
		clean(t, "daemon check")
	})
	if code, out, errOut := stewardRun(t, dir, "", "audit", "verify"); code != 0 {
		t.Errorf("audit verify: %d\n%s%s", code, out, errOut)
	}
}

// countFiles counts the regular files under dir.
func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// auditActions is the audit log as "action:result" words, one per record.
func auditActions(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, rec := range auditRecords(t, filepath.Join(dir, "state")) {
		fmt.Fprintf(&b, "%s:%s ", rec.Action, rec.Result)
	}
	return b.String()
}
