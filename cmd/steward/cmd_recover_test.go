package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"steward/app"
	"steward/backup"
	"steward/drills"
	"steward/internal/catalog"
	"steward/internal/testenv"
	"steward/recovery"
)

// TestRecoverRebuildsTheCatalog follows the host-loss procedure with the
// passwords in hand: a job of a path, a PostgreSQL and a bucket source
// into an S3 primary with a local replica is backed up twice; the state
// dir is deleted; `steward recover` on a new state dir rebuilds the
// catalog from the repositories. Then snapshots lists the same snapshots,
// a drill of each kind passes from the primary (manifests from the
// rebuilt catalog) and from the replica, and a backup run reuses the
// previous manifest of the unchanged directory. A second recover adds
// nothing, and no password is in the new catalog, the audit log or argv.
func TestRecoverRebuildsTheCatalog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "attachments")
	s3.MakeBucket(t, "repo")
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 200) g`)
	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 6, 40000)
	mc := s3.Client(t)
	for i := range 3 {
		b := make([]byte, 900+i)
		rand.Read(b)
		if _, err := mc.PutObject(ctx, "attachments", fmt.Sprintf("case-%d.pdf", i), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	// The local replica lives outside the state dir: it survives the host.
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - name: tokyo%s
  - {name: copy, local: {path: %s}}
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, db, bucket], repository: tokyo, replicas: [copy]}
drills:
  read_data_subsets: 1
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}%s
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), filepath.Join(dir, "replica"), files,
		pg.Port, pg.User, pgpw, testenv.S3YAML(t, dir, s3, "attachments", s3.AccessKey, s3.SecretKey),
		pg.Port, pg.User, pgpw, testenv.S3YAML(t, dir, s3, "scratch", s3.AccessKey, s3.SecretKey))
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	before := snapshotIDs(t, dir)
	if len(before) != 6 {
		t.Fatalf("before: %d snapshots, want 6 (3 sources, 2 runs): %v", len(before), before)
	}

	// The passwords, as the recovery kit will carry them (here unsealed
	// from the old state dir with its own key).
	passwords := map[string]string{}
	var pwArgs []string
	old, err := app.Open(ctx, app.Options{ConfigPath: filepath.Join(dir, "steward.yaml"), LogLevel: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	repos, err := old.Repos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokyo", "copy"} {
		pw, err := repos.Password(name)
		if err != nil {
			t.Fatal(err)
		}
		passwords[name] = string(pw.Reveal())
		p := filepath.Join(dir, name+".password")
		os.WriteFile(p, append(pw.Reveal(), '\n'), 0o600)
		pwArgs = append(pwArgs, "--password-file", name+"="+p)
	}
	old.Close()

	// recover refuses a live host's state dir, before reading anything.
	code, _, errOut := stewardRun(t, dir, "", append([]string{"recover"}, pwArgs...)...)
	if code != exitUsage || !strings.Contains(errOut, "not a new host's") {
		t.Fatalf("recover into the live state dir: exit %d, want %d:\n%s", code, exitUsage, errOut)
	}

	// The host is lost.
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--json", "recover"}, pwArgs...)
	code, out, errOut := stewardRun(t, dir, "", args...)
	if code != 0 {
		t.Fatalf("recover: exit %d\n%s%s", code, out, errOut)
	}
	res := recoverResult(t, out)
	want := map[string]recovery.RepositoryResult{
		"tokyo": {Name: "tokyo", Kind: "s3", Read: true, Snapshots: 6, SnapshotRows: 6, Manifests: 6, Runs: 6},
		"copy":  {Name: "copy", Kind: "local", Read: true, Snapshots: 6},
	}
	for _, r := range res {
		if w := want[r.Name]; r.Name != w.Name || r.Kind != w.Kind || r.Read != w.Read || r.Snapshots != w.Snapshots || r.SnapshotRows != w.SnapshotRows ||
			r.Manifests != w.Manifests || r.Runs != w.Runs || r.Known != 0 || r.Unclaimed != 0 || len(r.Problems) > 0 {
			t.Errorf("recover of %s: %+v, want %+v", r.Name, r, w)
		}
	}

	// Idempotent: a second recover adds nothing.
	code, out, errOut = stewardRun(t, dir, "", args...)
	if code != 0 {
		t.Fatalf("second recover: exit %d\n%s%s", code, out, errOut)
	}
	for _, r := range recoverResult(t, out) {
		if r.SnapshotRows+r.Manifests+r.Runs != 0 || (r.Name == "tokyo" && r.Known != 6) {
			t.Errorf("second recover of %s added rows: %+v", r.Name, r)
		}
	}

	if after := snapshotIDs(t, dir); !slices.Equal(after, before) {
		t.Fatalf("snapshots after recover:\n%v\nbefore:\n%v", after, before)
	}

	// Drills of each kind, from the primary (manifests from the rebuilt
	// catalog) and from the replica.
	for _, repository := range []string{"tokyo", "copy"} {
		code, out, errOut := stewardRun(t, dir, "", "drill", "run", "--repository", repository)
		if code != 0 {
			t.Fatalf("drill of %s: %d\n%s%s", repository, code, out, errOut)
		}
		recs := latestDrills(t, dir, 3)
		for _, r := range recs {
			origin := "repository"
			if repository == "tokyo" {
				origin = "catalog"
			}
			if r.Repository != repository || r.Result != drills.ResultPassed || r.Manifest.Origin != origin {
				t.Errorf("drill %s of %s: repository %s, result %s, manifest from the %s (want %s)", r.DrillID, r.Source, r.Repository, r.Result, r.Manifest.Origin, origin)
			}
		}
		if kinds := sourceKinds(recs); kinds != "path,postgres,s3" {
			t.Errorf("%s: drilled kinds %s, want every kind", repository, kinds)
		}
	}

	// A backup runs, and the unchanged directory reuses its manifest.
	code, out, errOut = stewardRun(t, dir, "", "--json", "backup", "run")
	if code != 0 {
		t.Fatalf("backup after recover: %d\n%s%s", code, out, errOut)
	}
	rep := backupReport(t, out)
	for _, r := range rep.Runs {
		if r.Result != backup.ResultOK || (r.Source == "files" && !r.ManifestReused) {
			t.Errorf("run of %s after recover: result %s, manifest reused %t", r.Source, r.Result, r.ManifestReused)
		}
	}

	// The rebuilt runs read back as backup's run records.
	store, err := catalog.Open(ctx, filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := store.JobRuns(ctx, "j", 0)
	store.Close()
	if err != nil || len(runs) != 9 {
		t.Fatalf("runs: %d, %v", len(runs), err)
	}
	for _, row := range runs[3:] {
		var rec backup.RunRecord
		if err := json.Unmarshal(row.Record, &rec); err != nil || rec.ID != row.ID || rec.SnapshotID != row.SnapshotID || rec.Result != backup.ResultOK ||
			rec.ManifestSHA256 == "" || rec.ManifestID == "" || len(rec.Copies) != 1 || !bytes.Contains(row.Record, []byte(`"rebuilt"`)) {
			t.Errorf("rebuilt run %s: %v %+v", row.ID, err, rec)
		}
	}

	// The audit log restarts with the rebuild, counted; no password is
	// anywhere in the new state dir or on a command line.
	audit := string(mustRead(t, filepath.Join(dir, "state", "audit.jsonl")))
	for _, w := range []string{`"action":"steward.init"`, `"action":"recovery.rebuild"`, `snapshot_rows_added=6 manifests_added=6 runs_added=6`, `"action":"recovery.seal-passwords"`} {
		if !strings.Contains(audit, w) {
			t.Errorf("audit log lacks %s", w)
		}
	}
	for name, pw := range passwords {
		if strings.Contains(strings.Join(args, " "), pw) {
			t.Errorf("%s's password is in argv", name)
		}
		filepath.WalkDir(filepath.Join(dir, "state"), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && bytes.Contains(mustRead(t, p), []byte(pw)) {
				t.Errorf("%s's password is in %s in clear", name, p)
			}
			return nil
		})
	}
}

// snapshotIDs lists `steward snapshots`: id, source and replicas.
func snapshotIDs(t *testing.T, dir string) []string {
	t.Helper()
	code, out, errOut := stewardRun(t, dir, "", "--json", "snapshots")
	var lists []backup.SnapshotList
	if code != 0 || json.Unmarshal([]byte(out), &lists) != nil || len(lists) != 1 {
		t.Fatalf("snapshots: %d\n%s%s", code, out, errOut)
	}
	var ids []string
	for _, s := range lists[0].Snapshots {
		ids = append(ids, s.ID+" "+s.Source+" "+strings.Join(s.Replicas, ","))
	}
	slices.Sort(ids)
	return ids
}

func recoverResult(t *testing.T, out string) []recovery.RepositoryResult {
	t.Helper()
	var res struct {
		Repositories []recovery.RepositoryResult `json:"repositories"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Repositories) != 2 {
		t.Fatalf("recover --json: %v\n%s", err, out)
	}
	return res.Repositories
}

// backupReport is the report line of `backup run --json`.
func backupReport(t *testing.T, out string) backup.Report {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		Kind   string        `json:"kind"`
		Report backup.Report `json:"report"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Kind != "report" {
		t.Fatalf("backup run --json: %v\n%s", err, out)
	}
	return last.Report
}

// TestRecoverNamesWhatItCannotRead: a replica that is not there, then one
// given the wrong password, is named (exit 1) while the primary is rebuilt
// all the same, and its password is not sealed; once it answers, recover
// again adds it without adding the primary's rows twice.
func TestRecoverNamesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 4, 1000)
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: main, local: {path: %s}}
  - {name: copy, local: {path: %s}}
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: main, replicas: [copy]}
`, filepath.Join(repoRoot(t), "bin", "restic"), filepath.Join(dir, "main"), filepath.Join(dir, "copy"), files)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	old, err := app.Open(context.Background(), app.Options{ConfigPath: filepath.Join(dir, "steward.yaml"), LogLevel: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	repos, _ := old.Repos(context.Background())
	var pwArgs []string
	for _, name := range []string{"main", "copy"} {
		pw, err := repos.Password(name)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name+".password"), pw.Reveal(), 0o600)
		pwArgs = append(pwArgs, "--password-file", name+"="+filepath.Join(dir, name+".password"))
	}
	old.Close()
	os.WriteFile(filepath.Join(dir, "wrong.password"), []byte("not-the-password"), 0o600)
	os.RemoveAll(filepath.Join(dir, "state"))
	sealed := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, "state", "keys", "repositories", name+".sealed"))
		return err == nil
	}

	// The replica is not there.
	os.Rename(filepath.Join(dir, "copy"), filepath.Join(dir, "copy-away"))
	code, out, errOut := stewardRun(t, dir, "", append([]string{"recover"}, pwArgs...)...)
	if code != exitFailure || !strings.Contains(errOut, `repository "copy" not read`) || !strings.Contains(out, "main") || !sealed("main") || sealed("copy") {
		t.Fatalf("recover without the replica: exit %d, main sealed %t, copy sealed %t\n%s%s", code, sealed("main"), sealed("copy"), out, errOut)
	}
	t.Logf("recover without the replica:\n%s%s", out, errOut)
	// Back, but with the wrong password.
	os.Rename(filepath.Join(dir, "copy-away"), filepath.Join(dir, "copy"))
	code, out, errOut = stewardRun(t, dir, "", "--json", "recover", pwArgs[0], pwArgs[1], "--password-file", "copy="+filepath.Join(dir, "wrong.password"))
	if code != exitFailure || !strings.Contains(errOut, `repository \"copy\" not read`) || sealed("copy") {
		t.Fatalf("recover with a wrong password: exit %d, copy sealed %t\n%s%s", code, sealed("copy"), out, errOut)
	}
	// Right: the replica is added, the primary's rows are not added twice.
	code, out, errOut = stewardRun(t, dir, "", append([]string{"--json", "recover"}, pwArgs...)...)
	if code != 0 || !sealed("copy") {
		t.Fatalf("recover with the replica back: exit %d\n%s%s", code, out, errOut)
	}
	for _, r := range recoverResult(t, out) {
		if !r.Read || r.Snapshots != 1 || r.SnapshotRows+r.Manifests+r.Runs != 0 {
			t.Errorf("third recover of %s: %+v", r.Name, r)
		}
	}
	if code, out, errOut := stewardRun(t, dir, "", "drill", "run", "--repository", "copy"); code != 0 {
		t.Fatalf("drill of the replica after recover: %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := stewardRun(t, dir, "", "recover", "--help"); code != 0 || !strings.Contains(out, "--password-file NAME=FILE") {
		t.Errorf("recover --help: %d\n%s", code, out)
	}
	if code, _, errOut := stewardRun(t, dir, "", "recover", "--password-file", "nope="+filepath.Join(dir, "main.password")); code != exitUsage || !strings.Contains(errOut, `no repository named "nope"`) {
		t.Errorf("recover with an unknown repository: %d %s", code, errOut)
	}
}
