package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"steward/app"
	"steward/drills"
	"steward/erase"
	"steward/internal/catalog"
	"steward/internal/repo"
	"steward/internal/testenv"
)

// daemon is `steward serve` running as a process of the test binary.
type daemon struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe starts `steward serve ARGS…` in dir with extra environment.
func startServe(t *testing.T, dir string, env []string, args ...string) *daemon {
	t.Helper()
	if !slices.Contains(args, "--listen") {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...) // tests run side by side
	}
	return startSteward(t, dir, env, append([]string{"serve"}, args...)...)
}

// startSteward starts `steward ARGS…` (no argument may hold a space) as
// a process of the test binary in dir, with extra environment.
func startSteward(t *testing.T, dir string, env []string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), cliHelperEnv+"="+strings.Join(args, " "))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	d := &daemon{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-d.exited })
	return d
}

// stop sends SIGTERM and waits at most within for the exit code.
func (d *daemon) stop(t *testing.T, within time.Duration) int {
	t.Helper()
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(within):
		t.Fatalf("serve still running %s after SIGTERM:\n%s", within, d.out.String())
	}
	t.Logf("serve stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	return d.cmd.ProcessState.ExitCode()
}

// waitUntil polls cond until it holds, the daemon exits or timeout passes.
func (d *daemon) waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(250 * time.Millisecond) {
		select {
		case <-d.exited:
			t.Fatalf("serve exited (%v) before %s:\n%s", d.err, what, d.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s:\n%s", what, timeout, d.out.String())
		}
	}
}

// openApp opens dir's steward.yaml and state dir, as a command would.
func openApp(dir string) (*app.App, error) {
	return app.Open(context.Background(), app.Options{ConfigPath: filepath.Join(dir, "steward.yaml"), LogLevel: "warn"})
}

// recorded is what the catalog holds of the daemon's work.
type recorded struct {
	backupsOK, drillsPassed int
	// sourcesOK and drillsPassedOf count the successful backups and
	// passed drills per source.
	sourcesOK, drillsPassedOf map[string]int
	checked                   map[string]bool
	// retained counts the retention runs that forgot snapshots, per
	// audit target ("repository:NAME").
	retained map[string]int
}

func readRecords(t *testing.T, dir, job string) recorded {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := recorded{checked: map[string]bool{}, retained: map[string]int{}, sourcesOK: map[string]int{}, drillsPassedOf: map[string]int{}}
	err = a.Catalog.ScanAudit(ctx, func(rec catalog.AuditRecord) error {
		if rec.Action == "backup.retention" && rec.Result == "ok" {
			r.retained[rec.Target]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := a.Catalog.JobRuns(ctx, job, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range runs {
		if run.Result == "ok" {
			r.backupsOK++
			r.sourcesOK[run.Source]++
		}
	}
	drs, err := a.Catalog.Drills(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drs {
		if d.Result == "passed" {
			r.drillsPassed++
			r.drillsPassedOf[drillSource(t, d)]++
		}
	}
	for _, rc := range a.Config.Repositories {
		h, ok, err := (repo.HealthBook{KV: a.Catalog}).Get(ctx, rc.Name)
		if err != nil {
			t.Fatal(err)
		}
		r.checked[rc.Name] = ok && h.By == "check" && h.Result == repo.HealthOK
	}
	return r
}

// TestServe: `steward serve` with a job every 3 s, drills and checks every
// 5 s, against versitygw and a path source, backs up (twice at least),
// applies retention in each repository, drills and checks every
// repository, each recorded as the CLI records it;
// the hooks' environment holds no secret; SIGTERM stops it with exit 0
// within the deadline, and the next `backup run` succeeds.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "repo")
	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 6, 20000)
	envFile := filepath.Join(dir, "hook-env.txt")
	hook := filepath.Join(dir, "hook.sh")
	// The hook records its environment and changes the source, so that
	// each backup makes a new snapshot and retention has one to forget.
	os.WriteFile(hook, []byte("#!/bin/sh\nenv >> '"+envFile+"'\ndate +%s%N >> '"+filepath.Join(files, "stamp")+"'\n"), 0o755)
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE c (id int PRIMARY KEY, note text); INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 500) g`)
	pgpw := testenv.SecretFile(t, dir, "pg", pg.Password)
	// db comes first: the drills' rotation starts with it.
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - name: tokyo%s
  - {name: copy, local: {}}
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: %s, password: %s, sslmode: disable}
jobs:
  - name: j
    sources: [db, files]
    repository: tokyo
    replicas: [copy]
    schedule: "*/3 * * * * *"
    retention: {keep_last: 1}
    hooks: {before: [%s], after: [%s]}
drills:
  schedule: "*/5 * * * * *"
  read_data_subsets: 2
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: %s, password: %s, sslmode: disable}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), files,
		pg.Port, pg.User, pgpw, hook, hook, pg.Port, pg.User, pgpw)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}

	const leak = "STEWARD_TEST_LEAK=do-not-pass-me"
	d := startServe(t, dir, []string{leak, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey}, "--log-format", "json", "--stop-timeout", "20s")
	checked := map[string]bool{} // a later drill's verdict replaces a check's
	d.waitUntil(t, "2 backups of each source, retention in each repository, a passed drill of the database and a check of each repository", 150*time.Second, func() bool {
		r := readRecords(t, dir, "j")
		for name, ok := range r.checked {
			checked[name] = checked[name] || ok
		}
		return r.backupsOK >= 4 && r.sourcesOK["db"] >= 2 && r.sourcesOK["files"] >= 2 &&
			r.retained["repository:tokyo"] >= 1 && r.retained["repository:copy"] >= 1 &&
			r.drillsPassedOf["db"] >= 1 && checked["tokyo"] && checked["copy"]
	})
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("serve exit code %d after SIGTERM, want 0:\n%s", code, d.out.String())
	}
	out := d.out.String()
	for _, want := range []string{"scheduled backup:j: */3 * * * * * (Asia/Tokyo)", "scheduled drill:", "scheduled check:", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve output lacks %q", want)
		}
	}
	// --log-format json: every log line is a JSON object.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "{") {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Errorf("log line is not JSON: %s", line)
			}
		}
	}
	if !strings.Contains(out, `"msg":"run finished"`) {
		t.Errorf("no JSON log line of a finished run:\n%s", out)
	}

	if t.Failed() {
		t.Logf("serve's output:\n%s", out)
	}

	// The hooks ran, with no secret in their environment.
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	repos, err := a.Repos(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pw, err := repos.Password("tokyo")
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	for what, secret := range map[string]string{"the repository password": string(pw.Reveal()), "the S3 secret key": s3.SecretKey,
		"Steward's environment": leak, "the S3 access key": s3.AccessKey} {
		if strings.Contains(string(env), secret) {
			t.Errorf("a hook's environment holds %s", what)
		}
	}
	for _, want := range []string{"STEWARD_JOB=j", "STEWARD_RUN_ID=job-", "STEWARD_RESULT=ok", "TZ=Asia/Tokyo"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("hook environment lacks %s:\n%s", want, env)
		}
	}

	if code, out, errOut := stewardRun(t, dir, "", "backup", "run"); code != 0 {
		t.Fatalf("backup run after serve stopped: %d\n%s%s", code, out, errOut)
	}
	a, err = openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := a.Catalog.JobSnapshots(context.Background(), "j")
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Retention (keep_last 1) left one snapshot of each source in the
	// primary.
	per := map[string]int{}
	for _, sn := range snaps {
		per[sn.Repository+"/"+sn.Source]++
	}
	if per["tokyo/db"] != 1 || per["tokyo/files"] != 1 {
		t.Errorf("snapshots per repository/source in the catalog after several backups with keep_last 1: %v, want tokyo/db and tokyo/files once", per)
	}
}

// TestServeFrozenContract: once erasure has started, serve schedules
// nothing, says so, and still stops cleanly.
func TestServeFrozenContract(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 2, 100)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: j, sources: [docs], repository: disk, schedule: "* * * * * *"}
drills: {schedule: "* * * * * *"}
`, filepath.Join(repoRoot(t), "bin", "restic"), data)), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	ctx := context.Background()
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(erase.Freeze{Plan: "plan-test", Since: "2099-01-01T00:00:00+09:00"})
	if err := a.Catalog.Put(ctx, erase.FrozenKey, b); err != nil {
		t.Fatal(err)
	}
	a.Close()

	d := startServe(t, dir, nil)
	d.waitUntil(t, "a line saying nothing is scheduled", 20*time.Second, func() bool {
		return strings.Contains(d.out.String(), "nothing is scheduled") && strings.Contains(d.out.String(), "plan-test")
	})
	time.Sleep(2500 * time.Millisecond) // two seconds on which the job would have run
	if code := d.stop(t, 10*time.Second); code != 0 {
		t.Fatalf("serve exit code %d, want 0:\n%s", code, d.out.String())
	}
	r := readRecords(t, dir, "j")
	a, err = openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runs, _ := a.Catalog.JobRuns(ctx, "j", 0)
	drs, _ := a.Catalog.Drills(ctx, 0)
	if len(runs) != 0 || len(drs) != 0 || r.backupsOK != 0 {
		t.Fatalf("a frozen contract ran %d backups and %d drills:\n%s", len(runs), len(drs), d.out.String())
	}
	if strings.Contains(d.out.String(), "run started") {
		t.Fatalf("a frozen contract started a run:\n%s", d.out.String())
	}
}

// TestBeforeHookFailureBacksUpNothing: a failing before hook fails
// `backup run` with a message naming the hook, before restic reads
// anything: no snapshot, no run; the on_failure hook runs.
func TestBeforeHookFailureBacksUpNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 2, 100)
	marker := filepath.Join(dir, "on-failure.txt")
	os.WriteFile(filepath.Join(dir, "fail.sh"), []byte("#!/bin/sh\necho quiesce refused >&2\nexit 7\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "note.sh"), []byte("#!/bin/sh\necho \"$STEWARD_RESULT\" > '"+marker+"'\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - name: j
    sources: [docs]
    repository: disk
    hooks: {before: [%s, --app, web], on_failure: [%s], timeout: 30s}
`, filepath.Join(repoRoot(t), "bin", "restic"), data, filepath.Join(dir, "fail.sh"), filepath.Join(dir, "note.sh"))), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out, errOut := stewardRun(t, dir, "", "backup", "run", "--json")
	if code != exitFailure || !strings.Contains(errOut, "hooks.before") || !strings.Contains(errOut, "exit status 7") || !strings.Contains(errOut, "nothing was backed up") {
		t.Fatalf("backup run with a failing before hook: exit %d, want %d naming the hook:\n%s%s", code, exitFailure, out, errOut)
	}
	if !strings.Contains(out, "quiesce refused") {
		t.Errorf("the report lacks the hook's output:\n%s", out)
	}
	if b, err := os.ReadFile(marker); err != nil || strings.TrimSpace(string(b)) != "failed" {
		t.Errorf("on_failure hook: %q %v", b, err)
	}
	ctx := context.Background()
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	snaps, err := a.Catalog.JobSnapshots(ctx, "j")
	if err != nil || len(snaps) != 0 {
		t.Fatalf("snapshots after a failed before hook: %d %v", len(snaps), err)
	}
	runs, _ := a.Catalog.JobRuns(ctx, "j", 0)
	if len(runs) != 0 {
		t.Fatalf("%d runs recorded after a failed before hook", len(runs))
	}
	var audited bool
	a.Catalog.ScanAudit(ctx, func(r catalog.AuditRecord) error {
		if strings.Contains(r.Details["hook.before"], "quiesce refused") {
			audited = true
		}
		return nil
	})
	if !audited {
		t.Error("the audit log holds no record of the before hook and its output")
	}
	// restic itself holds no snapshot either.
	code, out, errOut = stewardRun(t, dir, "", "snapshots", "--json")
	if code != 0 || strings.Contains(out, `"id"`) {
		t.Fatalf("snapshots: %d\n%s%s", code, out, errOut)
	}
}

// TestServeSIGTERMDuringBackup: SIGTERM while restic backs up stops the
// daemon within the deadline with exit 0; the run is recorded as
// interrupted, no snapshot is half-written, and the next `backup run`
// succeeds (restic's lock is handled).
func TestServeSIGTERMDuringBackup(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 40, 5<<20) // 200 MiB: restic takes seconds
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: j, sources: [docs], repository: disk, schedule: "@daily"}
`, filepath.Join(repoRoot(t), "bin", "restic"), data)), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	// Never backed up, so the backup runs at start.
	d := startServe(t, dir, nil, "--stop-timeout", "25s")
	running := func() bool {
		a, err := openApp(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		runs, _ := a.Catalog.JobRuns(context.Background(), "j", 0)
		return len(runs) == 1 && runs[0].Result == ""
	}
	d.waitUntil(t, "a running backup", 30*time.Second, running)
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("serve exit code %d after SIGTERM during a backup, want 0:\n%s", code, d.out.String())
	}
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := a.Catalog.JobRuns(context.Background(), "j", 0)
	snaps, _ := a.Catalog.JobSnapshots(context.Background(), "j")
	a.Close()
	if len(runs) != 1 || runs[0].Result != "interrupted" || len(snaps) != 0 {
		t.Fatalf("after SIGTERM during the backup: runs %+v, %d snapshots; want one interrupted run, no snapshot:\n%s", runs, len(snaps), d.out.String())
	}
	if code, out, errOut := stewardRun(t, dir, "", "backup", "run"); code != 0 {
		t.Fatalf("backup run after the interrupted one: %d\n%s%s", code, out, errOut)
	}
}

// TestServeAlertsAndAPI: `steward serve` serves its API and metrics and
// alerts: a scheduled backup that fails (its before hook refuses) reaches
// a webhook receiver on loopback with a valid HMAC-SHA256 of the body
// under the configured secret, an SMTP server on loopback over STARTTLS
// (mandatory), and a failure ping; /healthz and /metrics
// answer without the token, the API refuses a missing or wrong one (401)
// and answers the right one; each API call is in the audit log, never the
// token.
func TestServeAlertsAndAPI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 2, 100)
	const secret = "webhook-secret-7f3a"
	type delivery struct {
		body      []byte
		signature string
	}
	got := make(chan delivery, 10)
	pings := make(chan string, 20)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// Never block the daemon (nor recv.Close at a failed test's end)
		// once the test has read what it needs.
		if strings.HasPrefix(r.URL.Path, "/ping") {
			select {
			case pings <- r.URL.Path:
			default:
			}
			return
		}
		select {
		case got <- delivery{body, r.Header.Get("X-Steward-Signature")}:
		default:
		}
	}))
	defer recv.Close()
	smtp := testenv.StartSMTP(t)
	os.WriteFile(filepath.Join(dir, "fail.sh"), []byte("#!/bin/sh\nexit 3\n"), 0o755)
	// The contract ends in 10 days: the daemon warns of it at start.
	endDate := time.Now().In(time.FixedZone("JST", 9*3600)).AddDate(0, 0, 10).Format(time.DateOnly)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: %s}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - name: j
    sources: [docs]
    repository: disk
    schedule: "*/2 * * * * *"
    hooks: {before: [%s]}
notify:
  webhook: {url: %s/hook, secret: "env:STEWARD_TEST_WEBHOOK_SECRET"}
  email: {smtp: "%s", from: steward@example.jp, to: [ops@example.jp]}
  ping_url: %s/ping/{job}
`, endDate, filepath.Join(repoRoot(t), "bin", "restic"), data, filepath.Join(dir, "fail.sh"), recv.URL, smtp.Addr, recv.URL), 0o600)
	t.Setenv("STEWARD_TEST_WEBHOOK_SECRET", secret)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	// The daemon trusts the test SMTP server's certificate as a system
	// root: STARTTLS is verified as it is in production.
	d := startServe(t, dir, []string{"STEWARD_TEST_WEBHOOK_SECRET=" + secret, "SSL_CERT_FILE=" + smtp.CAFile})
	var url string
	d.waitUntil(t, "the API's address", 30*time.Second, func() bool {
		for _, f := range strings.Fields(d.out.String()) {
			if strings.HasPrefix(f, "http://127.0.0.1:") {
				url = f
			}
		}
		return url != ""
	})

	// The backup's failure and the contract's end (and, where this
	// machine's clock is not synchronised, that too), each signed.
	wants := map[string]bool{"backup of job j failed": false, "contract T-1 ends on " + endDate: false}
	for deadline := time.After(60 * time.Second); slices.Contains(slices.Collect(maps.Values(wants)), false); {
		select {
		case dl := <-got:
			m := hmac.New(sha256.New, []byte(secret))
			m.Write(dl.body)
			if sig := "sha256=" + hex.EncodeToString(m.Sum(nil)); dl.signature != sig {
				t.Errorf("webhook signature %q, want %q", dl.signature, sig)
			}
			var alert struct{ Subject, Contract string }
			if err := json.Unmarshal(dl.body, &alert); err != nil || alert.Contract != "T-1" {
				t.Errorf("webhook body: %v\n%s", err, dl.body)
			}
			for w := range wants {
				wants[w] = wants[w] || strings.Contains(alert.Subject, w)
			}
		case <-deadline:
			t.Fatalf("webhook calls within 60s: %v\n%s", wants, d.out.String())
		}
	}
	d.waitUntil(t, "the backup failure's e-mail", 30*time.Second, func() bool {
		for _, m := range smtp.Messages() {
			if m.TLS && strings.Contains(m.Data, "Subject: [Steward T-1] critical: backup of job j failed") && strings.Contains(m.To[0], "ops@example.jp") {
				return true
			}
		}
		return false
	})
	var seen []string
	for len(seen) < 2 {
		select {
		case p := <-pings:
			seen = append(seen, p)
		case <-time.After(30 * time.Second):
			t.Fatalf("pings: %v", seen)
		}
	}
	if !slices.Contains(seen, "/ping/j/start") || !slices.Contains(seen, "/ping/j/fail") {
		t.Errorf("pings %v, want /ping/j/start and /ping/j/fail", seen)
	}

	get := func(path, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	token := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "state", "keys", "api.token"))))
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/healthz", "", 200}, {"/metrics", "", 200},
		{"/api/v1/status", "", 401}, {"/api/v1/status", "wrong-token", 401}, {"/api/v1/runs", token, 200},
	} {
		if code := get(c.path, c.token); code != c.want {
			t.Errorf("GET %s: %d, want %d", c.path, code, c.want)
		}
	}
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, d.out.String())
	}
	audit := string(mustRead(t, filepath.Join(dir, "state", "audit.jsonl")))
	if strings.Count(audit, `"api.access"`) < 3 || strings.Contains(audit, token) || strings.Contains(audit, secret) {
		t.Errorf("audit log: %d api.access records; token in it %v; secret in it %v",
			strings.Count(audit, `"api.access"`), strings.Contains(audit, token), strings.Contains(audit, secret))
	}
	if strings.Contains(d.out.String(), token) || strings.Contains(d.out.String(), secret) {
		t.Error("the token or the webhook secret is in serve's output")
	}
}

// TestServeOnce: `steward serve --once` on a new state dir runs the first
// backup, a check and the first drill (the README's demo), each recorded,
// and stops with exit 0; run again, nothing is due and nothing runs. A
// run that fails (the backup's before hook refuses) makes --once exit
// non-zero and name it.
func TestServeOnce(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 3, 100)
	gate := filepath.Join(dir, "gate.sh")
	os.WriteFile(gate, []byte("#!/bin/sh\n[ ! -e '"+filepath.Join(dir, "refuse")+"' ]\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - name: j
    sources: [docs]
    repository: disk
    schedule: "0 2 * * *"
    hooks: {before: [%s]}
drills:
  schedule: "0 3 1 1,4,7,10 *"
`, filepath.Join(repoRoot(t), "bin", "restic"), data, gate), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out, errOut := stewardRun(t, dir, "", "serve", "--once", "--listen", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "ran backup:j, check, drill; stopped") {
		t.Fatalf("serve --once: exit %d\n%s%s", code, out, errOut)
	}
	r := readRecords(t, dir, "j")
	if r.backupsOK != 1 || r.drillsPassed != 1 {
		t.Fatalf("after the first --once: %+v", r)
	}
	code, out, errOut = stewardRun(t, dir, "", "serve", "--once", "--listen", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "nothing was due; stopped") {
		t.Fatalf("second serve --once: exit %d\n%s%s", code, out, errOut)
	}
	if r2 := readRecords(t, dir, "j"); r2.backupsOK != 1 || r2.drillsPassed != 1 {
		t.Fatalf("the second --once ran something: %+v", r2)
	}

	// A new job that never ran, whose before hook refuses: --once fails.
	os.WriteFile(filepath.Join(dir, "refuse"), nil, 0o600)
	cfg := string(mustRead(t, filepath.Join(dir, "steward.yaml")))
	cfg = strings.Replace(cfg, "drills:", `  - name: k
    sources: [docs]
    repository: disk
    schedule: "0 2 * * *"
    hooks: {before: [`+gate+`]}
drills:`, 1)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	code, out, errOut = stewardRun(t, dir, "", "serve", "--once", "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "backup:k") || strings.Contains(out, "; stopped") {
		t.Fatalf("serve --once with a failing run: exit %d\n%s%s", code, out, errOut)
	}
}

// drillSource is the source a drill restored, from its record.
func drillSource(t *testing.T, row catalog.DrillRow) string {
	t.Helper()
	var rec drills.Record
	if err := json.Unmarshal(row.Record, &rec); err != nil {
		t.Fatalf("drill %s: %v", row.ID, err)
	}
	return rec.Source
}
