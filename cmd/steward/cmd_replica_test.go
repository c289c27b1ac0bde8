package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"steward/app"
	"steward/drills"
	"steward/internal/repo"
	"steward/internal/testenv"
)

// TestReplicasDrilledAndChecked: every copy counts. A drill of each source
// kind from a local and an S3 replica passes, reading the manifest from
// the replica itself; a corrupted pack in a replica fails its drill (exit
// 3, naming the replica), and from then on status and every backup run
// show the replica as failing until a check of it passes again.
func TestReplicasDrilledAndChecked(t *testing.T) {
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
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
  - name: tokyo%s
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, db, bucket], repository: disk, replicas: [copy, tokyo]}
drills:
  read_data_subsets: 1
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}%s
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), files,
		pg.Port, pg.User, pgpw, testenv.S3YAML(t, dir, s3, "attachments", s3.AccessKey, s3.SecretKey),
		pg.Port, pg.User, pgpw, testenv.S3YAML(t, dir, s3, "scratch", s3.AccessKey, s3.SecretKey))
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}

	for _, replica := range []string{"copy", "tokyo"} {
		code, out, errOut := stewardRun(t, dir, "", "drill", "run", "--repository", replica)
		if code != 0 {
			t.Fatalf("drill of replica %s: %d\n%s%s", replica, code, out, errOut)
		}
		recs := latestDrills(t, dir, 3)
		for _, r := range recs {
			if r.Repository != replica || r.Result != drills.ResultPassed || r.Manifest.Origin != "repository" {
				t.Errorf("drill %s of %s: repository %s, result %s, manifest from the %s", r.DrillID, r.Source, r.Repository, r.Result, r.Manifest.Origin)
			}
		}
		if kinds := sourceKinds(recs); kinds != "path,postgres,s3" {
			t.Errorf("replica %s: drilled kinds %s, want every kind", replica, kinds)
		}
	}
	if h := health(t, dir, "copy"); h.Result != repo.HealthOK {
		t.Fatalf("copy after a passed drill: %+v", h)
	}

	// Damage the largest pack of the local replica.
	packs := packFiles(t, filepath.Join(dir, "state", "repositories", "copy", "data"))
	largest := packs[0]
	orig, err := os.ReadFile(largest)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(orig)
	for i := len(bad) / 4; i < len(bad)/2; i++ {
		bad[i] ^= 0xff
	}
	os.Chmod(largest, 0o600)
	if err := os.WriteFile(largest, bad, 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, errOut := stewardRun(t, dir, "", "drill", "run", "--repository", "copy")
	if code != exitVerify || !strings.Contains(errOut, `repository "copy"`) {
		t.Fatalf("drill of a damaged replica: exit %d, want %d naming the replica:\n%s", code, exitVerify, errOut)
	}
	h := health(t, dir, "copy")
	if !h.Failing() || !strings.HasPrefix(h.By, "drill:") {
		t.Fatalf("copy after a failed drill: %+v", h)
	}
	code, out, _ := stewardRun(t, dir, "", "status")
	if !strings.Contains(out, "repository copy is FAILING") {
		t.Fatalf("status does not show the failing replica (exit %d):\n%s", code, out)
	}
	code, out, errOut = stewardRun(t, dir, "", "backup", "run")
	if code != exitFailure || !strings.Contains(out, "FAILING repository copy") || !strings.Contains(errOut, `repository "copy"`) {
		t.Fatalf("backup run with a failing replica: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := stewardRun(t, dir, "", "repo", "check", "copy"); code != exitVerify || !strings.Contains(errOut, "copy") {
		t.Fatalf("repo check of the damaged replica: %d %s", code, errOut)
	}

	// Repaired: a passing check clears the verdict, and backups are clean
	// again.
	if err := os.WriteFile(largest, orig, 0o400); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := stewardRun(t, dir, "", "repo", "check"); code != 0 || !strings.Contains(out, "copy: ok by check") || !strings.Contains(out, "tokyo: ok by check") {
		t.Fatalf("repo check after repair: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stewardRun(t, dir, "", "backup", "run"); code != 0 || strings.Contains(out, "FAILING") {
		t.Fatalf("backup run after repair: %d\n%s%s", code, out, errOut)
	}
}

func latestDrills(t *testing.T, dir string, n int) []drills.Record {
	t.Helper()
	_, out, _ := stewardRun(t, dir, "", "drill", "list", "--json")
	var recs []drills.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) < n {
		t.Fatalf("drill list: %v (%d records)\n%s", err, len(recs), out)
	}
	return recs[:n]
}

func sourceKinds(recs []drills.Record) string {
	var kinds []string
	for _, k := range []string{"path", "postgres", "s3"} {
		for _, r := range recs {
			if r.SourceKind == k {
				kinds = append(kinds, k)
				break
			}
		}
	}
	return strings.Join(kinds, ",")
}

func health(t *testing.T, dir, name string) repo.Health {
	t.Helper()
	_, out, _ := stewardRun(t, dir, "", "status", "--json")
	var st app.StatusResult
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	for _, h := range st.Health {
		if h.Repository == name {
			return h
		}
	}
	t.Fatalf("status shows no health for %s: %s", name, out)
	return repo.Health{}
}

// packFiles lists a local repository's pack files, largest first.
func packFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	type pack struct {
		path string
		size int64
	}
	var packs []pack
	filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			packs = append(packs, pack{p, info.Size()})
		}
		return nil
	})
	if len(packs) == 0 {
		t.Fatalf("no pack files under %s", dataDir)
	}
	var out []string
	for len(packs) > 0 {
		best := 0
		for i := range packs {
			if packs[i].size > packs[best].size {
				best = i
			}
		}
		out = append(out, packs[best].path)
		packs = append(packs[:best], packs[best+1:]...)
	}
	return out
}
