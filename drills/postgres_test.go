package drills

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"steward/internal/keys"
	"steward/internal/manifest"
	"steward/internal/pgsql"
	"steward/internal/testenv"
	"steward/restore"
)

// TestPostgresChecksums: a drill of a PostgreSQL backup checks every
// table's rows and copyxxh3/v1 checksum, read back from the restored
// database with COPY (not through restic), against the manifest the backup
// computed from the dump; a row changed or removed in a restore fails the
// check and names the table; a manifest made before copyxxh3/v1
// (rowmd5sum/v1) is still verified, the old way.
func TestPostgresChecksums(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", testenv.TrickyTables)
	pgpw := secretRef(t, dir, "pg", pg.Password)
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - {name: j, sources: [db], repository: disk}
drills:
  snapshot: latest
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}
`, pg.Port, pg.User, pgpw, pg.Port, pg.User, pgpw))
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatal(err)
	}
	row, err := f.store.LatestManifest(ctx, "disk", "db")
	if err != nil {
		t.Fatal(err)
	}
	mp, origBody, err := manifest.ReadAll(ctx, f.store, row.SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	m := *mp

	t.Run("a drill checks every table with COPY", func(t *testing.T) {
		recs, err := f.d.Run(ctx, RunOptions{Job: "j"})
		if err != nil || recs[0].Result != ResultPassed {
			t.Fatalf("drill: %v %+v", err, recs)
		}
		names := map[string]Check{}
		for _, c := range recs[0].Checks {
			names[c.Name] = c
		}
		content := names["tables: "+pgsql.CopyMethod]
		if content.Result != ResultPassed || !strings.Contains(content.Expected, fmt.Sprintf("of the %d", len(testenv.TrickyTableRows))) {
			t.Fatalf("checks %+v", recs[0].Checks)
		}
		if c := names["tables: rows"]; c.Result != ResultPassed || !strings.Contains(c.Actual, fmt.Sprint(m.Count)+" rows") {
			t.Fatalf("rows check %+v (manifest count %d)", c, m.Count)
		}
	})

	t.Run("a changed or missing row in the restore fails, naming its table", func(t *testing.T) {
		sc := restoreByHand(t, ctx, f, pg, "restored")
		checks, err := f.d.verify(ctx, sc, &manifest.Loaded{Manifest: &m})
		if err != nil || failed(checks) != nil {
			t.Fatalf("verify an untouched restore: %v %+v", err, checks)
		}
		pg.Exec(t, "restored", `UPDATE public.types SET t = t || ' ' WHERE id = 1;
			DELETE FROM "Other schema"."Café ""list""" WHERE "Name" IS NULL`)
		checks, err = f.d.verify(ctx, sc, &manifest.Loaded{Manifest: &m})
		if err != nil {
			t.Fatal(err)
		}
		bad := failed(checks)
		if len(bad) != 2 || !strings.Contains(bad[0].Detail, `Other schema.Café "list" (manifest 4 rows, restored 3)`) ||
			bad[1].Name != "tables: "+pgsql.CopyMethod || !strings.Contains(bad[1].Detail, "public.types") || !strings.Contains(bad[1].Detail, `Café "list"`) {
			t.Fatalf("failed checks %+v", bad)
		}
	})

	t.Run("a rowmd5sum/v1 manifest is verified the old way", func(t *testing.T) {
		conn, err := pgsql.Connect(ctx, f.cfg.Sources[0].Postgres, keys.Secret(pg.Password))
		if err != nil {
			t.Fatal(err)
		}
		old, err := pgsql.Manifest(ctx, conn, "")
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		edit := func(tables []pgsql.Table) {
			v1 := m
			v1.Tables, v1.DumpEncoding = tables, ""
			r := row
			body, _ := json.Marshal(v1)
			r.SHA256 = manifest.SHA256(body)
			if err := f.store.PutManifest(ctx, r, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { f.store.PutManifest(context.Background(), row, bytes.NewReader(origBody)) })
		edit(old)
		recs, err := f.d.Run(ctx, RunOptions{Job: "j"})
		if err != nil || !slices.ContainsFunc(recs[0].Checks, func(c Check) bool { return c.Name == "tables: "+pgsql.ChecksumMethod && c.Result == ResultPassed }) {
			t.Fatalf("drill of a rowmd5sum/v1 manifest: %v %+v", err, recs)
		}
		wrong := slices.Clone(old)
		wrong[0].Checksum = pgsql.ChecksumMethod + ":1:2:3"
		edit(wrong)
		if recs, err := f.d.Run(ctx, RunOptions{Job: "j"}); err == nil || !strings.Contains(strings.Join(recs[0].Problems, " "), pgsql.ChecksumMethod+" differs") {
			t.Fatalf("a wrong rowmd5sum/v1: %v %+v", err, recs[0].Problems)
		}
	})
}

// restoreByHand restores the latest dump of source db into a new database
// with restic and pg_restore run by hand (not Steward's restore), and
// returns it as a drill's scratch.
func restoreByHand(t *testing.T, ctx context.Context, f *fixture, pg *testenv.Postgres, db string) *scratch {
	t.Helper()
	r, err := f.repos.Resolve("disk", true)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, r.Restic.Password.Reveal(), 0o600)
	pg.CreateDatabase(t, db)
	sh := exec.CommandContext(ctx, "bash", "-c", fmt.Sprintf(`set -o pipefail; %s --no-cache -r %s --password-file %s dump --tag source:db,steward-data latest /db.pgdump | %s --no-owner --exit-on-error --dbname %s`,
		testenv.Bin(t, "restic"), r.Restic.Location, pw, filepath.Join(pg.BinDir, "pg_restore"), db))
	sh.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, pg.Env()...)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("restore by hand: %v\n%s", err, out)
	}
	src := *f.cfg.Sources[0].Postgres
	src.Database = db
	return &scratch{target: restore.Target{Postgres: &src, PostgresPassword: keys.Secret(pg.Password)}}
}

func failed(checks []Check) []Check {
	var out []Check
	for _, c := range checks {
		if c.Result != ResultPassed {
			out = append(out, c)
		}
	}
	return out
}

// TestChecksumMethod: a postgres manifest's tables name one method this
// version knows; anything else is an error before any check, not a
// mismatch.
func TestChecksumMethod(t *testing.T) {
	tb := func(sum string) pgsql.Table { return pgsql.Table{Schema: "s", Name: "t", Checksum: sum} }
	for _, tt := range []struct {
		name   string
		tables []pgsql.Table
		want   string
		fails  string
	}{
		{"no tables", nil, pgsql.CopyMethod, ""},
		{"copyxxh3/v1", []pgsql.Table{tb("copyxxh3/v1:1:2:3"), tb("copyxxh3/v1:0:0:0")}, pgsql.CopyMethod, ""},
		{"rowmd5sum/v1", []pgsql.Table{tb("rowmd5sum/v1:1:2:3")}, pgsql.ChecksumMethod, ""},
		{"unknown", []pgsql.Table{tb("rowsha3/v9:1:2:3")}, "", `"rowsha3/v9" is not one this Steward knows`},
		{"mixed", []pgsql.Table{tb("copyxxh3/v1:1:2:3"), tb("rowmd5sum/v1:1:2:3")}, "", "other tables have"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checksumMethod(&manifest.Manifest{Kind: "postgres", Tables: tt.tables})
			if got != tt.want || (tt.fails == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.fails) {
				t.Fatalf("method %q, err %v; want %q, failing with %q", got, err, tt.want, tt.fails)
			}
		})
	}
}
