package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
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
	eng    *Engine
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

// writeConfig writes dir/steward.yaml: the common head and body.
func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "steward.yaml")
	text := fmt.Sprintf(configHead, filepath.Join(dir, "state"), testenv.Bin(t, "restic")) + body
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

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
	f := &fixture{dir: filepath.Dir(cfg.StateDir), cfg: cfg}
	if _, err := os.Stat(keys.MasterKeyPath(cfg.StateDir)); err != nil {
		if err := keys.CreateMasterKey(cfg.StateDir); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if f.kr, err = keys.Open(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	if f.store, err = catalog.Open(ctx, catalog.Path(cfg.StateDir)); err != nil {
		if f.store, err = catalog.Create(ctx, catalog.Path(cfg.StateDir)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { f.store.Close() })
	loc, _ := clock.LoadZone(cfg.Contract.TimeZone)
	clk := clock.New(loc, nil)
	f.log = audit.New(f.store, audit.MirrorPath(cfg.StateDir), clk)
	f.runner = &resticx.Runner{Bin: cfg.Restic.Path, StateDir: cfg.StateDir, Timeout: 3 * time.Minute, Grace: 2 * time.Second}
	d := Deps{Config: cfg, Keys: f.kr, Restic: f.runner, Catalog: f.store, Audit: f.log, Clock: clk, ProbeTimeout: 10 * time.Second}
	if mod != nil {
		mod(&d)
	}
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
	r, err := f.eng.openRepo(repoName, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.s3 != nil {
		if err := f.eng.checkRepoResidency(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, r.restic.Password.Reveal(), 0o600)
	cmd := exec.Command(f.cfg.Restic.Path, append([]string{"--no-cache", "-r", r.restic.Location, "--password-file", pw}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range r.restic.Env {
		cmd.Env = append(cmd.Env, k+"="+string(v.Reveal()))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restic %v on %s: %v\n%s", args, repoName, err, out)
	}
	return out
}

// dataSnapshots lists the steward-data snapshots of a repository by hand.
func (f *fixture) dataSnapshots(t *testing.T, repoName string) []resticSnapshot {
	t.Helper()
	var snaps []resticSnapshot
	out := f.resticByHand(t, repoName, "snapshots", "--json", "--tag", TagData)
	if err := json.Unmarshal(out, &snaps); err != nil {
		t.Fatalf("snapshots of %s: %v\n%s", repoName, err, out)
	}
	return snaps
}

// allSnapshots lists every snapshot of a repository by hand.
func (f *fixture) allSnapshots(t *testing.T, repoName string) []resticSnapshot {
	t.Helper()
	var snaps []resticSnapshot
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
