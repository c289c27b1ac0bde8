package main

import (
	"archive/tar"
	"bytes"
	"context"
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
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/minio/minio-go/v7"
	"github.com/zeebo/blake3"

	"steward/app"
	"steward/internal/resticx"
	"steward/internal/testenv"
)

// kitDoc is a decrypted recovery kit as a person reads it: the test
// decodes it on its own, not with Steward's types.
type kitDoc struct {
	Schema        string    `json:"schema"`
	Contract      string    `json:"contract"`
	Created       string    `json:"created"`
	ResticVersion string    `json:"restic_version"`
	Repositories  []kitRepo `json:"repositories"`
}

type kitRepo struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Location string `json:"location"`
	S3       *struct {
		Endpoint        string `json:"endpoint"`
		Region          string `json:"region"`
		Bucket          string `json:"bucket"`
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	} `json:"s3"`
	KeyID    string `json:"key_id"`
	Password string `json:"password"`
}

// openKit decrypts the kit file with identity, as `age -d -i` would.
func openKit(t *testing.T, path string, identity age.Identity) (kitDoc, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(armor.NewReader(f), identity)
	if err != nil {
		return kitDoc{}, err
	}
	var k kitDoc
	if err := json.NewDecoder(r).Decode(&k); err != nil {
		t.Fatalf("kit JSON: %v", err)
	}
	return k, nil
}

// kitRestic runs plain restic on one of the kit's repositories with the
// escrow password (RESTIC_PASSWORD_FILE) and, for S3, the AWS_*
// variables: exactly what docs/runbook-restore.md tells a person to do.
func kitRestic(t *testing.T, r kitRepo, args ...string) ([]byte, error) {
	t.Helper()
	tmp := t.TempDir()
	pw := filepath.Join(tmp, "pw")
	if err := os.WriteFile(pw, []byte(r.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "RESTIC_REPOSITORY=" + r.Location, "RESTIC_PASSWORD_FILE=" + pw,
		"RESTIC_CACHE_DIR=" + filepath.Join(tmp, "cache")}
	if r.S3 != nil {
		env = append(env, "AWS_ACCESS_KEY_ID="+r.S3.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+r.S3.SecretAccessKey, "AWS_DEFAULT_REGION="+r.S3.Region)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(t), "bin", "restic"), args...)
	cmd.Env = env
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("restic %v on %s: %v: %s", args, r.Name, err, errb.String())
	}
	return out, nil
}

// plainSnapshot is an entry of `restic snapshots --json`.
type plainSnapshot struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Tags []string  `json:"tags"`
}

// plainManifest is the backup-time manifest, decoded on its own.
type plainManifest struct {
	Kind  string `json:"kind"`
	Root  string `json:"root"`
	Files []struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		BLAKE3 string `json:"blake3"`
		Link   string `json:"link"`
	} `json:"files"`
	Tables []struct {
		Schema string `json:"schema"`
		Name   string `json:"name"`
		Rows   int64  `json:"rows"`
	} `json:"tables"`
	Objects []struct {
		Key    string `json:"key"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"objects"`
	StdinFilename string `json:"stdin_filename"`
	Bytes         int64  `json:"bytes"`
}

// TestHostLossRestoreWithKit: a path source, a PostgreSQL database and an
// S3 bucket are backed up into an S3 primary with a local replica kept
// off the state dir; `recovery kit` writes the kit (a second, rotating
// kit makes the first open nothing); the state dir is deleted; the kit is
// decrypted with the age library as `age -d` would, and plain restic, with
// nothing but the kit, lists and restores each source from the primary and
// from the replica, matching the backup-time manifest stored in the
// repository. The kit does not open with a wrong identity, and no escrow
// password is in the state dir (catalog, audit log), the output or the
// logs. Last, `steward recover` with the kit's passwords brings the
// snapshots back on a new state dir, holding the passwords only sealed,
// and a rotating kit then gives the host keys of its own, so that the
// used kit opens nothing.
func TestHostLossRestoreWithKit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "src")
	s3.MakeBucket(t, "repo")
	objects := map[string]string{"cases/a.txt": "alpha case", "cases/deep/b.bin": strings.Repeat("b", 70000), "c.json": `{"n":1}`}
	for k, v := range objects {
		if _, err := s3.Client(t).PutObject(ctx, "src", k, strings.NewReader(v), int64(len(v)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE notes (id int PRIMARY KEY, body text)`)
	pg.Exec(t, "cases", `INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 500) g`)
	pg.Exec(t, "cases", `CREATE TABLE tags (name text)`)
	pg.Exec(t, "cases", `INSERT INTO tags VALUES ('a'), ('b'), ('c')`)
	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 12, 5000)
	offsite := filepath.Join(dir, "offsite")
	os.MkdirAll(offsite, 0o700)
	officer, _ := age.GenerateX25519Identity()
	city, _ := age.GenerateX25519Identity()
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - name: tokyo%s
  - {name: offsite, local: {path: %s}}
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, db, bucket], repository: tokyo, replicas: [offsite]}
signing: {organisation: Test Operator KK, signer: Test Signer}
recovery:
  recipients: [%s, %s]
  kit_location: city hall safe, IT division
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey),
		filepath.Join(offsite, "replica"), files, pg.Port, pg.User, pgpw, testenv.S3YAML(t, dir, s3, "src", s3.AccessKey, s3.SecretKey),
		officer.Recipient(), city.Recipient())
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	var outputs bytes.Buffer // everything Steward printed or logged
	run := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := stewardRun(t, dir, "", append([]string{"--log-level", "debug"}, args...)...)
		outputs.WriteString(out + errOut)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
		return out
	}
	run(0, "init")
	run(0, "repo", "init")
	if st := run(0, "status"); !strings.Contains(st, "repository tokyo has no escrow key") || !strings.Contains(st, "repository offsite has no escrow key") {
		t.Fatalf("status before any kit:\n%s", st)
	}
	run(0, "backup", "run")

	first := filepath.Join(dir, "kit1.age")
	run(0, "recovery", "kit", "--to", first)
	if st, err := os.Stat(first); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kit file: %v %v", st, err)
	}
	before := mustRead(t, first)
	if code, _, errOut := stewardRun(t, dir, "", "recovery", "kit", "--to", first); code != exitUsage || !strings.Contains(errOut, "never overwritten") {
		t.Fatalf("a second kit onto the same file: exit %d %s", code, errOut)
	}
	if !bytes.Equal(before, mustRead(t, first)) {
		t.Fatal("the refused kit changed the existing file")
	}
	kitPath := filepath.Join(dir, "kit2.age")
	var res struct {
		Kit struct {
			SHA256       string `json:"sha256"`
			Repositories []struct {
				Name    string   `json:"name"`
				KeyID   string   `json:"key_id"`
				Removed []string `json:"removed_key_ids"`
			} `json:"repositories"`
		} `json:"kit"`
		Sheet struct {
			Path string `json:"path"`
		} `json:"sheet"`
	}
	out := run(0, "--json", "recovery", "kit", "--to", kitPath, "--rotate")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("kit --json: %v\n%s", err, out)
	}
	if sum := sha256.Sum256(mustRead(t, kitPath)); hex.EncodeToString(sum[:]) != res.Kit.SHA256 {
		t.Errorf("kit SHA-256 %s, the file's is %x", res.Kit.SHA256, sum)
	}
	if st := run(0, "status"); strings.Contains(st, "escrow") || strings.Contains(st, "recovery kit") {
		t.Errorf("status after the kit still warns:\n%s", st)
	}
	if sig, err := exec.Command("pdfsig", res.Sheet.Path).CombinedOutput(); !strings.Contains(string(sig), "Signature is Valid.") {
		t.Fatalf("pdfsig on the sheet: %v %s", err, sig)
	}
	run(0, "verify", res.Sheet.Path)
	sheetText := tool(t, "pdftotext", "-layout", res.Sheet.Path, "-")

	// Any recipient's identity opens the kit; another identity does not.
	kit, err := openKit(t, kitPath, officer)
	if err != nil {
		t.Fatalf("decrypt with the officer's identity: %v", err)
	}
	if _, err := openKit(t, kitPath, city); err != nil {
		t.Fatalf("decrypt with the city's identity: %v", err)
	}
	stranger, _ := age.GenerateX25519Identity()
	if _, err := openKit(t, kitPath, stranger); err == nil {
		t.Fatal("a stranger's identity decrypted the kit")
	}
	old, err := openKit(t, first, officer)
	if err != nil {
		t.Fatal(err)
	}
	if kit.Schema != "steward.recovery-kit/v1" || kit.Contract != "T-1" || !strings.HasSuffix(kit.Created, "+09:00") || kit.ResticVersion == "" || len(kit.Repositories) != 2 {
		t.Fatalf("kit: %+v", kit)
	}
	byName := map[string]kitRepo{}
	for i, r := range kit.Repositories {
		byName[r.Name] = r
		if r.KeyID != res.Kit.Repositories[i].KeyID || len(r.Password) < 40 {
			t.Errorf("kit repository %s: key %s (printed %s), password of %d characters", r.Name, r.KeyID, res.Kit.Repositories[i].KeyID, len(r.Password))
		}
		if !strings.Contains(sheetText, r.KeyID) {
			t.Errorf("the sheet does not list escrow key %s", r.KeyID)
		}
		if len(res.Kit.Repositories[i].Removed) != 1 || res.Kit.Repositories[i].Removed[0] != old.Repositories[i].KeyID {
			t.Errorf("repository %s: rotation removed %v, want the first kit's %s", r.Name, res.Kit.Repositories[i].Removed, old.Repositories[i].KeyID)
		}
	}
	if byName["tokyo"].Role != "primary" || byName["tokyo"].S3 == nil || byName["tokyo"].S3.Region == "" || byName["offsite"].Role != "replica" {
		t.Fatalf("kit repositories: %+v", kit.Repositories)
	}
	for _, r := range old.Repositories {
		if _, err := kitRestic(t, r, "key", "list", "--json"); err == nil {
			t.Errorf("the rotated-out kit still opens %s", r.Name)
		}
	}

	// No escrow password anywhere on the host, in its output or logs.
	var secrets []string
	for _, k := range []kitDoc{kit, old} {
		for _, r := range k.Repositories {
			secrets = append(secrets, r.Password)
		}
	}
	state := filepath.Join(dir, "state")
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("an escrow password is in %s", p)
			}
		}
		return nil
	})
	for _, s := range secrets {
		if bytes.Contains(outputs.Bytes(), []byte(s)) || strings.Contains(sheetText, s) {
			t.Error("an escrow password is in Steward's output, logs or the sheet")
		}
	}
	for _, p := range []string{"catalog.db", "audit.jsonl"} {
		if _, err := os.Stat(filepath.Join(state, p)); err != nil {
			t.Fatalf("the grep did not cover %s: %v", p, err)
		}
	}

	// The host is lost.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokyo", "offsite"} {
		t.Run(name, func(t *testing.T) { restoreWithKit(t, byName[name], pg, files, objects) })
	}

	// A new host: `steward recover --kit` with a recipient's identity
	// brings the snapshots back, the passwords are on disk only sealed, and
	// the new audit log names the kit and the old log's head it carries.
	// A stranger's identity opens nothing and changes nothing.
	idDir := t.TempDir()
	strangerFile, cityFile := filepath.Join(idDir, "stranger.txt"), filepath.Join(idDir, "city.txt")
	os.WriteFile(strangerFile, []byte(stranger.String()+"\n"), 0o600)
	os.WriteFile(cityFile, []byte("# the city's officer\n"+city.String()+"\n"), 0o600)
	if code, _, errOut := stewardRun(t, dir, "", "recover", "--kit", kitPath, "--identity", strangerFile); code != exitUsage || !strings.Contains(errOut, "identity") {
		t.Errorf("recover with a stranger's identity: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("recover with a stranger's identity made a state dir")
	}
	if out := run(0, "recover", "--kit", kitPath, "--identity", cityFile); !strings.Contains(out, "--rotate") {
		t.Errorf("recover --kit does not say to rotate:\n%s", out)
	}
	var used map[string]any
	for line := range strings.Lines(string(mustRead(t, filepath.Join(state, "audit.jsonl")))) {
		if strings.Contains(line, `"recovery.kit.use"`) {
			json.Unmarshal([]byte(line), &used)
		}
	}
	if d, _ := used["details"].(map[string]any); d == nil || d["sha256"] != res.Kit.SHA256 || d["old_audit_head_hash"] == "" || d["old_audit_head_hash"] == nil {
		t.Errorf("the audit log's recovery.kit.use record: %v", used)
	}
	snaps := run(0, "snapshots")
	for _, src := range []string{"files", "db", "bucket"} {
		found := false
		for _, line := range strings.Split(snaps, "\n") {
			f := strings.Fields(line)
			found = found || (len(f) > 3 && f[3] == src && strings.Contains(line, "tokyo") && strings.Contains(line, "offsite"))
		}
		if !found {
			t.Errorf("snapshots after recover has no %s snapshot in tokyo with its copy in offsite:\n%s", src, snaps)
		}
	}

	// The recovered host opens the repositories with the kit's escrow
	// keys; a rotating kit gives it keys of its own, so that the used kit
	// opens nothing any more.
	run(0, "recovery", "kit", "--to", filepath.Join(dir, "kit3.age"), "--rotate")
	fresh, err := openKit(t, filepath.Join(dir, "kit3.age"), city)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range kit.Repositories {
		if _, err := kitRestic(t, r, "key", "list", "--json"); err == nil {
			t.Errorf("the kit used for recover still opens %s after the rotation", r.Name)
		}
		if _, err := kitRestic(t, fresh.Repositories[i], "key", "list", "--json"); err != nil {
			t.Errorf("the new kit: %v", err)
		}
		// The host opens with a key of its own, and the one escrow key is
		// the new kit's. (The lost host's own key stays: its password was
		// sealed on the lost disk.)
		var escrow []string
		current := ""
		for _, k := range hostKeys(t, dir, r.Name) {
			if k.UserName == "steward-escrow" {
				escrow = append(escrow, k.ID)
			}
			if k.Current {
				current = k.UserName
			}
		}
		if current != "steward" || len(escrow) != 1 || escrow[0] != fresh.Repositories[i].KeyID {
			t.Errorf("%s after the rotation: the host opens with a key of %q; escrow keys %v, want the new kit's %s", r.Name, current, escrow, fresh.Repositories[i].KeyID)
		}
	}
	secrets = append(secrets, fresh.Repositories[0].Password, fresh.Repositories[1].Password)
	filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil {
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("after recover, an escrow password is in clear in %s", p)
				}
			}
		}
		return nil
	})
}

// hostKeys lists repository name's keys as this host opens it (its sealed
// password).
func hostKeys(t *testing.T, dir, name string) []resticx.Key {
	t.Helper()
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{ConfigPath: filepath.Join(dir, "steward.yaml"), LogLevel: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	repos, err := a.Repos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repos.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := repos.Restic().Keys(ctx, r.Restic)
	if err != nil {
		t.Fatalf("%s: the host's own password: %v", name, err)
	}
	return ks
}

// restoreWithKit lists r's snapshots with plain restic and restores each
// source's latest snapshot, checking it against the manifest stored in
// the repository beside it.
func restoreWithKit(t *testing.T, r kitRepo, pg *testenv.Postgres, files string, objects map[string]string) {
	out, err := kitRestic(t, r, "snapshots", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var snaps []plainSnapshot
	if err := json.Unmarshal(out, &snaps); err != nil {
		t.Fatal(err)
	}
	data := map[string]plainSnapshot{}
	for _, s := range snaps {
		for _, tag := range s.Tags {
			if src, ok := strings.CutPrefix(tag, "source:"); ok && slices.Contains(s.Tags, "steward-data") {
				data[src] = s
			}
		}
	}
	if len(data) != 3 {
		t.Fatalf("data snapshots by source: %v (all: %+v)", data, snaps)
	}
	manifestOf := func(source string, s plainSnapshot) plainManifest {
		t.Helper()
		var run string
		for _, tag := range s.Tags {
			if strings.HasPrefix(tag, "run:") {
				run = tag
			}
		}
		for _, m := range snaps {
			if slices.Contains(m.Tags, "steward-manifest") && slices.Contains(m.Tags, run) && slices.Contains(m.Tags, "source:"+source) {
				body, err := kitRestic(t, r, "dump", m.ID, "/"+source+".manifest.json")
				if err != nil {
					t.Fatal(err)
				}
				var pm plainManifest
				if err := json.Unmarshal(body, &pm); err != nil {
					t.Fatal(err)
				}
				return pm
			}
		}
		t.Fatalf("no manifest snapshot for %s (%s)", source, run)
		return plainManifest{}
	}

	// The path source: restic restore, every file's size and BLAKE3.
	m := manifestOf("files", data["files"])
	target := t.TempDir()
	if _, err := kitRestic(t, r, "restore", data["files"].ID+":"+m.Root, "--target", target); err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 12 {
		t.Fatalf("files manifest lists %d files", len(m.Files))
	}
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(target, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		sum := blake3.Sum256(b)
		orig, _ := os.ReadFile(filepath.Join(files, filepath.FromSlash(f.Path)))
		if int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.BLAKE3 || !bytes.Equal(b, orig) {
			t.Errorf("%s: %d bytes, BLAKE3 %x; manifest %d, %s", f.Path, len(b), sum, f.Size, f.BLAKE3)
		}
	}

	// The database: restic dump of the pg_dump archive, its size, and
	// pg_restore into a new database with the manifest's row counts.
	m = manifestOf("db", data["db"])
	dump := filepath.Join(t.TempDir(), "db.pgdump")
	body, err := kitRestic(t, r, "dump", data["db"].ID, "/"+m.StdinFilename)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dump, body, 0o600)
	if int64(len(body)) != m.Bytes || len(m.Tables) != 2 {
		t.Fatalf("dump %d bytes, manifest %d bytes and %d tables", len(body), m.Bytes, len(m.Tables))
	}
	db := "restored_" + r.Name
	pg.CreateDatabase(t, db)
	cmd := exec.Command(filepath.Join(pg.BinDir, "pg_restore"), "--no-owner", "-d", db, dump)
	cmd.Env = append(os.Environ(), pg.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v %s", err, out)
	}
	for _, tb := range m.Tables {
		rows := pg.Query(t, db, fmt.Sprintf(`SELECT count(*) FROM %q.%q`, tb.Schema, tb.Name))
		if fmt.Sprint(rows[0][0]) != fmt.Sprint(tb.Rows) {
			t.Errorf("table %s.%s: %v rows, manifest %d", tb.Schema, tb.Name, rows[0][0], tb.Rows)
		}
	}

	// The bucket: restic dump of the archive, each object's size and
	// SHA-256.
	m = manifestOf("bucket", data["bucket"])
	body, err = kitRestic(t, r, "dump", data["bucket"].ID, "/"+m.StdinFilename)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(body))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = b
	}
	if len(m.Objects) != len(objects) {
		t.Fatalf("bucket manifest lists %d objects", len(m.Objects))
	}
	for _, o := range m.Objects {
		b := got[o.Key]
		sum := sha256.Sum256(b)
		if int64(len(b)) != o.Size || hex.EncodeToString(sum[:]) != o.SHA256 || string(b) != objects[o.Key] {
			t.Errorf("object %s: %d bytes, SHA-256 %x; manifest %d, %s", o.Key, len(b), sum, o.Size, o.SHA256)
		}
	}
}

// TestEraseLeavesKitUseless: erase deletes every key file, the escrow
// keys among them, so after the contract's erasure the kit's passwords
// open nothing, in the primary or in a replica kept outside the state
// dir.
func TestEraseLeavesKitUseless(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 3, 1000)
	offsite := filepath.Join(dir, "offsite")
	os.MkdirAll(offsite, 0o700)
	officer, _ := age.GenerateX25519Identity()
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - {name: offsite, local: {path: %s}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk, replicas: [offsite]}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
recovery: {recipients: [%s], kit_location: safe}
`, filepath.Join(repoRoot(t), "bin", "restic"), filepath.Join(offsite, "replica"), data, officer.Recipient()), 0o600)
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	run("init")
	run("repo", "init")
	run("backup", "run")
	kitPath := filepath.Join(dir, "kit.age")
	run("recovery", "kit", "--to", kitPath)
	kit, err := openKit(t, kitPath, officer)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range kit.Repositories {
		if _, err := kitRestic(t, r, "snapshots", "--json"); err != nil {
			t.Fatalf("before erase: %v", err)
		}
	}
	out := run("erase", "plan", "--as", "alice")
	id := strings.Fields(out)[2]
	run("erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "the city keeps its own copy")
	time.Sleep(1100 * time.Millisecond) // the cooling-off
	out = run("erase", "execute", id, "--as", "alice")
	if !strings.Contains(out, "deletion certificate DC-") {
		t.Fatalf("execute:\n%s", out)
	}
	// The certificate names each escrow key as deleted and asks the kit's
	// recipient to destroy it.
	var pdf string
	for _, f := range strings.Fields(out) {
		if strings.HasSuffix(f, ".pdf") {
			pdf = f
		}
	}
	text := strings.Join(strings.Fields(tool(t, "pdftotext", "-layout", pdf, "-")), "")
	for _, want := range append([]string{"Pleasedestroy", officer.Recipient().String()}, kit.Repositories[0].KeyID, kit.Repositories[1].KeyID) {
		if !strings.Contains(text, want) {
			t.Errorf("the certificate does not show %q", want)
		}
	}
	for _, r := range kit.Repositories {
		if out, err := kitRestic(t, r, "snapshots", "--json"); err == nil {
			t.Errorf("after erase the kit still opens %s: %s", r.Name, out)
		}
		if ents, err := os.ReadDir(filepath.Join(r.Location, "keys")); err == nil && len(ents) > 0 {
			t.Errorf("%s still has %d key files", r.Name, len(ents))
		}
	}
}

// TestRecoveryKitRefusesAndRollsBack: without recovery.recipients the kit
// is refused (exit 2) and nothing is added; when a repository cannot be
// given an escrow key, the keys already added to the others are removed
// again and the kit file too, so no key is left whose password nobody has.
func TestRecoveryKitRefusesAndRollsBack(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 2, 100)
	officer, _ := age.GenerateX25519Identity()
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk, replicas: [copy]}
`, filepath.Join(repoRoot(t), "bin", "restic"), data)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	keyFiles := func(name string) int {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(dir, "state", "repositories", name, "keys"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	kitPath := filepath.Join(dir, "kit.age")
	if code, _, errOut := stewardRun(t, dir, "", "recovery", "kit", "--to", kitPath); code != exitUsage || !strings.Contains(errOut, "recovery.recipients") {
		t.Fatalf("kit without recipients: exit %d %s", code, errOut)
	}
	if code, _, errOut := stewardRun(t, dir, "", "recovery", "kit"); code != exitUsage || !strings.Contains(errOut, "--to") {
		t.Fatalf("kit without --to: exit %d %s", code, errOut)
	}

	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg+fmt.Sprintf("recovery: {recipients: [%s]}\n", officer.Recipient())), 0o600)
	// The replica is gone: its escrow key cannot be added.
	if err := os.Rename(filepath.Join(dir, "state", "repositories", "copy"), filepath.Join(dir, "copy-moved")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := stewardRun(t, dir, "", "recovery", "kit", "--to", kitPath)
	if code == 0 || !strings.Contains(errOut, "copy") {
		t.Fatalf("kit with a missing repository: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(kitPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed kit left its file: %v", err)
	}
	if n := keyFiles("disk"); n != 1 {
		t.Errorf("disk has %d key files after the failed kit, want its own one", n)
	}
	audit := string(mustRead(t, filepath.Join(dir, "state", "audit.jsonl")))
	for _, want := range []string{`"action":"recovery.escrow_key.add","target":"repository:disk","result":"ok"`, `"action":"recovery.escrow_key.remove","target":"repository:disk","result":"ok"`, `"action":"recovery.kit"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
}
