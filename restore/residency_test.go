package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/repo"
	"steward/internal/testenv"
)

// TestRestoreRefusesDisallowedRegions: with data in us-east-1 no longer
// allowed, a restore from a replica there is refused before anything is
// read or written, and so is a restore into a bucket there (new or
// existing): no object is written, and a bucket made for the restore is
// removed again. The refusals are audited.
func TestRestoreRefusesDisallowedRegions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tokyo := testenv.StartS3(t)
	tokyo.MakeBucket(t, "attachments")
	for i := range 3 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 300+i)
		if _, err := tokyo.Client(t).PutObject(ctx, "attachments", fmt.Sprintf("case-%d/doc.pdf", i), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	us := testenv.StartS3(t, testenv.WithRegion("us-east-1"))
	us.MakeBucket(t, "replica")
	usc := us.Client(t)
	body := fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
  - name: virginia%s
sources:
  - name: bucket%s
jobs:
  - {name: j, sources: [bucket], repository: disk, replicas: [virginia]}
`, s3YAML(t, dir, us, "replica"), s3YAML(t, dir, tokyo, "attachments"))

	f := newFixture(t, dir, body)
	allowed := f.cfg.Residency.AllowedRegions
	// Set up while the config allowed us-east-1 too: a backup copied to
	// the replica.
	f.cfg.Residency.AllowedRegions = append(slices.Clone(allowed), "us-east-1")
	for _, r := range []string{"disk", "virginia"} {
		if err := f.repos.Init(ctx, r); err != nil {
			t.Fatalf("init %s while us-east-1 was allowed: %v", r, err)
		}
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatalf("backup while us-east-1 was allowed: %v", err)
	}
	f.cfg.Residency.AllowedRegions = allowed // the config as it is now

	t.Run("from a replica in us-east-1", func(t *testing.T) {
		out := filepath.Join(dir, "from-virginia")
		_, err := f.r.Run(ctx, Options{Source: "bucket", Repository: "virginia", To: Target{Dir: out}})
		if !errors.Is(err, repo.ErrResidency) || !strings.Contains(err.Error(), "repository:virginia") || !strings.Contains(err.Error(), `"us-east-1"`) {
			t.Fatalf("restore from virginia: %v, want ErrResidency naming repository:virginia and us-east-1", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the refused restore made its target: %v", err)
		}
	})

	// target is bucket on the us-east-1 server, for a client that asks
	// for region (a new bucket is made in it; "" finds an existing
	// bucket's).
	target := func(t *testing.T, bucket, region string) Target {
		t.Helper()
		virginia, _ := f.cfg.Repository("virginia")
		tgt, err := f.repos.S3Target("test", virginia.S3)
		if err != nil {
			t.Fatal(err)
		}
		tgt.Bucket, tgt.Prefix, tgt.Region = bucket, "", region
		return Target{Bucket: &tgt}
	}
	t.Run("into a new bucket in us-east-1", func(t *testing.T) {
		// versitygw makes a bucket only in the region it serves, so the
		// restore is made to ask for that one: the residency check, not
		// the server, must refuse it.
		failed := auditCount(t, f.store, "restore", "failed")
		_, err := f.r.Run(ctx, Options{Source: "bucket", To: target(t, "restored", "us-east-1")})
		if !errors.Is(err, repo.ErrResidency) || !strings.Contains(err.Error(), `"restored"`) || !strings.Contains(err.Error(), `"us-east-1"`) {
			t.Fatalf("restore into a bucket in us-east-1: %v, want ErrResidency naming the bucket and us-east-1", err)
		}
		if ok, err := usc.BucketExists(ctx, "restored"); err != nil || ok {
			t.Fatalf("the bucket made for the refused restore is still there (%v, %v)", ok, err)
		}
		if n := auditCount(t, f.store, "restore", "failed"); n != failed+1 {
			t.Fatalf("%d failed restores audited, want %d", n, failed+1)
		}
	})
	t.Run("into an existing bucket in us-east-1", func(t *testing.T) {
		us.MakeBucket(t, "existing")
		_, err := f.r.Run(ctx, Options{Source: "bucket", To: target(t, "existing", "")})
		if !errors.Is(err, repo.ErrResidency) || !strings.Contains(err.Error(), `"existing"`) {
			t.Fatalf("restore into an existing bucket in us-east-1: %v", err)
		}
		if ok, err := usc.BucketExists(ctx, "existing"); err != nil || !ok {
			t.Fatalf("the operator's bucket was removed (%v, %v)", ok, err)
		}
		var keys []string
		for o := range usc.ListObjects(ctx, "existing", minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		if len(keys) > 0 {
			t.Fatalf("the refused restore wrote %v", slices.Compact(keys))
		}
	})
}
