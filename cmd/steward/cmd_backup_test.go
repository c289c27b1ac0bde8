package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"steward/backup"
	"steward/certs"
	"steward/internal/progress"
	"steward/internal/repo"
)

// TestBackupCommands drives repo init, backup run (dry run, text, JSON),
// snapshots and repo unlock through the CLI against a local repository.
func TestBackupCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
sources:
  - {name: docs, path: {path: %s}}
  - {name: gone, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk, replicas: [copy], retention: {keep_last: 2}}
  - {name: broken, sources: [gone], repository: disk}
`, filepath.Join(repoRoot(t), "bin", "restic"), data, filepath.Join(dir, "missing"))
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	if code, out, _ := stewardRun(t, dir, "", "repo", "init", "disk"); code != 0 || !strings.Contains(out, "disk: exists") {
		t.Fatalf("second repo init: %d %s", code, out)
	}
	code, out, errOut := stewardRun(t, dir, "", "backup", "run", "--job", "nightly", "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run, nothing written") || !strings.Contains(out, repo.LocalAttested) {
		t.Fatalf("dry run: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = stewardRun(t, dir, "", "backup", "run", "--job", "nightly")
	if code != 0 || !strings.Contains(out, "docs: snapshot") || !strings.Contains(out, "copy:ok") {
		t.Fatalf("backup run: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = stewardRun(t, dir, "", "--json", "backup", "run", "--job", "nightly")
	if code != 0 {
		t.Fatalf("backup run --json: %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first progress.Event
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Job != "nightly" {
		t.Fatalf("first JSON event %q: %v", lines[0], err)
	}
	if !strings.Contains(out, `"kind":"report"`) {
		t.Fatalf("no report in JSON output:\n%s", out)
	}
	code, out, _ = stewardRun(t, dir, "", "--json", "snapshots", "--job", "nightly")
	var lists []backup.SnapshotList
	if code != 0 || json.Unmarshal([]byte(out), &lists) != nil || len(lists) != 1 || len(lists[0].Snapshots) != 2 ||
		strings.Join(lists[0].Snapshots[0].Replicas, ",") != "copy" {
		t.Fatalf("snapshots: %d %s", code, out)
	}
	code, out, _ = stewardRun(t, dir, "", "snapshots")
	if code != 0 || !strings.Contains(out, "+09:00") || !strings.Contains(out, "docs") {
		t.Fatalf("snapshots table: %d %s", code, out)
	}
	if code, out, errOut := stewardRun(t, dir, "", "repo", "unlock", "disk"); code != 0 {
		t.Fatalf("unlock: %d %s%s", code, out, errOut)
	}
	code, _, errOut = stewardRun(t, dir, "", "backup", "run", "--job", "broken")
	if code != exitFailure || !strings.Contains(errOut, `source "gone"`) {
		t.Fatalf("broken job: %d %s", code, errOut)
	}
	code, _, errOut = stewardRun(t, dir, "", "backup", "run", "--job", "nope")
	if code != exitUsage || !strings.Contains(errOut, "--job") {
		t.Fatalf("unknown job: %d %s", code, errOut)
	}
	testCapacityReport(t, dir)
}

// testCapacityReport renders the month's capacity report from the runs the
// backup test made (two good runs of docs and one failed run of gone) and
// the repositories they left.
func testCapacityReport(t *testing.T, dir string) {
	code, out, errOut := stewardRun(t, dir, "", "--json", "report", "capacity")
	if code != 0 {
		t.Fatalf("report capacity: %d %s%s", code, out, errOut)
	}
	var res struct {
		Path, SHA256 string
		Report       certs.CapacityReport
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	byName := map[string]certs.SourceCapacity{}
	for _, s := range res.Report.Sources {
		byName[s.Name] = s
	}
	if d := byName["docs"]; d.Backups.Runs != 2 || d.Backups.Failed != 0 || d.Backups.Bytes != 10 || len(d.Volume) != 1 || d.Volume[0].Bytes != 5 {
		t.Fatalf("docs capacity %+v", d)
	}
	if g := byName["gone"]; g.Backups.Runs != 1 || g.Backups.Failed != 1 {
		t.Fatalf("gone capacity %+v", g)
	}
	// Both repositories hold the two data snapshots retention kept (read
	// from restic); only the primary has data added by the month's runs.
	if r := res.Report.Repositories; len(r) != 2 || r[0].Stored == nil || r[1].Stored == nil ||
		r[0].Stored.DataSnapshots != 2 || r[1].Stored.DataSnapshots != 2 || len(r[0].Added) != 1 || len(r[1].Added) != 0 {
		t.Fatalf("repositories %+v", r)
	}
	sig, err := exec.Command("pdfsig", res.Path).CombinedOutput()
	if err != nil && !strings.Contains(string(sig), "Signature is Valid") {
		t.Fatalf("pdfsig (install poppler-utils with ./scripts/setup.sh): %v %s", err, sig)
	}
	if !strings.Contains(string(sig), "Signature is Valid.") || !strings.Contains(string(sig), "Total document signed") {
		t.Fatalf("pdfsig: %s", sig)
	}
	if code, _, _ := stewardRun(t, dir, "", "report", "capacity", "--month", "April"); code != exitUsage {
		t.Fatalf("bad --month: exit %d", code)
	}
}

// TestFilesCountSaysWhatItCounts: the FILES of the backup report and of
// `steward snapshots` is one number, restic's count of regular files, and
// both commands' help say so: a tree of two regular files, a symlink, an
// empty directory and a subdirectory has 2 files in both.
func TestFilesCountSaysWhatItCounts(t *testing.T) {
	for _, args := range [][]string{{"snapshots", "--help"}, {"backup", "run", "--help"}} {
		code, out, _ := stewardRun(t, t.TempDir(), "", args...)
		text := strings.ToLower(strings.Join(strings.Fields(out), " "))
		if code != 0 || !strings.Contains(text, `files (json "files")`) || !strings.Contains(text, "regular files") ||
			!strings.Contains(text, "symlinks, directories and special files are not counted") {
			t.Errorf("%v does not say what FILES counts:\n%s", args, out)
		}
	}

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o755)
	os.MkdirAll(filepath.Join(data, "empty"), 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(data, "sub", "b.txt"), []byte("world"), 0o644)
	if err := os.Symlink("a.txt", filepath.Join(data, "link")); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
`, filepath.Join(repoRoot(t), "bin", "restic"), data)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out, errOut := stewardRun(t, dir, "", "--json", "backup", "run")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var rep struct{ Report backup.Report }
	if code != 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &rep) != nil || len(rep.Report.Runs) != 1 {
		t.Fatalf("backup run: %d\n%s%s", code, out, errOut)
	}
	if n := rep.Report.Runs[0].Files; n != 2 {
		t.Errorf("backup report: %d files, want 2 (the regular files)", n)
	}
	code, out, _ = stewardRun(t, dir, "", "--json", "snapshots")
	var lists []backup.SnapshotList
	if code != 0 || json.Unmarshal([]byte(out), &lists) != nil || len(lists) != 1 || len(lists[0].Snapshots) != 1 {
		t.Fatalf("snapshots: %d %s", code, out)
	}
	if n := lists[0].Snapshots[0].Files; n != 2 {
		t.Errorf("snapshots: %d files, want 2 (the regular files)", n)
	}
}
