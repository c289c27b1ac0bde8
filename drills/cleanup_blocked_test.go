package drills

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"steward/internal/testenv"
)

// TestCleanupOutlastsABackendItCannotEnd: the drill's scratch role is not
// a superuser, and while the drill cleans up, a backend it may not end
// (here a superuser's session; in production an autovacuum worker on the
// freshly restored database) is connected to the scratch database. DROP
// DATABASE … WITH (FORCE) is refused (SQLSTATE 42501); cleanup retries
// until the backend is gone, and the drill passes with nothing left
// behind (issue 11, item 1).
func TestCleanupOutlastsABackendItCannotEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 500) g`)
	pg.Exec(t, "postgres", `CREATE ROLE driller LOGIN PASSWORD 'drill-pw' CREATEDB`)
	pgpw := secretRef(t, dir, "pg", pg.Password)
	body := fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - {name: j, sources: [db], repository: disk}
drills:
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: driller, password: %s, sslmode: disable}
`, pg.Port, pg.User, pgpw, pg.Port, secretRef(t, dir, "driller", "drill-pw"))
	f := newFixture(t, dir, body)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatal(err)
	}

	// Once the scratch database exists, a superuser connects to it and
	// stays until the server has refused the drill's DROP at least once.
	refused := make(chan bool, 1)
	f.d.hookRestoring = func() {
		go func() {
			var conn *pgx.Conn
			for deadline := time.Now().Add(time.Minute); conn == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				rows := pg.Query(t, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'steward_drill_%'")
				if len(rows) == 1 {
					conn, _ = pgx.Connect(ctx, pg.DSN(fmt.Sprint(rows[0][0])))
				}
			}
			if conn == nil {
				refused <- false
				return
			}
			defer conn.Close(context.Background())
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				log, _ := os.ReadFile(pg.LogPath)
				// 42501: "must be a superuser to terminate superuser process"
				// here; "must be a member of the role whose process is being
				// terminated" for an autovacuum worker.
				if strings.Contains(string(log), "must be a superuser to terminate") || strings.Contains(string(log), "must be a member of the role whose process is being terminated") {
					refused <- true
					return
				}
			}
			refused <- false
		}()
	}
	recs, err := f.d.Run(ctx, RunOptions{Job: "j"})
	if !<-refused {
		t.Fatal("the server never refused the drill's DROP DATABASE: the test did not block the cleanup")
	}
	if err != nil || len(recs) != 1 || recs[0].Result != ResultPassed || recs[0].Cleanup.Result != ResultPassed {
		t.Fatalf("drill with a blocked cleanup: %v %+v", err, recs)
	}
	if rows := pg.Query(t, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'steward_drill_%'"); len(rows) != 0 {
		t.Fatalf("scratch databases left: %v", rows)
	}
}
