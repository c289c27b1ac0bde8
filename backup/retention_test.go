package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"steward/internal/manifest"
	"steward/internal/resticx"
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
			m, sum, err := manifest.FromRepository(ctx, f.runner, r.Restic, d)
			if err != nil {
				t.Errorf("%s: manifest of kept snapshot %s: %v", repoName, d.ShortID, err)
				continue
			}
			want := map[string]string{first.ID: first.ManifestSHA256, third.ID: third.ManifestSHA256}[d.TagValue("run:")]
			if m.RunID != d.TagValue("run:") || sum != want {
				t.Errorf("%s: manifest of %s: run %s, SHA-256 %s; want run %s, %s", repoName, d.ShortID, m.RunID, sum, d.TagValue("run:"), want)
			}
		}
		f.resticByHand(t, repoName, "check")
	}
	f.tmpEmpty(t)
}
