package erase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/backup"
	"steward/internal/catalog"
	"steward/internal/repo"
	"steward/internal/testenv"
)

// TestHandoverFailureLeavesNothing: an export that fails midway (the
// directory source is written, then pg_restore fails while writing the
// SQL: a fault-injecting pg_restore) removes what it wrote — the
// directory it made, or the contents of the empty one it was given — and
// records nothing in the catalog; its failure is audited without a file
// name. The same export with the real pg_restore then succeeds and is
// recorded.
func TestHandoverFailureLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 50) g`)
	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 5, 1000)
	body := fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: files
    path: {path: %s}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - {name: j, sources: [files, db], repository: disk}
`, files, pg.Port, pg.User, testenv.SecretFile(t, dir, "pg", pg.Password))
	cfg := testenv.LoadConfig(t, dir, body)
	st := testenv.OpenState(t, cfg)
	repos := repo.New(repo.Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Audit: st.Audit, ProbeTimeout: 10 * time.Second})
	if err := repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	eng := backup.New(backup.Deps{Config: cfg, Keys: st.Keys, Restic: st.Restic, Catalog: st.Store, Audit: st.Audit, Clock: st.Clock, Repos: repos})
	if _, err := eng.Run(ctx, backup.RunOptions{Job: "j"}); err != nil {
		t.Fatal(err)
	}
	// pg_restore --list works (the dump is counted); writing the SQL
	// fails after a first line.
	faulty := filepath.Join(dir, "pg_restore")
	os.WriteFile(faulty, fmt.Appendf(nil, "#!/bin/sh\nif [ \"$1\" = --list ]; then exec %s \"$@\"; fi\necho 'SET x = 1;'\necho 'disk full' >&2\nexit 1\n",
		filepath.Join(pg.BinDir, "pg_restore")), 0o700)
	exporter := func(pgRestore string) *Exporter {
		return NewExporter(HandoverDeps{Repos: repos, Store: st.Store, Audit: st.Audit, Clock: st.Clock, PgRestore: pgRestore})
	}

	t.Run("new directory removed", func(t *testing.T) {
		to := filepath.Join(dir, "new", "export")
		_, err := exporter(faulty).Export(ctx, HandoverOptions{To: to})
		if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "partial export was removed") {
			t.Fatalf("want the failure and its cleanup, got %v", err)
		}
		if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the directory the export made is still there: %v", err)
		}
	})
	t.Run("empty directory emptied", func(t *testing.T) {
		to := filepath.Join(dir, "given")
		os.Mkdir(to, 0o755)
		if _, err := exporter(faulty).Export(ctx, HandoverOptions{To: to}); err == nil {
			t.Fatal("the export did not fail")
		}
		ents, err := os.ReadDir(to)
		if err != nil || len(ents) != 0 {
			t.Fatalf("the given directory holds %v (%v)", ents, err)
		}
	})
	if _, err := LastHandover(ctx, st.Store); !errors.Is(err, ErrNoHandover) {
		t.Fatalf("a failed export was recorded: %v", err)
	}
	if n := testenv.AuditCount(t, st.Store, "handover.export", "failed"); n != 2 {
		t.Fatalf("%d failed exports audited, want 2", n)
	}
	st.Store.ScanAudit(ctx, func(r catalog.AuditRecord) error {
		// What a record says (not its chain hashes, which may hold "f000"
		// by chance).
		blob, _ := json.Marshal([]any{r.Target, r.Actor, r.Details})
		if strings.HasPrefix(r.Action, "handover.") && (strings.Contains(string(blob), "f000") || strings.Contains(string(blob), dir)) {
			t.Errorf("audit record names a file or the export path: %s", blob)
		}
		return nil
	})

	res, err := exporter("").Export(ctx, HandoverOptions{To: filepath.Join(dir, "ok")})
	if err != nil {
		t.Fatal(err)
	}
	last, err := LastHandover(ctx, st.Store)
	if err != nil || last.ID != res.ID || last.ManifestSHA256 != res.ManifestSHA256 || last.Files != 3 {
		t.Fatalf("last hand-over %+v %v", last, err)
	}
	if res.Sources[1].Items != 1 || res.Sources[0].Items != 5 {
		t.Errorf("items: %+v", res.Sources)
	}
}
