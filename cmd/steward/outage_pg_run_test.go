package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"steward/internal/testenv"
)

// TestOutagePostgresDuringRun: PostgreSQL is restarted while each command
// is demonstrably at work on it — pg_dump streaming the database into a
// backup, pg_restore loading it into a drill's scratch database and into
// a restore's target database, and the daemon's scheduled backup dumping.
// The child is frozen (SIGSTOP) for the instant of the restart, once it
// has moved 1 MiB of the dump, so the run cannot finish first. Each command fails
// within runOutageDeadline naming the source or the server, records no
// success; restic itself finds the repository clean with every earlier
// snapshot; the rerun completes, leaving no steward_drill_* database and
// restoring every row; the daemon keeps running and its next scheduled
// backup succeeds.
func TestOutagePostgresDuringRun(t *testing.T) {
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	// About 30 MB of text: pg_dump and pg_restore take a while over it.
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) || md5((g+1)::text) FROM generate_series(1, 400000) g`)
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	cfg := func(schedule string) {
		os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s, stall_timeout: 5s}
repositories:
  - {name: disk, local: {}}
sources:
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - {name: j, sources: [db], repository: disk%s}
drills:
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}
`, filepath.Join(repoRoot(t), "bin", "restic"), pg.Port, pg.User, pgpw, schedule, pg.Port, pg.User, pgpw), 0o600)
	}
	cfg("")
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		mustRunOK(t, dir, "set-up", args...)
	}
	names := []string{`"db"`, "source db", "db:", fmt.Sprintf("127.0.0.1:%d", pg.Port)}
	snaps := snapshotSet(t, dir, "disk")
	restart := func() { pg.Restart() }
	// busy: pg_dump has written 1 MiB of the dump into restic's pipe.
	busy := func(pid int) bool { return procWritten(pid) > 1<<20 }
	// loading: pg_restore has read 1 MiB of the dump from restic's pipe
	// (past its table of contents: it is sending table data).
	loading := func(pid int) bool { return procRead(pid) > 1<<20 }
	sum := func(db string) string {
		rows := pg.Query(t, db, `SELECT count(*)::text || ' ' || md5(string_agg(id::text || note, ',' ORDER BY id)) FROM c`)
		return rows[0][0].(string)
	}
	want := sum("cases")
	scratchDBs := func() []any {
		var l []any
		for _, r := range pg.Query(t, "postgres", `SELECT datname FROM pg_database WHERE datname LIKE 'steward_drill_%'`) {
			l = append(l, r[0])
		}
		return l
	}

	t.Run("backup", func(t *testing.T) {
		ok := readRecords(t, dir, "j").backupsOK
		o := runDuring(t, dir, childDoing("pg_dump", "", busy), restart, "backup", "run")
		o.mustFail(t, "backup with PostgreSQL restarted mid-dump", names)
		if got := readRecords(t, dir, "j").backupsOK; got != ok {
			t.Errorf("%d successful backups recorded, want %d", got, ok)
		}
		if now := intact(t, dir, "disk", snaps); len(now) != len(snaps) {
			t.Errorf("the failed backup left snapshots: %v, before %v", now, snaps)
		}
		mustRunOK(t, dir, "backup once PostgreSQL is back", "backup", "run")
		now := intact(t, dir, "disk", snaps)
		if len(now) <= len(snaps) {
			t.Errorf("disk holds %d snapshots after the rerun, no more than the %d before", len(now), len(snaps))
		}
		snaps = now
	})

	t.Run("drill", func(t *testing.T) {
		passed := readRecords(t, dir, "j").drillsPassed
		o := runDuring(t, dir, childDoing("pg_restore", "", loading), restart, "drill", "run", "--repository", "disk")
		o.mustFail(t, "drill with PostgreSQL restarted mid-restore", names)
		if got := readRecords(t, dir, "j").drillsPassed; got != passed {
			t.Errorf("%d passed drills recorded, want %d", got, passed)
		}
		t.Logf("after the failed drill: scratch databases %v", scratchDBs())
		mustRunOK(t, dir, "drill once PostgreSQL is back", "drill", "run", "--repository", "disk")
		if l := scratchDBs(); len(l) > 0 {
			t.Errorf("scratch databases left after the rerun: %v", l)
		}
	})

	t.Run("restore", func(t *testing.T) {
		o := runDuring(t, dir, childDoing("pg_restore", "", loading), restart, "restore", "--to-database", "back")
		o.mustFail(t, "restore with PostgreSQL restarted mid-restore", names)
		mustRunOK(t, dir, "restore once PostgreSQL is back", "restore", "--to-database", "back", "--force")
		if got := sum("back"); got != want {
			t.Errorf("the restored database holds %s, the source %s", got, want)
		}
	})

	t.Run("daemon", func(t *testing.T) {
		cfg(`, schedule: "*/2 * * * * *"`)
		before := runResults(t, dir, "j")
		d := startServe(t, dir, nil)
		if !strike(t, d.cmd.Process.Pid, d.exited, childDoing("pg_dump", "", busy), restart) {
			t.Fatalf("serve exited before the fault:\n%s", d.out.String())
		}
		struck := time.Now()
		d.waitUntil(t, "the scheduled backup recorded failed", runOutageDeadline, func() bool {
			return runResults(t, dir, "j")["failed"] > before["failed"]
		})
		t.Logf("daemon: the scheduled backup was recorded failed %s after the restart", time.Since(struck).Round(time.Millisecond))
		failedAt := runResults(t, dir, "j")
		d.waitUntil(t, "a scheduled backup ok after the restart", runOutageDeadline, func() bool {
			return runResults(t, dir, "j")["ok"] > failedAt["ok"]
		})
		t.Logf("daemon: the next scheduled backup succeeded %s after the restart", time.Since(struck).Round(time.Millisecond))
		if code := d.stop(t, 30*time.Second); code != 0 {
			t.Errorf("serve exit code %d after SIGTERM, want 0:\n%s", code, d.out.String())
		}
		if r := runResults(t, dir, "j"); r[""] != 0 {
			t.Errorf("%d runs left running", r[""])
		}
		intact(t, dir, "disk", snaps)
	})
	mustRunOK(t, dir, "the end", "audit", "verify")
}
