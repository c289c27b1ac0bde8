package drills

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/catalog"
	"steward/internal/testenv"
)

// TestDrillRefusesDisallowedRegions: with data in us-east-1 no longer
// allowed, a drill of a replica there fails before it reads anything and
// makes no scratch, and a drill whose scratch bucket is there fails
// before any object is written into it; the scratch bucket is removed.
// Both name the refusal and the region.
func TestDrillRefusesDisallowedRegions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tokyo := testenv.StartS3(t)
	tokyo.MakeBucket(t, "attachments")
	for i := range 3 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 400+i)
		if _, err := tokyo.Client(t).PutObject(ctx, "attachments", fmt.Sprintf("case-%d/doc.pdf", i), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	us := testenv.StartS3(t, testenv.WithRegion("us-east-1"))
	us.MakeBucket(t, "replica")
	usc := us.Client(t)
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
  - name: virginia%s
sources:
  - name: bucket%s
jobs:
  - {name: j, sources: [bucket], repository: disk, replicas: [virginia]}
drills:
  snapshot: latest
  read_data_subsets: 1
  scratch:%s
`, s3YAML(t, dir, us, "replica"), s3YAML(t, dir, tokyo, "attachments"), strings.ReplaceAll(s3YAML(t, dir, us, "scratch"), "\n  ", "\n    ")))
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
	scratchS3 := f.cfg.Drills.Scratch.S3
	scratchBuckets := func(t *testing.T) []string {
		t.Helper()
		var names []string
		all, err := usc.ListBuckets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range all {
			if strings.HasPrefix(b.Name, "scratch") {
				names = append(names, b.Name)
			}
		}
		return names
	}

	t.Run("a replica in us-east-1", func(t *testing.T) {
		// Scratch in a directory: only the replica is in question.
		f.cfg.Drills.Scratch.S3 = nil
		defer func() { f.cfg.Drills.Scratch.S3 = scratchS3 }()
		recs, err := f.d.Run(ctx, RunOptions{Job: "j", Repository: "virginia"})
		if !errors.Is(err, ErrDrillFailed) || len(recs) != 1 {
			t.Fatalf("drill of virginia: %v, %d records", err, len(recs))
		}
		r := recs[0]
		p := strings.Join(r.Problems, " ")
		if r.Result != ResultFailed || !strings.Contains(p, "storage outside the allowed regions") || !strings.Contains(p, "repository:virginia") ||
			!strings.Contains(p, `"us-east-1"`) {
			t.Fatalf("record: result %s, problems %v", r.Result, r.Problems)
		}
		if len(r.Steps) == 0 || r.Steps[0].Name != StepChooseSnapshot || r.Steps[0].Result != ResultFailed || len(r.Scratch) != 0 {
			t.Fatalf("steps %+v, scratch %+v: the drill should stop before choosing a snapshot, with no scratch", r.Steps, r.Scratch)
		}
	})

	t.Run("a scratch bucket in us-east-1", func(t *testing.T) {
		// versitygw makes a bucket only in the region it serves, so the
		// drill is made to ask for that one (past config validation,
		// which refuses the region): the residency check, not the
		// server, must refuse the scratch bucket.
		scratchS3.Region = "us-east-1"
		defer func() { scratchS3.Region = "" }()
		recs, err := f.d.Run(ctx, RunOptions{Job: "j"})
		if !errors.Is(err, ErrDrillFailed) || len(recs) != 1 {
			t.Fatalf("drill into a scratch bucket in us-east-1: %v, %d records", err, len(recs))
		}
		r := recs[0]
		p := strings.Join(r.Problems, " ")
		if r.Result != ResultFailed || !strings.Contains(p, "step restore failed") || !strings.Contains(p, "storage outside the allowed regions") ||
			!strings.Contains(p, "restore-target:scratch-"+r.DrillID) || !strings.Contains(p, `"us-east-1"`) {
			t.Fatalf("record: result %s, problems %v", r.Result, r.Problems)
		}
		if len(r.Scratch) != 1 || r.Scratch[0].Kind != ScratchBucket || !r.Scratch[0].Gone {
			t.Fatalf("scratch %+v: the scratch bucket should be recorded and gone", r.Scratch)
		}
		if left := scratchBuckets(t); len(left) > 0 {
			t.Fatalf("scratch buckets left in us-east-1: %v", left)
		}
		// The restore wrote nothing before it was refused.
		var restores []string
		if err := f.store.ScanAudit(ctx, func(a catalog.AuditRecord) error {
			if a.Action == "restore" && a.Result == "failed" && a.Details["reason"] == "drill:"+r.DrillID {
				restores = append(restores, a.Details["bytes"]+" bytes, "+a.Details["files"]+" objects")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(restores, []string{"0 bytes, 0 objects"}) {
			t.Fatalf("the drill's failed restore audited as %q, want one that wrote nothing", restores)
		}
	})
}
