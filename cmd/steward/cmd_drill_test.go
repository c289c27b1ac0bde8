package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"steward/drills"
	"steward/internal/clock"
)

// cliHelperEnv makes the test binary run steward with the arguments it
// holds (space-separated) in the working directory, as a process that a
// test can kill.
const cliHelperEnv = "STEWARD_CLI_HELPER"

func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(cliHelperEnv); ok {
		ctx, stop := rootContext() // as main: SIGINT/SIGTERM cancel it
		code := run(ctx, append([]string{"steward"}, strings.Fields(v)...), os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	systemClockSync = func(context.Context) clock.SyncStatus {
		return clock.SyncStatus{State: clock.Synchronised, Source: "test"}
	}
	os.Exit(m.Run())
}

// TestRestoreAndDrillCommands drives restore, drill run/list/show/cleanup
// through the CLI against a local repository.
func TestRestoreAndDrillCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(data, "b.txt"), []byte("world"), 0o644)
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
drills: {read_data_subsets: 2%%s}
`, filepath.Join(repoRoot(t), "bin", "restic"), data)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(cfg, "")), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}

	out := filepath.Join(dir, "out")
	code, stdout, errOut := stewardRun(t, dir, "", "restore", "--to", out)
	if code != 0 || !strings.Contains(stdout, "restored snapshot") {
		t.Fatalf("restore: %d\n%s%s", code, stdout, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.txt")); string(b) != "hello" {
		t.Fatalf("restored a.txt: %q", b)
	}
	if code, _, errOut := stewardRun(t, dir, "", "restore", "--to", out); code != exitUsage || !strings.Contains(errOut, "--force") {
		t.Fatalf("non-empty target: %d %s", code, errOut)
	}
	if code, _, errOut := stewardRun(t, dir, "", "restore", "--to", out, "--to-bucket", "x"); code != exitUsage || !strings.Contains(errOut, "exactly one") {
		t.Fatalf("two targets: %d %s", code, errOut)
	}
	os.Remove(filepath.Join(data, "b.txt"))
	code, _, errOut = stewardRun(t, dir, "nope\n", "restore", "--into-source")
	if code != exitUsage || !strings.Contains(errOut, "Type the source's name") || !strings.Contains(errOut, "confirm") {
		t.Fatalf("into-source with a wrong name typed: %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "b.txt")); err == nil {
		t.Fatal("restored into the source without confirmation")
	}
	if code, _, errOut := stewardRun(t, dir, "docs\n", "restore", "--into-source"); code != 0 {
		t.Fatalf("into-source with the name typed: %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "b.txt")); err != nil {
		t.Fatal("into-source did not restore b.txt")
	}

	code, stdout, errOut = stewardRun(t, dir, "", "drill", "run", "--participant", "Sato", "--participant", "Suzuki")
	if code != 0 || !strings.Contains(stdout, "PASSED") || !strings.Contains(stdout, "files: BLAKE3") {
		t.Fatalf("drill run: %d\n%s%s", code, stdout, errOut)
	}
	code, stdout, _ = stewardRun(t, dir, "", "drill", "list", "--json")
	var recs []drills.Record
	if code != 0 || json.Unmarshal([]byte(stdout), &recs) != nil || len(recs) != 1 || recs[0].Participants[1] != "Suzuki" {
		t.Fatalf("drill list --json: %d %s", code, stdout)
	}
	id := recs[0].DrillID
	code, stdout, _ = stewardRun(t, dir, "", "drill", "show", id)
	if code != 0 || !strings.Contains(stdout, id) || !strings.Contains(stdout, "read subset:     1/2") || !strings.Contains(stdout, "+09:00") {
		t.Fatalf("drill show: %d\n%s", code, stdout)
	}
	if code, _, _ := stewardRun(t, dir, "", "drill", "show", "nope"); code != exitUsage {
		t.Fatalf("show unknown: %d", code)
	}
	code, stdout, _ = stewardRun(t, dir, "", "drill", "cleanup")
	if code != 0 || !strings.Contains(stdout, "no crashed drill") {
		t.Fatalf("drill cleanup: %d %s", code, stdout)
	}

	// A target below the measured RTO fails the drill: exit code 3.
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(cfg, ", rto_target: 1ms")), 0o600)
	code, stdout, errOut = stewardRun(t, dir, "", "drill", "run")
	if code != exitVerify || !strings.Contains(errOut, "check RTO") || !strings.Contains(stdout, "read subset:     2/2") {
		t.Fatalf("failing drill: %d\n%s%s", code, stdout, errOut)
	}
	testDrillReports(t, dir, id)
}

// testDrillReports renders the passed drill's and the failed drill's
// signed PDF reports and checks them with pdfsig, pdftotext and verify.
func testDrillReports(t *testing.T, dir, passedID string) {
	_, stdout, _ := stewardRun(t, dir, "", "drill", "list", "--json")
	var recs []drills.Record
	if err := json.Unmarshal([]byte(stdout), &recs); err != nil || len(recs) != 2 {
		t.Fatalf("drill list: %v %s", err, stdout)
	}
	for _, rec := range recs {
		code, out, errOut := stewardRun(t, dir, "", "--json", "drill", "report", rec.DrillID)
		var res map[string]string
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("drill report %s: %d %s%s", rec.DrillID, code, out, errOut)
		}
		want := "passed"
		if rec.DrillID != passedID {
			want = "failed"
		}
		if res["result"] != want {
			t.Fatalf("report of %s says %s, want %s", rec.DrillID, res["result"], want)
		}
		sig, _ := exec.Command("pdfsig", res["path"]).CombinedOutput()
		if !strings.Contains(string(sig), "Signature is Valid.") || !strings.Contains(string(sig), "Total document signed") {
			t.Fatalf("pdfsig (poppler-utils from ./scripts/setup.sh): %s", sig)
		}
		text, err := exec.Command("pdftotext", "-layout", res["path"], "-").Output()
		if err != nil {
			t.Fatalf("pdftotext: %v", err)
		}
		for _, s := range []string{"復旧訓練報告書", rec.DrillID, "Sato", "+09:00", drills.RunbookVersion} {
			if !strings.Contains(string(text), s) && !(s == "Sato" && rec.DrillID != passedID) {
				t.Errorf("report of %s lacks %q", rec.DrillID, s)
			}
		}
		// The failed drill (RTO over its 1ms target) says so wherever its
		// record does.
		if norm := strings.Join(strings.Fields(string(text)), " "); rec.DrillID != passedID &&
			(!strings.Contains(norm, "未達 not met") || strings.Contains(norm, "なし none") || !strings.Contains(norm, "逸脱 / Deviation check RTO")) {
			t.Errorf("failed drill's report does not show its RTO missed and its problems as deviations:\n%s", text)
		}
		if code, out, _ := stewardRun(t, dir, "", "verify", res["path"]); code != 0 {
			t.Fatalf("verify drill report: %d %s", code, out)
		}
	}
	if code, _, _ := stewardRun(t, dir, "", "drill", "report", "nope"); code != exitUsage {
		t.Fatalf("report of unknown drill: exit %d", code)
	}
}

// TestDrillRunRemovesLeftovers: `steward drill run` killed with SIGKILL
// mid-restore (its restic stalls, by fault injection, once it has written
// the files) leaves its scratch dir; the next `steward drill run` removes
// it by its recorded name, checks that it is gone, says so on its output
// and records it in leftovers_removed; the killed drill is listed as
// interrupted.
func TestDrillRunRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	stall := filepath.Join(dir, "stall")
	restic := filepath.Join(dir, "restic")
	os.WriteFile(restic, []byte(fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
	if [ "$a" = restore ] && [ -e '%[1]s' ]; then '%[2]s' "$@"; sleep 600; exit 1; fi
done
exec '%[2]s' "$@"
`, stall, filepath.Join(repoRoot(t), "bin", "restic"))), 0o755)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
`, restic, data)), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}

	os.WriteFile(stall, nil, 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cliHelperEnv+"=drill run")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var childOut strings.Builder
	cmd.Stdout, cmd.Stderr = &childOut, &childOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-exited })
	scratch := filepath.Join(dir, "state", "scratch")
	var left string
	for deadline := time.Now().Add(time.Minute); left == ""; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("drill run ended before it could be killed:\n%s", childOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("drill run made no scratch dir")
		}
		if ents, _ := os.ReadDir(scratch); len(ents) == 1 {
			if files, _ := os.ReadDir(filepath.Join(scratch, ents[0].Name())); len(files) > 0 {
				left = filepath.Join(scratch, ents[0].Name())
			}
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	os.Remove(stall)
	killedID := strings.TrimPrefix(filepath.Base(left), drills.DirPrefix)

	code, stdout, errOut := stewardRun(t, dir, "", "drill", "run")
	said := fmt.Sprintf("cleanup: removed the scratch that crashed drill %s left: dir %s (removed; not listed any more)", killedID, left)
	recorded := fmt.Sprintf("leftover of crashed drill %s removed: dir %s", killedID, left)
	if code != 0 || !strings.Contains(stdout, said) || !strings.Contains(stdout, recorded) || !strings.Contains(stdout, "PASSED") {
		t.Fatalf("next drill run: %d\n%s%s\nwant %q and %q", code, stdout, errOut, said, recorded)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("leftover still there: %v", err)
	}
	if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
		t.Fatalf("scratch holds %d entries", len(ents))
	}
	_, stdout, _ = stewardRun(t, dir, "", "drill", "list", "--json")
	var recs []drills.Record
	if err := json.Unmarshal([]byte(stdout), &recs); err != nil || len(recs) != 2 {
		t.Fatalf("drill list: %v %s", err, stdout)
	}
	next, killed := recs[0], recs[1]
	if killed.DrillID != killedID || killed.Result != drills.ResultInterrupted || next.Result != drills.ResultPassed ||
		len(next.Leftovers) != 1 || next.Leftovers[0].Name != left || !next.Leftovers[0].Gone || next.Leftovers[0].Drill != killedID {
		t.Fatalf("records: killed %+v; next %+v", killed, next)
	}
	code, stdout, _ = stewardRun(t, dir, "", "drill", "show", next.DrillID, "--json")
	if code != 0 || !strings.Contains(stdout, `"leftovers_removed"`) {
		t.Fatalf("drill show --json: %d %s", code, stdout)
	}

	// The interrupted drill gets its report, saying so.
	code, stdout, errOut = stewardRun(t, dir, "", "--json", "drill", "report", killedID)
	var res map[string]string
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || res["result"] != drills.ResultInterrupted {
		t.Fatalf("drill report of the interrupted drill: %d %s%s", code, stdout, errOut)
	}
	text, err := exec.Command("pdftotext", "-layout", res["path"], "-").Output()
	if err != nil {
		t.Fatalf("pdftotext (poppler-utils from ./scripts/setup.sh): %v", err)
	}
	if norm := strings.Join(strings.Fields(string(text)), " "); !strings.Contains(norm, "総合結果 Overall result: 中断 / interrupted") ||
		!strings.Contains(norm, "the drill was interrupted before it finished") {
		t.Fatalf("the interrupted drill's report does not say so:\n%s", text)
	}
}
