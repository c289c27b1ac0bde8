package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/testenv"
)

// TestEraseWholeContract: a whole contract — a path source, a database, a
// versioned bucket with an old version, a delete marker and an unfinished
// upload, an S3 repository in a versioned bucket with a local replica — is
// backed up, drilled, planned, approved, executed and verified. Checks
// that do not use Steward's code (the root key's listing, psql, the file
// system, a grep of a marker planted in the data over the S3 server's
// storage and the state dir) find nothing left; pdfsig says the
// certificate's signature is valid and `steward verify` passes; a second
// execute issues no second certificate.
func TestEraseWholeContract(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	marker := fmt.Sprintf("STEWARD-MARKER-%d", time.Now().UnixNano())
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "src", testenv.WithVersioning())
	s3.MakeBucket(t, "repo", testenv.WithVersioning())
	mc := s3.Client(t)
	for _, body := range []string{"old " + marker, "new " + marker} {
		if _, err := mc.PutObject(ctx, "src", "cases/a.txt", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mc.PutObject(ctx, "src", "cases/b.txt", strings.NewReader(marker), int64(len(marker)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := mc.RemoveObject(ctx, "src", "cases/b.txt", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	core := minio.Core{Client: mc}
	upload, err := core.NewMultipartUpload(ctx, "src", "cases/big.bin", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte(marker), 1000)
	if _, err := core.PutObjectPart(ctx, "src", "cases/big.bin", upload, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE notes (id int PRIMARY KEY, body text)`)
	pg.Exec(t, "cases", `INSERT INTO notes VALUES (1, $1)`, marker)
	files := filepath.Join(dir, "files")
	os.MkdirAll(files, 0o700)
	os.WriteFile(filepath.Join(files, "case.txt"), []byte(marker), 0o600)
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - name: tokyo%s
  - {name: copy, local: {}}
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
    dir: %s
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), files,
		pg.Port, pg.User, pgpw, testenv.S3YAML(t, dir, s3, "src", s3.AccessKey, s3.SecretKey),
		filepath.Join(dir, "scratch"), pg.Port, pg.User, pgpw)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	run := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
		return out
	}
	run(0, "init")
	run(0, "repo", "init")
	run(0, "backup", "run")
	run(0, "drill", "run")

	out := run(0, "--json", "erase", "plan", "--as", "alice")
	var plan struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &plan); err != nil || plan.ID == "" {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	run(exitFailure, "erase", "execute", plan.ID, "--as", "alice") // not approved
	run(0, "erase", "approve", plan.ID, "--as", "bob", "--confirm", "T-1")
	time.Sleep(1100 * time.Millisecond) // the cooling-off
	out = run(0, "erase", "execute", plan.ID, "--dry-run", "--as", "alice")
	if !strings.Contains(out, "nothing was changed") || !strings.Contains(out, "nothing beyond the plan") {
		t.Fatalf("dry run:\n%s", out)
	}
	out = run(0, "erase", "execute", plan.ID, "--as", "alice")
	if !strings.Contains(out, "deletion certificate DC-") || !strings.Contains(out, "(Erased)") {
		t.Fatalf("execute:\n%s", out)
	}
	var pdf string
	for _, f := range strings.Fields(out) {
		if strings.HasSuffix(f, ".pdf") {
			pdf = f
		}
	}
	if sig, err := exec.Command("pdfsig", pdf).CombinedOutput(); !strings.Contains(string(sig), "Signature is Valid.") {
		t.Fatalf("pdfsig: %v %s", err, sig)
	}
	run(0, "verify", pdf)
	run(0, "erase", "verify", plan.ID)
	again := run(0, "erase", "execute", plan.ID, "--as", "alice")
	if !strings.Contains(again, pdf) {
		t.Fatalf("a second execute did not name the same certificate:\n%s", again)
	}
	if pdfs, _ := filepath.Glob(filepath.Join(dir, "state", "reports", "deletion-certificate-*.pdf")); len(pdfs) != 1 {
		t.Fatalf("certificates issued: %v", pdfs)
	}
	// The freeze holds after the erase.
	run(exitFailure, "backup", "run")

	// Checks that do not use Steward's code.
	buckets, err := mc.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets {
		if b.Name == "src" || b.Name == "repo" {
			t.Errorf("bucket %s still listed by the root key", b.Name)
		}
	}
	if rows := pg.Query(t, "postgres", `SELECT datname FROM pg_database WHERE datname = 'cases' OR datname LIKE 'steward_drill_%'`); len(rows) != 0 {
		t.Errorf("databases left: %v", rows)
	}
	for _, p := range []string{files, filepath.Join(dir, "state", "repositories", "copy"), filepath.Join(dir, "state", "cache", "restic"),
		filepath.Join(dir, "state", "keys", "repositories", "tokyo.sealed"), filepath.Join(dir, "state", "keys", "repositories", "copy.sealed")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s still exists", p)
		}
	}
	for _, root := range []string{s3.Dir, filepath.Join(dir, "state")} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(marker)) {
				t.Errorf("the marker is still in %s", p)
			}
			return nil
		})
	}
}
