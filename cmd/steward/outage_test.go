package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/internal/testenv"
)

// outageDeadline is how long a command may take to fail when a component
// it needs is down: long enough for restic's and the probes' own
// deadlines, far from a silent hang.
const outageDeadline = 3 * time.Minute

// TestOutages: with the S3 server of the primary repository stopped, then
// PostgreSQL stopped, `backup run`, `drill run` and `repo check` each
// fail within outageDeadline, with a message naming what is down, record
// no success and lose nothing; once the component is back the same
// commands succeed, and restic itself finds every repository intact.
func TestOutages(t *testing.T) {
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "repo")
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 100) g`)
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 3, 1000)
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - name: tokyo%s
  - {name: disk, local: {}}
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - {name: j, sources: [files, db], repository: tokyo, replicas: [disk]}
drills:
  read_data_subsets: 1
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), data,
		pg.Port, pg.User, pgpw, pg.Port, pg.User, pgpw), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	okRuns := func() int { return readRecords(t, dir, "j").backupsOK }
	before := okRuns()

	fails := func(what string, names []string, args ...string) {
		t.Helper()
		start := time.Now()
		code, out, errOut := stewardRun(t, dir, "", args...)
		took := time.Since(start)
		last := strings.TrimSpace(errOut)
		if i := strings.LastIndex(last, "\n"); i >= 0 {
			last = last[i+1:]
		}
		t.Logf("%s: %v failed in %s (exit %d): %s", what, args, took.Round(time.Millisecond), code, last)
		if code == 0 {
			t.Errorf("%s: %v succeeded:\n%s%s", what, args, out, errOut)
		}
		if took > outageDeadline {
			t.Errorf("%s: %v took %s to fail, more than %s", what, args, took, outageDeadline)
		}
		if !containsAny(errOut, names) {
			t.Errorf("%s: %v: the error names none of %q:\n%s", what, args, names, errOut)
		}
	}
	succeeds := func(what string, args ...string) {
		t.Helper()
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Errorf("%s: %v once it is back: exit %d\n%s%s", what, args, code, out, errOut)
		}
	}

	// The primary's S3 server is down.
	s3.Stop()
	s3Names := []string{`"tokyo"`, "tokyo:", "repository tokyo", s3.Endpoint}
	fails("S3 down", s3Names, "backup", "run")
	fails("S3 down", s3Names, "drill", "run", "--repository", "tokyo")
	fails("S3 down", s3Names, "repo", "check", "tokyo")
	if got := okRuns(); got != before {
		t.Errorf("S3 down: %d successful backups recorded, want %d", got, before)
	}
	s3.Restart()
	succeeds("S3 back", "backup", "run")
	succeeds("S3 back", "drill", "run", "--repository", "tokyo")
	succeeds("S3 back", "repo", "check", "tokyo")

	// The database server is down: its backup and its drill fail, naming
	// the source; the path source's backup is not lost.
	before = okRuns()
	pg.Stop()
	pgNames := []string{`"db"`, "source db", "db:", fmt.Sprintf("127.0.0.1:%d", pg.Port)}
	fails("PostgreSQL down", pgNames, "backup", "run")
	fails("PostgreSQL down", pgNames, "drill", "run", "--source", "db", "--repository", "disk")
	pg.Restart()
	succeeds("PostgreSQL back", "backup", "run")
	succeeds("PostgreSQL back", "drill", "run", "--source", "db", "--repository", "disk")
	if got := okRuns(); got < before+2 {
		t.Errorf("after the outages: %d successful backups recorded, want at least %d", got, before+2)
	}

	plainRestic(t, dir, "disk", "check")
	if code, out, errOut := stewardRun(t, dir, "", "audit", "verify"); code != 0 {
		t.Errorf("audit verify: %d\n%s%s", code, out, errOut)
	}
}

// failsInTime runs args in dir while what (such as "on a full disk") is
// wrong, and checks that the command fails within bound, claims no
// PASSED, and that its error says each of names; it returns the error
// output.
func failsInTime(t *testing.T, dir, what string, bound time.Duration, names []string, args ...string) string {
	t.Helper()
	start := time.Now()
	code, out, errOut := stewardRun(t, dir, "", args...)
	took := time.Since(start)
	t.Logf("%v %s: exit %d in %s: %s", args, what, code, took.Round(time.Millisecond), lastLine(errOut))
	if code == 0 || strings.Contains(out, "PASSED") {
		t.Errorf("%v succeeded %s:\n%s%s", args, what, out, errOut)
	}
	if took > bound {
		t.Errorf("%v took %s to fail", args, took)
	}
	for _, want := range names {
		if !strings.Contains(errOut, want) {
			t.Errorf("%v: the error does not say %q:\n%s", args, want, errOut)
		}
	}
	return errOut
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
