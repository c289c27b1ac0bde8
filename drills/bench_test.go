package drills

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"steward/internal/manifest"
	"steward/restore"
)

// BenchmarkP5VerifyHashing (P5): the drill's verification hashing,
// measured in one invocation against what bounds it on the same restored
// files:
//   - the physical limit of reading them: reading every file on one
//     goroutine per CPU with no hashing, and `cat` to /dev/null (one
//     process), each with the page cache warm, and cold (caches dropped
//     before each read: root only; skipped, and said, otherwise);
//   - b3sum-equivalent parallel hashing: plain BLAKE3 over every file on
//     one goroutine per CPU, with none of the drill's bookkeeping;
//   - for the SHA-256 path that v1 manifests still use: `sha256sum` (one
//     process) and plain SHA-256 on every CPU.
//
// Reported as MB/s and ratios (each ratio = that baseline's time / the
// drill's: 1.0 means the drill is as fast as the baseline). The files are
// backed up and restored with restic into a scratch dir first.
// STEWARD_P5_MB (default 256) and STEWARD_P5_FILES (default 64) size the
// tree.
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
	timed := func(fn func()) time.Duration { start := time.Now(); fn(); return time.Since(start) }
	command := func(name string) func() {
		return func() {
			cmd := exec.Command(name, append([]string{"--"}, paths...)...)
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	// The drill's own verification: the manifest streamed from its spool
	// and merged with the walk of the restored tree (with format v1 it
	// hashes with SHA-256; its content check then fails, its cost is
	// what is measured).
	snaps, err := f.store.JobSnapshots(ctx, "j")
	if err != nil || len(snaps) == 0 {
		b.Fatalf("snapshots: %v", err)
	}
	loaded, err := manifest.FromCatalog(ctx, f.store, snaps[0].SnapshotID, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer loaded.Close()
	drillWith := func(format string) func() {
		return func() {
			loaded.Format = format
			checks, err := verifyFiles(ctx, restored, loaded, 0)
			if err != nil || checks[0].Result != ResultPassed || loaded.Count != int64(len(paths)) {
				b.Fatalf("verifyFiles of %d files: %+v, %v", len(paths), checks, err)
			}
		}
	}
	parallel := func(newHash func() hash.Hash) func() {
		return func() {
			work := make(chan string)
			var wg sync.WaitGroup
			for range runtime.GOMAXPROCS(0) {
				wg.Go(func() {
					h := newHash()
					buf := make([]byte, 1<<20)
					for p := range work {
						f, err := os.Open(p)
						if err != nil {
							b.Error(err)
							continue
						}
						h.Reset()
						io.CopyBuffer(h, f, buf)
						f.Close()
					}
				})
			}
			for _, p := range paths {
				work <- p
			}
			close(work)
			wg.Wait()
		}
	}
	canDrop := dropCaches() == nil
	if !canDrop {
		b.Log("P5: cannot drop the page cache (not root?): cold figures skipped")
	}
	cold := func(fn func()) time.Duration {
		if err := dropCaches(); err != nil {
			b.Fatal(err)
		}
		return timed(fn)
	}
	type p5run struct {
		name string
		fn   func() time.Duration
		t    time.Duration
	}
	runs := []p5run{
		{name: "drill-blake3", fn: func() time.Duration { return timed(drillWith(manifest.Format)) }},
		{name: "cat-warm", fn: func() time.Duration { return timed(command("cat")) }},
		{name: "read-parallel-warm", fn: func() time.Duration { return timed(parallel(func() hash.Hash { return nopHash{} })) }},
		{name: "blake3-parallel", fn: func() time.Duration { return timed(parallel(manifest.NewBLAKE3)) }},
		{name: "drill-sha256", fn: func() time.Duration { return timed(drillWith(manifest.FormatV1)) }},
		{name: "sha256sum", fn: func() time.Duration { return timed(command("sha256sum")) }},
		{name: "sha256-parallel", fn: func() time.Duration { return timed(parallel(sha256.New)) }},
	}
	if canDrop {
		runs = append(runs,
			p5run{name: "drill-blake3-cold", fn: func() time.Duration { return cold(drillWith(manifest.Format)) }},
			p5run{name: "cat-cold", fn: func() time.Duration { return cold(command("cat")) }},
			p5run{name: "read-parallel-cold", fn: func() time.Duration { return cold(parallel(func() hash.Hash { return nopHash{} })) }})
	}
	for i := range runs { // warm-up (and the page cache for the warm runs)
		runs[i].fn()
	}
	b.ResetTimer()
	for b.Loop() {
		for i := range runs { // interleaved, so a change of the machine's speed hits every figure alike
			runs[i].t += runs[i].fn()
		}
	}
	b.StopTimer()
	at := map[string]time.Duration{}
	for _, r := range runs {
		at[r.name] = r.t
		b.ReportMetric(float64(total)*float64(b.N)/r.t.Seconds()/1e6, r.name+"-MB/s")
	}
	ratio := func(name, baseline, of string) {
		if at[baseline] > 0 && at[of] > 0 {
			b.ReportMetric(at[baseline].Seconds()/at[of].Seconds(), name)
		}
	}
	ratio("x-of-read-warm", "read-parallel-warm", "drill-blake3")
	ratio("x-of-read-cold", "read-parallel-cold", "drill-blake3-cold")
	ratio("x-of-cat-warm", "cat-warm", "drill-blake3")
	ratio("x-of-cat-cold", "cat-cold", "drill-blake3-cold")
	ratio("x-of-blake3-parallel", "blake3-parallel", "drill-blake3")
	ratio("sha256-x-of-sha256sum", "sha256sum", "drill-sha256")
	ratio("sha256-x-of-parallel", "sha256-parallel", "drill-sha256")
}

// nopHash reads and throws away: the cost of reading the files on every
// CPU with no hashing, the physical limit the drill's hashing approaches.
type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }

// dropCaches writes dirty pages and drops the page cache (root only).
func dropCaches() error {
	exec.Command("sync").Run()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
