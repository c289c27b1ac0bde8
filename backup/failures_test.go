package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/objstore"
	"steward/internal/pgsql"
	"steward/internal/repo"
	"steward/internal/state"
	"steward/internal/testenv"
)

// TestResidencyRefused: a server in us-east-1 is refused before any byte
// is written, as a repository and as a source; the refusal and the
// region found are in the run record.
func TestResidencyRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	us := testenv.StartS3(t, testenv.WithRegion("us-east-1"))
	us.MakeBucket(t, "repo")
	us.MakeBucket(t, "src")
	mc := us.Client(t)
	mc.PutObject(ctx, "src", "a", bytes.NewReader([]byte("a")), 1, minio.PutObjectOptions{})
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 2, 10)
	body := fmt.Sprintf(`repositories:
  - name: disk
    local: {}
  - name: virginia%s
sources:
  - name: files
    path: {path: %s}
  - name: bucket%s
jobs:
  - name: to-us
    sources: [files]
    repository: virginia
  - name: from-us
    sources: [bucket, files]
    repository: disk
`, s3YAML(t, dir, us, "repo", us.AccessKey, us.SecretKey), files, s3YAML(t, dir, us, "src", us.AccessKey, us.SecretKey))
	f := newFixture(t, dir, body, nil)
	err := f.repos.Init(ctx, "virginia")
	if !errors.Is(err, ErrResidency) || !strings.Contains(err.Error(), `"us-east-1"`) || !strings.Contains(err.Error(), "ap-northeast-1, ap-northeast-3") {
		t.Fatalf("init in us-east-1: %v", err)
	}
	if _, err := os.Stat(state.Dir(f.cfg.StateDir).SealedPassword("virginia")); err == nil {
		t.Fatal("a password was sealed for a refused repository")
	}
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	rep, err := f.eng.Run(ctx, RunOptions{Job: "from-us"})
	if !errors.Is(err, ErrResidency) || !strings.Contains(err.Error(), `bucket "src"`) {
		t.Fatalf("source in us-east-1: %v", err)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Result != ResultRefused {
		t.Fatalf("runs %+v", rep.Runs)
	}
	row, err := f.store.Run(ctx, rep.Runs[0].ID)
	if err != nil || row.Result != ResultRefused || !strings.Contains(string(row.Record), `"answer":"us-east-1 (refused)"`) ||
		!strings.Contains(string(row.Record), repo.LocalAttested) {
		t.Fatalf("run record %s, %v", row.Record, err)
	}
	if n := len(f.dataSnapshots(t, "disk")); n != 0 {
		t.Fatalf("%d snapshots after a refusal", n)
	}
	// The refused repository's bucket holds no object at all.
	n := 0
	for o := range mc.ListObjects(ctx, "repo", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	if n != 0 {
		t.Fatalf("refused bucket holds %d objects", n)
	}
	if _, err := f.eng.Run(ctx, RunOptions{Job: "to-us", DryRun: true}); !errors.Is(err, ErrResidency) {
		t.Fatalf("dry run to us-east-1: %v", err)
	}
	f.tmpEmpty(t)
}

// TestResidencyRefusesReplica: a replica in us-east-1, set up while the
// config still allowed that region, is refused by the next run as a
// primary would be: before any byte is written to either repository,
// with the refusal and the region found in the run record. A dry run
// refuses it too, and the snapshot listing does not count on it.
func TestResidencyRefusesReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	us := testenv.StartS3(t, testenv.WithRegion("us-east-1"))
	us.MakeBucket(t, "replica")
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 3, 1000)
	body := fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
  - name: virginia%s
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: disk, replicas: [virginia]}
`, s3YAML(t, dir, us, "replica", us.AccessKey, us.SecretKey), files)
	f := newFixture(t, dir, body, nil)
	allowed := f.cfg.Residency.AllowedRegions
	// Set up while the config allowed us-east-1 too.
	f.cfg.Residency.AllowedRegions = append(slices.Clone(allowed), "us-east-1")
	for _, r := range []string{"disk", "virginia"} {
		if err := f.repos.Init(ctx, r); err != nil {
			t.Fatalf("init %s while us-east-1 was allowed: %v", r, err)
		}
	}
	if _, err := f.eng.Run(ctx, RunOptions{Job: "j"}); err != nil {
		t.Fatalf("backup while us-east-1 was allowed: %v", err)
	}
	replicaKeys := objectKeys(t, ctx, us.Client(t), "replica")
	if len(replicaKeys) == 0 {
		t.Fatal("the replica holds nothing after the first run")
	}

	// Now us-east-1 is not allowed, and the source has changed.
	f.cfg.Residency.AllowedRegions = allowed
	writeFiles(t, filepath.Join(files, "new"), 2, 1000)
	rep, err := f.eng.Run(ctx, RunOptions{Job: "j"})
	if !errors.Is(err, ErrResidency) || !strings.Contains(err.Error(), "repository:virginia") || !strings.Contains(err.Error(), `"us-east-1"`) {
		t.Fatalf("run with its replica in us-east-1: %v, want ErrResidency naming repository:virginia and us-east-1", err)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Result != ResultRefused {
		t.Fatalf("runs %+v, want one refused", rep.Runs)
	}
	row, err := f.store.Run(ctx, rep.Runs[0].ID)
	if err != nil || row.Result != ResultRefused || !strings.Contains(string(row.Record), `"target":"repository:virginia"`) ||
		!strings.Contains(string(row.Record), `"answer":"us-east-1 (refused)"`) {
		t.Fatalf("run record %s, %v", row.Record, err)
	}
	if n := len(f.dataSnapshots(t, "disk")); n != 1 {
		t.Fatalf("the primary holds %d data snapshots after the refusal, want the first run's only", n)
	}
	if after := objectKeys(t, ctx, us.Client(t), "replica"); !slices.Equal(after, replicaKeys) {
		t.Fatalf("the refused replica's bucket changed: %d objects before, %d after", len(replicaKeys), len(after))
	}
	if _, err := f.eng.Run(ctx, RunOptions{Job: "j", DryRun: true}); !errors.Is(err, ErrResidency) || !strings.Contains(err.Error(), "repository:virginia") {
		t.Fatalf("dry run with its replica in us-east-1: %v", err)
	}
	list, err := f.eng.Snapshots(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Problems) != 1 || !strings.Contains(list.Problems[0], "replica virginia") || !strings.Contains(list.Problems[0], `"us-east-1"`) {
		t.Fatalf("snapshot listing problems %q, want the refused replica", list.Problems)
	}
	if len(list.Snapshots) != 1 || len(list.Snapshots[0].Replicas) != 0 {
		t.Fatalf("snapshot listing %+v: a refused replica holds no trusted copy", list.Snapshots)
	}
	f.tmpEmpty(t)
}

// objectKeys lists every object key of bucket, sorted.
func objectKeys(t *testing.T, ctx context.Context, mc *minio.Client, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	slices.Sort(keys)
	return keys
}

// TestFailingSources: a database that does not exist, a pg_dump killed
// midway, and an S3 server that dies mid-stream all leave no snapshot and
// no temp file; bad endpoints, keys, buckets and a missing pg_dump fail
// fast naming what to fix.
func TestFailingSources(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "big")
	pg.Exec(t, "big", `CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, md5(g::text) || md5((g+1)::text) FROM generate_series(1, 20000) g`)
	src := testenv.StartS3(t)
	src.MakeBucket(t, "docs")
	mc := src.Client(t)
	for i := 0; i < 6; i++ {
		b := make([]byte, 200<<10)
		rand.Read(b)
		if _, err := mc.PutObject(ctx, "docs", fmt.Sprintf("o%d", i), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// A pg_dump that dumps a little, then is killed.
	realDump, err := pgsql.FindPgDump(ctx, 15, filepath.Join(pg.BinDir, "pg_dump"))
	if err != nil {
		t.Fatal(err)
	}
	faulty := filepath.Join(dir, "pg_dump")
	os.WriteFile(faulty, []byte(fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = --version ]; then exec %s --version; fi\n%s \"$@\" | head -c 30000\nkill -KILL $$\n", realDump, realDump)), 0o755)

	pgYAML := func(name, db string) string {
		return fmt.Sprintf(`
  - name: %s
    postgres: {host: 127.0.0.1, port: %d, database: %s, user: %s, password: %s, sslmode: disable}`, name, pg.Port, db, pg.User, secretRef(t, dir, "pg", pg.Password))
	}
	dead := &testenv.S3Server{Endpoint: "127.0.0.1:1", URL: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b"}
	body := fmt.Sprintf(`repositories:
  - name: disk
    local: {}
sources:%s%s
  - name: docs%s
  - name: nowhere%s
  - name: badkeys%s
  - name: nobucket%s
jobs:
  - {name: nodb, sources: [nodb], repository: disk}
  - {name: dump, sources: [db], repository: disk}
  - {name: docs, sources: [docs], repository: disk}
  - {name: nowhere, sources: [nowhere], repository: disk}
  - {name: badkeys, sources: [badkeys], repository: disk}
  - {name: nobucket, sources: [nobucket], repository: disk}
`, pgYAML("nodb", "nope"), pgYAML("db", "big"), s3YAML(t, dir, src, "docs", src.AccessKey, src.SecretKey),
		s3YAML(t, dir, dead, "docs", "a", "b"), s3YAML(t, dir, src, "docs", src.AccessKey, "wrong"), s3YAML(t, dir, src, "nope", src.AccessKey, src.SecretKey))
	f := newFixture(t, dir, body, func(d *Deps) { d.PgDump = faulty })
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	noSnapshot := func(t *testing.T) {
		t.Helper()
		if n := len(f.dataSnapshots(t, "disk")); n != 0 {
			t.Fatalf("%d snapshots after a failure", n)
		}
		f.tmpEmpty(t)
	}
	for _, tt := range []struct {
		job  string
		want error
		says string
	}{
		{"nodb", pgsql.ErrNoDatabase, `"nope"`},
		{"nowhere", objstore.ErrUnreachable, "127.0.0.1:1"},
		{"badkeys", objstore.ErrAccessDenied, "access_key"},
		{"nobucket", objstore.ErrNoSuchBucket, `"nope"`},
	} {
		t.Run(tt.job, func(t *testing.T) {
			start := time.Now()
			_, err := f.eng.Run(ctx, RunOptions{Job: tt.job})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err %v, want %v saying %s", err, tt.want, tt.says)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("took %v", d)
			}
			noSnapshot(t)
		})
	}
	t.Run("pg_dump killed", func(t *testing.T) {
		_, err := f.eng.Run(ctx, RunOptions{Job: "dump"})
		if !errors.Is(err, ErrSourceFailed) {
			t.Fatalf("err %v", err)
		}
		noSnapshot(t)
	})
	// pg_dump's exit status fails the run even when its archive arrived
	// whole, and so does an archive Steward cannot read (here compressed:
	// the last --compress wins): restic is stopped before its input ends.
	wrapper := func(name, script string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = --version ]; then exec %s --version; fi\n%s\n", realDump, script)), 0o755)
		return p
	}
	for _, tt := range []struct {
		name, pgDump, says string
	}{
		{"pg_dump exits 3 after a whole archive", wrapper("exit3", realDump+` "$@" || exit 1; exit 3`), "pg_dump: exit status 3"},
		{"pg_dump's archive cannot be read", wrapper("gzip", realDump+` "$@" --compress=1`), "the archive is compressed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := openFixture(t, ctx, f.cfg, func(d *Deps) { d.PgDump = tt.pgDump })
			dropped := auditActions(t, f)["backup.drop-partial/ok"]
			_, err := g.eng.Run(ctx, RunOptions{Job: "dump"})
			if !errors.Is(err, ErrSourceFailed) || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "restic was stopped before saving") {
				t.Fatalf("err %v, want one saying %q", err, tt.says)
			}
			noSnapshot(t)
			// Not even for a moment: no snapshot had to be forgotten.
			if n := auditActions(t, f)["backup.drop-partial/ok"]; n != dropped {
				t.Fatalf("restic saved a snapshot that was then forgotten (%d drop-partial records, %d before)", n, dropped)
			}
		})
	}
	t.Run("pg_dump missing", func(t *testing.T) {
		g := openFixture(t, ctx, f.cfg, func(d *Deps) { d.PgDump = filepath.Join(dir, "none") })
		_, err := g.eng.Run(ctx, RunOptions{Job: "dump"})
		if !errors.Is(err, pgsql.ErrNoPgDump) || !strings.Contains(err.Error(), "postgresql-client-15") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("server dies mid-stream", func(t *testing.T) {
		var once sync.Once
		testHookObject = func(done int64) {
			if done == 3 {
				once.Do(src.Kill)
			}
		}
		defer func() { testHookObject = nil }()
		_, err := f.eng.Run(ctx, RunOptions{Job: "docs"})
		if !errors.Is(err, ErrSourceFailed) || !strings.Contains(err.Error(), "stopped before saving") {
			t.Fatalf("err %v", err)
		}
		noSnapshot(t)
		f.resticByHand(t, "disk", "check")
	})
	acts := auditActions(t, f)
	if acts["backup.source/failed"] < 2 {
		t.Fatalf("audit %v", acts)
	}
}

// TestOneWriterPerRepository: a run finds the repository held and is
// refused at once, or waits with LockWait; two runs at once both finish
// one after the other and the repository checks clean.
func TestOneWriterPerRepository(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 20, 50<<10)
	body := fmt.Sprintf(`repositories:
  - name: disk
    local: {}
sources:
  - name: files
    path: {path: %s}
jobs:
  - {name: j, sources: [files], repository: disk}
`, files)
	f := newFixture(t, dir, body, nil)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	release, err := f.repos.Lock(ctx, []string{"disk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, RunOptions{Job: "j"}); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("held repository: %v", err)
	}
	release()

	waiting := openFixture(t, ctx, f.cfg, func(d *Deps) { d.LockWait = time.Minute })
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { _, errs[i] = waiting.eng.Run(ctx, RunOptions{Job: "j"}) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("concurrent runs: %v", errors.Join(errs...))
	}
	if n := len(f.dataSnapshots(t, "disk")); n != 2 {
		t.Fatalf("%d snapshots", n)
	}
	f.resticByHand(t, "disk", "check")
}

// TestBucketProgress: a bucket streamed slowly (each fetch held back by
// the test hook) gets progress events from restic's status messages;
// the bucket is counted beside the stream, and once counted the events
// carry its listed size and object count, with the bytes read so far.
func TestBucketProgress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	src := testenv.StartS3(t)
	src.MakeBucket(t, "docs")
	mc := src.Client(t)
	var listed int64
	for i := range 6 {
		b := make([]byte, 100<<10+i)
		rand.Read(b)
		if _, err := mc.PutObject(ctx, "docs", fmt.Sprintf("o%d", i), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		listed += int64(len(b))
	}
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - name: disk
    local: {}
sources:
  - name: docs%s
jobs:
  - {name: docs, sources: [docs], repository: disk}
`, s3YAML(t, dir, src, "docs", src.AccessKey, src.SecretKey)), nil)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	testHookObject = func(int64) { time.Sleep(400 * time.Millisecond) }
	defer func() { testHookObject = nil }()
	var (
		mu  sync.Mutex
		evs []Event
	)
	if _, err := f.eng.Run(ctx, RunOptions{Job: "docs", Progress: func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Kind == EventProgress {
			evs = append(evs, ev)
		}
	}}); err != nil {
		t.Fatal(err)
	}
	withTotal := 0
	for _, ev := range evs {
		if ev.BytesTotal == 0 {
			continue // not counted yet
		}
		withTotal++
		if ev.BytesTotal != listed || ev.FilesTotal != 6 || ev.BytesDone > listed {
			t.Fatalf("progress %+v, listed %d bytes in 6 objects", ev, listed)
		}
	}
	if withTotal == 0 {
		t.Fatalf("%d progress events, none with the bucket's total", len(evs))
	}
}
