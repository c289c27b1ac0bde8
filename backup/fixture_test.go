package backup

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/repo"
	"steward/internal/resticx"
	"steward/internal/testenv"
)

// fixture is a state dir with a master key, catalog and audit log, a
// config, and an engine over them.
type fixture struct {
	dir    string
	cfg    *config.Config
	kr     *keys.Keyring
	store  *catalog.SQLite
	log    *audit.Log
	runner *resticx.Runner
	repos  *repo.Opener
	eng    *Engine
}

// writeConfig writes dir/steward.yaml: the common head and body.
func writeConfig(t *testing.T, dir, body string) string { return testenv.WriteConfig(t, dir, body) }

// newFixture creates the state dir (first call) and opens everything.
func newFixture(t *testing.T, dir, body string, mod func(*Deps)) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(writeConfig(t, dir, body))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return openFixture(t, ctx, cfg, mod)
}

func openFixture(t testing.TB, ctx context.Context, cfg *config.Config, mod func(*Deps)) *fixture {
	st := testenv.OpenState(t, cfg)
	f := &fixture{dir: filepath.Dir(cfg.StateDir), cfg: cfg, kr: st.Keys, store: st.Store, log: st.Audit, runner: st.Restic}
	d := Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Catalog: st.Store, Audit: st.Audit, Clock: st.Clock, ProbeTimeout: 10 * time.Second}
	if mod != nil {
		mod(&d)
	}
	f.repos = repo.New(repo.Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Audit: st.Audit, LockWait: d.LockWait, ProbeTimeout: d.ProbeTimeout})
	d.Repos = f.repos
	f.eng = New(d)
	return f
}

func secretRef(t *testing.T, dir, name, value string) string {
	return testenv.SecretFile(t, dir, name, value)
}

// s3YAML is an s3: block for a bucket on server s with the given keys.
func s3YAML(t *testing.T, dir string, s *testenv.S3Server, bucket, access, secret string) string {
	return testenv.S3YAML(t, dir, s, bucket, access, secret)
}

// resticByHand runs ./bin/restic the way an operator would: with the
// unsealed password in a file and the backend keys in the environment.
func (f *fixture) resticByHand(t *testing.T, repoName string, args ...string) []byte {
	t.Helper()
	r, err := f.repos.Resolve(repoName, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.S3 != nil {
		if err := f.repos.CheckResidency(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, r.Restic.Password.Reveal(), 0o600)
	cmd := exec.Command(f.cfg.Restic.Path, append([]string{"--no-cache", "-r", r.Restic.Location, "--password-file", pw}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range r.Restic.Env {
		cmd.Env = append(cmd.Env, k+"="+string(v.Reveal()))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restic %v on %s: %v\n%s", args, repoName, err, out)
	}
	return out
}

// dataSnapshots lists the steward-data snapshots of a repository by hand.
func (f *fixture) dataSnapshots(t *testing.T, repoName string) []resticx.Snapshot {
	t.Helper()
	var snaps []resticx.Snapshot
	out := f.resticByHand(t, repoName, "snapshots", "--json", "--tag", TagData)
	if err := json.Unmarshal(out, &snaps); err != nil {
		t.Fatalf("snapshots of %s: %v\n%s", repoName, err, out)
	}
	return snaps
}

// allSnapshots lists every snapshot of a repository by hand.
func (f *fixture) allSnapshots(t *testing.T, repoName string) []resticx.Snapshot {
	t.Helper()
	var snaps []resticx.Snapshot
	out := f.resticByHand(t, repoName, "snapshots", "--json")
	if err := json.Unmarshal(out, &snaps); err != nil {
		t.Fatalf("snapshots of %s: %v\n%s", repoName, err, out)
	}
	return snaps
}

// tmpEmpty fails the test when the state dir's tmp folder holds anything
// (password files, relay repositories, dumps).
func (f *fixture) tmpEmpty(t *testing.T) {
	t.Helper()
	ents, _ := os.ReadDir(f.runner.TmpDir())
	if len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("temp files left in %s: %v", f.runner.TmpDir(), names)
	}
}

func writeFiles(t *testing.T, dir string, n, size int) { testenv.WriteFiles(t, dir, n, size) }

func auditActions(t *testing.T, f *fixture) map[string]int {
	t.Helper()
	seen := map[string]int{}
	f.store.ScanAudit(context.Background(), func(r catalog.AuditRecord) error {
		seen[r.Action+"/"+r.Result]++
		return nil
	})
	return seen
}
