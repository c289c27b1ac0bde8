package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/objstore"
	"steward/internal/testenv"
)

// TestRoundTrips backs up a directory, a database and a bucket, then
// restores each into a new target (a directory, a database on the same
// server, a bucket and a directory) and compares with the original; a
// non-empty target and the live source are refused unless asked for by
// name; --into-source needs the typed source name.
func TestRoundTrips(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "attachments")
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 300) g`)
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 9, 2000)
	os.Symlink("d0/f000.bin", filepath.Join(files, "link"))
	mc := s3.Client(t)
	objects := map[string][]byte{}
	for i := range 4 {
		b := make([]byte, 500+i)
		rand.Read(b)
		key := fmt.Sprintf("case-%d/doc.pdf", i)
		objects[key] = b
		if _, err := mc.PutObject(ctx, "attachments", key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	body := fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: files
    path: {path: %s}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, db, bucket], repository: disk}
`, files, pg.Port, pg.User, secretRef(t, dir, "pg", pg.Password), s3YAML(t, dir, s3, "attachments"))
	f := newFixture(t, dir, body)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatal(err)
	}

	t.Run("path", func(t *testing.T) {
		out := filepath.Join(dir, "out-files")
		res, err := f.r.Run(ctx, Options{Source: "files", Snapshot: "latest", To: Target{Dir: out}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Files != 9 { // regular files, as snapshots and backup count them (not the symlink, not directories)
			t.Errorf("restored %d files, want 9", res.Files)
		}
		sameTree(t, files, out)
		if _, err := f.r.Run(ctx, Options{Source: "files", To: Target{Dir: out}}); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("non-empty target: %v", err)
		}
		if _, err := f.r.Run(ctx, Options{Source: "files", To: Target{Dir: out}, Force: true}); err != nil {
			t.Fatalf("--force: %v", err)
		}
		if _, err := f.r.Run(ctx, Options{Source: "files", To: Target{Dir: filepath.Join(files, "sub")}}); !errors.Is(err, ErrIntoSource) {
			t.Fatalf("into the source without asking: %v", err)
		}
		if _, err := f.r.Run(ctx, Options{Source: "files", IntoSource: true}); !errors.Is(err, ErrConfirmation) {
			t.Fatalf("into source without confirmation: %v", err)
		}
		if _, err := f.r.Run(ctx, Options{Source: "files", IntoSource: true, Confirm: "file"}); !errors.Is(err, ErrConfirmation) {
			t.Fatalf("into source with a wrong confirmation: %v", err)
		}
		os.Remove(filepath.Join(files, "d1", "f001.bin"))
		if _, err := f.r.Run(ctx, Options{Source: "files", IntoSource: true, Confirm: "files"}); err != nil {
			t.Fatalf("into source: %v", err)
		}
		sameTree(t, files, out)
	})

	t.Run("postgres", func(t *testing.T) {
		res, err := f.r.Run(ctx, Options{Source: "db", To: Target{Postgres: on(f.cfg.Sources[1].Postgres, "cases_copy"), PostgresPassword: []byte(pg.Password)}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Bytes == 0 {
			t.Error("no bytes counted")
		}
		rows := pg.Query(t, "cases_copy", "SELECT count(*), sum(id) FROM c")
		if fmt.Sprint(rows[0]) != "[300 45150]" {
			t.Fatalf("restored rows %v", rows)
		}
		_, err = f.r.Run(ctx, Options{Source: "db", To: Target{Postgres: on(f.cfg.Sources[1].Postgres, "cases_copy"), PostgresPassword: []byte(pg.Password)}})
		if !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("non-empty database: %v", err)
		}
		_, err = f.r.Run(ctx, Options{Source: "db", To: Target{Postgres: f.cfg.Sources[1].Postgres, PostgresPassword: []byte(pg.Password)}})
		if !errors.Is(err, ErrIntoSource) {
			t.Fatalf("source database: %v", err)
		}
		pg.Exec(t, "cases", "DELETE FROM c WHERE id > 100")
		if _, err := f.r.Run(ctx, Options{Source: "db", IntoSource: true, Confirm: "db"}); err != nil {
			t.Fatalf("into source: %v", err)
		}
		if rows := pg.Query(t, "cases", "SELECT count(*) FROM c"); fmt.Sprint(rows[0]) != "[300]" {
			t.Fatalf("source after restore %v", rows)
		}
	})

	t.Run("bucket", func(t *testing.T) {
		tgt, err := f.repos.S3Target("test", f.cfg.Sources[2].S3)
		if err != nil {
			t.Fatal(err)
		}
		tgt.Bucket = "attachments-copy"
		if _, err := f.r.Run(ctx, Options{Source: "bucket", To: Target{Bucket: &tgt}}); err != nil {
			t.Fatal(err)
		}
		c, _ := objstore.New(tgt)
		got := map[string][]byte{}
		c.List(ctx, func(o objstore.Object) error {
			rc, _, err := c.Open(ctx, o.Key)
			if err != nil {
				return err
			}
			defer rc.Close()
			got[o.Key], _ = io.ReadAll(rc)
			return nil
		})
		sameObjects(t, objects, got)
		if _, err := f.r.Run(ctx, Options{Source: "bucket", To: Target{Bucket: &tgt}}); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("non-empty bucket: %v", err)
		}
		out := filepath.Join(dir, "out-bucket")
		if _, err := f.r.Run(ctx, Options{Source: "bucket", To: Target{Dir: out}}); err != nil {
			t.Fatal(err)
		}
		got = map[string][]byte{}
		for k := range objects {
			got[k], _ = os.ReadFile(filepath.Join(out, k))
		}
		sameObjects(t, objects, got)
		b, _ := objstore.New(tgt)
		if rm, err := b.RemoveBucket(ctx, objstore.DeleteOptions{}); err != nil || !rm.BucketRemoved || rm.Versions != 4 {
			t.Fatalf("remove: %+v %v", rm, err)
		}
	})
	if n := auditCount(t, f.store, "restore", "ok"); n < 6 {
		t.Errorf("%d restores audited ok", n)
	}
	if n := auditCount(t, f.store, "restore", "failed"); n < 4 {
		t.Errorf("%d refused restores audited", n)
	}
}

func sameObjects(t *testing.T, want, got map[string][]byte) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d objects, want %d", len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("object %s differs", k)
		}
	}
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	read := func(root string) map[string]string {
		m := map[string]string{}
		filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if info.Mode()&os.ModeSymlink != 0 {
				l, _ := os.Readlink(p)
				m[rel] = "link:" + l
				return nil
			}
			c, _ := os.ReadFile(p)
			m[rel] = string(c)
			return nil
		})
		return m
	}
	ma, mb := read(a), read(b)
	if len(ma) != len(mb) {
		t.Fatalf("%s has %d files, %s %d", a, len(ma), b, len(mb))
	}
	for k, v := range ma {
		if mb[k] != v {
			t.Errorf("%s differs", k)
		}
	}
}
