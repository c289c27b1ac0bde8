package erase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/backup"
	"steward/certs"
	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/repo"
	"steward/internal/testenv"
)

type fixture struct {
	dir   string
	store *catalog.SQLite
	e     *Eraser
	s3    *testenv.S3Server
	pg    *testenv.Postgres
}

// newContract is a whole contract: a path source, a database, a
// versioned bucket with old versions, a delete marker and an unfinished
// multipart upload, backed up into an S3 repository in a versioned bucket
// with a local replica.
func newContract(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	pg := testenv.StartPostgres(t)
	s3.MakeBucket(t, "src", testenv.WithVersioning())
	s3.MakeBucket(t, "repo", testenv.WithVersioning())
	s3.MakeBucket(t, "archive-test-1-old") // carries the contract id: found, not planned
	mc := s3.Client(t)
	for i, body := range []string{"first", "second"} {
		if _, err := mc.PutObject(ctx, "src", "cases/a.txt", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put version %d: %v", i, err)
		}
	}
	if _, err := mc.PutObject(ctx, "src", "cases/b.txt", strings.NewReader("gone"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := mc.RemoveObject(ctx, "src", "cases/b.txt", minio.RemoveObjectOptions{}); err != nil { // a delete marker
		t.Fatal(err)
	}
	core := minio.Core{Client: mc}
	if _, err := core.NewMultipartUpload(ctx, "src", "cases/big.bin", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'a'), (2, 'b')`)
	data := filepath.Join(dir, "files")
	testenv.WriteFiles(t, data, 6, 100)
	scratch := filepath.Join(dir, "scratch")
	cfg := testenv.LoadConfig(t, dir, fmt.Sprintf(`repositories:
  - name: bs3%s
  - {name: disk, local: {}}
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, db, bucket], repository: bs3, replicas: [disk]}
drills:
  scratch: {dir: %s}
erase:
  approvers: [bob, carol]
  cooling_off: 1h
`, testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), data, pg.Port, pg.User, testenv.SecretFile(t, dir, "pg", pg.Password),
		testenv.S3YAML(t, dir, s3, "src", s3.AccessKey, s3.SecretKey), scratch))
	st := testenv.OpenState(t, cfg)
	repos := repo.New(repo.Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Audit: st.Audit, ProbeTimeout: 10 * time.Second})
	for _, r := range []string{"bs3", "disk"} {
		if err := repos.Init(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	eng := backup.New(backup.Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Catalog: st.Store, Audit: st.Audit, Clock: st.Clock, Repos: repos})
	if _, err := eng.Run(ctx, backup.RunOptions{Job: "j"}); err != nil {
		t.Fatal(err)
	}
	// A scratch directory that no drill the catalog knows left.
	os.MkdirAll(filepath.Join(scratch, "drill-20200101-000000-abcdef"), 0o700)
	e := New(Deps{Config: cfg, Store: st.Store, Manifests: st.Store.CountManifests, Repos: repos, Audit: st.Audit, Clock: st.Clock})
	return &fixture{dir: dir, store: st.Store, e: e, s3: s3, pg: pg}
}

func target(t *testing.T, p *Plan, id string) Target {
	t.Helper()
	for _, x := range p.Targets {
		if x.ID == id {
			return x
		}
	}
	t.Fatalf("plan has no target %s: %+v", id, p.Targets)
	return Target{}
}

func TestPlanCountsEverything(t *testing.T) {
	ctx := context.Background()
	f := newContract(t)
	p, err := f.e.MakePlan(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if bad := p.Uncounted(); len(bad) > 0 {
		t.Fatalf("uncounted targets: %+v", bad)
	}
	src := target(t, p, "bucket:bucket")
	if src.Before.Versions != 3 || src.Before.DeleteMarkers != 1 || src.Before.UnfinishedUploads != 1 || src.Before.Objects != 1 ||
		!strings.HasPrefix(src.Access, "ok:") {
		t.Fatalf("source bucket counted %+v, access %q", src.Before, src.Access)
	}
	if files := target(t, p, "path:files"); files.Before.Files != 6 || files.Before.Bytes != 600 {
		t.Fatalf("path source counted %+v", files.Before)
	}
	if db := target(t, p, "database:db"); db.Before.Tables != 1 || db.Before.Bytes == 0 || !strings.HasPrefix(db.Access, "ok:") {
		t.Fatalf("database counted %+v, access %q", db.Before, db.Access)
	}
	for _, r := range []string{"bs3", "disk"} {
		if k := target(t, p, "repository-key:"+r); k.Before.Files != 1 || k.Absent {
			t.Fatalf("key files of %s: %+v", r, k)
		}
		if s := target(t, p, "sealed-password:"+r); s.Before.Files != 1 {
			t.Fatalf("sealed password of %s: %+v", r, s)
		}
	}
	if r := target(t, p, "repository:bs3"); r.Kind != certs.KindRepositoryS3 || r.Before.Versions == 0 || r.Role != "repository" {
		t.Fatalf("S3 repository: %+v", r)
	}
	if r := target(t, p, "repository:disk"); r.Kind != certs.KindRepositoryLocal || r.Before.Files == 0 || r.Role != "replica" {
		t.Fatalf("local replica: %+v", r)
	}
	if c := target(t, p, "catalog:manifests"); c.Before.Objects != 3 {
		t.Fatalf("catalog manifests: %+v", c)
	}
	var foundBucket, foundScratch bool
	for _, fo := range p.Found {
		foundBucket = foundBucket || fo.Name == "archive-test-1-old"
		foundScratch = foundScratch || fo.Name == "drill-20200101-000000-abcdef"
	}
	if !foundBucket || !foundScratch {
		t.Fatalf("found, not planned: %+v", p.Found)
	}
	// Stored, hashed and audited; nothing changed.
	back, err := f.e.Plan(ctx, p.ID)
	if err != nil || back.Hash != p.Hash || back.Status != StatusPlanned {
		t.Fatalf("stored plan %+v, %v", back, err)
	}
	if n := testenv.AuditCount(t, f.store, "erase.plan", audit.ResultOK); n != 1 {
		t.Fatalf("erase.plan audited %d times", n)
	}
	again, err := f.e.MakePlan(ctx, "alice")
	if err != nil || again.Hash != p.Hash {
		t.Fatalf("a second plan of the same contract counts differently: %s vs %s (%v)", again.Hash, p.Hash, err)
	}
}

func TestApprovalSafeguards(t *testing.T) {
	ctx := context.Background()
	f := newContract(t)
	p, err := f.e.MakePlan(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for name, try := range map[string]func() error{
		"the planner": func() error {
			_, err := f.e.Approve(ctx, p.ID, "alice", "TEST-1", "the successor declined it")
			return err
		},
		"not an approver": func() error {
			_, err := f.e.Approve(ctx, p.ID, "mallory", "TEST-1", "the successor declined it")
			return err
		},
		"a mistyped contract": func() error {
			_, err := f.e.Approve(ctx, p.ID, "bob", "TEST-2", "the successor declined it")
			return err
		},
		"nobody":                  func() error { _, err := f.e.Approve(ctx, p.ID, "", "TEST-1", "the successor declined it"); return err },
		"no hand-over, no waiver": func() error { _, err := f.e.Approve(ctx, p.ID, "bob", "TEST-1", " "); return err },
		"execute unapproved":      func() error { return f.e.CheckExecutable(p, time.Now().Add(1000*time.Hour)) },
		"cancel without a who":    func() error { _, err := f.e.Cancel(ctx, p.ID, "", ""); return err },
	} {
		if err := try(); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	if n := testenv.AuditCount(t, f.store, "erase.approve", audit.ResultDenied); n != 5 {
		t.Errorf("refused approvals audited %d times, want 5", n)
	}
	if _, err := f.e.Plan(ctx, "EP-none"); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("unknown plan: %v", err)
	}

	ok, err := f.e.Approve(ctx, p.ID, "bob", "TEST-1", "the successor declined it")
	if err != nil || ok.Status != StatusApproved || ok.Approval.By != "bob" || ok.Approval.HandoverWaived != "the successor declined it" {
		t.Fatalf("approve: %+v, %v", ok, err)
	}
	approvedAt, _ := f.e.clock.Parse(ok.Approval.Time)
	if err := f.e.CheckExecutable(ok, approvedAt.Add(59*time.Minute)); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "cooling-off") {
		t.Fatalf("execute within the cooling-off: %v", err)
	}
	if err := f.e.CheckExecutable(ok, approvedAt.Add(time.Hour)); err != nil {
		t.Fatalf("execute after the cooling-off: %v", err)
	}
	if _, err := f.e.Approve(ctx, p.ID, "carol", "TEST-1", "the successor declined it"); !errors.Is(err, ErrRefused) {
		t.Fatalf("a second approval: %v", err)
	}
	c, err := f.e.Cancel(ctx, p.ID, "carol", "wrong date")
	if err != nil || c.Status != StatusCancelled {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	if err := f.e.CheckExecutable(c, approvedAt.Add(2*time.Hour)); !errors.Is(err, ErrRefused) {
		t.Fatalf("execute after cancel: %v", err)
	}
	if _, err := f.e.Cancel(ctx, p.ID, "carol", ""); !errors.Is(err, ErrRefused) {
		t.Fatalf("cancel twice: %v", err)
	}

	// A target that may not be deleted makes a plan unapprovable.
	p2, err := f.e.MakePlan(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for i := range p2.Targets {
		if p2.Targets[i].ID == "database:db" {
			p2.Targets[i].Access = "denied: reader is neither its owner nor a superuser"
		}
	}
	p2.Hash = p2.inventoryHash()
	if err := f.e.save(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Approve(ctx, p2.ID, "bob", "TEST-1", "the successor declined it"); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "database:db could not be deleted") {
		t.Fatalf("approve a plan with a target that may not be deleted: %v", err)
	}
	// A plan changed in the catalog is refused.
	row, _ := f.store.ErasePlan(ctx, p2.ID)
	row.Record = bytes.Replace(row.Record, []byte(`"tables":1`), []byte(`"tables":0`), 1)
	if err := f.store.PutErasePlan(ctx, row); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Plan(ctx, p2.ID); err == nil || !strings.Contains(err.Error(), "does not match its hash") {
		t.Fatalf("a plan changed in the catalog: %v", err)
	}
}

func TestFreezeRefusesWork(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testenv.LoadConfig(t, dir, "repositories:\n  - {name: disk, local: {}}\n")
	st := testenv.OpenState(t, cfg)
	if err := CheckNotFrozen(ctx, st.Store, "backups"); err != nil {
		t.Fatalf("not frozen: %v", err)
	}
	e := New(Deps{Config: cfg, Store: st.Store, Audit: st.Audit, Clock: st.Clock})
	if err := e.freeze(ctx, &Plan{ID: "EP-1"}); err != nil {
		t.Fatal(err)
	}
	err := CheckNotFrozen(ctx, st.Store, "backups")
	if !errors.Is(err, ErrFrozen) || !strings.Contains(err.Error(), "EP-1") || !strings.Contains(err.Error(), "backups are refused") {
		t.Fatalf("frozen: %v", err)
	}
}

// The plan checks the credential erase will use: a read-only backup role
// may not drop its database (denied, so the plan cannot be approved);
// sources[].erase.postgres names one that may.
func TestPlanChecksTheEraseCredential(t *testing.T) {
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "postgres", `CREATE ROLE reader LOGIN PASSWORD 'reader-pw'`)
	pg.Exec(t, "cases", `CREATE TABLE notes (id int); GRANT SELECT ON notes TO reader`)
	for _, c := range []struct {
		name, erase, want string
	}{
		{"backup role only", "", "denied: reader is neither its owner"},
		{"erase login", fmt.Sprintf("\n    erase: {postgres: {user: %s, password: %s}}", pg.User, testenv.SecretFile(t, t.TempDir(), "su", pg.Password)), "ok: " + pg.User + " is a superuser"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testenv.LoadConfig(t, dir, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: reader, password: %s}%s
jobs:
  - {name: j, sources: [db], repository: disk}
erase: {approvers: [bob]}
`, pg.Port, testenv.SecretFile(t, dir, "reader", "reader-pw"), c.erase))
			st := testenv.OpenState(t, cfg)
			repos := repo.New(repo.Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Audit: st.Audit})
			e := New(Deps{Config: cfg, Store: st.Store, Manifests: st.Store.CountManifests, Repos: repos, Audit: st.Audit, Clock: st.Clock})
			p, err := e.MakePlan(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if db := target(t, p, "database:db"); !strings.HasPrefix(db.Access, c.want) || db.Before.Tables != 1 {
				t.Fatalf("database target %+v, want access %q…", db, c.want)
			}
		})
	}
}
