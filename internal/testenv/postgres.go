package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// pgOSUser is the unprivileged account the server runs as when the tests
// run as root (PostgreSQL refuses to run as root). Debian's postgresql
// package creates it.
const pgOSUser = "postgres"

// Postgres is a running PostgreSQL server in a temp dir, listening on
// 127.0.0.1 and on a unix socket in SocketDir, with password (SCRAM)
// authentication for every connection.
type Postgres struct {
	Host      string // always 127.0.0.1
	Port      int
	User      string // superuser
	Password  string // random per server
	BinDir    string // the server's binaries: pg_dump and pg_restore of the same major version
	Dir       string // data/, the socket and the log; removed when the test ends
	SocketDir string
	LogPath   string

	t    testing.TB
	cred *syscall.Credential // nil unless the tests run as root

	mu   sync.Mutex
	proc *process // nil once stopped
}

// StartPostgres makes a new cluster with initdb on a free port, starts it
// (fsync off: test data need not survive a power cut), waits until it
// accepts a password login and stops it when the test ends. When the
// tests run as root, the server runs as the postgres system user. It
// fails the test, naming the setup command, when PostgreSQL is missing.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	binDir, err := findPGBinDir()
	if err != nil {
		t.Fatalf("testenv: %v; %s (it installs Debian's postgresql)", err, SetupHint)
	}
	p := &Postgres{
		Host:     "127.0.0.1",
		User:     "postgres",
		Password: rand.Text(),
		BinDir:   binDir,
		t:        t,
	}
	if os.Geteuid() == 0 {
		if p.cred, err = lookupCred(pgOSUser); err != nil {
			t.Fatalf("testenv: run postgresql as an unprivileged user: %v; %s", err, SetupHint)
		}
	}
	p.makeDir(t)
	p.initdb(t)

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: postgresql log\n%s", logTail(p.LogPath))
		}
		p.Stop()
	})
	for try := 1; try <= startTries; try++ {
		var ports []int
		if ports, err = freePorts(1); err != nil {
			break
		}
		p.Port = ports[0]
		if err = p.start(); err == nil {
			return p
		}
		if !addrInUse(p.LogPath) {
			break
		}
	}
	t.Fatalf("testenv: start postgresql: %v\n%s", err, logTail(p.LogPath))
	return nil
}

// findPGBinDir returns the newest /usr/lib/postgresql/<major>/bin that has
// initdb and postgres (Debian's layout), else the directory of the
// postgres found in PATH (following links).
func findPGBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return major(b) - major(a) })
	for _, d := range dirs {
		if hasPGBins(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && hasPGBins(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	return "", fmt.Errorf("find postgresql: no initdb and postgres in /usr/lib/postgresql/*/bin nor in PATH")
}

func hasPGBins(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

func lookupCred(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("look up user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %q is root", name)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// makeDir creates the cluster's dir. t.TempDir lives under a 0700 dir of
// the test's user, which the server's user could not enter when that is
// another user, so the dir is made directly under the system temp dir,
// handed to the server's user and removed by a cleanup.
func (p *Postgres) makeDir(t testing.TB) {
	t.Helper()
	dir, err := os.MkdirTemp("", "steward-pg-")
	if err != nil {
		t.Fatalf("testenv: postgresql dir: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testenv: remove postgresql dir: %v", err)
		}
	})
	p.Dir, p.SocketDir = dir, dir
	p.LogPath = filepath.Join(dir, "postgresql.log")
	if p.cred == nil {
		return
	}
	if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
		t.Fatalf("testenv: postgresql dir: %v", err)
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatalf("testenv: postgresql dir: %v", err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			t.Fatalf("testenv: postgresql dir: user %s cannot enter %s (mode %v); set TMPDIR to a dir every user can traverse, such as /tmp",
				pgOSUser, d, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			break
		}
	}
}

// initdb makes the cluster with a superuser whose password comes from a
// file, never argv; the file is removed once initdb is done.
func (p *Postgres) initdb(t testing.TB) {
	t.Helper()
	pwfile := filepath.Join(p.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		t.Fatalf("testenv: initdb: %v", err)
	}
	defer os.Remove(pwfile)
	if p.cred != nil {
		if err := os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatalf("testenv: initdb: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "initdb"),
		"--pgdata", filepath.Join(p.Dir, "data"),
		"--username", p.User,
		"--pwfile", pwfile,
		"--auth", "scram-sha-256",
		"--encoding", "UTF8",
		"--no-locale",
		"--no-sync",
	)
	cmd.Dir = p.Dir
	cmd.Env = baseEnv("HOME=" + p.Dir)
	cmd.SysProcAttr = sysProcAttr(syscall.SIGKILL, p.cred)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
}

// start runs the postmaster on p.Port and waits until it accepts a login.
// On failure the process has been stopped.
func (p *Postgres) start() error {
	cmd := exec.Command(filepath.Join(p.BinDir, "postgres"),
		"-D", filepath.Join(p.Dir, "data"),
		"-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses="+p.Host,
		"-c", "unix_socket_directories="+p.SocketDir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "logging_collector=off",
	)
	cmd.Dir = p.Dir
	cmd.Env = baseEnv("HOME=" + p.Dir)
	// If the test binary dies, SIGQUIT shuts the server down at once.
	cmd.SysProcAttr = sysProcAttr(syscall.SIGQUIT, p.cred)
	proc, err := startProcess("postgres", cmd, p.LogPath)
	if err != nil {
		return err
	}
	err = proc.waitReady(func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, p.DSN("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		_ = proc.kill()
		return err
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	return nil
}

// Stop shuts the server down the way `pg_ctl stop -m fast` does (SIGINT:
// roll back open transactions, disconnect clients, checkpoint), kills it
// after a grace period, and waits until it is gone. It runs at the end of
// the test; calling it again does nothing.
func (p *Postgres) Stop() {
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	if proc == nil {
		return
	}
	if err := proc.stop(syscall.SIGINT); err != nil {
		p.t.Errorf("testenv: stop postgresql: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same
// port and data directory, so databases, roles and rows survive (an
// outage). Call it from the test's goroutine.
func (p *Postgres) Restart() {
	p.t.Helper()
	p.Stop()
	if err := p.start(); err != nil {
		p.t.Fatalf("testenv: restart postgresql: %v\n%s", err, logTail(p.LogPath))
	}
}

// DSN returns a connection URL for database db as the superuser, over TCP
// with the password, without TLS.
func (p *Postgres) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     loopback(p.Port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Env returns the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
// PGSSLMODE) for running pg_dump, pg_restore or psql from BinDir against
// this server, so the password stays out of their command lines.
func (p *Postgres) Env() []string {
	return []string{
		"PGHOST=" + p.Host,
		"PGPORT=" + strconv.Itoa(p.Port),
		"PGUSER=" + p.User,
		"PGPASSWORD=" + p.Password,
		"PGSSLMODE=disable",
	}
}

// Connect opens a connection to database db, closed when the test ends.
func (p *Postgres) Connect(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		t.Fatalf("testenv: connect to database %q: %v", db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		conn.Close(ctx)
	})
	return conn
}

// Exec runs one or more SQL statements (without args) or one statement
// with args in database db.
func (p *Postgres) Exec(t testing.TB, db, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		t.Fatalf("testenv: connect to database %q: %v", db, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("testenv: exec in database %q: %v\n%s", db, err, sql)
	}
}

// Query runs a query in database db and returns every row's values.
func (p *Postgres) Query(t testing.TB, db, sql string, args ...any) [][]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		t.Fatalf("testenv: connect to database %q: %v", db, err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("testenv: query in database %q: %v\n%s", db, err, sql)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		t.Fatalf("testenv: query in database %q: %v\n%s", db, err, sql)
	}
	return out
}

// CreateDatabase creates database name, owned by the superuser.
func (p *Postgres) CreateDatabase(t testing.TB, name string) {
	t.Helper()
	p.Exec(t, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// pid returns the postmaster's process id, or 0 once stopped.
func (p *Postgres) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	return p.proc.pid()
}
