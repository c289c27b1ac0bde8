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

// diskFullBound is how long a command may take to fail on a full disk:
// a full disk is an immediate error, never a wait.
const diskFullBound = 30 * time.Second

// fillDiskBut fills the disk at dir but for about spare bytes, and
// returns the filler to remove to free the disk again.
func fillDiskBut(t *testing.T, dir string, spare int) string {
	t.Helper()
	reserve := filepath.Join(dir, "reserve")
	if spare > 0 {
		if err := os.WriteFile(reserve, make([]byte, spare), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	filler := testenv.FillDisk(t, dir)
	os.Remove(reserve)
	return filler
}

// TestRepositoryDiskFull: with local repositories (a primary and a
// replica) on a small disk that is full, a backup fails in time naming the
// repository and its full disk, records no success and keeps every
// snapshot (restic check clean); a drill whose scratch directory is on the
// full disk fails naming the scratch and removes what it wrote; a recovery
// kit fails leaving no kit and no escrow key; and once space is freed each
// completes. Erase, which only removes data, completes on the full disk.
// Local repositories only: the fault is the disk's, and a full S3 server
// is the server's own matter.
func TestRepositoryDiskFull(t *testing.T) {
	testenv.SmallDisk(t, 24<<20, func(disk string) {
		dir := t.TempDir()
		data := filepath.Join(dir, "data")
		testenv.WriteFiles(t, data, 3, 1<<20)
		officer, _ := age.GenerateX25519Identity()
		locations := map[string]string{"tokyo": filepath.Join(disk, "tokyo"), "copy": filepath.Join(disk, "copy"), "home": filepath.Join(dir, "state", "repositories", "home")}
		scratch := filepath.Join(disk, "scratch")
		os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: tokyo, local: {path: %s}}
  - {name: copy, local: {path: %s}}
  - {name: home, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: tokyo}
  - {name: mirror, sources: [docs], repository: home, replicas: [copy]}
drills: {read_data_subsets: 1, scratch: {dir: %s}}
recovery: {recipients: [%s]}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
`, filepath.Join(repoRoot(t), "bin", "restic"), locations["tokyo"], locations["copy"], data, scratch, officer.Recipient()), 0o600)
		run := func(args ...string) string {
			t.Helper()
			code, out, errOut := stewardRun(t, dir, "", args...)
			if code != 0 {
				t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
			}
			return out
		}
		fails := func(names []string, args ...string) string {
			t.Helper()
			return failsInTime(t, dir, "on a full disk", diskFullBound, names, args...)
		}
		snapshots := func(name string) int {
			return strings.Count(plainResticAt(t, dir, name, locations[name], "snapshots", "--json"), `"id"`)
		}
		check := func() {
			t.Helper()
			for name, loc := range locations {
				plainResticAt(t, dir, name, loc, "check")
			}
		}
		run("init")
		run("repo", "init")
		run("backup", "run", "--job", "nightly")
		run("backup", "run", "--job", "mirror")
		okRuns := func() int { return readRecords(t, dir, "nightly").backupsOK + readRecords(t, dir, "mirror").backupsOK }
		before, snaps, copies := okRuns(), snapshots("tokyo"), snapshots("copy")
		testenv.WriteFiles(t, filepath.Join(data, "new"), 2, 1<<20)

		// The primary's disk is full.
		filler := fillDiskBut(t, disk, 0)
		fails([]string{`repository "tokyo"`, "disk is full", "free space"}, "backup", "run", "--job", "nightly")
		// The replica's disk is full: the primary (another disk) is saved.
		fails([]string{`repository "copy"`, "disk is full", "free space"}, "backup", "run", "--job", "mirror")
		if got := okRuns(); got != before {
			t.Errorf("%d successful backups recorded on a full disk, want %d", got, before)
		}
		os.Remove(filler)
		check()
		if got, got2 := snapshots("tokyo"), snapshots("copy"); got != snaps || got2 != copies {
			t.Errorf("snapshots after the full disk: tokyo %d (had %d), copy %d (had %d)", got, snaps, got2, copies)
		}
		run("backup", "run", "--job", "nightly")
		run("backup", "run", "--job", "mirror")
		if got := okRuns(); got != before+2 {
			t.Errorf("%d successful backups after freeing space, want %d", got, before+2)
		}

		// The daemon: its scheduled backups fail while the repository's
		// disk is full, naming it, and complete once space is freed.
		cfgPath := filepath.Join(dir, "steward.yaml")
		cfg, _ := os.ReadFile(cfgPath)
		os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), "repository: tokyo}", "repository: tokyo, schedule: \"*/2 * * * * *\"}", 1)), 0o600)
		filler = fillDiskBut(t, disk, 0)
		ok := readRecords(t, dir, "nightly").backupsOK
		d := startServe(t, dir, nil)
		d.waitUntil(t, "a scheduled backup failing on the full disk", diskFullBound, func() bool {
			return strings.Contains(d.out.String(), `disk is full: repository \"tokyo\"`)
		})
		if got := readRecords(t, dir, "nightly").backupsOK; got != ok {
			t.Errorf("the daemon recorded %d ok backups on a full repository disk, want %d", got, ok)
		}
		os.Remove(filler)
		d.waitUntil(t, "a scheduled backup once space is freed", 30*time.Second, func() bool {
			return readRecords(t, dir, "nightly").backupsOK > ok
		})
		if code := d.stop(t, 30*time.Second); code != 0 {
			t.Errorf("serve exit %d:\n%s", code, d.out.String())
		}
		os.WriteFile(cfgPath, cfg, 0o600)
		check()

		// A restore (into another disk) from the repository on the full
		// disk: restic cannot even lock it.
		restored := filepath.Join(dir, "restored")
		filler = fillDiskBut(t, disk, 0)
		fails([]string{`repository "tokyo"`, "disk is full", "free space"}, "restore", "--job", "nightly", "--to", restored)
		if n := countFiles(restored); n > 0 {
			t.Errorf("the failed restore left %d files", n)
		}
		os.Remove(filler)
		run("restore", "--job", "nightly", "--to", restored)
		if n := countFiles(restored); n != 5 {
			t.Errorf("the restore once space was freed wrote %d files, want 5", n)
		}

		// The drill's scratch has room for part of the restore only.
		passed := readRecords(t, dir, "nightly").drillsPassed
		filler = fillDiskBut(t, disk, 1<<20)
		fails([]string{scratch, "disk is full"}, "drill", "run", "--job", "nightly")
		if ents, err := os.ReadDir(scratch); err == nil && len(ents) > 0 {
			t.Errorf("the failed drill left %d entries in its scratch", len(ents))
		}
		if got := readRecords(t, dir, "nightly").drillsPassed; got != passed {
			t.Errorf("%d passed drills on a full scratch disk, want %d", got, passed)
		}
		os.Remove(filler)
		run("drill", "run", "--job", "nightly")

		// The recovery kit: the repositories' disk (and the kit's) is full.
		kit := filepath.Join(disk, "kit.age")
		keys := func() (n int) {
			for _, loc := range locations {
				ents, _ := os.ReadDir(filepath.Join(loc, "keys"))
				n += len(ents)
			}
			return n
		}
		keysBefore := keys()
		filler = fillDiskBut(t, disk, 0)
		fails([]string{"disk is full"}, "recovery", "kit", "--to", kit)
		if _, err := os.Stat(kit); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the failed kit left its file: %v", err)
		}
		if got := keys(); got != keysBefore {
			t.Errorf("%d key files after the failed kit, want %d", got, keysBefore)
		}
		os.Remove(filler)
		check()
		run("recovery", "kit", "--to", kit)
		if _, err := openKit(t, kit, officer); err != nil {
			t.Errorf("the kit written once space was freed: %v", err)
		}

		// Erase removes data only: it completes on a full disk.
		id := strings.Fields(run("erase", "plan", "--as", "alice"))[2]
		run("erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "kept by the city")
		time.Sleep(1100 * time.Millisecond) // the cooling-off
		filler = fillDiskBut(t, disk, 0)
		out := run("erase", "execute", id, "--as", "alice")
		if !strings.Contains(out, "deletion certificate DC-") {
			t.Errorf("erase on a full disk:\n%s", out)
		}
		for name, loc := range locations {
			if _, err := os.Stat(loc); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("repository %s is still there after erasure: %v", name, err)
			}
		}
		os.Remove(filler)
		run("audit", "verify")
	})
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}
