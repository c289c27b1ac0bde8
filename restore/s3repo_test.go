package restore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/testenv"
)

// TestRoundTripFromS3Repository backs a directory up into a repository on
// versitygw and restores it, by snapshot id, into a new directory: the
// same tree comes back.
func TestRoundTripFromS3Repository(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "repo")
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 5, 1500)
	os.Symlink("d1/f001.bin", filepath.Join(files, "link"))
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - name: tokyo%s
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: tokyo}
`, s3YAML(t, dir, s3, "repo"), files))
	if err := f.repos.Init(ctx, "tokyo"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Client(t).StatObject(ctx, "repo", "config", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the repository is not in the bucket: %v", err)
	}
	rs, err := f.r.Resolve(ctx, "j", "files")
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := f.r.Snapshots(ctx, rs)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}

	out := filepath.Join(dir, "out")
	res, err := f.r.Run(ctx, Options{Job: "j", Source: "files", Snapshot: snaps[0].ID[:8], To: Target{Dir: out}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Repository != "tokyo" || res.SnapshotID != snaps[0].ID || res.TargetKind != "dir" || res.Bytes == 0 {
		t.Fatalf("result %+v", res)
	}
	sameTree(t, files, out)
	if n := auditCount(t, f.store, "restore", "ok"); n != 1 {
		t.Fatalf("%d restores audited", n)
	}
}
