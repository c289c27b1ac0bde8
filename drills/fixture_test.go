package drills

import (
	"path/filepath"
	"testing"
	"time"

	"steward/backup"
	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/config"
	"steward/internal/repo"
	"steward/internal/testenv"
)

type fixture struct {
	dir   string
	cfg   *config.Config
	store *catalog.SQLite
	repos *repo.Opener
	eng   *backup.Engine
	audit *audit.Log
	d     *Driller
}

func newFixture(t testing.TB, dir, body string) *fixture {
	t.Helper()
	return openFixture(t, testenv.LoadConfig(t, dir, body))
}

// openFixture opens (creating on first use) the state dir of cfg.
func openFixture(t testing.TB, cfg *config.Config) *fixture {
	st := testenv.OpenState(t, cfg)
	repos := repo.New(repo.Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Audit: st.Audit, ProbeTimeout: 10 * time.Second})
	eng := backup.New(backup.Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Catalog: st.Store, Audit: st.Audit, Clock: st.Clock, Repos: repos})
	return &fixture{dir: filepath.Dir(cfg.StateDir), cfg: cfg, store: st.Store, repos: repos, eng: eng, audit: st.Audit,
		d: New(Deps{Repos: repos, Store: st.Store, Audit: st.Audit, Clock: st.Clock})}
}

func secretRef(t testing.TB, dir, name, value string) string {
	return testenv.SecretFile(t, dir, name, value)
}

func s3YAML(t testing.TB, dir string, s *testenv.S3Server, bucket string) string {
	return testenv.S3YAML(t, dir, s, bucket, s.AccessKey, s.SecretKey)
}

func writeFiles(t testing.TB, dir string, n, size int) { testenv.WriteFiles(t, dir, n, size) }

func auditCount(t *testing.T, store *catalog.SQLite, action, result string) int {
	return testenv.AuditCount(t, store, action, result)
}

func backupRunOptions(job string) backup.RunOptions { return backup.RunOptions{Job: job} }
