package restore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"steward/backup"
	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/resticx"
	"steward/internal/testenv"
)

type fixture struct {
	dir   string
	cfg   *config.Config
	store *catalog.SQLite
	eng   *backup.Engine
	r     *Restorer
}

const configHead = `contract:
  id: TEST-1
  customer: Test City
  service: test
  end_date: 2099-03-31
state_dir: %s
restic:
  path: %s
residency:
  allowed_regions: [ap-northeast-1, ap-northeast-3]
`

func newFixture(t *testing.T, dir, body string) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "steward.yaml")
	text := fmt.Sprintf(configHead, filepath.Join(dir, "state"), testenv.Bin(t, "restic")) + body
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if err := keys.CreateMasterKey(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	kr, err := keys.Open(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := catalog.Create(ctx, catalog.Path(cfg.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	loc, _ := clock.LoadZone(cfg.Contract.TimeZone)
	clk := clock.New(loc, nil)
	log := audit.New(store, audit.MirrorPath(cfg.StateDir), clk)
	runner := &resticx.Runner{Bin: cfg.Restic.Path, StateDir: cfg.StateDir, Timeout: 3 * time.Minute, Grace: 2 * time.Second}
	eng := backup.New(backup.Deps{Config: cfg, Keys: kr, Restic: runner, Catalog: store, Audit: log, Clock: clk, ProbeTimeout: 10 * time.Second})
	return &fixture{dir: dir, cfg: cfg, store: store, eng: eng, r: New(Deps{Engine: eng, Audit: log, Clock: clk})}
}

func secretRef(t *testing.T, dir, name, value string) string {
	return testenv.SecretFile(t, dir, name, value)
}

func s3YAML(t *testing.T, dir string, s *testenv.S3Server, bucket string) string {
	return testenv.S3YAML(t, dir, s, bucket, s.AccessKey, s.SecretKey)
}

func writeFiles(t *testing.T, dir string, n, size int) { testenv.WriteFiles(t, dir, n, size) }

func auditCount(t *testing.T, store *catalog.SQLite, action, result string) int {
	return testenv.AuditCount(t, store, action, result)
}

func backupRunOptions(job string) backup.RunOptions { return backup.RunOptions{Job: job} }
