package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/app"
	"steward/erase"
	"steward/internal/catalog"
	"steward/internal/testenv"
)

// TestHandoverExport backs up a directory, a database and a bucket, then
// exports them for the successor and checks each export with tools that
// are not Steward's: the tar holds every file with its contents; the SQL
// file loads into a fresh database with psql and its tables match the
// source's; the bucket's files match its objects; the manifest's SHA-256s
// match the files on disk, and its own SHA-256 is the receipt's; pdfsig
// finds the receipt's signature valid and `steward verify` passes; the
// catalog records the export, `erase plan` shows it, and the audit log
// names no file. A non-empty
// --to, an unknown job and a source without a snapshot are refused and
// change nothing. The export still runs once the contract has ended.
func TestHandoverExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "attachments")
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text, at timestamptz DEFAULT '2026-01-02 03:04:05+09');
INSERT INTO c (id, note) SELECT g, md5(g::text) FROM generate_series(1, 300) g;
CREATE TABLE people (name text, born date); INSERT INTO people VALUES ('山田 太郎', '1980-04-01'), ('O''Brien', NULL);`)
	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 7, 3000)
	os.WriteFile(filepath.Join(files, "名前 with space.txt"), []byte("相談記録\n"), 0o644)
	mc := s3.Client(t)
	objects := map[string][]byte{}
	for i, key := range []string{"case-1/doc.pdf", "case-1/deep/scan 2.png", "case-2.txt", "日本語/ファイル.txt"} {
		b := make([]byte, 700+i*13)
		rand.Read(b)
		objects[key] = b
		if _, err := mc.PutObject(ctx, "attachments", key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{ContentType: "application/x-test"}); err != nil {
			t.Fatal(err)
		}
	}
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	cfg := fmt.Sprintf(`contract: {id: T-HO-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, db, bucket], repository: disk}
`, filepath.Join(repoRoot(t), "bin", "restic"), files, pg.Port, pg.User, pgpw, testenv.S3YAML(t, dir, s3, "attachments", s3.AccessKey, s3.SecretKey))
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	// Before any backup there is nothing to hand over: refused before the
	// directory is made.
	early := filepath.Join(dir, "early")
	if code, _, errOut := stewardRun(t, dir, "", "handover", "export", "--to", early); code != exitUsage || !strings.Contains(errOut, "steward backup run --job j") {
		t.Fatalf("export before a backup: %d %s", code, errOut)
	}
	if _, err := os.Stat(early); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused export made its directory")
	}
	if code, out, errOut := stewardRun(t, dir, "", "backup", "run"); code != 0 {
		t.Fatalf("backup run: %d\n%s%s", code, out, errOut)
	}

	out := filepath.Join(dir, "handover")
	code, stdout, stderr := stewardRun(t, dir, "", "--json", "handover", "export", "--to", out)
	if code != 0 {
		t.Fatalf("handover export: %d\n%s%s", code, stdout, stderr)
	}
	var res erase.HandoverResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json result: %v\n%s", err, stdout)
	}
	if len(res.Sources) != 3 || res.ManifestSHA256 == "" || res.ReceiptPath == "" || res.ReceiptCopy == "" {
		t.Fatalf("result %+v", res)
	}
	for _, s := range res.Sources {
		if len(s.SnapshotID) != 64 || s.SnapshotTime.IsZero() || s.Files == 0 || s.Bytes == 0 {
			t.Errorf("source %+v", s)
		}
	}

	t.Run("tar", func(t *testing.T) { checkTar(t, filepath.Join(out, "j", "files", "files.tar"), files) })
	t.Run("sql", func(t *testing.T) { checkSQL(t, pg, filepath.Join(out, "j", "db")) })
	t.Run("bucket", func(t *testing.T) {
		root := filepath.Join(out, "j", "bucket")
		for key, want := range objects {
			got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("object %s: %d bytes, %v", key, len(got), err)
			}
		}
	})
	t.Run("manifest", func(t *testing.T) { checkManifest(t, out, &res) })
	t.Run("receipt", func(t *testing.T) { checkReceipt(t, dir, &res) })
	t.Run("recorded", func(t *testing.T) {
		a, err := app.Open(ctx, app.Options{ConfigPath: filepath.Join(dir, "steward.yaml"), LogLevel: "warn"})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		last, err := a.LastHandover(ctx)
		if err != nil || last.ID != res.ID || last.ManifestSHA256 != res.ManifestSHA256 || last.ReceiptSHA256 != res.ReceiptSHA256 || len(last.Sources) != 3 {
			t.Fatalf("last hand-over %+v %v", last, err)
		}
		if !strings.Contains(last.String(), res.ManifestSHA256) || !strings.HasSuffix(last.Time, "+09:00") {
			t.Errorf("plan line %q", last.String())
		}
		var actions []string
		a.Catalog.ScanAudit(ctx, func(r catalog.AuditRecord) error {
			if !strings.HasPrefix(r.Action, "handover.") {
				return nil
			}
			actions = append(actions, r.Action+":"+r.Result)
			blob, _ := json.Marshal(r)
			for _, name := range []string{"case-1", "doc.pdf", "f000", "名前", "handover\"", out} {
				if strings.Contains(string(blob), name) {
					t.Errorf("audit record names %q (contract data): %s", name, blob)
				}
			}
			return nil
		})
		if strings.Join(actions, " ") != "handover.export:started handover.receipt:ok handover.export:ok" {
			t.Errorf("audit records %v", actions)
		}
	})

	t.Run("erase plan shows it", func(t *testing.T) {
		code, out, errOut := stewardRun(t, dir, "", "erase", "plan", "--as", "sato")
		if code != 0 || !strings.Contains(out, res.ManifestSHA256) || !strings.Contains(out, res.ID) {
			t.Fatalf("erase plan: %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("non-empty refused", func(t *testing.T) {
		before := treeState(t, out)
		code, _, errOut := stewardRun(t, dir, "", "handover", "export", "--to", out)
		if code != exitUsage || !strings.Contains(errOut, "--to") || !strings.Contains(errOut, "new or empty") {
			t.Fatalf("export into a non-empty dir: %d %s", code, errOut)
		}
		if after := treeState(t, out); after != before {
			t.Fatal("the refused export changed the directory")
		}
		other := filepath.Join(dir, "other")
		os.Mkdir(other, 0o755)
		os.WriteFile(filepath.Join(other, "keep.txt"), []byte("mine"), 0o644)
		if code, _, _ := stewardRun(t, dir, "", "handover", "export", "--to", other, "--job", "j"); code != exitUsage {
			t.Fatalf("export into a dir with a file: %d", code)
		}
		if ents, _ := os.ReadDir(other); len(ents) != 1 {
			t.Fatalf("the refused export wrote into the dir: %v", ents)
		}
		if code, _, errOut := stewardRun(t, dir, "", "handover", "export", "--to", filepath.Join(dir, "x"), "--job", "nope"); code != exitUsage || !strings.Contains(errOut, "--job") {
			t.Fatalf("unknown job: %d %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatal("a refused export made its directory")
		}
	})

	// Backups stop at the contract's end; the hand-over is for then.
	t.Run("after the contract ends", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(strings.Replace(cfg, "2099-03-31", "2020-01-31", 1)), 0o600)
		defer os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
		if code, _, _ := stewardRun(t, dir, "", "backup", "run"); code != exitFailure {
			t.Fatalf("backup after the end: exit %d", code)
		}
		if code, out, errOut := stewardRun(t, dir, "", "handover", "export", "--to", filepath.Join(dir, "late"), "--job", "j"); code != 0 || !strings.Contains(out, "manifest") {
			t.Fatalf("export after the end: %d\n%s%s", code, out, errOut)
		}
	})
}

// checkTar reads the exported tar with archive/tar and compares every
// regular file with the source directory.
func checkTar(t *testing.T, path, src string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	seen := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(hdr.Name, "/") || strings.Contains(hdr.Name, "..") {
			t.Errorf("tar entry %q is not relative", hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		got, _ := io.ReadAll(tr)
		want, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(hdr.Name)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: differs from the source (%v)", hdr.Name, err)
		}
		seen++
	}
	if seen != 8 {
		t.Errorf("tar holds %d files, want 8", seen)
	}
}

// checkSQL loads the exported SQL into a fresh database with psql, and the
// custom-format file into another with pg_restore, and compares every
// table's rows with the source's.
func checkSQL(t *testing.T, pg *testenv.Postgres, dir string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(dir, "db.pgdump")); err != nil || !bytes.HasPrefix(b, []byte("PGDMP")) {
		t.Fatalf("db.pgdump is not a custom-format dump: %v", err)
	}
	pg.CreateDatabase(t, "successor")
	cmd := exec.Command(filepath.Join(pg.BinDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "successor", "-f", filepath.Join(dir, "db.sql"))
	cmd.Env = append(os.Environ(), pg.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql -f db.sql: %v\n%s", err, out)
	}
	pg.CreateDatabase(t, "successor_custom")
	cmd = exec.Command(filepath.Join(pg.BinDir, "pg_restore"), "--no-owner", "-d", "successor_custom", filepath.Join(dir, "db.pgdump"))
	cmd.Env = append(os.Environ(), pg.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore db.pgdump: %v\n%s", err, out)
	}
	const sum = `SELECT (SELECT count(*) || ':' || md5(string_agg(c::text, ',' ORDER BY id)) FROM c) || '/' ||
	                    (SELECT count(*) || ':' || md5(string_agg(people::text, ',' ORDER BY name)) FROM people)`
	want := fmt.Sprint(pg.Query(t, "cases", sum))
	for _, db := range []string{"successor", "successor_custom"} {
		if got := fmt.Sprint(pg.Query(t, db, sum)); got != want {
			t.Errorf("%s: tables %s, source %s", db, got, want)
		}
	}
}

type manifestFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Job    string `json:"job"`
	Source string `json:"source"`
	Role   string `json:"role"`
}

// checkManifest: the manifest lists exactly the files on disk (besides
// itself, its hash and the receipt) with their sizes and SHA-256s, each
// source with its snapshot; its own SHA-256 is the one printed, the
// .sha256 file's and the receipt's; files are 0600 and directories 0700.
func checkManifest(t *testing.T, out string, res *erase.HandoverResult) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, erase.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != res.ManifestSHA256 {
		t.Fatal("the manifest's SHA-256 is not the one reported")
	}
	if side, _ := os.ReadFile(filepath.Join(out, erase.ManifestSumName)); string(side) != res.ManifestSHA256+"  "+erase.ManifestName+"\n" {
		t.Errorf("%s: %q", erase.ManifestSumName, side)
	}
	var m struct {
		Schema  string `json:"schema"`
		ID      string `json:"export_id"`
		Sources []struct {
			Job, Source, Kind string
			SnapshotID        string `json:"snapshot_id"`
			SnapshotTime      string `json:"snapshot_time"`
		} `json:"sources"`
		Files []manifestFile `json:"files"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Schema != erase.HandoverSchema || m.ID != res.ID || len(m.Sources) != 3 {
		t.Fatalf("manifest header %+v", m)
	}
	for i, s := range m.Sources {
		if s.SnapshotID != res.Sources[i].SnapshotID || !strings.HasSuffix(s.SnapshotTime, "+09:00") || s.Kind == "" {
			t.Errorf("manifest source %+v", s)
		}
	}
	listed := map[string]manifestFile{}
	for _, f := range m.Files {
		listed[f.Path] = f
	}
	onDisk := 0
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		st, _ := d.Info()
		if d.IsDir() {
			if st.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %v, want 0700", p, st.Mode().Perm())
			}
			return nil
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
		rel, _ := filepath.Rel(out, p)
		rel = filepath.ToSlash(rel)
		if rel == erase.ManifestName || rel == erase.ManifestSumName || p == res.ReceiptCopy {
			return nil
		}
		onDisk++
		f, ok := listed[rel]
		if !ok {
			t.Errorf("%s is not in the manifest", rel)
			return nil
		}
		data, _ := os.ReadFile(p)
		if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != f.SHA256 || int64(len(data)) != f.Size {
			t.Errorf("%s: manifest says %d bytes %s", rel, f.Size, f.SHA256)
		}
		return nil
	})
	// files.tar, db.pgdump, db.sql and 4 objects.
	if onDisk != len(m.Files) || onDisk != 7 || res.Files != 7 {
		t.Errorf("%d files on disk, %d in the manifest, %d reported", onDisk, len(m.Files), res.Files)
	}
	roles := map[string]int{}
	for _, f := range m.Files {
		roles[f.Role]++
	}
	if fmt.Sprint(roles) != "map[object:4 pg_dump:1 sql:1 tar:1]" {
		t.Errorf("roles %v", roles)
	}
}

// checkReceipt: pdfsig finds the signature valid, `steward verify` passes
// and reports the manifest's SHA-256, and the text shows it too.
func checkReceipt(t *testing.T, dir string, res *erase.HandoverResult) {
	t.Helper()
	for _, p := range []string{res.ReceiptPath, res.ReceiptCopy} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != res.ReceiptSHA256 {
			t.Fatalf("%s: SHA-256 is not the receipt's", p)
		}
	}
	sig, _ := exec.Command("pdfsig", res.ReceiptPath).CombinedOutput()
	if !strings.Contains(string(sig), "Signature is Valid.") || !strings.Contains(string(sig), "Total document signed") {
		t.Fatalf("pdfsig (poppler-utils from ./scripts/setup.sh): %s", sig)
	}
	code, out, errOut := stewardRun(t, dir, "", "verify", "--fingerprint", signerFingerprint(t, dir), res.ReceiptCopy)
	if code != 0 || !strings.Contains(out, "handover-receipt") || !strings.Contains(out, res.ManifestSHA256) || !strings.Contains(out, res.ID) {
		t.Fatalf("verify: %d\n%s%s", code, out, errOut)
	}
	text, err := exec.Command("pdftotext", "-layout", res.ReceiptPath, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	norm := strings.Join(strings.Fields(string(text)), " ")
	for _, s := range []string{"データ引渡書", "Data Hand-over Receipt", res.ID, "T-HO-1", res.ManifestSHA256, "files", "db", "bucket",
		"+09:00", "4 オブジェクト objects", "8 ファイル files", "2 表 tables", "4 files", res.Sources[0].SnapshotID[:8]} {
		if !strings.Contains(norm, s) {
			t.Errorf("receipt lacks %q:\n%s", s, text)
		}
	}
}

// treeState is every path under dir with its size and mode.
func treeState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		st, _ := d.Info()
		fmt.Fprintf(&b, "%s %d %v %d\n", p, st.Size(), st.Mode(), st.ModTime().UnixNano())
		return nil
	})
	return b.String()
}
