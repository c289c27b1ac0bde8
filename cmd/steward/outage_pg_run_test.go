package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"steward/erase"
	"steward/internal/testenv"

	"filippo.io/age"
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
		testenv.Heavy(t)
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
		testenv.Heavy(t)
		o := runDuring(t, dir, childDoing("pg_restore", "", loading), restart, "restore", "--to-database", "back")
		o.mustFail(t, "restore with PostgreSQL restarted mid-restore", names)
		mustRunOK(t, dir, "restore once PostgreSQL is back", "restore", "--to-database", "back", "--force")
		if got := sum("back"); got != want {
			t.Errorf("the restored database holds %s, the source %s", got, want)
		}
	})

	t.Run("daemon", func(t *testing.T) {
		testenv.Heavy(t)
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

// TestOutagePostgresCatalogDuringKit: with the catalog on PostgreSQL (as
// redundant daemons keep it), PostgreSQL is restarted while the recovery
// kit adds its escrow key (restic's `key add` frozen for the instant of
// the restart), before the kit records its pending keys and itself in the
// catalog. The kit either fails within runOutageDeadline naming the
// catalog's server, leaving no kit file and no escrow key, or completes
// on a new connection; either way the command run again (or the kit
// written) leaves exactly one escrow key, the kit's, and the kit opens.
func TestOutagePostgresCatalogDuringKit(t *testing.T) {
	testenv.Heavy(t)
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cat")
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 2, 1000)
	officer, _ := age.GenerateX25519Identity()
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s, stall_timeout: 5s}
%srepositories:
  - {name: disk, local: {}}
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: disk}
recovery:
  recipients: [%s]
`, filepath.Join(repoRoot(t), "bin", "restic"), sharedCatalogYAML(t, pg, "cat"), data, officer.Recipient()), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		mustRunOK(t, dir, "set-up", args...)
	}
	kit := filepath.Join(dir, "kit.age")
	o := runDuring(t, dir, childDoing("restic", "add", nil), func() { pg.Restart() }, "recovery", "kit", "--to", kit)
	if o.took > runOutageDeadline {
		t.Errorf("the kit took %s, more than %s", o.took, runOutageDeadline)
	}
	if o.code != 0 {
		o.mustFail(t, "recovery kit with PostgreSQL restarted", []string{fmt.Sprintf("127.0.0.1:%d", pg.Port), "catalog"})
		for _, p := range []string{kit, kit + ".partial"} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("after the failed kit: %s exists (%v)", p, err)
			}
		}
		mustRunOK(t, dir, "recovery kit once PostgreSQL is back", "recovery", "kit", "--to", kit)
	} else {
		t.Logf("the kit completed in %s across the restart", o.took.Round(time.Millisecond))
	}
	k, err := openKit(t, kit, officer)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range k.Repositories {
		ks := escrowKeys(t, dir, r.Name)
		if len(ks) != 1 || !strings.HasPrefix(r.KeyID, ks[0]) && !strings.HasPrefix(ks[0], r.KeyID) {
			t.Errorf("repository %s holds escrow keys %v; the kit's is %s", r.Name, ks, r.KeyID)
		}
	}
	mustRunOK(t, dir, "the end", "audit", "verify")
}

// TestOutagePostgresDuringErase: `erase execute` of a contract with a
// PostgreSQL source; PostgreSQL stops once crypto-erase is done (the
// step's alert reaches the test's webhook, which stops the server before
// it answers), so logical deletion finds it gone. execute fails within
// runOutageDeadline naming the step and how to resume, and issues no
// certificate; PostgreSQL is started again and execute resumes and
// completes: the source database is gone (SQL on pg_database), one
// certificate is printed, the audit log verifies.
func TestOutagePostgresDuringErase(t *testing.T) {
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY); INSERT INTO c SELECT generate_series(1, 100)`)
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	var once sync.Once
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct{ Subject string }
		json.NewDecoder(r.Body).Decode(&a)
		if strings.Contains(a.Subject, "step "+erase.StepCryptoErase+" done") {
			once.Do(pg.Stop)
		}
	}))
	defer recv.Close()
	t.Setenv("STEWARD_TEST_ERASE_HOOK_SECRET", "erase-outage-secret")
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s, stall_timeout: 5s}
repositories:
  - {name: disk, local: {}}
sources:
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - {name: j, sources: [db], repository: disk}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
notify:
  webhook: {url: %s/hook, secret: "env:STEWARD_TEST_ERASE_HOOK_SECRET"}
`, filepath.Join(repoRoot(t), "bin", "restic"), pg.Port, pg.User, pgpw, recv.URL), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		mustRunOK(t, dir, "set-up", args...)
	}
	id := strings.Fields(mustRunOK(t, dir, "plan", "erase", "plan", "--as", "alice"))[2]
	mustRunOK(t, dir, "approve", "erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "kept by the city")
	time.Sleep(1100 * time.Millisecond) // the cooling-off
	start := time.Now()
	code, out, errOut := stewardRun(t, dir, "", "erase", "execute", id, "--as", "alice")
	o := outcome{code: code, out: out, errOut: errOut, took: time.Since(start)}
	o.mustFail(t, "erase execute with PostgreSQL stopped mid-erase", []string{"step " + erase.StepDelete})
	if !strings.Contains(errOut, "resume") || strings.Contains(out+errOut, "deletion certificate DC-") {
		t.Errorf("execute with PostgreSQL down: no resume hint, or a certificate:\n%s%s", out, errOut)
	}
	pg.Restart()
	if out := mustRunOK(t, dir, "execute once PostgreSQL is back", "erase", "execute", id, "--as", "alice"); !strings.Contains(out, "deletion certificate DC-") {
		t.Errorf("execute after the restart printed no certificate:\n%s", out)
	}
	if rows := pg.Query(t, "postgres", `SELECT datname FROM pg_database WHERE datname = 'cases'`); len(rows) != 0 {
		t.Errorf("the source database is still there after erase: %v", rows)
	}
	mustRunOK(t, dir, "the end", "audit", "verify")
}
