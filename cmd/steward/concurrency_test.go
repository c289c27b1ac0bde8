package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/internal/testenv"
)

// plainRestic runs restic itself, not Steward, on the local repository
// name of dir's contract, with its password from the state dir: the
// independent check that nothing in the repository is damaged.
func plainRestic(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	return plainResticAt(t, dir, name, filepath.Join(dir, "state", "repositories", name), args...)
}

// plainResticAt is plainRestic on the local repository name at location.
func plainResticAt(t *testing.T, dir, name, location string, args ...string) string {
	t.Helper()
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	repos, err := a.Repos(context.Background())
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	pw, err := repos.Password(name)
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	pwFile := filepath.Join(tmp, "pw")
	if err := os.WriteFile(pwFile, pw.Reveal(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(t), "bin", "restic"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "RESTIC_CACHE_DIR=" + filepath.Join(tmp, "cache"),
		"RESTIC_REPOSITORY=" + location, "RESTIC_PASSWORD_FILE=" + pwFile}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restic %v on %s: %v\n%s", args, name, err, out)
	}
	return string(out)
}

// TestConcurrentCommands: while one Steward run holds a repository (a
// backup whose before hook is slow), every other run that needs it — a
// second backup of the same job from the CLI, a drill, a repository check,
// and the daemon's scheduled backup — is refused at once with a message
// naming the repository and the holder's pid, and records no run; the
// holder finishes; restic itself then finds the repository intact, with
// one snapshot; and the runs that were refused succeed once it is free.
func TestConcurrentCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 3, 1000)
	held, release := filepath.Join(dir, "held"), filepath.Join(dir, "release")
	// The hook says it runs (the repository is locked by then) and waits
	// until the test releases it.
	hook := filepath.Join(dir, "hold.sh")
	os.WriteFile(hook, []byte(fmt.Sprintf("#!/bin/sh\n[ -e '%s' ] && exit 0\ntouch '%s'\nwhile [ ! -e '%s' ]; do sleep 0.1; done\n", release, held, release)), 0o755)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - name: j
    sources: [docs]
    repository: disk
    hooks: {before: [%s]}
`, filepath.Join(repoRoot(t), "bin", "restic"), data, hook), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}

	first := startSteward(t, dir, nil, "backup", "run")
	first.waitUntil(t, "the first backup's hook", time.Minute, func() bool { _, err := os.Stat(held); return err == nil })
	busy := fmt.Sprintf(`repository "disk": repository is in use by another Steward run (pid %d)`, first.cmd.Process.Pid)
	for _, args := range [][]string{{"backup", "run"}, {"drill", "run"}, {"repo", "check", "disk"}} {
		start := time.Now()
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code == 0 || !strings.Contains(errOut, busy) {
			t.Errorf("%v while a backup holds the repository: exit %d, want a refusal saying %q\n%s%s", args, code, busy, out, errOut)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%v took %s to be refused", args, took)
		}
	}
	// The daemon: its scheduled run is refused the same way, and says so.
	cfg := string(mustRead(t, filepath.Join(dir, "steward.yaml")))
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(strings.Replace(cfg, "    repository: disk\n", "    repository: disk\n    schedule: \"*/2 * * * * *\"\n", 1)), 0o600)
	d := startServe(t, dir, nil)
	busyLog := fmt.Sprintf("repository is in use by another Steward run (pid %d)", first.cmd.Process.Pid) // quotes are escaped in the log
	d.waitUntil(t, "the daemon's refused run", time.Minute, func() bool { return strings.Contains(d.out.String(), busyLog) })
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("serve: exit %d\n%s", code, d.out.String())
	}
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)

	os.WriteFile(release, nil, 0o600)
	select {
	case <-first.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the first backup did not finish:\n%s", first.out.String())
	}
	if code := first.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the first backup: exit %d\n%s", code, first.out.String())
	}
	r := readRecords(t, dir, "j")
	if r.backupsOK != 1 {
		t.Errorf("%d successful backups recorded, want the first one only", r.backupsOK)
	}
	plainRestic(t, dir, "disk", "check", "--read-data")
	// One data snapshot (and its manifest's), the first backup's.
	if snaps := plainRestic(t, dir, "disk", "snapshots", "--json"); strings.Count(snaps, `"steward-data"`) != 1 || strings.Count(snaps, `"steward-manifest"`) != 1 {
		t.Errorf("restic lists these snapshots, want one of the data and one of its manifest:\n%s", snaps)
	}
	// Free again: what was refused now runs.
	for _, args := range [][]string{{"backup", "run"}, {"drill", "run"}, {"repo", "check", "disk"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Errorf("%v once the repository is free: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if code, out, errOut := stewardRun(t, dir, "", "audit", "verify"); code != 0 {
		t.Errorf("audit verify: %d\n%s%s", code, out, errOut)
	}
}

// TestEraseWaitsForRunningDrill: `erase execute` while a drill restores
// (its restic held, by fault injection, after it wrote the scratch copy)
// refuses at once, naming the drill's pid, and changes nothing — erasing
// under a running drill could leave a scratch copy written after erasure
// checked for it. Once the drill has ended, execute runs and completes,
// and no scratch copy nor the repository is left.
func TestEraseWaitsForRunningDrill(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 2, 100)
	stall, restoring, release := filepath.Join(dir, "stall"), filepath.Join(dir, "restoring"), filepath.Join(dir, "release")
	restic := filepath.Join(dir, "restic")
	os.WriteFile(restic, fmt.Appendf(nil, `#!/bin/sh
for a in "$@"; do
	if [ "$a" = restore ] && [ -e '%[1]s' ]; then
		'%[4]s' "$@" || exit $?
		touch '%[2]s'
		while [ ! -e '%[3]s' ]; do sleep 0.1; done
		exit 0
	fi
done
exec '%[4]s' "$@"
`, stall, restoring, release, filepath.Join(repoRoot(t), "bin", "restic")), 0o755)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
`, restic, data), 0o600)
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	run("init")
	run("repo", "init")
	run("backup", "run")
	id := strings.Fields(run("erase", "plan", "--as", "alice"))[2]
	run("erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "kept by the city")
	time.Sleep(1100 * time.Millisecond) // the cooling-off

	os.WriteFile(stall, nil, 0o600)
	drill := startSteward(t, dir, nil, "drill", "run")
	drill.waitUntil(t, "the drill's restore", time.Minute, func() bool { _, err := os.Stat(restoring); return err == nil })
	code, out, errOut := stewardRun(t, dir, "", "erase", "execute", id, "--as", "alice")
	busy := fmt.Sprintf("repository is in use by another Steward run (pid %d)", drill.cmd.Process.Pid)
	if code == 0 || !strings.Contains(errOut, busy) || !strings.Contains(errOut, "nothing was changed: run `steward erase execute "+id+"` again") {
		t.Fatalf("erase execute during a drill: exit %d, want a refusal naming pid %d\n%s%s", code, drill.cmd.Process.Pid, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "repositories", "disk", "config")); err != nil {
		t.Fatalf("erase went on under the running drill: %v", err)
	}
	// Nothing changed: no step journaled, the contract not frozen.
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	journal, err := a.Catalog.Journal(context.Background(), id)
	a.Close()
	if err != nil || len(journal) != 0 {
		t.Fatalf("journal after the refusal: %v %+v", err, journal)
	}

	os.WriteFile(release, nil, 0o600)
	select {
	case <-drill.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the drill did not end:\n%s", drill.out.String())
	}
	os.Remove(stall)
	run("erase", "execute", id, "--as", "alice")
	if ents, err := os.ReadDir(filepath.Join(dir, "state", "scratch")); err == nil && len(ents) > 0 {
		t.Errorf("scratch holds %d entries after erasure", len(ents))
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "repositories", "disk")); !os.IsNotExist(err) {
		t.Errorf("the repository is still there after erasure: %v", err)
	}
}
