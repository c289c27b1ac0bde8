package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"steward/internal/testenv"
)

// TestStateDiskFullDuringRuns: with the state dir (catalog, audit log,
// restic's cache) on a small disk that is full, a backup, a drill, a
// recovery kit, an erasure and the daemon's scheduled backup each fail in
// time before claiming anything, naming the state dir and saying to free
// space: no run is recorded ok, no kit or escrow key is left, the
// repositories (on another disk) stay clean for restic check. Once space
// is freed, the same commands complete and the audit log verifies. Local
// repositories only: the fault is the state dir's disk.
func TestStateDiskFullDuringRuns(t *testing.T) {
	testenv.Heavy(t)
	testenv.SmallDisk(t, 24<<20, func(disk string) {
		dir := disk
		elsewhere := t.TempDir()
		data := filepath.Join(elsewhere, "data")
		testenv.WriteFiles(t, data, 3, 100<<10)
		officer, _ := age.GenerateX25519Identity()
		locations := map[string]string{"disk": filepath.Join(elsewhere, "disk"), "copy": filepath.Join(elsewhere, "copy")}
		cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {path: %s}}
  - {name: copy, local: {path: %s}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk, replicas: [copy]}
drills: {read_data_subsets: 1}
recovery: {recipients: [%s]}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
`, filepath.Join(repoRoot(t), "bin", "restic"), locations["disk"], locations["copy"], data, officer.Recipient())
		os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
		run := func(args ...string) string {
			t.Helper()
			code, out, errOut := stewardRun(t, dir, "", args...)
			if code != 0 {
				t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
			}
			return out
		}
		names := []string{"disk is full", filepath.Join(dir, "state"), "free space"}
		fails := func(args ...string) {
			t.Helper()
			failsInTime(t, dir, "on a full state disk", diskFullBound, names, args...)
		}
		check := func() {
			t.Helper()
			for name, loc := range locations {
				plainResticAt(t, dir, name, loc, "check")
			}
		}
		run("init")
		run("repo", "init")
		run("backup", "run")
		rec := readRecords(t, dir, "nightly")

		filler := fillDiskBut(t, disk, 0)
		fails("backup", "run")
		fails("drill", "run")
		restored := filepath.Join(elsewhere, "restored")
		fails("restore", "--to", restored)
		if n := countFiles(restored); n > 0 {
			t.Errorf("the failed restore left %d files", n)
		}
		kit := filepath.Join(elsewhere, "kit.age")
		keys := func() (n int) {
			for _, loc := range locations {
				ents, _ := os.ReadDir(filepath.Join(loc, "keys"))
				n += len(ents)
			}
			return n
		}
		keysBefore := keys()
		fails("recovery", "kit", "--to", kit)
		if _, err := os.Stat(kit); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the failed kit left its file: %v", err)
		}
		if got := keys(); got != keysBefore {
			t.Errorf("%d key files after the failed kit, want %d", got, keysBefore)
		}
		os.Remove(filler)
		if got := readRecords(t, dir, "nightly"); got.backupsOK != rec.backupsOK || got.drillsPassed != rec.drillsPassed {
			t.Errorf("on a full state disk: %d ok backups, %d passed drills recorded; want %d, %d", got.backupsOK, got.drillsPassed, rec.backupsOK, rec.drillsPassed)
		}
		check()
		run("backup", "run")
		run("drill", "run")
		run("restore", "--to", restored)
		if n := countFiles(restored); n != 3 {
			t.Errorf("the restore once space was freed wrote %d files, want 3", n)
		}
		run("recovery", "kit", "--to", kit)
		run("audit", "verify")
		rec = readRecords(t, dir, "nightly")

		// The daemon: started on the full disk, it refuses to start,
		// saying why; started with space, its scheduled backups fail
		// while the disk is full and complete once space is freed.
		os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(strings.Replace(cfg, "replicas: [copy]}", "replicas: [copy], schedule: \"*/2 * * * * *\"}", 1)), 0o600)
		filler = fillDiskBut(t, disk, 0)
		d := startServe(t, dir, nil)
		select {
		case <-d.exited:
		case <-time.After(diskFullBound):
			t.Fatalf("serve on a full state disk still running after %s:\n%s", diskFullBound, d.out.String())
		}
		for _, want := range names {
			if code := d.cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(d.out.String(), want) {
				t.Errorf("serve on a full state disk: exit %d, output lacks %q:\n%s", code, want, d.out.String())
			}
		}
		os.Remove(filler)
		d = startServe(t, dir, nil)
		d.waitUntil(t, "a scheduled backup", 30*time.Second, func() bool {
			return readRecords(t, dir, "nightly").backupsOK > rec.backupsOK
		})
		// (The catalog is not read meanwhile: the daemon's write-ahead
		// log holds changes that a reader on a full disk cannot see.)
		filler = fillDiskBut(t, disk, 0)
		mark := len(d.out.String())
		d.waitUntil(t, "a scheduled backup failing on the full disk", diskFullBound, func() bool {
			return strings.Contains(d.out.String()[mark:], "disk is full")
		})
		os.Remove(filler)
		rec = readRecords(t, dir, "nightly")
		d.waitUntil(t, "a scheduled backup once space is freed", 30*time.Second, func() bool {
			return readRecords(t, dir, "nightly").backupsOK > rec.backupsOK
		})
		if code := d.stop(t, 30*time.Second); code != 0 {
			t.Errorf("serve exit %d:\n%s", code, d.out.String())
		}
		os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
		check()

		// Erasure: the plan is approved; execute on the full disk
		// changes nothing.
		id := strings.Fields(run("erase", "plan", "--as", "alice"))[2]
		run("erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "kept by the city")
		time.Sleep(1100 * time.Millisecond) // the cooling-off
		filler = fillDiskBut(t, disk, 0)
		fails("erase", "execute", id, "--as", "alice")
		for name, loc := range locations {
			if _, err := os.Stat(filepath.Join(loc, "config")); err != nil {
				t.Errorf("repository %s was touched by the failed erase: %v", name, err)
			}
		}
		os.Remove(filler)
		check()
		if out := run("erase", "execute", id, "--as", "alice"); !strings.Contains(out, "deletion certificate DC-") {
			t.Errorf("erase once space is freed:\n%s", out)
		}
		run("audit", "verify")
	})
}
