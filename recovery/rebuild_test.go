package recovery_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"steward/app"
	"steward/backup"
	"steward/internal/keys"
	"steward/internal/testenv"
	"steward/recovery"
)

// writeConfig writes a config of two jobs (j and, with both, k) of one
// path source each into one local repository outside the state dir.
func writeConfig(t *testing.T, dir, stateDir string, both bool) string {
	t.Helper()
	restic, _ := filepath.Abs(filepath.Join("..", "bin", "restic"))
	k := ""
	if both {
		k = "\n  - {name: k, sources: [other], repository: main}"
	}
	path := filepath.Join(dir, stateDir+".yaml")
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: %s
restic: {path: %s}
repositories:
  - {name: main, local: {path: %s}}
sources:
  - {name: files, path: {path: %s}}
  - {name: other, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: main}%s
`, stateDir, restic, filepath.Join(dir, "main"), filepath.Join(dir, "files"), filepath.Join(dir, "other"), k)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openApp(t *testing.T, cfg string, init bool) *app.App {
	t.Helper()
	ctx := context.Background()
	o := app.Options{ConfigPath: cfg, LogLevel: "warn"}
	if init {
		if _, err := app.Init(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	a, err := app.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestRebuild: the snapshots of a job the config has are catalogued (the
// two of an unchanged source naming one manifest body), those of a job
// it does not have are counted as unclaimed and left out, a repository
// without a password is named, and a second Rebuild adds nothing.
func TestRebuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	testenv.WriteFiles(t, filepath.Join(dir, "files"), 3, 1000)
	testenv.WriteFiles(t, filepath.Join(dir, "other"), 2, 1000)
	old := openApp(t, writeConfig(t, dir, "old", true), true)
	repos, err := old.Repos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := repos.Init(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	eng, err := old.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{"j", "j", "k"} {
		if _, err := eng.Run(ctx, backup.RunOptions{Job: job}); err != nil {
			t.Fatalf("backup %s: %v", job, err)
		}
	}
	pw, err := repos.Password("main")
	if err != nil {
		t.Fatal(err)
	}

	// The new host's config has job j only.
	a := openApp(t, writeConfig(t, dir, "new", false), true)
	newRepos, err := a.Repos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deps := recovery.Deps{Repos: newRepos, Store: a.Catalog, Audit: a.Audit, Clock: a.Clock}
	if _, err := recovery.Rebuild(ctx, deps, recovery.Options{}); !errors.Is(err, recovery.ErrIncomplete) {
		t.Fatalf("rebuild without a password: %v, want ErrIncomplete", err)
	}
	res, err := recovery.Rebuild(ctx, deps, recovery.Options{Passwords: map[string]keys.Secret{"main": pw}, Origin: "test"})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Repositories[0]
	if !got.Read || got.Snapshots != 3 || got.SnapshotRows != 2 || got.Manifests != 2 || got.Runs != 2 || got.Unclaimed != 1 || got.Known != 0 {
		t.Fatalf("rebuild: %+v", got)
	}
	snaps, err := a.Catalog.JobSnapshots(ctx, "j")
	if err != nil || len(snaps) != 2 {
		t.Fatalf("catalogued snapshots of j: %d %v", len(snaps), err)
	}
	m0, err0 := a.Catalog.Manifest(ctx, snaps[0].SnapshotID)
	m1, err1 := a.Catalog.Manifest(ctx, snaps[1].SnapshotID)
	if err0 != nil || err1 != nil || m0.SHA256 != m1.SHA256 || m0.Kind != "path" {
		t.Fatalf("manifests of an unchanged source: %+v %v, %+v %v", m0, err0, m1, err1)
	}
	if latest, err := a.Catalog.LatestManifest(ctx, "main", "files"); err != nil || latest.SnapshotID != snaps[0].SnapshotID {
		t.Fatalf("latest manifest: %+v %v, want snapshot %s", latest, err, snaps[0].SnapshotID)
	}
	if jobs, _ := a.Catalog.JobSnapshots(ctx, "k"); len(jobs) != 0 {
		t.Fatalf("job k, not in the config, was catalogued: %d", len(jobs))
	}

	res, err = recovery.Rebuild(ctx, deps, recovery.Options{Passwords: map[string]keys.Secret{"main": pw}})
	if got := res.Repositories[0]; err != nil || got.SnapshotRows+got.Manifests+got.Runs != 0 || got.Known != 2 {
		t.Fatalf("second rebuild: %+v %v", got, err)
	}
	if n := testenv.AuditCount(t, a.Catalog, "recovery.rebuild", "ok"); n != 2 {
		t.Fatalf("recovery.rebuild ok records: %d, want 2", n)
	}
}
