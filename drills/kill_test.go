package drills

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"steward/internal/config"
)

// helperEnv makes the test binary act as a steward process that runs one
// drill (for the SIGKILL test): STEWARD_DRILL_HELPER=<config>.
const helperEnv = "STEWARD_DRILL_HELPER"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		os.Exit(helperMain(v))
	}
	os.Exit(m.Run())
}

func helperMain(path string) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Println("config:", err)
		return 2
	}
	f := openFixture(&testing.T{}, cfg)
	f.d.hookRestoring = func() { fmt.Println("restoring") }
	_, err = f.d.Run(context.Background(), RunOptions{Job: "j"})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("finished")
	return 0
}

// TestKilledMidRestore: a steward process (and its restic) killed with
// SIGKILL while a drill restores leaves its scratch dir and a drill marked
// running; Cleanup finds it by its recorded name, removes it, says so and
// marks the drill interrupted; the next drill passes.
func TestKilledMidRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 30, 2<<20)
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: disk}
`, files))
	if err := f.eng.InitRepository(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+filepath.Join(dir, "steward.yaml"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if line == "restoring" {
			// Once the scratch dir exists, kill steward and its restic.
			for range 1000 {
				if ents, _ := os.ReadDir(f.cfg.Drills.Scratch.Dir); len(ents) > 0 {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			killed = true
			break
		}
		if line == "finished" || strings.HasPrefix(line, "error") {
			t.Fatalf("helper ended before it could be killed: %s", line)
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the helper never started restoring")
	}
	left, _ := os.ReadDir(f.cfg.Drills.Scratch.Dir)
	if len(left) != 1 {
		t.Fatalf("expected the killed drill's scratch dir, found %d entries", len(left))
	}

	rep, err := f.d.Cleanup(ctx)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if len(rep.Drills) != 1 || len(rep.Removed) != 1 || !rep.Removed[0].Gone || rep.Removed[0].Kind != ScratchDir {
		t.Fatalf("cleanup report %+v", rep)
	}
	if ents, _ := os.ReadDir(f.cfg.Drills.Scratch.Dir); len(ents) != 0 {
		t.Fatalf("scratch left after cleanup: %d", len(ents))
	}
	rec, err := f.d.Show(ctx, rep.Drills[0])
	if err != nil || rec.Result != ResultInterrupted || rec.Cleanup.Result != ResultPassed {
		t.Fatalf("killed drill's record: %+v %v", rec, err)
	}
	if n := auditCount(t, f.store, "drill.cleanup", "ok"); n != 1 {
		t.Fatalf("%d cleanups audited", n)
	}
	recs, err := f.d.Run(ctx, RunOptions{Job: "j"})
	if err != nil || recs[0].Result != ResultPassed || len(recs[0].Leftovers) != 0 {
		t.Fatalf("drill after cleanup: %v %+v", err, recs)
	}
}
