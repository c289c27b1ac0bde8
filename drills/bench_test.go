package drills

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"steward/internal/manifest"
	"steward/restore"
)

// BenchmarkP5VerifyHashing (P5): the drill's verification hashing against
// `sha256sum` over the same restored files, in the same invocation. The
// files are backed up and restored with restic into a scratch dir first;
// both hashers then read them from the page cache (each is run once
// before timing). Reported: MB/s of each and ratio = drill / sha256sum
// (target ≥ 0.9). STEWARD_P5_MB (default 256) and STEWARD_P5_FILES
// (default 64) size the tree.
func BenchmarkP5VerifyHashing(b *testing.B) {
	mb, files := envInt("STEWARD_P5_MB", 256), envInt("STEWARD_P5_FILES", 64)
	ctx := context.Background()
	dir := b.TempDir()
	src := filepath.Join(dir, "files")
	writeFiles(b, src, files, mb<<20/files)
	f := newFixture(b, dir, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: disk}
`, src))
	if err := f.repos.Init(ctx, "disk"); err != nil {
		b.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		b.Fatal(err)
	}
	restored := filepath.Join(dir, "restored")
	if _, err := f.d.rst.Run(ctx, restore.Options{Job: "j", To: restore.Target{Dir: restored}}); err != nil {
		b.Fatal(err)
	}
	var paths []string
	var total int64
	filepath.Walk(restored, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			paths = append(paths, p)
			total += info.Size()
		}
		return nil
	})
	sha256sum := func() time.Duration {
		start := time.Now()
		cmd := exec.Command("sha256sum", append([]string{"--"}, paths...)...)
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// The drill hashes as the manifests it checks do (BLAKE3 since v2).
	_, newHash := (&manifest.Manifest{Format: manifest.Format}).FileHash()
	drill := func() time.Duration {
		start := time.Now()
		got, err := hashTree(ctx, restored, 0, newHash)
		if err != nil || len(got) != len(paths) {
			b.Fatalf("hashTree: %d files, %v", len(got), err)
		}
		return time.Since(start)
	}
	sha256sum() // warm the page cache
	drill()
	var tSum, tDrill time.Duration
	b.ResetTimer()
	for b.Loop() {
		tSum += sha256sum()
		tDrill += drill()
	}
	b.StopTimer()
	rate := func(d time.Duration) float64 { return float64(total) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(rate(tSum), "sha256sum-MB/s")
	b.ReportMetric(rate(tDrill), "drill-MB/s")
	b.ReportMetric(tSum.Seconds()/tDrill.Seconds(), "ratio")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
