package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/zeebo/blake3"

	"steward/internal/manifest"
	"steward/internal/testenv"
)

// TestEverySourceKindToLocalAndS3WithReplicas backs up a directory, a
// PostgreSQL database and a bucket into a local primary with an S3
// replica, and into an S3 primary with a local replica and an S3 replica
// on another server with other keys (relay copy); restic run by hand sees
// every snapshot. Meanwhile no process shows a secret in its arguments.
func TestEverySourceKindToLocalAndS3WithReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tokyo := testenv.StartS3(t)
	osaka := testenv.StartS3(t, testenv.WithRegion("ap-northeast-3"))
	tokyo.MakeBucket(t, "repo-tokyo")
	tokyo.MakeBucket(t, "attachments")
	osaka.MakeBucket(t, "repo-osaka")
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 500) g`)

	files := filepath.Join(dir, "files")
	writeFiles(t, files, 12, 3000)
	os.WriteFile(filepath.Join(files, "skip.tmp"), []byte("x"), 0o644)
	mc := tokyo.Client(t)
	objects := map[string][]byte{}
	for i := 0; i < 5; i++ {
		b := make([]byte, 1000+i)
		rand.Read(b)
		key := fmt.Sprintf("case-%d/doc.pdf", i)
		objects[key] = b
		if _, err := mc.PutObject(ctx, "attachments", key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	body := fmt.Sprintf(`repositories:
  - name: disk
    local: {}
  - name: disk2
    local: {}
  - name: tokyo%s
  - name: osaka%s
sources:
  - name: files
    path:
      path: %s
      excludes: ["*.tmp"]
  - name: db
    postgres:
      host: 127.0.0.1
      port: %d
      database: cases
      user: %s
      password: %s
      sslmode: disable
  - name: bucket%s
jobs:
  - name: onprem
    sources: [files, db, bucket]
    repository: disk
    replicas: [tokyo]
    retention:
      keep_last: 1
  - name: cloud
    sources: [files, db, bucket]
    repository: osaka
    replicas: [disk2, tokyo]
`, s3YAML(t, dir, tokyo, "repo-tokyo", tokyo.AccessKey, tokyo.SecretKey), s3YAML(t, dir, osaka, "repo-osaka", osaka.AccessKey, osaka.SecretKey),
		files, pg.Port, pg.User, secretRef(t, dir, "pg", pg.Password), s3YAML(t, dir, tokyo, "attachments", tokyo.AccessKey, tokyo.SecretKey))
	f := newFixture(t, dir, body, nil)

	for _, r := range []string{"disk", "disk2", "tokyo", "osaka"} {
		if err := f.repos.Init(ctx, r); err != nil {
			t.Fatalf("init %s: %v", r, err)
		}
	}
	if err := f.repos.Init(ctx, "disk"); !errors.Is(err, ErrAlreadyInitialized) {
		t.Fatalf("second init: %v", err)
	}

	// Watch every process's arguments while backups run.
	secrets := [][]byte{[]byte(pg.Password), []byte(tokyo.SecretKey), []byte(osaka.SecretKey)}
	for _, r := range []string{"disk", "disk2", "tokyo", "osaka"} {
		pw, err := f.repos.Password(r)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, pw.Reveal())
	}
	stop := make(chan struct{})
	var watched sync.WaitGroup
	var leak string
	var scans int
	watched.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			scans++
			if l := scanCmdlines(secrets); l != "" && leak == "" {
				leak = l
			}
		}
	})

	var events []Event
	var evMu sync.Mutex
	for _, job := range []string{"onprem", "cloud"} {
		rep, err := f.eng.Run(ctx, RunOptions{Job: job, Progress: func(ev Event) { evMu.Lock(); events = append(events, ev); evMu.Unlock() }})
		if err != nil {
			t.Fatalf("run %s: %v", job, err)
		}
		if len(rep.Runs) != 3 {
			t.Fatalf("%s: %d runs", job, len(rep.Runs))
		}
		for _, r := range rep.Runs {
			if r.Result != ResultOK || r.SnapshotID == "" || r.ManifestSHA256 == "" {
				t.Fatalf("%s run %+v", job, r)
			}
			for _, c := range r.Copies {
				if c.Result != ResultOK {
					t.Fatalf("copy %+v", c)
				}
				if job == "cloud" && c.Repository == "tokyo" && c.Method != "relay" {
					t.Fatalf("tokyo from osaka should relay: %+v", c)
				}
			}
		}
	}
	close(stop)
	watched.Wait()
	if leak != "" {
		t.Fatalf("a secret appeared in a process's arguments: %s", leak)
	}
	t.Logf("scanned /proc/*/cmdline %d times", scans)

	// restic by hand: every source in the primary and in each replica.
	want := map[string]int{"disk": 3, "osaka": 3, "disk2": 3, "tokyo": 6}
	for repoName, n := range want {
		snaps := f.dataSnapshots(t, repoName)
		if len(snaps) != n {
			t.Fatalf("%s holds %d data snapshots, want %d", repoName, len(snaps), n)
		}
	}
	f.resticByHand(t, "tokyo", "check")

	// Manifests: files (exclude honoured), tables, objects with hashes.
	rows, err := f.store.JobRuns(ctx, "onprem", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("catalog holds %d runs of job onprem, want 3 (one per source)", len(rows))
	}
	kinds := map[string]bool{}
	for _, row := range rows {
		m, _, err := manifest.ReadAll(ctx, f.store, row.SnapshotID)
		if err != nil {
			t.Fatalf("manifest of %s: %v", row.Source, err)
		}
		kinds[m.Kind] = true
		switch m.Kind {
		case "path":
			if m.Count != 12 || slices.ContainsFunc(m.Files, func(fe FileEntry) bool { return strings.HasSuffix(fe.Path, ".tmp") }) {
				t.Fatalf("path manifest: %d files", m.Count)
			}
			if m.Format != ManifestFormat {
				t.Fatalf("path manifest format %q", m.Format)
			}
			for _, fe := range m.Files {
				if fe.Link != "" {
					continue
				}
				b, err := os.ReadFile(filepath.Join(m.Root, filepath.FromSlash(fe.Path)))
				if err != nil {
					t.Fatal(err)
				}
				if sum := blake3.Sum256(b); fe.BLAKE3 != hex.EncodeToString(sum[:]) || fe.SHA256 != "" {
					t.Fatalf("%s: manifest hash %q, file's BLAKE3 %x", fe.Path, fe.BLAKE3, sum)
				}
			}
		case "postgres":
			if len(m.Tables) != 1 || m.Tables[0].Rows != 500 {
				t.Fatalf("tables %+v", m.Tables)
			}
		case "s3":
			if len(m.Objects) != len(objects) {
				t.Fatalf("objects %d", len(m.Objects))
			}
			for _, o := range m.Objects {
				sum := sha256.Sum256(objects[o.Key])
				if o.SHA256 != hex.EncodeToString(sum[:]) {
					t.Fatalf("object hash mismatch")
				}
			}
		}
		// The companion snapshot holds the same manifest.
		out := f.resticByHand(t, "disk", "dump", "--tag", "run:"+row.ID+","+TagManifest, "latest", "/"+row.Source+".manifest.json")
		sum := sha256.Sum256(out)
		var rec RunRecord
		jsonUnmarshal(row.Record, &rec)
		if hex.EncodeToString(sum[:]) != rec.ManifestSHA256 {
			t.Fatalf("companion manifest of %s differs from the catalog's", row.Source)
		}
	}
	if !maps.Equal(kinds, map[string]bool{"path": true, "postgres": true, "s3": true}) {
		t.Fatalf("manifests of kinds %v, want one each of path, postgres and s3", kinds)
	}

	// The bucket's tar restores byte for byte: each object once, with its
	// content, and nothing else.
	tarOut := f.resticByHand(t, "disk", "dump", "--tag", "source:bucket,"+TagData, "latest", "/bucket.tar")
	restored := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(tarOut))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the bucket's tar: %v", err)
		}
		if _, ok := restored[hdr.Name]; ok {
			t.Fatalf("%s is twice in the bucket's tar", hdr.Name)
		}
		if restored[hdr.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	for key, want := range objects {
		if got, ok := restored[key]; !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: the bucket's tar holds %d bytes (present: %v), the object %d bytes, not the same", key, len(got), ok, len(want))
		}
	}
	if len(restored) != len(objects) {
		t.Fatalf("the bucket's tar holds %d entries, the bucket %d objects", len(restored), len(objects))
	}

	// The dump (custom format, left uncompressed for restic to compress)
	// restores: pg_restore lists the table and its data.
	dumpOut := f.resticByHand(t, "disk", "dump", "--tag", "source:db,"+TagData, "latest", "/db.pgdump")
	dumpFile := filepath.Join(t.TempDir(), "db.pgdump")
	os.WriteFile(dumpFile, dumpOut, 0o600)
	if toc, err := exec.Command(filepath.Join(pg.BinDir, "pg_restore"), "--list", dumpFile).CombinedOutput(); err != nil ||
		!bytes.Contains(toc, []byte("TABLE DATA public c")) {
		t.Fatalf("pg_restore --list: %v\n%s", err, toc)
	}

	// Listing: every snapshot with the replicas holding it.
	list, err := f.eng.Snapshots(ctx, "cloud")
	if err != nil || len(list.Snapshots) != 3 || len(list.Problems) > 0 {
		t.Fatalf("snapshots %+v, %v", list, err)
	}
	for _, s := range list.Snapshots {
		if !slices.Equal(s.Replicas, []string{"disk2", "tokyo"}) || s.Time.Location().String() != "Asia/Tokyo" {
			t.Fatalf("snapshot %+v", s)
		}
	}

	// A second run with no change: retention keep_last 1 forgets the
	// first snapshots and their manifests; hashes are reused.
	rep2, err := f.eng.Run(ctx, RunOptions{Job: "onprem"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep2.Runs {
		// Only the unchanged path source reuses its manifest (a dump's
		// manifest names its own database snapshot).
		if r.ManifestReused != (r.Source == "files") {
			t.Fatalf("second run %+v", r)
		}
	}
	if n := len(f.dataSnapshots(t, "disk")); n != 3 {
		t.Fatalf("after retention disk holds %d data snapshots", n)
	}
	out := f.resticByHand(t, "disk", "snapshots", "--json", "--tag", TagManifest)
	if c := bytes.Count(out, []byte(`"id"`)); c != 3 {
		t.Fatalf("after retention disk holds %d manifest snapshots", c)
	}
	f.resticByHand(t, "disk", "check")
	f.tmpEmpty(t)

	ev := map[string]int{}
	for _, e := range events {
		ev[e.Kind]++
	}
	if ev[EventStart] != 6 || ev[EventDone] != 6 || ev[EventCopy] != 9 || ev[EventCheck] == 0 {
		t.Fatalf("events %v", ev)
	}
	acts := auditActions(t, f)
	if acts["backup.source/ok"] != 9 || acts["backup.run/ok"] != 3 || acts["repository.init/ok"] != 4 {
		t.Fatalf("audit %v", acts)
	}
	assertNoNamesInAudit(t, f, "case-", "doc.pdf", ".bin")
}

// scanCmdlines returns a description of the first process whose argv
// holds one of secrets.
func scanCmdlines(secrets [][]byte) string {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if len(s) > 0 && bytes.Contains(b, s) {
				return p + ": " + strings.ReplaceAll(string(b), "\x00", " ")[:40]
			}
		}
	}
	return ""
}

func assertNoNamesInAudit(t *testing.T, f *fixture, names ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.cfg.StateDir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if bytes.Contains(b, []byte(n)) {
			t.Fatalf("audit log holds the name %q in clear", n)
		}
	}
}
