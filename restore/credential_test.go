package restore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"steward/internal/testenv"
)

// TestRestoreWithItsOwnCredential: a read-only backup role may dump a
// database but not create the one a restore goes into. The restore says
// which config field names a role that may; with that role configured
// (sources[].restore.postgres) the restore creates the database and loads
// it.
func TestRestoreWithItsOwnCredential(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 50) g;
		CREATE ROLE backup_ro LOGIN PASSWORD 'ro-secret' NOCREATEDB; GRANT SELECT ON ALL TABLES IN SCHEMA public TO backup_ro`)
	pg.Exec(t, "postgres", `CREATE ROLE restorer LOGIN PASSWORD 'rs-secret' CREATEDB`)
	ro := secretRef(t, dir, "ro", "ro-secret")
	rs := secretRef(t, dir, "rs", "rs-secret")
	source := fmt.Sprintf(`  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: backup_ro, password: %s, sslmode: disable}`, pg.Port, ro)
	body := func(restoreBlock string) string {
		return fmt.Sprintf("repositories:\n  - {name: disk, local: {}}\nsources:\n%s%s\njobs:\n  - {name: j, sources: [db], repository: disk}\n", source, restoreBlock)
	}
	f := newFixture(t, dir, body(""))
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatalf("backup as the read-only role: %v", err)
	}

	src, _ := f.cfg.Source("db")
	to, err := f.r.DatabaseTarget(src, "cases_restored")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.r.Run(ctx, Options{Source: "db", To: to})
	if err == nil || !strings.Contains(err.Error(), "sources[0].restore.postgres") || !strings.Contains(err.Error(), "CREATEDB") {
		t.Fatalf("restore as the read-only role: %v; want a refusal that names sources[0].restore.postgres", err)
	}
	if rows := pg.Query(t, "postgres", "SELECT datname FROM pg_database WHERE datname = 'cases_restored'"); len(rows) != 0 {
		t.Fatalf("the refused restore created %v", rows)
	}

	f = newFixture(t, dir, body(fmt.Sprintf("\n    restore:\n      postgres: {user: restorer, password: %s}", rs)))
	src, _ = f.cfg.Source("db")
	if to, err = f.r.DatabaseTarget(src, "cases_restored"); err != nil {
		t.Fatal(err)
	}
	if to.Postgres.User != "restorer" || to.PostgresAdminDB != "postgres" {
		t.Fatalf("target logs in as %s to %s, want restorer to postgres", to.Postgres.User, to.PostgresAdminDB)
	}
	res, err := f.r.Run(ctx, Options{Source: "db", To: to})
	if err != nil {
		t.Fatalf("restore as the restore role: %v", err)
	}
	if res.TargetKind != "database" {
		t.Fatalf("result %+v", res)
	}
	got := pg.Query(t, "cases_restored", "SELECT count(*)::text || '|' || sum(id)::text FROM c")
	if len(got) != 1 || fmt.Sprint(got[0][0]) != "50|1275" {
		t.Fatalf("restored table: %v, want 50 rows summing to 1275", got)
	}
}
