package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"steward/internal/config"
	"steward/internal/manifest"
	"steward/internal/resticx"
	"steward/internal/testenv"
)

// etcZone is the tz database name of the fixed zone UTC+hours
// (Etc/GMT-9 is UTC+9: the sign is POSIX's).
func etcZone(hours int) string {
	switch {
	case hours > 0:
		return fmt.Sprintf("Etc/GMT-%d", hours)
	case hours < 0:
		return fmt.Sprintf("Etc/GMT+%d", -hours)
	}
	return "Etc/GMT"
}

// twoDays returns two fixed zones in which restic (which stamps a snapshot
// with the local time of its process) dates snapshots taken now on two
// different calendar days: in later it is about noon, so the snapshots
// taken in it within the next hours fall on the same day; in earlier it
// is 13 hours before or after that, on another day.
func twoDays(now time.Time) (earlier, later string) {
	l := 12 - now.UTC().Hour() // -11 … 12
	e := l - 13
	if e < -12 {
		e = l + 13
	}
	return etcZone(e), etcZone(l)
}

// TestRetentionKeepsManifestsOfKeptSnapshots: run 1 (changed) writes its
// manifest snapshot; run 2 (unchanged) reuses it (tag manifest:<id>);
// run 3 (changed) writes a new one. Run 1 is dated a day before runs 2
// and 3, so keep_daily keeps runs 1 and 3 and forgets run 2. Run 1's
// manifest snapshot must stay, in the primary and in the replica: it is
// the companion of a kept snapshot, even though the only snapshot that
// named it by tag is forgotten. After retention, every kept data snapshot
// has its manifest snapshot, found the way a drill finds it.
func TestRetentionKeepsManifestsOfKeptSnapshots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 6, 4<<10)
	body := fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: disk, replicas: [copy], retention: {keep_daily: 7, keep_weekly: 4, keep_monthly: 6}}
`, files)
	f := newFixture(t, dir, body, nil)
	for _, r := range []string{"disk", "copy"} {
		if err := f.repos.Init(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	run := func() RunRecord {
		t.Helper()
		rep, err := f.eng.Run(ctx, RunOptions{Job: "j"})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Runs[0]
	}

	dayOne, dayTwo := twoDays(time.Now())
	t.Setenv("TZ", dayOne) // restic inherits TZ (resticx's base environment)
	first := run()
	t.Setenv("TZ", dayTwo)
	second := run()
	if err := os.WriteFile(filepath.Join(files, "d0", "f000.bin"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := run()
	if first.ManifestReused || !second.ManifestReused || second.ManifestID != first.ManifestID || third.ManifestReused {
		t.Fatalf("runs: first %+v\nsecond %+v\nthird %+v", first, second, third)
	}

	for _, repoName := range []string{"disk", "copy"} {
		// The scenario: restic kept runs 1 and 3 and forgot run 2.
		var runs []string
		data := f.dataSnapshots(t, repoName)
		for _, s := range data {
			runs = append(runs, s.TagValue("run:"))
		}
		slices.Sort(runs)
		if want := []string{first.ID, third.ID}; !slices.Equal(runs, want) {
			t.Fatalf("%s: data snapshots of runs %v, want %v (zones %s, %s)", repoName, runs, want, dayOne, dayTwo)
		}
		// Listed by hand, each kept data snapshot still has its
		// manifest snapshot: its run's companion.
		var manifests []resticx.Snapshot
		for _, s := range f.allSnapshots(t, repoName) {
			if slices.Contains(s.Tags, TagManifest) {
				manifests = append(manifests, s)
			}
		}
		if len(manifests) != 2 {
			t.Errorf("%s: %d manifest snapshots, want 2 (runs 1 and 3): %+v", repoName, len(manifests), manifests)
		}
		for _, d := range data {
			if !slices.ContainsFunc(manifests, func(m resticx.Snapshot) bool { return m.TagValue("run:") == d.TagValue("run:") }) {
				t.Errorf("%s: data snapshot %s (run %s) has no manifest snapshot; manifest snapshots left: %d", repoName, d.ShortID, d.TagValue("run:"), len(manifests))
			}
		}
		// A drill finds it.
		r, err := f.repos.Resolve(repoName, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range data {
			m, err := manifest.FromRepository(ctx, f.runner, r.Restic, d, t.TempDir())
			if err != nil {
				t.Errorf("%s: manifest of kept snapshot %s: %v", repoName, d.ShortID, err)
				continue
			}
			want := map[string]string{first.ID: first.ManifestSHA256, third.ID: third.ManifestSHA256}[d.TagValue("run:")]
			m.Close()
			if m.RunID != d.TagValue("run:") || m.SHA256 != want {
				t.Errorf("%s: manifest of %s: run %s, SHA-256 %s; want run %s, %s", repoName, d.ShortID, m.RunID, m.SHA256, d.TagValue("run:"), want)
			}
		}
		f.resticByHand(t, repoName, "check")
	}
	f.tmpEmpty(t)
}

// TestKeepFlags: each keep_* of a job's retention becomes its restic
// forget flag, and a job that keeps everything gives none.
func TestKeepFlags(t *testing.T) {
	tests := []struct {
		name string
		r    config.Retention
		want []string
	}{
		{"keeps everything", config.Retention{}, nil},
		{"every kind", config.Retention{KeepLast: 1, KeepDaily: 2, KeepWeekly: 3, KeepMonthly: 4, KeepYearly: 5, KeepWithin: config.Duration(30 * 24 * time.Hour)},
			[]string{"--keep-last", "1", "--keep-daily", "2", "--keep-weekly", "3", "--keep-monthly", "4", "--keep-yearly", "5", "--keep-within", "720h"}},
		{"keep_within alone", config.Retention{KeepWithin: config.Duration(24 * time.Hour)}, []string{"--keep-within", "24h"}},
		{"keep_within rounds up to whole hours", config.Retention{KeepWithin: config.Duration(90 * time.Minute)}, []string{"--keep-within", "2h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keepFlags(tt.r); !slices.Equal(got, tt.want) {
				t.Fatalf("keepFlags(%+v) = %q, want %q", tt.r, got, tt.want)
			}
		})
	}
}

// TestKeepWithinForgetsOlderSnapshots: a keep_within the config accepts
// (it ends before the contract does) reaches restic: of a snapshot dated
// years back and one taken now, retention forgets the old one, and only
// it.
func TestKeepWithinForgetsOlderSnapshots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 3, 4<<10)
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: disk, retention: {keep_within: 1d}}
`, files), nil)
	job, _ := f.cfg.Job("j")
	if got, want := keepFlags(job.Retention), []string{"--keep-within", "24h"}; !slices.Equal(got, want) {
		t.Fatalf("keep_within: 1d gives flags %q, want %q", got, want)
	}
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	first, err := f.eng.Run(ctx, RunOptions{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"disk: kept all snapshots"}; !slices.Equal(first.Retention, want) {
		t.Fatalf("first run's retention %q, want %q", first.Retention, want)
	}
	// The first snapshot, dated back to 2020 (restic keeps its tags).
	f.resticByHand(t, "disk", "rewrite", "--forget", "--new-time", "2020-01-01 00:00:00", first.Runs[0].SnapshotID)
	old := f.dataSnapshots(t, "disk")
	if len(old) != 1 || old[0].Time.Year() != 2020 || old[0].TagValue("run:") != first.Runs[0].ID {
		t.Fatalf("after dating it back: %+v", old)
	}

	second, err := f.eng.Run(ctx, RunOptions{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"disk: forgot 1 snapshot(s) and pruned"}; !slices.Equal(second.Retention, want) {
		t.Fatalf("second run's retention %q, want %q", second.Retention, want)
	}
	kept := f.dataSnapshots(t, "disk")
	if len(kept) != 1 || kept[0].ID != second.Runs[0].SnapshotID {
		t.Fatalf("data snapshots after retention %+v, want only the second run's %s", kept, second.Runs[0].SnapshotID)
	}
	if n := testenv.AuditCount(t, f.store, "backup.retention", "ok"); n != 1 {
		t.Fatalf("%d backup.retention/ok audit records, want 1", n)
	}
	f.resticByHand(t, "disk", "check")
	f.tmpEmpty(t)
}
