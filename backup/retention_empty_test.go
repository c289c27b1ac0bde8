package backup

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestRetentionOnAnEmptyRepository: retention on a repository that holds
// no snapshot of the job yet (a first backup that failed, a replica whose
// copies failed) has nothing to forget; it is not an error about restic's
// output.
func TestRetentionOnAnEmptyRepository(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - {name: a, path: {path: %s}}
jobs:
  - {name: j, sources: [a], repository: disk, retention: {keep_last: 2}}
`, filepath.Join(dir, "a")), nil)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	r, err := f.repos.Open(ctx, "disk")
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.cfg.Job("j")
	line, err := f.eng.applyRetention(ctx, r, job)
	if err != nil || line == "" {
		t.Fatalf("retention on an empty repository: %q, %v", line, err)
	}
}
