package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"

	"steward/internal/testenv"
)

// runOutageDeadline bounds a command that loses a component while it
// runs: the config's restic.stall_timeout (5s) and the probes' own
// deadlines, far from a silent hang.
const runOutageDeadline = 90 * time.Second

// procChild is a process whose parent is a given pid.
type procChild struct {
	pid  int
	comm string
	args []string
}

// children lists the processes whose parent is ppid, from /proc.
func children(ppid int) []procChild {
	ents, _ := os.ReadDir("/proc")
	var out []procChild
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(ppid) {
			continue
		}
		comm := string(stat[bytes.IndexByte(stat, '(')+1 : i])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, procChild{pid: pid, comm: comm, args: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")})
	}
	return out
}

// procEnv returns the value of variable name in process pid's environment.
func procEnv(pid int, name string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// procWritten is how many bytes process pid has written (wchar: write
// calls, not sends on a socket).
func procWritten(pid int) int64 { return procIO(pid, "wchar") }

// procRead is how many bytes process pid has read (rchar).
func procRead(pid int) int64 { return procIO(pid, "rchar") }

func procIO(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+": "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// trigger picks, among the children of the process running Steward, the
// one that shows the run is where the fault must strike: it returns its
// pid, or 0 while not yet.
type trigger func(kids []procChild) int

// childDoing triggers on a child named comm whose argv holds arg ("":
// any), once ready(pid) holds (nil: at once).
func childDoing(comm, arg string, ready func(pid int) bool) trigger {
	return func(kids []procChild) int {
		for _, k := range kids {
			if k.comm == comm && (arg == "" || slices.Contains(k.args, arg)) && (ready == nil || ready(k.pid)) {
				return k.pid
			}
		}
		return 0
	}
}

// strike waits until at fires among parent's children (or done closes:
// the run ended before the fault, a test failure), freezes that child
// with SIGSTOP so the run cannot move on, applies the fault and lets the
// child go on. It returns false if the run ended first.
func strike(t *testing.T, parent int, done <-chan struct{}, at trigger, fault func()) bool {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case <-done:
			return false
		default:
		}
		if pid := at(children(parent)); pid != 0 {
			syscall.Kill(pid, syscall.SIGSTOP)
			fault()
			syscall.Kill(pid, syscall.SIGCONT)
			t.Logf("fault struck while %d (%s) ran", pid, strings.Join(childArgs(parent, pid), " "))
			return true
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never reached the point of the fault")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func childArgs(parent, pid int) []string {
	for _, k := range children(parent) {
		if k.pid == pid {
			return k.args
		}
	}
	return nil
}

// outcome is how a command run under a fault ended.
type outcome struct {
	code        int
	out, errOut string
	took        time.Duration
}

// runDuring runs `steward ARGS…` in dir in-process and applies fault
// once at fires among its children; the fault must strike mid-run.
func runDuring(t *testing.T, dir string, at trigger, fault func(), args ...string) outcome {
	t.Helper()
	done := make(chan struct{})
	var o outcome
	start := time.Now()
	go func() {
		defer close(done)
		o.code, o.out, o.errOut = stewardRun(t, dir, "", args...)
		o.took = time.Since(start)
	}()
	struck := strike(t, os.Getpid(), done, at, fault)
	<-done
	if !struck {
		t.Fatalf("%v ended (exit %d) before the fault could strike:\n%s%s", args, o.code, o.out, o.errOut)
	}
	return o
}

// mustFail checks that a command run under a fault failed within
// runOutageDeadline with an error naming one of names.
func (o outcome) mustFail(t *testing.T, what string, names []string) {
	t.Helper()
	last := strings.TrimSpace(o.errOut)
	if i := strings.LastIndex(last, "\n"); i >= 0 {
		last = last[i+1:]
	}
	t.Logf("%s: failed in %s (exit %d): %s", what, o.took.Round(time.Millisecond), o.code, last)
	if o.code == 0 {
		t.Errorf("%s: succeeded:\n%s%s", what, o.out, o.errOut)
	}
	if o.took > runOutageDeadline {
		t.Errorf("%s: took %s to fail, more than %s", what, o.took, runOutageDeadline)
	}
	if !containsAny(o.errOut, names) {
		t.Errorf("%s: the error names none of %q:\n%s", what, names, o.errOut)
	}
	if strings.Contains(o.out+o.errOut, "PASSED") {
		t.Errorf("%s: the output says PASSED:\n%s%s", what, o.out, o.errOut)
	}
}

// mustRunOK runs `steward ARGS…` and requires exit 0.
func mustRunOK(t *testing.T, dir, what string, args ...string) string {
	t.Helper()
	code, out, errOut := stewardRun(t, dir, "", args...)
	if code != 0 {
		t.Fatalf("%s: %v: exit %d\n%s%s", what, args, code, out, errOut)
	}
	return out
}

// resticAt runs the restic binary itself on repository name of dir's
// contract — local or S3 — with the password Steward sealed for it and,
// for S3, the repository's settings and keys in restic's environment (a
// test's restic, not Steward's).
func resticAt(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	repos, err := a.Repos(ctx)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	r, err := repos.Open(ctx, name)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	pw, err := repos.Password(name)
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	pwFile := filepath.Join(tmp, "pw")
	os.WriteFile(pwFile, pw.Reveal(), 0o600)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "RESTIC_CACHE_DIR=" + filepath.Join(tmp, "cache"),
		"RESTIC_REPOSITORY=" + r.Restic.Location, "RESTIC_PASSWORD_FILE=" + pwFile}
	for k, v := range r.Restic.Env {
		env = append(env, k+"="+string(v.Reveal()))
	}
	if r.S3 != nil {
		env = append(env, "AWS_ACCESS_KEY_ID="+string(r.Target.AccessKey.Reveal()), "AWS_SECRET_ACCESS_KEY="+string(r.Target.SecretKey.Reveal()))
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, filepath.Join(repoRoot(t), "bin", "restic"), args...)
	cmd.Env = env
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic %v on %s: %v\n%s%s", args, name, err, out, errb.String())
	}
	return string(out)
}

// snapshotSet lists the ids of repository name's snapshots, by restic.
func snapshotSet(t *testing.T, dir, name string) []string {
	t.Helper()
	var ss []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(resticAt(t, dir, name, "snapshots", "--json")), &ss); err != nil {
		t.Fatalf("restic snapshots --json on %s: %v", name, err)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

// intact checks with restic that repository name is clean and still
// holds every snapshot of before.
func intact(t *testing.T, dir, name string, before []string) []string {
	t.Helper()
	resticAt(t, dir, name, "check")
	now := snapshotSet(t, dir, name)
	for _, id := range before {
		if !slices.Contains(now, id) {
			t.Errorf("repository %s lost snapshot %s (has %v)", name, id, now)
		}
	}
	return now
}

// emptyDir fails unless dir holds nothing (or does not exist).
func emptyDir(t *testing.T, what, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s: %s holds %v", what, dir, names)
	}
}

// objectCount counts bucket's objects under prefix.
func objectCount(c *minio.Client, bucket, prefix string) int {
	n := 0
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err == nil {
			n++
		}
	}
	return n
}

// runResults counts job's runs by result, from the catalog.
func runResults(t *testing.T, dir, job string) map[string]int {
	t.Helper()
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runs, err := a.Catalog.JobRuns(context.Background(), job, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, r := range runs {
		m[r.Result]++
	}
	return m
}

// escrowKeys lists the ids of repository name's escrow keys, by restic.
func escrowKeys(t *testing.T, dir, name string) []string {
	t.Helper()
	var ks []struct {
		ID       string `json:"id"`
		UserName string `json:"userName"`
	}
	if err := json.Unmarshal([]byte(resticAt(t, dir, name, "key", "list", "--json")), &ks); err != nil {
		t.Fatalf("restic key list --json on %s: %v", name, err)
	}
	var ids []string
	for _, k := range ks {
		if k.UserName == "steward-escrow" {
			ids = append(ids, k.ID)
		}
	}
	return ids
}

// TestOutageS3DuringRun: the S3 server of the primary repository (tokyo)
// is stopped while each command is demonstrably at work on it — a backup
// uploading new packs, a drill and a restore writing restored files, the
// recovery kit adding escrow keys (stopped once the local repository's
// key is being added), and the daemon's scheduled backup uploading.
// restic is frozen (SIGSTOP) for the instant of the stop, so that the run
// cannot slip past the fault. Each command fails within
// runOutageDeadline naming the repository or its endpoint, records no
// success, leaves no scratch, kit file or escrow key; restic itself then
// finds both repositories clean with every earlier snapshot; and once the
// server is back the same command completes — the daemon's next
// scheduled run without a restart, after it alerted the failure.
func TestOutageS3DuringRun(t *testing.T) {
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "repo")
	client := s3.Client(t)
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 6, 2<<20)
	officer, _ := age.GenerateX25519Identity()
	alerts := make(chan string, 50)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct{ Subject string }
		json.NewDecoder(r.Body).Decode(&a)
		select {
		case alerts <- a.Subject:
		default:
		}
	}))
	defer recv.Close()
	cfg := func(schedule string) {
		os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s, stall_timeout: 5s}
repositories:
  - {name: disk, local: {}}
  - name: tokyo%s
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: tokyo, replicas: [disk]%s}
recovery:
  recipients: [%s]
notify:
  webhook: {url: %s/hook, secret: "env:STEWARD_TEST_WEBHOOK_SECRET"}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), data, schedule,
			officer.Recipient(), recv.URL), 0o600)
	}
	cfg("")
	t.Setenv("STEWARD_TEST_WEBHOOK_SECRET", "outage-webhook-secret")
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		mustRunOK(t, dir, "set-up", args...)
	}
	names := []string{`"tokyo"`, "tokyo:", "repository tokyo", s3.Endpoint}
	tokyo, disk := snapshotSet(t, dir, "tokyo"), snapshotSet(t, dir, "disk")
	stopS3 := func() { s3.Stop() }
	uploading := func() func(int) bool {
		packs := objectCount(client, "repo", "data/")
		return func(int) bool { return objectCount(client, "repo", "data/") > packs }
	}
	// restoring: restic has written a good part of the restored files.
	restoring := func(pid int) bool { return procWritten(pid) > 3<<20 }

	t.Run("backup", func(t *testing.T) {
		testenv.WriteFiles(t, filepath.Join(data, "new"), 8, 2<<20) // new packs to upload
		ok := readRecords(t, dir, "j").backupsOK
		o := runDuring(t, dir, childDoing("restic", "backup", uploading()), stopS3, "backup", "run")
		o.mustFail(t, "backup with S3 stopped mid-upload", names)
		if got := readRecords(t, dir, "j").backupsOK; got != ok {
			t.Errorf("%d successful backups recorded, want %d", got, ok)
		}
		s3.Restart()
		// restic, stopped, could not remove its lock from the stopped
		// server: the rerun removes the stale lock before restic checks.
		disk = intact(t, dir, "disk", disk)
		mustRunOK(t, dir, "backup once S3 is back", "backup", "run")
		if now := intact(t, dir, "tokyo", tokyo); len(now) <= len(tokyo) {
			t.Errorf("tokyo holds %d snapshots after the rerun, no more than the %d before", len(now), len(tokyo))
		}
		if locks := strings.TrimSpace(resticAt(t, dir, "tokyo", "list", "locks")); locks != "" {
			t.Errorf("tokyo keeps locks after the rerun: %s", locks)
		}
		tokyo, disk = intact(t, dir, "tokyo", nil), intact(t, dir, "disk", disk)
	})

	scratch := filepath.Join(dir, "state", "scratch")
	t.Run("drill", func(t *testing.T) {
		testenv.Heavy(t)
		passed := readRecords(t, dir, "j").drillsPassed
		o := runDuring(t, dir, childDoing("restic", "restore", restoring), stopS3, "drill", "run", "--repository", "tokyo")
		o.mustFail(t, "drill with S3 stopped mid-restore", names)
		if got := readRecords(t, dir, "j").drillsPassed; got != passed {
			t.Errorf("%d passed drills recorded, want %d", got, passed)
		}
		emptyDir(t, "after the failed drill", scratch)
		s3.Restart()
		mustRunOK(t, dir, "drill once S3 is back", "drill", "run", "--repository", "tokyo")
		emptyDir(t, "after the drill", scratch)
		tokyo = intact(t, dir, "tokyo", tokyo)
	})

	t.Run("restore", func(t *testing.T) {
		testenv.Heavy(t)
		to := filepath.Join(dir, "restored")
		// S3 stops as restic's restore starts, Steward having resolved
		// the snapshot on it (its whole restore would outrun a stop
		// timed by the bytes it wrote).
		o := runDuring(t, dir, childDoing("restic", "restore", nil), stopS3, "restore", "--to", to)
		o.mustFail(t, "restore with S3 stopped mid-restore", names)
		s3.Restart()
		mustRunOK(t, dir, "restore once S3 is back", "restore", "--to", to, "--force")
		sameTree(t, data, to)
		// The stopped restic's lock stays until Steward's next backup or
		// drill of tokyo removes it (stale: its process is gone), so
		// restic checks without locking.
		resticAt(t, dir, "tokyo", "check", "--no-lock")
		for _, id := range tokyo {
			if !slices.Contains(snapshotSet(t, dir, "tokyo"), id) {
				t.Errorf("tokyo lost snapshot %s", id)
			}
		}
	})

	t.Run("recovery kit", func(t *testing.T) {
		testenv.Heavy(t)
		kit := filepath.Join(dir, "kit.age")
		// disk comes first: S3 stops while its escrow key is being added.
		local := func(pid int) bool {
			loc := procEnv(pid, "RESTIC_REPOSITORY")
			return loc != "" && !strings.HasPrefix(loc, "s3:")
		}
		o := runDuring(t, dir, childDoing("restic", "add", local), stopS3, "recovery", "kit", "--to", kit)
		o.mustFail(t, "recovery kit with S3 stopped", names)
		for _, p := range []string{kit, kit + ".partial"} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("after the failed kit: %s exists (%v)", p, err)
			}
		}
		if ks := escrowKeys(t, dir, "disk"); len(ks) != 0 {
			t.Errorf("after the failed kit: disk holds escrow keys %v that no kit holds", ks)
		}
		s3.Restart()
		mustRunOK(t, dir, "recovery kit once S3 is back", "recovery", "kit", "--to", kit)
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
	})

	t.Run("daemon", func(t *testing.T) {
		testenv.Heavy(t)
		testenv.WriteFiles(t, filepath.Join(data, "newer"), 8, 2<<20)
		cfg(`, schedule: "*/2 * * * * *"`)
		before := runResults(t, dir, "j")
		d := startServe(t, dir, []string{"STEWARD_TEST_WEBHOOK_SECRET=outage-webhook-secret"})
		if !strike(t, d.cmd.Process.Pid, d.exited, childDoing("restic", "backup", uploading()), stopS3) {
			t.Fatalf("serve exited before the fault:\n%s", d.out.String())
		}
		struck := time.Now()
		d.waitUntil(t, "the scheduled backup recorded failed", runOutageDeadline, func() bool {
			return runResults(t, dir, "j")["failed"] > before["failed"]
		})
		t.Logf("daemon: the scheduled backup was recorded failed %s after S3 stopped", time.Since(struck).Round(time.Millisecond))
		if got := runResults(t, dir, "j"); got["ok"] != before["ok"] {
			t.Errorf("%d successful runs recorded with S3 down, want %d", got["ok"], before["ok"])
		}
		for deadline := time.After(30 * time.Second); ; {
			select {
			case s := <-alerts:
				if !strings.Contains(s, "backup of job j failed") {
					continue
				}
			case <-deadline:
				t.Fatalf("no alert of the failed backup within 30s:\n%s", d.out.String())
			}
			break
		}
		s3.Restart()
		back := time.Now()
		d.waitUntil(t, "a scheduled backup ok once S3 is back", runOutageDeadline, func() bool {
			return runResults(t, dir, "j")["ok"] > before["ok"]
		})
		t.Logf("daemon: the next scheduled backup succeeded %s after S3 was back", time.Since(back).Round(time.Millisecond))
		if code := d.stop(t, 30*time.Second); code != 0 {
			t.Errorf("serve exit code %d after SIGTERM, want 0:\n%s", code, d.out.String())
		}
		if r := runResults(t, dir, "j"); r[""] != 0 {
			t.Errorf("%d runs left running", r[""])
		}
		intact(t, dir, "tokyo", tokyo)
		intact(t, dir, "disk", disk)
	})
	mustRunOK(t, dir, "the end", "audit", "verify")
}

// sameTree fails unless got holds exactly want's regular files, byte for
// byte, at the same relative paths.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	read := func(root string) map[string][32]byte {
		m := map[string][32]byte{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(root, p)
				m[rel] = sha256.Sum256(b)
			}
			return nil
		})
		return m
	}
	w, g := read(want), read(got)
	if len(w) == 0 || !maps.Equal(w, g) {
		t.Errorf("%s holds %d files, not exactly the %d of %s", got, len(g), len(w), want)
	}
}
