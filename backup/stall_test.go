package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"steward/internal/config"
	"steward/internal/resticx"
	"steward/internal/testenv"
)

// TestStalledRepositoryFailsInBoundedTime: the S3 server holding the
// repository stops answering mid-backup. Instead of restic's retries (about
// half an hour before), the run says what it waits for and fails once no
// progress was made for restic.stall_timeout, naming the repository; no
// snapshot is left.
func TestStalledRepositoryFailsInBoundedTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "repo")
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 24, 4<<20)
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - name: tokyo%s
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: tokyo}
`, s3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), files), nil)
	if err := f.repos.Init(ctx, "tokyo"); err != nil {
		t.Fatal(err)
	}
	f.cfg.Restic.StallTimeout = config.Duration(6 * time.Second)
	var (
		once    sync.Once
		stopped time.Time
		waits   []string
		mu      sync.Mutex
	)
	start := time.Now()
	_, err := f.eng.Run(ctx, RunOptions{Job: "j", Progress: func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Kind == EventProgress && ev.BytesDone > 0 {
			once.Do(func() { s3.Kill(); stopped = time.Now() })
		}
		if ev.Kind == EventCheck && strings.Contains(ev.Message, "waiting for repository tokyo") {
			waits = append(waits, ev.Message)
		}
	}})
	took := time.Since(start)
	if stopped.IsZero() {
		t.Fatal("the backup finished before the server could be stopped: give it more data")
	}
	if !errors.Is(err, resticx.ErrStalled) || !strings.Contains(err.Error(), `repository "tokyo"`) {
		t.Fatalf("a backup into a dead server: %v; want a stall naming repository tokyo", err)
	}
	if took > 90*time.Second {
		t.Errorf("the stalled backup took %s to fail", took)
	}
	mu.Lock()
	if len(waits) == 0 {
		t.Error("no progress event said what the backup was waiting for")
	}
	mu.Unlock()

	// The server is back: the next run checks the failed run left no
	// snapshot, then backs up.
	s3.Restart()
	rep, err := f.eng.Run(ctx, RunOptions{Job: "j"})
	if err != nil || len(rep.Runs) != 1 || rep.Runs[0].Result != ResultOK {
		t.Fatalf("backup once the server is back: %v", err)
	}
	rows, err := f.store.JobRuns(ctx, "j", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		var rec RunRecord
		if err := json.Unmarshal(row.Record, &rec); err != nil || rec.CheckPending {
			t.Errorf("run %s still waits for its check (%v)", row.ID, err)
		}
	}
	if n := len(f.dataSnapshots(t, "tokyo")); n != 1 {
		t.Errorf("%d data snapshots, want the one of the run that succeeded", n)
	}
}
