package drills

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestCleanupFindsEveryScratch: whatever the drills' records say (here:
// none at all, as after a drill killed before it recorded its scratch, or
// one whose own cleanup failed), `drill cleanup` finds every scratch dir,
// steward_drill_* database and scratch bucket by its name, removes it and
// checks by listing that it is gone; a running drill's scratch and names
// that are not a drill's are left alone.
func TestCleanupFindsEveryScratch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t, ctx, 1)
	const lost = "20260101-000000-abcdef"
	os.MkdirAll(filepath.Join(w.cfg.Drills.Scratch.Dir, DirPrefix+lost, "case"), 0o700)
	os.WriteFile(filepath.Join(w.cfg.Drills.Scratch.Dir, DirPrefix+lost, "case", "notes.txt"), []byte("contract data"), 0o600)
	os.MkdirAll(filepath.Join(w.cfg.Drills.Scratch.Dir, "drill-notes"), 0o700) // not a drill's name
	w.pg.CreateDatabase(t, DatabaseName(lost))
	w.pg.Exec(t, DatabaseName(lost), "CREATE TABLE c AS SELECT 1 AS id")
	w.s3.MakeBucket(t, BucketName(w.cfg.Drills.Scratch.S3.Bucket, lost))
	if _, err := w.mc.PutObject(ctx, BucketName(w.cfg.Drills.Scratch.S3.Bucket, lost), "k", strings.NewReader("contract data"), 13, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// A running drill's scratch stays.
	const live = "20260101-000001-123456"
	unlock, err := lockDrill(w.cfg.StateDir, live)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	os.MkdirAll(filepath.Join(w.cfg.Drills.Scratch.Dir, DirPrefix+live), 0o700)

	rep, err := w.d.Cleanup(ctx)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	kinds := map[string]bool{}
	for _, s := range rep.Removed {
		if s.Drill != lost || !s.Gone {
			t.Errorf("removed %+v", s)
		}
		kinds[s.Kind] = true
	}
	if len(rep.Removed) != 3 || !kinds[ScratchDir] || !kinds[ScratchDatabase] || !kinds[ScratchBucket] {
		t.Fatalf("cleanup removed %+v; want the lost drill's dir, database and bucket", rep.Removed)
	}
	if _, err := os.Stat(filepath.Join(w.cfg.Drills.Scratch.Dir, DirPrefix+live)); err != nil {
		t.Errorf("a running drill's scratch was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(w.cfg.Drills.Scratch.Dir, "drill-notes")); err != nil {
		t.Errorf("a dir that is not a drill's was removed: %v", err)
	}
	os.Remove(filepath.Join(w.cfg.Drills.Scratch.Dir, "drill-notes"))
	unlock()
	os.Remove(filepath.Join(w.cfg.Drills.Scratch.Dir, DirPrefix+live))
	w.noScratch(t, ctx)
}
