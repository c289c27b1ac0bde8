package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNothingRunsAfterTheContractEnds: once the contract's end date has
// passed, backups and drills are refused (exit 1, nothing written) with a
// message that says the data is to be erased (req 23).
func TestNothingRunsAfterTheContractEnds(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	cfg := `contract: {id: T-1, customer: City, service: s, end_date: %s}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
`
	write := func(end string) {
		os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(cfg, end, filepath.Join(repoRoot(t), "bin", "restic"), data)), 0o600)
	}
	write("2099-03-31")
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	write("2020-01-31")
	for _, args := range [][]string{{"backup", "run"}, {"backup", "run", "--dry-run"}, {"drill", "run"}} {
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != exitFailure || !strings.Contains(errOut, "ended on 2020-01-31") || !strings.Contains(errOut, "erase") {
			t.Errorf("%v after the contract end: exit %d, want %d and a message pointing at erasure\n%s%s", args, code, exitFailure, out, errOut)
		}
	}
	_, out, _ := stewardRun(t, dir, "", "snapshots", "--json")
	if strings.Count(out, `"short_id"`) != 1 {
		t.Errorf("a refused backup wrote a snapshot: %s", out)
	}
}
