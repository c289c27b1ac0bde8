package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"

	"steward/internal/keys"
	"steward/internal/state"
	"steward/internal/testenv"
)

// TestSecretHygiene runs a contract's whole life — init, repo init, a
// backup of a path, a PostgreSQL database and an S3 bucket into an S3
// repository with a local replica, a drill, the recovery kit, the daemon
// with an alert to a webhook, operator accounts, and erasure — with known
// secret values, and finds none of them in clear where a same-user process
// or a reader of the host could see it: in the argv or environment of any
// process Steward started while it ran (sampled from /proc every ~10 ms),
// in anything Steward printed (debug logs, --json, errors), in the audit
// log, the catalog, any file of the state dir or of the temp dir, or the
// PDFs' text. Only the two files whose job is to hold a key in clear (the
// master key, the API token, both 0600 in the 0700 state dir) may hold
// their own key.
func TestSecretHygiene(t *testing.T) {
	ctx := context.Background()
	sec := newSecrets()
	random := func(prefix string) string { return prefix + rand.Text() + "!" }

	s3 := testenv.StartS3(t)
	pg := testenv.StartPostgres(t)
	// Everything that Steward or its children put in the temp dir lands
	// in tmp, which is searched whole at the end.
	tmp, err := os.MkdirTemp("", "steward-hygiene-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	// main sets this umask for the steward binary; the commands here run
	// in the test's process, so the test sets it (after the servers have
	// started: PostgreSQL's user must enter its own dir).
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })

	s3.MakeBucket(t, "repo")
	s3.MakeBucket(t, "src")
	s3.MakeBucket(t, "scratch")
	repoAK, repoSK := "RK"+rand.Text()[:14], random("repo-s3-secret-")
	srcAK, srcSK := "SK"+rand.Text()[:14], random("src-s3-secret-")
	s3.CreateUser(t, repoAK, repoSK, testenv.RoleAdmin)
	s3.CreateUser(t, srcAK, srcSK, testenv.RoleAdmin)
	sec.add("repository S3 access key", repoAK)
	sec.add("repository S3 secret key", repoSK)
	sec.add("bucket source S3 access key", srcAK)
	sec.add("bucket source S3 secret key", srcSK)
	for k, v := range map[string]string{"cases/a.txt": "alpha", "b.bin": strings.Repeat("b", 5000)} {
		if _, err := s3.Client(t).PutObject(ctx, "src", k, strings.NewReader(v), int64(len(v)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pg.CreateDatabase(t, "cases")
	pg.Exec(t, "cases", `CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 200) g`)
	pgPW := random("pg-pass:wo\\rd-")
	pg.Exec(t, "postgres", "CREATE ROLE steward LOGIN SUPERUSER PASSWORD '"+strings.ReplaceAll(pgPW, "'", "''")+"'")
	sec.add("PostgreSQL password", pgPW)
	webhookSecret := random("webhook-secret-")
	sec.add("webhook secret", webhookSecret)
	t.Setenv("STEWARD_TEST_HYGIENE_WEBHOOK", webhookSecret)
	alerts := make(chan string, 20)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case alerts <- string(body):
		default:
		}
	}))
	defer recv.Close()

	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 6, 2000)
	offsite := filepath.Join(dir, "offsite")
	os.MkdirAll(offsite, 0o700)
	officer, _ := age.GenerateX25519Identity()
	fail := filepath.Join(dir, "fail.sh")
	os.WriteFile(fail, []byte("#!/bin/sh\nexit 3\n"), 0o755)
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - name: tokyo%s
  - {name: offsite, local: {path: %s}}
sources:
  - {name: files, path: {path: %s}}
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: cases, user: steward, password: %s, sslmode: disable}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, db, bucket], repository: tokyo, replicas: [offsite]}
  - name: k
    sources: [files]
    repository: tokyo
    schedule: "0 2 * * *"
    hooks: {before: [%s]}
drills:
  scratch:
    postgres: {host: 127.0.0.1, port: %d, database: postgres, user: steward, password: %s, sslmode: disable}%s
signing: {organisation: Test Operator KK, signer: Test Signer}
recovery:
  recipients: [%s]
  kit_location: city hall safe
erase: {approvers: [bob], cooling_off: 1s}
notify:
  webhook: {url: %s/hook, secret: "env:STEWARD_TEST_HYGIENE_WEBHOOK"}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", repoAK, repoSK),
		filepath.Join(offsite, "replica"), files, pg.Port, testenv.SecretFile(t, dir, "pg", pgPW),
		testenv.S3YAML(t, dir, s3, "src", srcAK, srcSK), fail,
		pg.Port, testenv.SecretFile(t, dir, "pg2", pgPW), testenv.S3YAML(t, dir, s3, "scratch", srcAK, srcSK),
		officer.Recipient(), recv.URL)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)

	sampler := startSampler(t)
	var outputs bytes.Buffer // everything Steward printed or logged
	run := func(want int, stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := stewardRun(t, dir, stdin, append([]string{"--log-level", "debug"}, args...)...)
		outputs.WriteString(out + errOut)
		if (want == 0) != (code == 0) {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	stateDir := filepath.Join(dir, "state")
	sd := state.Dir(stateDir)

	run(0, "", "init")
	sec.addKey("master key", mustRead(t, keys.MasterKeyPath(stateDir)))
	run(0, "", "repo", "init")
	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	opener, err := a.Repos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokyo", "offsite"} {
		pw, err := opener.Password(name)
		if err != nil {
			t.Fatal(err)
		}
		sec.add("repository "+name+"'s password", string(pw.Reveal()))
	}
	a.Close()

	run(0, "", "--json", "backup", "run", "--job", "j")
	run(0, "", "--json", "drill", "run", "--job", "j")
	run(0, "", "--json", "recovery", "kit", "--to", filepath.Join(dir, "kit.age"))
	kit, err := openKit(t, filepath.Join(dir, "kit.age"), officer)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range kit.Repositories {
		sec.add("repository "+r.Name+"'s escrow password", r.Password)
	}
	// The daemon: job k's before hook fails, which makes an alert.
	run(1, "", "serve", "--once", "--listen", "127.0.0.1:0")
	select {
	case <-alerts:
	case <-time.After(30 * time.Second):
		t.Fatal("no alert reached the webhook")
	}
	sec.add("API token", strings.TrimSpace(string(mustRead(t, sd.APIToken()))))

	adminPW, alicePW, bobPW := random("Admin-Pw-"), random("Alice-Pw-"), random("Bob-Pw-"+rand.Text()[:4])
	sec.add("operator admin's password", adminPW)
	sec.add("operator alice's password", alicePW)
	sec.add("operator bob's password", bobPW)
	run(0, adminPW+"\n", "user", "add", "admin", "--role", "admin")
	run(0, adminPW+"\n"+alicePW+"\n", "user", "add", "alice", "--role", "operator", "--as", "admin")
	run(0, adminPW+"\n"+bobPW+"\n", "user", "add", "bob", "--role", "approver", "--as", "admin")

	// At rest before erasure, with everything in place.
	checkStateDir(t, sec, stateDir, sd)
	checkPDFs(t, sec, dir)

	id := strings.Fields(run(0, alicePW+"\n", "erase", "plan", "--as", "alice"))[2]
	run(0, bobPW+"\n", "erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "kept by the city")
	time.Sleep(1100 * time.Millisecond) // the cooling-off
	run(0, alicePW+"\n", "--json", "erase", "execute", id, "--as", "alice")

	seen := sampler.stop()
	t.Logf("processes sampled (by name): %v", seen)
	if seen["restic"] == 0 {
		t.Fatal("the sampler read no restic process: it checked nothing")
	}
	for _, b := range sampler.blobs {
		sec.check(t, b.what, b.data)
	}
	sec.check(t, "Steward's output (stdout, stderr, debug logs, --json)", outputs.Bytes())
	checkStateDir(t, sec, stateDir, sd)
	checkPDFs(t, sec, dir)
	// The temp dir, all of it.
	filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".secret") {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil {
			sec.check(t, p, b)
		}
		return nil
	})
}

// secrets are the known secret values, each with its name, in every
// spelling a leak could take.
type secrets struct {
	names  []string
	values [][]byte
	// own maps a file to the secret it exists to hold.
	own map[string]string
}

func newSecrets() *secrets { return &secrets{own: map[string]string{}} }

func (s *secrets) add(name, value string) {
	if len(value) < 8 {
		panic("a secret too short to search for: " + name)
	}
	s.names = append(s.names, name)
	s.values = append(s.values, []byte(value))
}

// addKey adds key material: its bytes as stored, and the raw key in hex
// and base64 (standard and URL-safe).
func (s *secrets) addKey(name string, stored []byte) {
	raw := bytes.TrimSpace(stored)
	for _, dec := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString, base64.RawStdEncoding.DecodeString} {
		if b, err := dec(string(raw)); err == nil && len(b) >= 16 {
			raw = b
			break
		}
	}
	s.add(name+" (as stored)", string(bytes.TrimSpace(stored)))
	s.add(name+" (hex)", hex.EncodeToString(raw))
	s.add(name+" (base64)", base64.StdEncoding.EncodeToString(raw))
	s.add(name+" (base64url)", base64.RawURLEncoding.EncodeToString(raw))
	if !bytes.Equal(raw, bytes.TrimSpace(stored)) || !isText(raw) {
		s.add(name+" (bytes)", string(raw))
	}
}

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// check fails the test for each secret found in data, naming it and where.
func (s *secrets) check(t *testing.T, where string, data []byte) {
	t.Helper()
	for i, v := range s.values {
		if bytes.Contains(data, v) {
			t.Errorf("the %s is in clear in %s", s.names[i], where)
		}
	}
}

// checkStateDir: the state dir is 0700, its files 0600, and none holds a
// secret in clear — but the master key file its own key and the API token
// file its token.
func checkStateDir(t *testing.T, sec *secrets, stateDir string, sd state.Dir) {
	t.Helper()
	if st, err := os.Stat(stateDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v %v, want mode 0700", st, err)
	}
	walked := map[string]bool{}
	filepath.WalkDir(stateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("state dir: %v", err)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if d.IsDir() && info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: others may enter it", p, info.Mode().Perm())
		}
		if !d.Type().IsRegular() {
			return nil
		}
		walked[filepath.Base(p)] = true
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: others may read it", p, info.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("state dir: %v", err)
			return nil
		}
		switch p {
		case keys.MasterKeyPath(stateDir):
			b = nil // it is the master key, 0600, and nothing else
		case sd.APIToken():
			b = nil // it is the API token, 0600, and nothing else
		}
		sec.check(t, p, b)
		return nil
	})
	for _, f := range []string{"catalog.db", "audit.jsonl"} {
		if !walked[f] {
			t.Errorf("the search did not cover %s", f)
		}
	}
}

// checkPDFs searches the text of every PDF under dir (reports,
// certificates, the recovery sheet), as pdftotext reads it.
func checkPDFs(t *testing.T, sec *secrets, dir string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".pdf") {
			return nil
		}
		cmd := exec.Command("pdftotext", "-layout", p, "-")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // sampled too: not the test's environment
		text, err := cmd.Output()
		if err != nil {
			t.Errorf("pdftotext %s: %v", p, err)
			return nil
		}
		n++
		sec.check(t, p+" (its text)", text)
		return nil
	})
	if n == 0 {
		t.Error("no PDF found to search")
	}
}

// sampler reads, every ~10 ms, the argv and environment of every process
// descending from the test process — restic, pg_dump, pg_restore, hooks —
// but not the test's own S3 and PostgreSQL servers (whose environment the
// test set) and their children.
type sampler struct {
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	seen  map[string]int
	blobs []blob
	known map[[32]byte]bool
}

type blob struct {
	what string
	data []byte
}

func startSampler(t *testing.T) *sampler {
	s := &sampler{done: make(chan struct{}), seen: map[string]int{}, known: map[[32]byte]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *sampler) stop() map[string]int {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
	return s.seen
}

func (s *sampler) sample() {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	parent, name := map[int]int{}, map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		j := bytes.IndexByte(stat, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		name[pid] = string(stat[j+1 : i])
	}
	for pid := range parent {
		if pid == self || !descends(pid, self, parent, name) {
			continue
		}
		p := "/proc/" + strconv.Itoa(pid)
		cmdline, err1 := os.ReadFile(p + "/cmdline")
		environ, err2 := os.ReadFile(p + "/environ")
		if err1 != nil || err2 != nil || len(cmdline) == 0 {
			continue
		}
		s.mu.Lock()
		s.seen[name[pid]]++
		for _, b := range []blob{{"the argv of " + name[pid], cmdline}, {"the environment of " + name[pid], environ}} {
			h := sha256.Sum256(append([]byte(b.what), b.data...))
			if !s.known[h] {
				s.known[h] = true
				s.blobs = append(s.blobs, b)
			}
		}
		s.mu.Unlock()
	}
}

// descends reports whether pid descends from root without passing
// through one of the test's servers.
func descends(pid, root int, parent map[int]int, name map[int]string) bool {
	for n := 0; n < 64 && pid > 1; n++ {
		if slices.Contains([]string{"versitygw", "postgres"}, name[pid]) {
			return false
		}
		if parent[pid] == root {
			return true
		}
		pid = parent[pid]
	}
	return false
}
