package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"steward/internal/config"
)

// helperEnv makes the test binary act as a steward process that runs one
// backup job (for the SIGKILL test): STEWARD_BACKUP_HELPER=<config>:<job>.
const helperEnv = "STEWARD_BACKUP_HELPER"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		os.Exit(helperMain(v))
	}
	os.Exit(m.Run())
}

var helperStart = time.Now()

func helperMain(v string) int {
	path, job, _ := strings.Cut(v, "|")
	ctx := context.Background()
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Println("config:", err)
		return 2
	}
	if prof := os.Getenv("STEWARD_CPUPROFILE"); prof != "" {
		// Profiling the helper (benchmarks): STEWARD_CPUPROFILE=<file>,
		// one file per process (<file>.<pid>).
		if pf, err := os.Create(fmt.Sprintf("%s.%d", prof, os.Getpid())); err == nil {
			if pprof.StartCPUProfile(pf) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	defer func() {
		// Where the time went (read by the benchmarks): Steward's own CPU
		// and that of the restic processes it ran.
		var self, kids syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
		fmt.Printf("cpu wall %v steward %v children (restic, pg_dump) %v\n", time.Since(helperStart).Round(time.Millisecond),
			time.Duration(self.Utime.Nano()+self.Stime.Nano()).Round(time.Millisecond), time.Duration(kids.Utime.Nano()+kids.Stime.Nano()).Round(time.Millisecond))
	}()
	t := &testing.T{}
	var mod func(*Deps)
	if os.Getenv("STEWARD_TRACE_LOG") != "" {
		// Timestamped debug lines on stderr (where a run's time goes).
		mod = func(d *Deps) {
			d.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			d.Restic.Log = d.Log
		}
	}
	if os.Getenv("STEWARD_TRACE_LOG") != "" {
		fmt.Fprintf(os.Stderr, "time=%s helper started\n", helperStart.UTC().Format(time.RFC3339Nano))
	}
	f := openFixture(t, ctx, cfg, mod)
	if repo, ok := strings.CutPrefix(job, "init:"); ok {
		err = f.repos.Init(ctx, repo)
	} else {
		_, err = f.eng.Run(ctx, RunOptions{Job: job, Progress: func(ev Event) {
			if os.Getenv("STEWARD_BENCH") == "" {
				fmt.Printf("%s %d\n", ev.Kind, ev.BytesDone)
			}
		}})
	}
	if os.Getenv("STEWARD_TRACE_LOG") != "" {
		fmt.Fprintf(os.Stderr, "time=%s helper ends\n", time.Now().UTC().Format(time.RFC3339Nano))
	}
	// Bytes this process's own threads wrote to disk (benchmarks).
	// /proc/self/io would also count the children it has reaped (restic
	// writing its repository).
	if tasks, rerr := filepath.Glob("/proc/self/task/*/io"); rerr == nil {
		var written int64
		for _, task := range tasks {
			io, _ := os.ReadFile(task)
			for line := range strings.Lines(string(io)) {
				if v, ok := strings.CutPrefix(line, "write_bytes:"); ok {
					var n int64
					fmt.Sscan(v, &n)
					written += n
				}
			}
		}
		fmt.Print("write_bytes ", written, "\n")
	}
	if status, rerr := os.ReadFile("/proc/self/status"); rerr == nil {
		for line := range strings.Lines(string(status)) {
			if strings.HasPrefix(line, "VmHWM:") {
				fmt.Print("rss ", strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "\n")
			}
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("finished")
	return 0
}

// lockID is the name of a restic lock file: its id.
var lockID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestKilledMidBackup: a steward process (and its restic) killed with
// SIGKILL mid-backup leaves a stale restic lock and an unfinished run; the
// next run marks the run interrupted, removes the stale lock (audited) and
// succeeds.
func TestKilledMidBackup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 24, 2<<20)
	body := fmt.Sprintf(`repositories:
  - name: disk
    local: {}
sources:
  - name: files
    path: {path: %s}
jobs:
  - {name: j, sources: [files], repository: disk, retention: {keep_last: 5}}
`, files)
	f := newFixture(t, dir, body, nil)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+filepath.Join(dir, "steward.yaml")+"|j")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lockDir := filepath.Join(f.cfg.Repositories[0].Local.Path, "locks")
	// resticLocks lists the lock files restic has finished writing (the
	// local backend writes <id>-tmp-<n> first, then renames it to <id>).
	resticLocks := func() []string {
		ents, err := os.ReadDir(lockDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			if lockID.MatchString(e.Name()) {
				names = append(names, e.Name())
			}
		}
		return names
	}
	killGroup := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, EventStart) {
			// Once restic holds its lock, kill the whole process group,
			// steward and its restic, as a crash or an OOM kill would.
			deadline := time.Now().Add(time.Minute)
			for len(resticLocks()) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			killGroup()
			if len(resticLocks()) == 0 {
				cmd.Wait()
				t.Fatalf("restic took no lock in %s within a minute of the backup's start", lockDir)
			}
			killed = true
			break
		}
		if line == "finished" || strings.HasPrefix(line, "error") {
			killGroup()
			cmd.Wait()
			t.Fatalf("helper ended before it could be killed: %s", line)
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("no progress seen from the helper")
	}
	stale := resticLocks()
	if len(stale) == 0 {
		t.Fatal("the killed restic left no lock: the test needs a stale lock to check that the next run removes it")
	}

	// The killed process's password file is seconds old here; in real
	// life the next run comes much later than staleTmpAge.
	f.eng.tmpAge = 0
	rep, err := f.eng.Run(ctx, RunOptions{Job: "j"})
	if err != nil {
		t.Fatalf("run after SIGKILL: %v", err)
	}
	if rep.Runs[0].Result != ResultOK {
		t.Fatalf("run %+v", rep.Runs[0])
	}
	interrupted, _ := f.store.RunsWithResult(ctx, "disk", ResultInterrupted)
	if len(interrupted) != 1 {
		t.Fatalf("%d runs marked interrupted", len(interrupted))
	}
	if n := len(f.dataSnapshots(t, "disk")); n != 1 {
		t.Fatalf("%d snapshots", n)
	}
	for _, l := range resticLocks() {
		if slices.Contains(stale, l) {
			t.Fatalf("the stale lock %s is still in %s", l, lockDir)
		}
	}
	if acts := auditActions(t, f); acts["repository.unlock/ok"] == 0 {
		t.Fatalf("stale lock removal not audited: %v", acts)
	}
	f.resticByHand(t, "disk", "check")
	f.tmpEmpty(t)
}
