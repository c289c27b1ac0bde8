package resticx_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/internal/keys"
	"steward/internal/resticx"
	"steward/internal/testenv"
)

// TestRetryLimitStopsRestic: restic retries a storage that went away for
// 15 minutes, printing nothing on stdout. With StallAfter, a call that
// has no progress to watch — `restic check --read-data`, as a drill runs
// it — is stopped once restic has retried for that long (ErrStalled,
// naming the repository and what restic last retried); a call on a
// storage that answers is never stopped by it.
func TestRetryLimitStopsRestic(t *testing.T) {
	ctx := context.Background()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "repo")
	r := &resticx.Runner{Bin: bin(t), StateDir: t.TempDir(), Timeout: 5 * time.Minute, StallAfter: 4 * time.Second}
	env := map[string]keys.Secret{"AWS_ACCESS_KEY_ID": keys.Secret(s3.AccessKey), "AWS_SECRET_ACCESS_KEY": keys.Secret(s3.SecretKey), "AWS_DEFAULT_REGION": keys.Secret(s3.Region)}
	repo := &resticx.Repository{Name: "tokyo", Location: "s3:" + s3.URL + "/repo", Password: keys.RandomSecret(32), Env: env}
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	testenv.WriteFiles(t, data, 3, 1<<20)
	if _, err := r.Run(ctx, repo, resticx.Call{Args: []string{"backup", data}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx, repo, resticx.Call{Args: []string{"check", "--read-data"}}); err != nil {
		t.Fatalf("check with the storage up: %v", err)
	}

	// The storage goes away as restic starts.
	r.Started = func(int) { s3.Stop() }
	start := time.Now()
	_, err := r.Run(ctx, repo, resticx.Call{Args: []string{"check", "--read-data"}})
	took := time.Since(start)
	t.Logf("check with the storage gone: %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, resticx.ErrStalled) || !strings.Contains(err.Error(), `repository "tokyo"`) || !strings.Contains(err.Error(), "retrying after") {
		t.Errorf("check on a storage gone: %v; want a stall naming repository tokyo and restic's retry", err)
	}
	if took > 60*time.Second {
		t.Errorf("check on a storage gone took %s, more than 60s with StallAfter 4s", took)
	}
}
