package drills

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/clock"
	"steward/internal/testenv"
)

// TestS3RepositoryAndRandomSnapshot drills a path source whose job's
// primary repository is on versitygw, then --snapshot random: with four
// snapshots, the oldest outside drills.random_window (the drill's clock
// is set forward), random drills take only snapshots within the window,
// uniformly among them, and more than one of them; a window with no
// snapshot fails the drill naming drills.random_window.
func TestS3RepositoryAndRandomSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "repo")
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 3, 500)
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - name: tokyo%s
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: tokyo}
drills:
  random_window: 1h
  read_data_subsets: 2
`, s3YAML(t, dir, s3, "repo"), files))
	if err := f.repos.Init(ctx, "tokyo"); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		os.WriteFile(filepath.Join(files, "n.txt"), []byte(fmt.Sprint("backup ", i)), 0o644)
		if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := f.d.rst.Resolve(ctx, "j", "files")
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := f.d.rst.Snapshots(ctx, rs)
	if err != nil || len(snaps) != 4 || !snaps[0].Time.Before(snaps[1].Time) {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	noScratch := func(t *testing.T) {
		t.Helper()
		if ents, _ := os.ReadDir(f.cfg.Drills.Scratch.Dir); len(ents) > 0 {
			t.Fatalf("scratch dir holds %s", ents[0].Name())
		}
	}

	t.Run("a path source from an S3 repository", func(t *testing.T) {
		recs, err := f.d.Run(ctx, RunOptions{Job: "j", Snapshot: "latest"})
		if err != nil || len(recs) != 1 {
			t.Fatalf("drill: %v %+v", err, recs)
		}
		r := recs[0]
		if r.Result != ResultPassed || r.Repository != "tokyo" || r.SnapshotID != snaps[3].ID || r.Manifest.Count != 4 ||
			r.ReadDataSubset != (Subset{K: 1, N: 2}) || !strings.Contains(r.RepositoryResidency, "ap-northeast-1") {
			t.Fatalf("record %+v", r)
		}
		if i := slices.IndexFunc(r.Steps, func(s Step) bool { return s.Name == StepVerify }); i < 0 || r.Steps[i].Result != ResultPassed {
			t.Fatalf("steps %+v", r.Steps)
		}
		noScratch(t)
		// The repository really is the bucket.
		if _, err := s3.Client(t).StatObject(ctx, "repo", "config", minio.StatObjectOptions{}); err != nil {
			t.Fatalf("the repository's config is not in the bucket: %v", err)
		}
	})

	// The drill's clock stands one window after the middle of the first
	// two snapshots: the first is outside the window, three are inside.
	loc := f.d.clock.Location()
	defer func(c *clock.Zoned, p func(int) int) { f.d.clock, f.d.pick = c, p }(f.d.clock, f.d.pick)
	window := f.cfg.Drills.RandomWindow.D()

	t.Run("random: within the window, uniformly, more than one", func(t *testing.T) {
		mid := snaps[0].Time.Add(snaps[1].Time.Sub(snaps[0].Time) / 2)
		f.d.clock = clock.New(loc, clock.NewFake(mid.Add(window)))
		rng := mrand.New(mrand.NewPCG(4, 1))
		var among []int
		f.d.pick = func(n int) int { among = append(among, n); return rng.IntN(n) }
		inWindow := []string{snaps[1].ID, snaps[2].ID, snaps[3].ID}
		chosen := map[string]int{}
		for range 5 {
			recs, err := f.d.Run(ctx, RunOptions{Job: "j", Snapshot: "random"})
			if err != nil {
				t.Fatalf("drill: %v", err)
			}
			r := recs[0]
			if !slices.Contains(inWindow, r.SnapshotID) || r.SnapshotChoice != "random" || r.RPO.Actual > window {
				t.Fatalf("chose %s (choice %s, RPO %v); within the window: %v", r.SnapshotID, r.SnapshotChoice, r.RPO.Actual, inWindow)
			}
			chosen[r.SnapshotID]++
		}
		// Uniform: every pick was among exactly the three in the window.
		if !slices.Equal(among, []int{3, 3, 3, 3, 3}) {
			t.Fatalf("picked among %v", among)
		}
		if len(chosen) < 2 {
			t.Fatalf("five random drills all chose %v", chosen)
		}
		noScratch(t)
	})

	t.Run("random: no snapshot within the window", func(t *testing.T) {
		f.d.clock = clock.New(loc, clock.NewFake(snaps[3].Time.Add(2*window)))
		recs, err := f.d.Run(ctx, RunOptions{Job: "j", Snapshot: "random"})
		if !errors.Is(err, ErrDrillFailed) || !strings.Contains(err.Error(), "no snapshot within drills.random_window (1h0m0s") {
			t.Fatalf("drill: %v", err)
		}
		r := recs[0]
		restored := slices.ContainsFunc(r.Steps, func(s Step) bool { return s.Name == StepRestore })
		if r.Result != ResultFailed || restored || r.Steps[0].Name != StepChooseSnapshot || r.Steps[0].Result != ResultFailed ||
			!strings.Contains(r.Steps[0].Detail, "drills.random_window") || !strings.Contains(r.Steps[0].Detail, short(snaps[3].ID)) ||
			len(r.Scratch) != 0 || r.Cleanup.Result != ResultPassed {
			t.Fatalf("record %+v", r)
		}
		noScratch(t)
	})
}
