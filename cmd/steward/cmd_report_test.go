package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"steward/app"
)

// capacityRepository is what the capacity report's JSON says of one
// repository, decoded on its own so that the test reads the figures the
// way the city would.
type capacityRepository struct {
	Name   string `json:"name"`
	Stored *struct {
		Snapshots int   `json:"snapshots"`
		Bytes     int64 `json:"bytes"`
	} `json:"stored"`
	Unreadable string `json:"unreadable"`
}

// reportCapacity runs `steward --json report capacity` and returns the
// PDF's path and the repositories' figures by name.
func reportCapacity(t *testing.T, dir string) (string, map[string]capacityRepository) {
	t.Helper()
	code, out, errOut := stewardRun(t, dir, "", "--json", "report", "capacity")
	if code != 0 {
		t.Fatalf("report capacity: %d %s%s", code, out, errOut)
	}
	var res struct {
		Path   string `json:"path"`
		Report struct {
			Repositories []capacityRepository `json:"repositories"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("report capacity --json: %v\n%s", err, out)
	}
	byName := map[string]capacityRepository{}
	for _, r := range res.Report.Repositories {
		byName[r.Name] = r
	}
	return res.Path, byName
}

// resticByHand runs restic on a configured repository with its password,
// outside Steward, and returns its stdout.
func resticByHand(t *testing.T, dir, name string, args ...string) []byte {
	t.Helper()
	a, err := app.Open(context.Background(), app.Options{ConfigPath: filepath.Join(dir, "steward.yaml"), LogLevel: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	repos, err := a.Repos(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repos.Resolve(name, true)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, r.Restic.Password.Reveal(), 0o600)
	cmd := exec.Command(a.Config.Restic.Path, append([]string{"--no-cache", "--json", "-r", r.Restic.Location, "--password-file", pw}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic %v on %s: %v", args, name, err)
	}
	return out
}

// TestCapacityReportReadsRepositories: the capacity report's repository
// figures are what the repositories hold, read with restic when the
// report is made: a primary and its replica each hold both runs'
// snapshots (the runs are recorded under the primary only). A repository
// that cannot be read is reported as such, not as empty.
func TestCapacityReportReadsRepositories(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk, replicas: [copy]}
`, filepath.Join(repoRoot(t), "bin", "restic"), data), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
		os.WriteFile(filepath.Join(data, "b.txt"), []byte("a second run with more data"), 0o644)
	}

	path, repos := reportCapacity(t, dir)
	for _, name := range []string{"disk", "copy"} {
		var snaps []json.RawMessage
		if err := json.Unmarshal(resticByHand(t, dir, name, "snapshots"), &snaps); err != nil {
			t.Fatal(err)
		}
		var stats struct {
			TotalSize int64 `json:"total_size"`
		}
		if err := json.Unmarshal(resticByHand(t, dir, name, "stats", "--mode", "raw-data"), &stats); err != nil {
			t.Fatal(err)
		}
		r := repos[name]
		if r.Stored == nil {
			t.Fatalf("%s: no figures read from the repository (unreadable: %q); restic lists %d snapshots", name, r.Unreadable, len(snaps))
		}
		if len(snaps) < 2 || r.Stored.Snapshots != len(snaps) || r.Stored.Bytes != stats.TotalSize {
			t.Errorf("%s: report says %d snapshots, %d bytes; restic by hand lists %d snapshots, %d bytes", name, r.Stored.Snapshots, r.Stored.Bytes, len(snaps), stats.TotalSize)
		}
	}
	// Read in reading order: the two labels are in a two-column statement.
	text, err := exec.Command("pdftotext", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext (poppler-utils from ./scripts/setup.sh): %v", err)
	}
	norm := strings.Join(strings.Fields(string(text)), " ")
	for _, want := range []string{"stored now", "added by backups this month"} {
		if !strings.Contains(norm, want) {
			t.Errorf("capacity report lacks %q:\n%s", want, text)
		}
	}

	// The replica's folder is gone: the report says it could not be read.
	if err := os.Rename(filepath.Join(dir, "state", "repositories", "copy"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	path, repos = reportCapacity(t, dir)
	if r := repos["copy"]; r.Stored != nil || r.Unreadable == "" {
		t.Fatalf("unreadable replica reported as %+v", r)
	}
	if repos["disk"].Stored == nil {
		t.Fatalf("primary not read: %+v", repos["disk"])
	}
	text, err = exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var copyRow string
	for _, l := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(l, "copy ") {
			copyRow = l
			break
		}
	}
	if strings.Count(copyRow, "読み取り不可") != 2 || !strings.Contains(string(text), "読み取り不可 / Unreadable") ||
		!strings.Contains(string(text), `copy: repository "copy": no restic repository`) {
		t.Errorf("the unreadable replica's row %q and reason do not say so:\n%s", copyRow, text)
	}
}
