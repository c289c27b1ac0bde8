package backup

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"steward/internal/keys"
	"steward/internal/manifest"
	"steward/internal/pgsql"
	"steward/internal/testenv"
)

// TestPostgresManifestFromTheDump: a PostgreSQL backup's manifest is
// computed from the dump as it streams into restic: every table pg_dump
// dumps, with its row count and a copyxxh3/v1 checksum that equals what
// COPY reads back from the source on a connection of its own, and that
// the stored dump, read again from the repository, gives too. Nothing is
// left in the state dir's tmp.
func TestPostgresManifestFromTheDump(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", testenv.TrickyTables)
	body := fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - {name: j, sources: [db], repository: disk}
`, pg.Port, pg.User, secretRef(t, dir, "pg", pg.Password))
	f := newFixture(t, dir, body, nil)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	rep, err := f.eng.Run(ctx, RunOptions{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	f.tmpEmpty(t)
	row, err := f.store.LatestManifest(ctx, "disk", "db")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := manifest.ReadAll(ctx, f.store, row.SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	if m.DumpEncoding != "UTF8" || m.PgSnapshot == "" || m.Bytes != rep.Runs[0].BytesRead || m.Bytes == 0 {
		t.Fatalf("manifest: encoding %q, snapshot %q, %d bytes (run read %d)", m.DumpEncoding, m.PgSnapshot, m.Bytes, rep.Runs[0].BytesRead)
	}
	var rows int64
	for _, tb := range m.Tables {
		name := tb.Schema + "." + tb.Name
		want, ok := testenv.TrickyTableRows[name]
		if !ok || tb.Rows != want || !strings.HasPrefix(tb.Checksum, pgsql.CopyMethod+":") {
			t.Errorf("%s: %d rows (want %d), checksum %s", name, tb.Rows, want, tb.Checksum)
		}
		rows += tb.Rows
	}
	if len(m.Tables) != len(testenv.TrickyTableRows) || m.Count != rows {
		t.Fatalf("%d tables, count %d (rows %d)", len(m.Tables), m.Count, rows)
	}

	// The source read back with COPY gives the same figures.
	conn, err := pgsql.Connect(ctx, f.cfg.Sources[0].Postgres, keys.Secret(pg.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	copied, err := pgsql.CopyChecksums(ctx, conn, m.DumpEncoding)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(copied) != fmt.Sprint(m.Tables) {
		t.Fatalf("COPY of the source:\n%v\nmanifest:\n%v", copied, m.Tables)
	}
	// So does the dump restic stored.
	stored := f.resticByHand(t, "disk", "dump", "--tag", "source:db,"+TagData, "latest", "/db.pgdump")
	a, err := pgsql.ReadArchive(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(stored)) != m.Bytes || fmt.Sprint(a.Tables) != fmt.Sprint(m.Tables) {
		t.Fatalf("the stored dump (%d bytes) has\n%v\nmanifest (%d bytes):\n%v", len(stored), a.Tables, m.Bytes, m.Tables)
	}
}
