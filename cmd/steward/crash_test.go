//go:build crashpoints

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"steward/internal/catalog"
	"steward/internal/crash"
	"steward/internal/testenv"
)

// The crash suite (built with -tags crashpoints; scripts/test.sh runs it
// after the other tests): each test sets up one contract and, for each
// crash point of its scenario in turn, runs a command as a process of the
// test binary with STEWARD_CRASH_AT naming the point, checks that it died
// of SIGKILL, runs the command again without it and checks the end state
// with tools that are not Steward's code: restic itself on every
// repository, the file system, psql queries, pdfsig. docs/reliability.md
// lists the points and what each test checks.

// crashScenarios says which test kills Steward at which points; together
// they are every point in crash.List (TestCrashPointsListed).
var crashScenarios = map[string][]string{
	"TestCrashBackupDrillRestore": {crash.BackupRunStarted, crash.BackupSnapshotSaved, crash.BackupManifestStored, crash.BackupReplicasCopied,
		crash.BackupRetention, crash.DrillRestored, crash.DrillVerified, crash.CertsPDFWritten, crash.RestoreWritten, crash.RecoveryEscrowAdded},
	// The scheduler's point: a scheduled backup started and recorded.
	"TestCrashServe": {crash.BackupRunStarted},
	// The daemon on its schedule (not --once): killed in a scheduled
	// drill, then in a scheduled backup.
	"TestCrashServeSchedule": {crash.DrillRestored, crash.BackupSnapshotSaved},
	// eraseKillPoints, and the deletion certificate's PDF.
	"TestEraseResumesAfterKill": append(eraseKillPoints(), crash.CertsPDFWritten),
}

// TestCrashPointsListed: every point is in a scenario, and every point a
// scenario names exists.
func TestCrashPointsListed(t *testing.T) {
	var all []string
	for name, points := range crashScenarios {
		for _, p := range points {
			if !slices.Contains(crash.List(), p) {
				t.Errorf("%s kills at %q, which is not in crash.List", name, p)
			}
			all = append(all, p)
		}
	}
	for _, p := range crash.List() {
		if !slices.Contains(all, p) {
			t.Errorf("crash point %q is in no scenario of the crash suite", p)
		}
	}
}

// crashEnv runs steward commands in dir as processes of the test binary,
// each tracing the crash points it reaches into one file.
type crashEnv struct {
	t     *testing.T
	dir   string
	trace string
	// s3 holds the restic environment (RESTIC_REPOSITORY and the S3
	// credentials) of the repositories on S3, by name; the others are
	// local, under the state dir.
	s3 map[string][]string
}

func newCrashEnv(t *testing.T, dir string) *crashEnv {
	return &crashEnv{t: t, dir: dir, trace: filepath.Join(t.TempDir(), "crash-trace"), s3: map[string][]string{}}
}

// onS3 says that repository name is bucket on s3, reached with the
// server's root credentials.
func (c *crashEnv) onS3(name string, s3 *testenv.S3Server, bucket string) {
	c.s3[name] = []string{"RESTIC_REPOSITORY=s3:" + s3.URL + "/" + bucket, "AWS_ACCESS_KEY_ID=" + s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s3.SecretKey, "AWS_DEFAULT_REGION=" + s3.Region}
}

func (c *crashEnv) command(env []string, args ...string) (string, error) {
	for _, a := range args {
		if strings.ContainsAny(a, " \t\n") {
			c.t.Fatalf("argument %q: the CLI helper splits on spaces", a)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Dir = c.dir
	cmd.Env = append(append(os.Environ(), env...), cliHelperEnv+"="+strings.Join(args, " "), crash.TraceEnv+"="+c.trace)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// kill runs args with STEWARD_CRASH_AT=point and requires that the
// process died of SIGKILL (so the point was reached).
func (c *crashEnv) kill(point string, args ...string) {
	c.t.Helper()
	out, err := c.command([]string{crash.Env + "=" + point}, args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		c.t.Fatalf("crash point %s: %v was not killed there (%v):\n%s", point, args, err, out)
	}
}

// run runs args and requires exit 0.
func (c *crashEnv) run(point string, args ...string) string {
	c.t.Helper()
	out, err := c.command(nil, args...)
	if err != nil {
		c.t.Fatalf("crash point %s: %v after the kill: %v\n%s", point, args, err, out)
	}
	return out
}

// checkTrace: every point reached is a listed point.
func (c *crashEnv) checkTrace() {
	c.t.Helper()
	b, _ := os.ReadFile(c.trace)
	seen := map[string]bool{}
	for _, p := range strings.Fields(string(b)) {
		if !seen[p] && !slices.Contains(crash.List(), p) {
			c.t.Errorf("crash point %q was reached but is not in crash.List", p)
		}
		seen[p] = true
	}
	if len(seen) == 0 {
		c.t.Error("no crash point was reached")
	}
}

// auditVerify runs `steward audit verify` (a process, as an operator
// would) and opens the catalog.
func (c *crashEnv) auditVerify(point string) {
	c.t.Helper()
	if out, err := c.command(nil, "audit", "verify"); err != nil {
		c.t.Fatalf("crash point %s: audit verify: %v\n%s", point, err, out)
	}
	st, err := catalog.Open(context.Background(), filepath.Join(c.dir, "state", "catalog.db"))
	if err != nil {
		c.t.Fatalf("crash point %s: the catalog does not open: %v", point, err)
	}
	st.Close()
}

// resticSnapshot is what `restic snapshots --json` says of a snapshot.
type resticSnapshot struct {
	ID       string   `json:"id"`
	Original string   `json:"original"`
	Tags     []string `json:"tags"`
}

func (s resticSnapshot) origin() string { return cmpOr(s.Original, s.ID) }

func (s resticSnapshot) tag(prefix string) string {
	for _, t := range s.Tags {
		if v, ok := strings.CutPrefix(t, prefix); ok {
			return v
		}
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// resticOn runs the restic binary itself on repository name (local, in
// the state dir, or on S3: onS3), with the password Steward sealed for it.
func (c *crashEnv) resticOn(name string, passwords map[string]string, args ...string) ([]byte, error) {
	tmp := c.t.TempDir()
	pw := filepath.Join(tmp, "pw")
	os.WriteFile(pw, []byte(passwords[name]), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(c.t), "bin", "restic"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "RESTIC_REPOSITORY=" + filepath.Join(c.dir, "state", "repositories", name),
		"RESTIC_PASSWORD_FILE=" + pw, "RESTIC_CACHE_DIR=" + filepath.Join(tmp, "cache")}
	cmd.Env = append(cmd.Env, c.s3[name]...) // the later RESTIC_REPOSITORY wins
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("restic %v on %s: %v: %s", args, name, err, errb.String())
	}
	return out, nil
}

// passwords unseals the repositories' passwords (before any erase).
func (c *crashEnv) passwords(names ...string) map[string]string {
	c.t.Helper()
	a, err := openApp(c.dir)
	if err != nil {
		c.t.Fatal(err)
	}
	defer a.Close()
	repos, err := a.Repos(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	m := map[string]string{}
	for _, n := range names {
		pw, err := repos.Password(n)
		if err != nil {
			c.t.Fatal(err)
		}
		m[n] = string(pw.Reveal())
	}
	return m
}

// repositories checks with restic that every repository is clean and
// holds the same snapshots as the primary (by origin), and returns the
// primary's snapshots.
func (c *crashEnv) repositories(point string, passwords map[string]string, primary string, replicas ...string) []resticSnapshot {
	c.t.Helper()
	var want []string
	var snaps []resticSnapshot
	for _, name := range append([]string{primary}, replicas...) {
		if out, err := c.resticOn(name, passwords, "check"); err != nil {
			c.t.Fatalf("crash point %s: restic check: %v\n%s", point, err, out)
		}
		out, err := c.resticOn(name, passwords, "snapshots", "--json")
		if err != nil {
			c.t.Fatalf("crash point %s: %v", point, err)
		}
		var ss []resticSnapshot
		if err := json.Unmarshal(out, &ss); err != nil {
			c.t.Fatalf("crash point %s: restic snapshots --json on %s: %v", point, name, err)
		}
		var got []string
		for _, s := range ss {
			got = append(got, s.origin())
		}
		slices.Sort(got)
		if name == primary {
			want, snaps = got, ss
		} else if !slices.Equal(got, want) {
			c.t.Errorf("crash point %s: replica %s holds snapshots %v, the primary %v", point, name, got, want)
		}
	}
	return snaps
}

// TestCrashBackupDrillRestore: one contract — a path source and a
// PostgreSQL database backed up into a local repository with a replica on
// S3 (versitygw), keeping the last two snapshots of each (so that a
// snapshot a killed run left in the replica would be kept, and seen) — is
// killed at each crash point of backup (with replica copy and retention),
// drill, the drill report, restore (into a directory and into a database)
// and the recovery kit, and the command is run again. After each rerun
// restic checks every repository clean, the replica holds exactly the
// primary's snapshots, every source's last snapshot in the primary is the
// one the catalog records for the last run, no run is left running, the
// audit log verifies; drills leave no scratch (directory empty, no
// steward_drill_* database); the drill has one report, valid by pdfsig
// and named once in the audit log; a restore rerun leaves the files equal
// to the source, and the restored database's rows equal the source's;
// the kit is written once and opens, and no escrow key is left that no
// kit holds.
func TestCrashBackupDrillRestore(t *testing.T) {
	dir := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE notes (id int PRIMARY KEY, body text)`)
	pg.Exec(t, "cases", `INSERT INTO notes SELECT g, md5(g::text) FROM generate_series(1, 300) g`)
	// The replica is on S3 (versitygw), so that every backup point is
	// also crossed by a copy into, and retention in, an S3 repository.
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "copy")
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 4, 1000)
	scratch := filepath.Join(dir, "scratch")
	officer, _ := age.GenerateX25519Identity()
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - name: copy%s
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - {name: j, sources: [files, db], repository: disk, replicas: [copy], retention: {keep_last: 2}}
drills:
  read_data_subsets: 1
  scratch:
    dir: %s
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}
recovery: {recipients: [%s], kit_location: safe}
signing: {organisation: Test Operator KK, signer: Test Signer}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "copy", s3.AccessKey, s3.SecretKey), files,
		pg.Port, pg.User, pgpw, scratch, pg.Port, pg.User, pgpw, officer.Recipient())), 0o600)
	c := newCrashEnv(t, dir)
	c.onS3("copy", s3, "copy")
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		c.run("set-up", args...)
	}
	pws := c.passwords("disk", "copy")

	backupState := func(point string) {
		snaps := c.repositories(point, pws, "disk", "copy")
		st, err := catalog.Open(context.Background(), filepath.Join(dir, "state", "catalog.db"))
		if err != nil {
			t.Fatalf("crash point %s: catalog: %v", point, err)
		}
		defer st.Close()
		runs, err := st.JobRuns(context.Background(), "j", 0)
		if err != nil {
			t.Fatal(err)
		}
		last := map[string]catalog.RunRow{}
		for _, r := range runs {
			if r.Result == "" {
				t.Errorf("crash point %s: run %s is still marked running", point, r.ID)
			}
			if _, ok := last[r.Source]; !ok {
				last[r.Source] = r
			}
		}
		for _, src := range []string{"files", "db"} {
			r := last[src]
			if r.Result != "ok" {
				t.Errorf("crash point %s: the last run of %s: %q", point, src, r.Result)
				continue
			}
			i := slices.IndexFunc(snaps, func(s resticSnapshot) bool { return s.ID == r.SnapshotID })
			if i < 0 {
				t.Errorf("crash point %s: the last run of %s names snapshot %s, which restic does not list", point, src, r.SnapshotID)
			} else if run := snaps[i].tag("run:"); run != r.ID {
				t.Errorf("crash point %s: snapshot %s is tagged run:%s, the catalog's run is %s", point, r.SnapshotID, run, r.ID)
			}
		}
		data := 0
		for _, s := range snaps {
			if slices.Contains(s.Tags, "steward-data") {
				data++
			}
		}
		if data != 4 {
			t.Errorf("crash point %s: %d data snapshots in the primary, want 4 (keep_last 2 of each source): %+v", point, data, snaps)
		}
		c.auditVerify(point)
	}
	for _, point := range []string{crash.BackupRunStarted, crash.BackupSnapshotSaved, crash.BackupManifestStored, crash.BackupReplicasCopied,
		crash.BackupRetention, crash.BackupRetention + "#2"} {
		c.kill(point, "backup", "run")
		c.run(point, "backup", "run")
		backupState(point)
	}

	noScratch := func(point string) {
		ents, err := os.ReadDir(scratch)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				t.Errorf("crash point %s: scratch holds %s", point, e.Name())
			}
		}
		if rows := pg.Query(t, "postgres", `SELECT datname FROM pg_database WHERE datname LIKE 'steward_drill_%'`); len(rows) != 0 {
			t.Errorf("crash point %s: scratch databases left: %v", point, rows)
		}
	}
	for _, point := range []string{crash.DrillRestored, crash.DrillRestored + "#2", crash.DrillVerified, crash.DrillVerified + "#2"} {
		c.kill(point, "drill", "run")
		out := c.run(point, "drill", "run")
		if strings.Count(out, "passed") < 2 {
			t.Errorf("crash point %s: drill run after the kill:\n%s", point, out)
		}
		noScratch(point)
		c.repositories(point, pws, "disk", "copy")
		c.auditVerify(point)
	}

	c.drillReport()

	out := filepath.Join(dir, "restored")
	c.kill(crash.RestoreWritten, "restore", "--source", "files", "--to", out)
	c.run(crash.RestoreWritten, "restore", "--source", "files", "--to", out, "--force")
	sameFiles(t, files, out)
	c.auditVerify(crash.RestoreWritten)

	// The database: pg_restore has loaded the dump into the new database,
	// the restore is not recorded as done. The rerun (--force: the
	// database exists now) loads it again; SQL finds the source's rows.
	point := crash.RestoreWritten + " (database)"
	c.kill(crash.RestoreWritten, "restore", "--source", "db", "--to-database", "restored_cases")
	c.run(point, "restore", "--source", "db", "--to-database", "restored_cases", "--force")
	const notes = `SELECT count(*), coalesce(sum(id), 0), coalesce(string_agg(body, ',' ORDER BY id), '') FROM notes`
	if got, want := fmt.Sprint(pg.Query(t, "restored_cases", notes)), fmt.Sprint(pg.Query(t, "cases", notes)); got != want {
		t.Errorf("crash point %s: the restored database's notes %s, the source's %s", point, got, want)
	}
	c.auditVerify(point)

	kit := filepath.Join(dir, "kit.age")
	c.kill(crash.RecoveryEscrowAdded, "recovery", "kit", "--to", kit)
	c.run(crash.RecoveryEscrowAdded, "recovery", "kit", "--to", kit)
	k, err := openKit(t, kit, officer)
	if err != nil {
		t.Fatalf("crash point %s: the kit: %v", crash.RecoveryEscrowAdded, err)
	}
	for _, r := range k.Repositories {
		b, err := kitRestic(t, r, "key", "list", "--json")
		if err != nil {
			t.Fatalf("crash point %s: the kit's key for %s: %v", crash.RecoveryEscrowAdded, r.Name, err)
		}
		var ks []struct {
			ID       string `json:"id"`
			UserName string `json:"userName"`
		}
		json.Unmarshal(b, &ks)
		for _, key := range ks {
			if key.UserName == "steward-escrow" && !strings.HasPrefix(r.KeyID, key.ID) && !strings.HasPrefix(key.ID, r.KeyID) {
				t.Errorf("crash point %s: repository %s holds escrow key %s, which no kit holds (the kit's is %s)", crash.RecoveryEscrowAdded, r.Name, key.ID, r.KeyID)
			}
		}
	}
	c.auditVerify(crash.RecoveryEscrowAdded)
	c.repositories("the end", pws, "disk", "copy")
	c.checkTrace()
}

// drillReport kills `drill report` once the drill's signed PDF is filed
// (certs.pdf-written), before its audit record and report anchor are
// written, and runs it again. The rerun adopts the filed report rather
// than sign a second one of the same drill: one PDF of the drill is on
// file, pdfsig finds its signature valid, the audit log names it (by its
// SHA-256, computed here) in exactly one drill.report record, and verifies.
func (c *crashEnv) drillReport() {
	t := c.t
	t.Helper()
	point := crash.CertsPDFWritten + " (drill report)"
	st, err := catalog.Open(context.Background(), filepath.Join(c.dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	drs, err := st.Drills(context.Background(), 1)
	st.Close()
	if err != nil || len(drs) != 1 || drs[0].Result != "passed" {
		t.Fatalf("crash point %s: the last drill: %+v, %v", point, drs, err)
	}
	id := drs[0].ID
	c.kill(crash.CertsPDFWritten, "drill", "report", id)
	c.run(point, "drill", "report", id)
	pdfs, _ := filepath.Glob(filepath.Join(c.dir, "state", "reports", "drill-"+id+"-*.pdf"))
	if len(pdfs) != 1 {
		t.Fatalf("crash point %s: reports of drill %s on file: %v, want one", point, id, pdfs)
	}
	if sig, err := exec.Command("pdfsig", pdfs[0]).CombinedOutput(); !strings.Contains(string(sig), "Signature is Valid.") {
		t.Fatalf("crash point %s: pdfsig on the drill report: %v %s", point, err, sig)
	}
	b, err := os.ReadFile(pdfs[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(b))
	out := c.run(point, "audit", "export")
	var named, reports int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec catalog.AuditRecord
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Action != "drill.report" {
			continue
		}
		if rec.Target == "drill:"+id && rec.Result == "ok" {
			reports++
		}
		if rec.Details["pdf_sha256"] == sum {
			named++
		}
	}
	if reports != 1 || named != 1 {
		t.Errorf("crash point %s: the audit log holds %d drill.report records of drill %s, %d naming the PDF on file; want 1 and 1:\n%s", point, reports, id, named, out)
	}
	c.auditVerify(point)
}

// sameFiles: every regular file under want is under got with the same
// bytes, and got holds nothing more.
func sameFiles(t *testing.T, want, got string) {
	t.Helper()
	read := func(root string) map[string]string {
		m := map[string]string{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				m[filepath.Base(p)] = string(b)
			}
			return nil
		})
		return m
	}
	w, g := read(want), read(got)
	if len(w) == 0 || len(w) != len(g) {
		t.Fatalf("restored %d files, the source holds %d", len(g), len(w))
	}
	for name, b := range w {
		if g[name] != b {
			t.Errorf("restored %s differs from the source", name)
		}
	}
}

// TestCrashServe: the daemon is killed while a scheduled backup runs (its
// run started and recorded, restic not yet done). Started again, the
// scheduler sees the backup never finished and runs it at once (not at
// the next scheduled time); restic checks both repositories clean, with
// the new snapshot in each; the catalog holds the killed run as
// interrupted and the new one as ok; the audit log verifies.
func TestCrashServe(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 3, 100)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: j, sources: [docs], repository: disk, replicas: [copy], schedule: "0 2 * * *"}
`, filepath.Join(repoRoot(t), "bin", "restic"), data), 0o600)
	c := newCrashEnv(t, dir)
	c.run("set-up", "init")
	c.run("set-up", "repo", "init")
	pws := c.passwords("disk", "copy")
	serve := []string{"serve", "--once", "--listen", "127.0.0.1:0"}
	for _, point := range crashScenarios[t.Name()] {
		c.kill(point, serve...)
		if out := c.run(point, serve...); !strings.Contains(out, "ran backup:j") {
			t.Fatalf("crash point %s: serve --once after the kill ran no backup:\n%s", point, out)
		}
		snaps := c.repositories(point, pws, "disk", "copy")
		st, err := catalog.Open(context.Background(), filepath.Join(dir, "state", "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		runs, err := st.JobRuns(context.Background(), "j", 0)
		st.Close()
		if err != nil || len(runs) != 2 || runs[0].Result != "ok" || runs[1].Result != "interrupted" {
			t.Fatalf("crash point %s: runs %+v, %v; want the new one ok, the killed one interrupted", point, runs, err)
		}
		if !slices.ContainsFunc(snaps, func(s resticSnapshot) bool { return s.ID == runs[0].SnapshotID }) {
			t.Errorf("crash point %s: restic does not list the run's snapshot %s", point, runs[0].SnapshotID)
		}
		c.auditVerify(point)
	}
	c.checkTrace()
}

// TestCrashServeSchedule: `steward serve` runs on its schedule (not
// --once): a backup and a drill once an hour, at a minute and second a few
// seconds after the daemon starts, so that nothing is due when it starts
// and the run it is killed in is the schedule's. The daemon is killed in
// the scheduled drill (its snapshot restored into scratch) and, in a
// second round, in the scheduled backup (restic saved the snapshot).
// Started again, still on its schedule, the daemon runs the work it missed
// at once, not an hour later at the next scheduled time: a new backup run
// ok and a new drill passed, both started before the next scheduled time,
// with serve's log saying each missed run runs now. Then, after SIGTERM:
// the killed run or drill is recorded as interrupted, nothing is left
// running, the scratch directory is empty, restic checks both
// repositories clean and the replica holds exactly the primary's
// snapshots, and the audit log verifies.
func TestCrashServeSchedule(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 3, 100)
	scratch := filepath.Join(dir, "scratch")
	config := func(schedule string) {
		os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: j, sources: [docs], repository: disk, replicas: [copy], schedule: %q}
drills:
  schedule: %q
  scratch: {dir: %s}
checks: {schedule: "0 0 3 1 1 *"}
`, filepath.Join(repoRoot(t), "bin", "restic"), data, schedule, schedule, scratch), 0o600)
	}
	config("0 0 3 1 1 *")
	c := newCrashEnv(t, dir)
	// Nothing is due when the daemon starts: every job has run.
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}, {"drill", "run"}, {"repo", "check"}} {
		c.run("set-up", args...)
	}
	pws := c.passwords("disk", "copy")
	trace := crash.TraceEnv + "=" + c.trace

	// state reads the catalog: the newest backup run and drill, and the
	// runs and drills still marked running or interrupted.
	type state struct {
		run, drill                         string // "result started"
		runStarted, drillStarted           time.Time
		runsRunning, drillsRunning         int
		runsInterrupted, drillsInterrupted int
	}
	read := func() state {
		t.Helper()
		st, err := catalog.Open(context.Background(), filepath.Join(dir, "state", "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		runs, err := st.JobRuns(context.Background(), "j", 0)
		if err != nil {
			t.Fatal(err)
		}
		drs, err := st.Drills(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		var s state
		for i, r := range runs {
			if i == 0 {
				s.run, s.runStarted = r.Result, parseTime(t, r.Started)
			}
			s.runsRunning += b2i(r.Result == "")
			s.runsInterrupted += b2i(r.Result == "interrupted")
		}
		for i, d := range drs {
			if i == 0 {
				s.drill, s.drillStarted = d.Result, parseTime(t, d.Started)
			}
			s.drillsRunning += b2i(d.Result == "")
			s.drillsInterrupted += b2i(d.Result == "interrupted")
		}
		return s
	}

	for _, point := range crashScenarios[t.Name()] {
		before := read()
		at := time.Now().Add(8 * time.Second).Truncate(time.Second)
		config(fmt.Sprintf("%d %d * * * *", at.Second(), at.Minute()))
		d := startServe(t, dir, []string{crash.Env + "=" + point, trace})
		select {
		case <-d.exited:
		case <-time.After(90 * time.Second):
			t.Fatalf("crash point %s: serve was not killed by its scheduled run at %s:\n%s", point, at.Format(time.TimeOnly), d.out.String())
		}
		if ws, ok := d.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("crash point %s: serve ended with %v, not SIGKILL at the point:\n%s", point, d.err, d.out.String())
		}
		next := at.Add(time.Hour)

		d = startServe(t, dir, []string{trace}, "--log-format", "json")
		d.waitUntil(t, "the missed backup and drill run again ("+point+")", 2*time.Minute, func() bool {
			s := read()
			return s.run == "ok" && !s.runStarted.Before(at) && s.drill == "passed" && !s.drillStarted.Before(at) &&
				s.runsRunning == 0 && s.drillsRunning == 0
		})
		if code := d.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("crash point %s: serve exit code %d after SIGTERM:\n%s", point, code, d.out.String())
		}
		after := read()
		if after.runStarted.After(next) || after.drillStarted.After(next) {
			t.Errorf("crash point %s: the backup (%s) or the drill (%s) waited for the next scheduled time %s", point, after.runStarted, after.drillStarted, next)
		}
		killed := map[string]int{crash.DrillRestored: after.drillsInterrupted - before.drillsInterrupted,
			crash.BackupSnapshotSaved: after.runsInterrupted - before.runsInterrupted}
		if killed[point] != 1 {
			t.Errorf("crash point %s: %d runs or drills newly recorded as interrupted, want the killed one: %+v", point, killed[point], after)
		}
		job := map[string]string{crash.DrillRestored: `"job":"drill"`, crash.BackupSnapshotSaved: `"job":"backup:j"`}[point]
		if !slices.ContainsFunc(strings.Split(d.out.String(), "\n"), func(l string) bool {
			return strings.Contains(l, `"msg":"missed run: runs now"`) && strings.Contains(l, job)
		}) {
			t.Errorf("crash point %s: serve's log has no missed run of %s:\n%s", point, job, d.out.String())
		}
		ents, err := os.ReadDir(scratch)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				t.Errorf("crash point %s: scratch holds %s", point, e.Name())
			}
		}
		c.repositories(point, pws, "disk", "copy")
		c.auditVerify(point)
	}
	c.checkTrace()
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
