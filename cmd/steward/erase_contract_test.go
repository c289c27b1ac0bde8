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

	"steward/erase"
	"steward/internal/testenv"
)

// TestEraseWholeContract: a whole contract — a path source, a database
// with its own role, a versioned bucket with an old version, a delete
// marker and an unfinished upload, an S3 repository in a versioned bucket
// with an S3 replica on a second server and a local replica, an S3 user —
// is
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
	osaka := testenv.StartS3(t) // a second server for the S3 replica
	osaka.MakeBucket(t, "replica", testenv.WithVersioning())
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
	// Special accounts (req 27): the city app's S3 key and its database
	// role.
	s3.CreateUser(t, "CITYAPPKEY1", "city-app-secret-1", "user")
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", `CREATE ROLE app_user LOGIN PASSWORD 'app-pw'`)
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
  - name: osaka%s
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, db, bucket], repository: tokyo, replicas: [copy, osaka]}
drills:
  read_data_subsets: 1
  scratch:
    dir: %s
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
accounts:
  - name: city-app-key
    kind: s3_access_key
    target: bucket
    id: CITYAPPKEY1
    admin: {provider: versitygw, endpoint: %s, region: %s, access_key: %s, secret_key: %s}
  - {name: app-role, kind: postgres_role, target: db, id: app_user, admin: {user: %s, password: %s}}
  - {name: restic-key, kind: restic_key, target: tokyo, id: primary}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey),
		testenv.S3YAML(t, dir, osaka, "replica", osaka.AccessKey, osaka.SecretKey), files,
		pg.Port, pg.User, pgpw, testenv.S3YAML(t, dir, s3, "src", s3.AccessKey, s3.SecretKey),
		filepath.Join(dir, "scratch"), pg.Port, pg.User, pgpw,
		s3.AdminURL, s3.Region, testenv.SecretFile(t, dir, "root-a", s3.AccessKey), testenv.SecretFile(t, dir, "root-s", s3.SecretKey), pg.User, pgpw)
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
	run(0, "handover", "export", "--to", filepath.Join(t.TempDir(), "handover"))
	masterKey, err := os.ReadFile(filepath.Join(dir, "state", "keys", "master.key"))
	if err != nil || len(masterKey) != 32 {
		t.Fatalf("master key: %d bytes, %v", len(masterKey), err)
	}

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

	// The evidence lists every object version and delete marker the purges
	// deleted, as many as the journal counted, each by key hash.
	var verified struct {
		Objects struct{ Count, Bytes int64 } `json:"objects"`
	}
	if err := json.Unmarshal([]byte(run(0, "--json", "verify", pdf)), &verified); err != nil {
		t.Fatal(err)
	}
	var shown struct {
		Journal []struct {
			Name     string
			Evidence struct {
				Targets []struct {
					ID      string `json:"id"`
					Deleted struct {
						Versions      int64 `json:"versions"`
						DeleteMarkers int64 `json:"delete_markers"`
						Bytes         int64 `json:"bytes"`
					} `json:"deleted"`
				} `json:"targets"`
			}
		} `json:"journal"`
	}
	if err := json.Unmarshal([]byte(run(0, "--json", "erase", "show", plan.ID)), &shown); err != nil {
		t.Fatal(err)
	}
	var counted, countedBytes int64
	for _, r := range shown.Journal {
		if r.Name == erase.StepCryptoErase || r.Name == erase.StepDelete {
			for _, tg := range r.Evidence.Targets {
				if n := tg.Deleted.Versions + tg.Deleted.DeleteMarkers; n > 0 { // S3, not files
					counted += n
					countedBytes += tg.Deleted.Bytes
				}
			}
		}
	}
	if verified.Objects.Count == 0 || verified.Objects.Count != counted || verified.Objects.Bytes != countedBytes {
		t.Errorf("the certificate lists %d objects (%d bytes); the journal counted %d deleted versions and markers (%d bytes)",
			verified.Objects.Count, verified.Objects.Bytes, counted, countedBytes)
	}

	// The master key is gone: its bytes are nowhere in the state dir, and
	// Steward refuses to seal with it, naming the plan.
	if _, err := os.Lstat(filepath.Join(dir, "state", "keys", "master.key")); err == nil {
		t.Error("the master key survived the erase")
	}
	if code, _, errOut := stewardRun(t, dir, "a secret\n", "secret", "seal"); code == 0 || !strings.Contains(errOut, "destroyed") || !strings.Contains(errOut, plan.ID) {
		t.Errorf("secret seal after the erase: exit %d\n%s", code, errOut)
	}
	if show := run(0, "erase", "show", plan.ID); !strings.Contains(show, "9 certificate") || !strings.Contains(show, "deletion certificate DC-") || !strings.Contains(show, "DONE") {
		t.Fatalf("show after execute:\n%s", show)
	}
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
	if ok, err := osaka.Client(t).BucketExists(ctx, "replica"); err != nil || ok {
		t.Errorf("the S3 replica's bucket on the second server: exists %v, %v", ok, err)
	}
	if rows := pg.Query(t, "postgres", `SELECT datname FROM pg_database WHERE datname = 'cases' OR datname LIKE 'steward_drill_%'`); len(rows) != 0 {
		t.Errorf("databases left: %v", rows)
	}
	if rows := pg.Query(t, "postgres", `SELECT rolname FROM pg_roles WHERE rolname = 'app_user'`); len(rows) != 0 {
		t.Errorf("role app_user left")
	}
	if _, err := s3.ClientAs(t, "CITYAPPKEY1", "city-app-secret-1").ListBuckets(ctx); minio.ToErrorResponse(err).Code != "InvalidAccessKeyId" {
		t.Errorf("the revoked key is not refused as unknown: %v", err)
	}
	for _, p := range []string{files, filepath.Join(dir, "state", "repositories", "copy"), filepath.Join(dir, "state", "cache", "restic"),
		filepath.Join(dir, "state", "keys", "repositories", "tokyo.sealed"), filepath.Join(dir, "state", "keys", "repositories", "copy.sealed")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s still exists", p)
		}
	}
	for _, root := range []string{s3.Dir, osaka.Dir, filepath.Join(dir, "state")} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(marker)) {
				t.Errorf("the marker is still in %s", p)
			} else if bytes.Contains(b, masterKey) {
				t.Errorf("the master key's bytes are still in %s", p)
			}
			return nil
		})
	}
}

// TestEraseComplianceException: a compliance-retained object version
// cannot be deleted. Everything else is; execute and erase verify exit 3
// naming the bucket, the certificate reads "Erased with exceptions", and
// nothing claims full success.
func TestEraseComplianceException(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "locked", testenv.WithObjectLock())
	mc := s3.Client(t)
	if _, err := mc.PutObject(ctx, "locked", "kept.txt", strings.NewReader("kept"), 4, minio.PutObjectOptions{
		Mode: minio.Compliance, RetainUntilDate: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "locked", "free.txt", strings.NewReader("free"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - name: bucket%s
jobs:
  - {name: j, sources: [bucket], repository: disk}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "locked", s3.AccessKey, s3.SecretKey))), 0o600)
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
		return out, errOut
	}
	run(0, "init")
	run(0, "repo", "init")
	run(0, "backup", "run")
	out, _ := run(0, "erase", "plan", "--as", "alice")
	id := strings.Fields(out)[2]
	run(0, "erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "test")
	time.Sleep(1100 * time.Millisecond)
	out, errOut := run(exitVerify, "erase", "execute", id, "--as", "alice")
	if !strings.Contains(out, "(Erased with exceptions)") || !strings.Contains(out, "kept by object lock") || !strings.Contains(errOut, "bucket:bucket") {
		t.Fatalf("execute with a retained version:\n%s%s", out, errOut)
	}
	if strings.Contains(out+errOut, "kept.txt") {
		t.Fatalf("an object key in the output:\n%s%s", out, errOut)
	}
	var pdf string
	for _, f := range strings.Fields(out) {
		if strings.HasSuffix(f, ".pdf") {
			pdf = f
		}
	}
	run(0, "verify", pdf) // a valid certificate, of exceptions
	if _, errOut := run(exitVerify, "erase", "verify", id); !strings.Contains(errOut, "1 of") {
		t.Fatalf("erase verify: %s", errOut)
	}
	if show, _ := run(0, "erase", "show", id); !strings.Contains(show, "exception: bucket:bucket") {
		t.Fatalf("show:\n%s", show)
	}
	// Everything not retained went.
	var left []string
	for o := range mc.ListObjects(ctx, "locked", minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		left = append(left, o.Key)
	}
	if len(left) != 1 || left[0] != "kept.txt" {
		t.Fatalf("left in the bucket: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "repositories", "disk")); err == nil {
		t.Fatal("the repository survived")
	}
}
