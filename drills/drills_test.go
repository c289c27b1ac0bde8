package drills

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/errs"
	"steward/internal/manifest"
	"steward/internal/pgsql"
	"steward/internal/testenv"
)

// world is a job with a directory, a database and a bucket source, backed
// up into a local repository, with scratch on the same PostgreSQL and S3
// servers.
type world struct {
	*fixture
	pg *testenv.Postgres
	s3 *testenv.S3Server
	mc *minio.Client
}

func newWorld(t *testing.T, ctx context.Context, subsets int) *world {
	t.Helper()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "attachments")
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 300) g;
		CREATE TABLE empty_one (x int)`)
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 9, 3000)
	os.Symlink("d0/f000.bin", filepath.Join(files, "link"))
	mc := s3.Client(t)
	for i := range 4 {
		b := make([]byte, 700+i)
		rand.Read(b)
		if _, err := mc.PutObject(ctx, "attachments", fmt.Sprintf("case-%d/doc.pdf", i), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pgpw := secretRef(t, dir, "pg", pg.Password)
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
drills:
  snapshot: latest
  read_data_subsets: %d
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}%s
`, files, pg.Port, pg.User, pgpw, s3YAML(t, dir, s3, "attachments"), subsets, pg.Port, pg.User, pgpw,
		s3YAML(t, dir, s3, "scratch"))
	f := newFixture(t, dir, body)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatal(err)
	}
	return &world{fixture: f, pg: pg, s3: s3, mc: mc}
}

// noScratch checks by listing, not by trusting the drill, that no scratch
// dir, steward_drill_* database or scratch bucket is left.
func (w *world) noScratch(t *testing.T, ctx context.Context) {
	t.Helper()
	ents, _ := os.ReadDir(w.cfg.Drills.Scratch.Dir)
	if len(ents) > 0 {
		t.Errorf("scratch dir holds %d entries (%s…)", len(ents), ents[0].Name())
	}
	rows := w.pg.Query(t, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'steward_drill_%'")
	if len(rows) > 0 {
		t.Errorf("scratch databases left: %v", rows)
	}
	buckets, err := w.mc.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets {
		if strings.HasPrefix(b.Name, "scratch") {
			t.Errorf("scratch bucket left: %s", b.Name)
		}
	}
}

// editManifest rewrites the catalog's manifest of source's latest snapshot
// until the (sub)test ends.
func (w *world) editManifest(t *testing.T, ctx context.Context, source string, edit func(m *manifest.Manifest)) {
	t.Helper()
	row, err := w.store.LatestManifest(ctx, "disk", source)
	if err != nil {
		t.Fatal(err)
	}
	m, orig, err := manifest.ReadAll(ctx, w.store, row.SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.store.PutManifest(context.Background(), row, bytes.NewReader(orig))
	})
	edit(m)
	body, err := manifest.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	edited := row
	edited.SHA256 = manifest.SHA256(body)
	if err := w.store.PutManifest(ctx, edited, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

// bySource checks that the drill made exactly one record for each of
// sources, and nothing else, and returns them by source.
func bySource(t *testing.T, recs []*Record, sources ...string) map[string]*Record {
	t.Helper()
	out := map[string]*Record{}
	for _, r := range recs {
		if out[r.Source] != nil {
			t.Fatalf("two records for source %q", r.Source)
		}
		out[r.Source] = r
	}
	for _, s := range sources {
		if out[s] == nil {
			t.Fatalf("no record for source %q (records for %d sources, want %v)", s, len(recs), sources)
		}
	}
	if len(out) != len(sources) {
		t.Fatalf("records for %d sources, want %v", len(out), sources)
	}
	return out
}

// check returns the record's check named name (failing the test when it
// has none).
func check(t *testing.T, r *Record, name string) Check {
	t.Helper()
	i := slices.IndexFunc(r.Checks, func(c Check) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("%s: no check %q in %+v", r.Source, name, r.Checks)
	}
	return r.Checks[i]
}

// otherLast is s with its last character changed to another hex digit:
// a hash or checksum of the same form and length that differs.
func otherLast(s string) string {
	if strings.HasSuffix(s, "0") {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}

func TestDrills(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	w := newWorld(t, ctx, 3)

	t.Run("every kind passes and leaves nothing", func(t *testing.T) {
		var events []Event
		recs, err := w.d.Run(ctx, RunOptions{Job: "j", Participants: []string{"Sato", "Suzuki"}, Progress: func(ev Event) { events = append(events, ev) }})
		if err != nil {
			t.Fatalf("drill: %v", err)
		}
		bySource(t, recs, "files", "db", "bucket")
		var ks []int
		for _, r := range recs {
			if r.Result != ResultPassed || r.Cleanup.Result != ResultPassed || !r.RTO.Met || !r.RPO.Met || r.RunbookVersion != RunbookVersion {
				t.Errorf("%s: %+v", r.Source, r)
			}
			if len(r.Scratch) != 1 || !r.Scratch[0].Gone {
				t.Errorf("%s scratch %+v", r.Source, r.Scratch)
			}
			if r.Started.Location().String() != "Asia/Tokyo" || r.Manifest.Origin != "catalog" {
				t.Errorf("%s: zone %v, manifest %+v", r.Source, r.Started.Location(), r.Manifest)
			}
			ks = append(ks, r.ReadDataSubset.K)
		}
		kinds := []string{recs[0].Scratch[0].Kind, recs[1].Scratch[0].Kind, recs[2].Scratch[0].Kind}
		if !slices.Equal(kinds, []string{ScratchDir, ScratchDatabase, ScratchBucket}) {
			t.Errorf("scratch kinds %v", kinds)
		}
		slices.Sort(ks)
		if !slices.Equal(ks, []int{1, 2, 3}) {
			t.Errorf("read-data subsets over 3 drills: %v", ks)
		}
		if len(events) == 0 {
			t.Error("no events")
		}
		w.noScratch(t, ctx)
		got, err := w.d.Show(ctx, recs[1].DrillID)
		if err != nil || got.Source != "db" || len(got.Checks) != len(recs[1].Checks) || got.Participants[1] != "Suzuki" {
			t.Fatalf("show: %+v %v", got, err)
		}
		hist, err := w.d.History(ctx, "j", 2)
		if err != nil || len(hist) != 2 || hist[1].DrillID != recs[2].DrillID || hist[1].RTO <= 0 {
			t.Fatalf("history %+v %v", hist, err)
		}
	})

	t.Run("a manifest that disagrees fails and names it", func(t *testing.T) {
		var file string
		w.editManifest(t, ctx, "files", func(m *manifest.Manifest) {
			m.Files[2].BLAKE3 = strings.Repeat("0", 64)
			file = m.Files[2].Path
		})
		// The source lost a row before the backup, the manifest kept it.
		w.editManifest(t, ctx, "db", func(m *manifest.Manifest) { m.Tables[0].Rows++ })
		w.editManifest(t, ctx, "bucket", func(m *manifest.Manifest) { m.Objects[1].Size++ })
		recs, err := w.d.Run(ctx, RunOptions{Job: "j"})
		if !errors.Is(err, ErrDrillFailed) || !errors.Is(err, errs.ErrVerificationFailed) {
			t.Fatalf("drill: %v", err)
		}
		wantNamed := map[string]string{"files": file, "db": "public.c", "bucket": "case-1/doc.pdf"}
		for _, r := range bySource(t, recs, "files", "db", "bucket") {
			if r.Result != ResultFailed || !strings.Contains(strings.Join(r.Problems, " "), wantNamed[r.Source]) {
				t.Errorf("%s: %s %v", r.Source, r.Result, r.Problems)
			}
			if !strings.Contains(err.Error(), wantNamed[r.Source]) {
				t.Errorf("error does not name %s: %v", wantNamed[r.Source], err)
			}
			if r.Cleanup.Result != ResultPassed {
				t.Errorf("%s cleanup %+v", r.Source, r.Cleanup)
			}
		}
		w.noScratch(t, ctx)
	})

	t.Run("a checksum or hash that disagrees at the same size fails and names it", func(t *testing.T) {
		var key string
		w.editManifest(t, ctx, "db", func(m *manifest.Manifest) {
			i := slices.IndexFunc(m.Tables, func(tb pgsql.Table) bool { return tb.Schema == "public" && tb.Name == "c" })
			m.Tables[i].Checksum = otherLast(m.Tables[i].Checksum)
		})
		w.editManifest(t, ctx, "bucket", func(m *manifest.Manifest) {
			m.Objects[1].SHA256 = otherLast(m.Objects[1].SHA256)
			key = m.Objects[1].Key
		})
		recs, err := w.d.Run(ctx, RunOptions{Job: "j"})
		if !errors.Is(err, ErrDrillFailed) || !errors.Is(err, errs.ErrVerificationFailed) {
			t.Fatalf("drill: %v", err)
		}
		by := bySource(t, recs, "files", "db", "bucket")
		if r := by["files"]; r.Result != ResultPassed {
			t.Errorf("files (manifest untouched): %s %v", r.Result, r.Problems)
		}
		for source, want := range map[string]struct{ content, size, named string }{
			"db":     {"tables: " + pgsql.CopyMethod, "tables: rows", "public.c (" + pgsql.CopyMethod + " differs)"}, // manifests written now; v1 ones are checked in their own subtest
			"bucket": {"objects: SHA-256", "objects: bytes", key + " (SHA-256 differs)"},
		} {
			r := by[source]
			if c := check(t, r, want.content); c.Result != ResultFailed || c.Detail != want.named || c.Actual != "1 differ" {
				t.Errorf("%s: content check %+v, want it failed naming only %s", source, c, want.named)
			}
			if c := check(t, r, want.size); c.Result != ResultPassed {
				t.Errorf("%s: size check %+v, want it passed (only the content differs)", source, c)
			}
			if r.Result != ResultFailed || !strings.Contains(strings.Join(r.Problems, " "), want.named) {
				t.Errorf("%s: %s %v, want failed naming %s", source, r.Result, r.Problems, want.named)
			}
			if !strings.Contains(err.Error(), want.named) {
				t.Errorf("error does not name %s: %v", want.named, err)
			}
		}
		w.noScratch(t, ctx)
	})

	t.Run("a file in scratch that the manifest lacks fails", func(t *testing.T) {
		w.editManifest(t, ctx, "files", func(m *manifest.Manifest) { m.Files = m.Files[1:] })
		recs, err := w.d.Run(ctx, RunOptions{Job: "j", Source: "files"})
		r := bySource(t, recs, "files")["files"]
		if err == nil || !strings.Contains(strings.Join(r.Problems, " "), "not in the manifest") {
			t.Fatalf("%v %v", err, r.Problems)
		}
	})

	t.Run("targets below the measured RTO and RPO fail", func(t *testing.T) {
		if _, err := w.eng.Run(ctx, backupRunOptions("j")); err != nil {
			t.Fatal(err)
		}
		w.cfg.Drills.RTOTarget, w.cfg.Drills.RPOTarget = 1, 1
		defer func() { w.cfg.Drills.RTOTarget, w.cfg.Drills.RPOTarget = 4*3600e9, 26*3600e9 }()
		recs, err := w.d.Run(ctx, RunOptions{Job: "j", Source: "files"})
		if err == nil {
			t.Fatal("drill passed with 1ns targets")
		}
		r := bySource(t, recs, "files")["files"]
		if r.RTO.Met || r.RPO.Met || r.RTO.Actual <= 0 || r.RPO.Actual <= 0 {
			t.Fatalf("rto %+v rpo %+v", r.RTO, r.RPO)
		}
		p := strings.Join(r.Problems, " ")
		if !strings.Contains(p, "check RTO") || !strings.Contains(p, "check RPO") {
			t.Fatalf("problems %v", r.Problems)
		}
	})

	t.Run("k wraps after N drills", func(t *testing.T) {
		recs, err := w.d.Run(ctx, RunOptions{Job: "j", Source: "files", Snapshot: "latest"})
		if err != nil {
			t.Fatal(err)
		}
		// 3 + 3 + 3 + 1 + 1 drills of one repository with N=3.
		if r := bySource(t, recs, "files")["files"]; r.ReadDataSubset != (Subset{K: 3, N: 3}) {
			t.Fatalf("subset %v", r.ReadDataSubset)
		}
	})

	t.Run("a v1 manifest (SHA-256 of files) is still verified", func(t *testing.T) {
		// Manifests written before v2 hash files with SHA-256: the drill
		// hashes the restored files the same way, and still catches a
		// wrong hash.
		toV1 := func(m *manifest.Manifest) {
			m.Format = manifest.FormatV1
			for i, f := range m.Files {
				if f.BLAKE3 == "" {
					continue
				}
				b, err := os.ReadFile(filepath.Join(m.Root, f.Path))
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				m.Files[i].BLAKE3, m.Files[i].SHA256 = "", hex.EncodeToString(sum[:])
			}
		}
		w.editManifest(t, ctx, "files", toV1)
		recs, err := w.d.Run(ctx, RunOptions{Job: "j", Source: "files"})
		r := bySource(t, recs, "files")["files"]
		if err != nil || r.Result != ResultPassed || r.Manifest.Format != manifest.FormatV1 {
			t.Fatalf("v1 manifest: %v %+v", err, r)
		}
		if c := check(t, r, "files: SHA-256"); c.Result != ResultPassed {
			t.Fatalf("SHA-256 check %+v, want passed", c)
		}
		w.editManifest(t, ctx, "files", func(m *manifest.Manifest) { m.Files[0].SHA256 = strings.Repeat("0", 64) })
		recs, err = w.d.Run(ctx, RunOptions{Job: "j", Source: "files"})
		if r := bySource(t, recs, "files")["files"]; !errors.Is(err, ErrDrillFailed) || !strings.Contains(strings.Join(r.Problems, " "), "SHA-256 differs") {
			t.Fatalf("a wrong v1 hash: %v %v", err, r.Problems)
		}
	})

	t.Run("a corrupted pack fails clearly and leaves nothing", func(t *testing.T) {
		corruptPacks(t, w.cfg.Repositories[0].Local.Path)
		recs, err := w.d.Run(ctx, RunOptions{Job: "j"})
		if !errors.Is(err, ErrDrillFailed) {
			t.Fatalf("drill: %v", err)
		}
		for _, r := range bySource(t, recs, "files", "db", "bucket") {
			if r.Result != ResultFailed || r.Cleanup.Result != ResultPassed {
				t.Errorf("%s: %s, cleanup %+v", r.Source, r.Result, r.Cleanup)
			}
			if p := strings.Join(r.Problems, " | "); !strings.Contains(p, "step restore failed") || !strings.Contains(p, "repository contains errors") {
				t.Errorf("%s: unclear problems: %s", r.Source, p)
			}
		}
		w.noScratch(t, ctx)
	})
}

// corruptPacks flips bytes in the middle of every data pack.
func corruptPacks(t *testing.T, repo string) {
	t.Helper()
	packs, _ := filepath.Glob(filepath.Join(repo, "data", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no packs")
	}
	for _, p := range packs {
		os.Chmod(p, 0o600)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 3; i < len(b)/3+64 && i < len(b); i++ {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
