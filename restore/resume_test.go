package restore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestResumedRestoreReportsTheWholeSnapshot: a restore --force into a
// target that already holds part of the snapshot (a resumed restore)
// reports the snapshot's bytes and files, not only what it had to write.
func TestResumedRestoreReportsTheWholeSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 8, 50<<10)
	f := newFixture(t, dir, fmt.Sprintf("repositories:\n  - {name: disk, local: {}}\nsources:\n  - {name: files, path: {path: %s}}\njobs:\n  - {name: j, sources: [files], repository: disk}\n", files))
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	first, err := f.r.Run(ctx, Options{Source: "files", To: Target{Dir: out}})
	if err != nil {
		t.Fatal(err)
	}
	if first.Bytes != 8*50<<10 || first.Files != 8 {
		t.Fatalf("first restore: %d bytes, %d files; want %d and 8", first.Bytes, first.Files, 8*50<<10)
	}
	// Half of it is lost; the restore is run again over what is left.
	removed := 0
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && removed < 4 {
			os.Remove(p)
			removed++
		}
		return nil
	})
	again, err := f.r.Run(ctx, Options{Source: "files", To: Target{Dir: out}, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Bytes != first.Bytes || again.Files != first.Files {
		t.Fatalf("resumed restore: %d bytes, %d files; the snapshot holds %d and %d", again.Bytes, again.Files, first.Bytes, first.Files)
	}
	sameTree(t, files, out)
}
