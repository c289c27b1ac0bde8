package testenv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgresQuery(t *testing.T) {
	start := time.Now()
	p := StartPostgres(t)
	t.Logf("StartPostgres took %s (binaries in %s)", time.Since(start), p.BinDir)
	if p.Host != "127.0.0.1" {
		t.Fatalf("Host = %q, want 127.0.0.1", p.Host)
	}

	p.CreateDatabase(t, "contracts")
	p.Exec(t, "contracts", `
		CREATE TABLE contract (id serial PRIMARY KEY, title text NOT NULL);
		INSERT INTO contract (title) VALUES ('road maintenance'), ('school meals');`)
	p.Exec(t, "contracts", "INSERT INTO contract (title) VALUES ($1)", "水道")
	rows := p.Query(t, "contracts", "SELECT count(*) FROM contract")
	if len(rows) != 1 || rows[0][0] != int64(3) {
		t.Fatalf("count = %v, want [[3]]", rows)
	}
	rows = p.Query(t, "contracts", "SELECT title FROM contract WHERE id = $1", 3)
	if len(rows) != 1 || rows[0][0] != "水道" {
		t.Fatalf("title = %v", rows)
	}
	rows = p.Query(t, "postgres", "SELECT current_setting('listen_addresses')")
	if rows[0][0] != "127.0.0.1" {
		t.Fatalf("listen_addresses = %v", rows[0][0])
	}

	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := os.Stat(filepath.Join(p.BinDir, tool)); err != nil {
			t.Errorf("BinDir lacks %s: %v", tool, err)
		}
	}
}

func TestPostgresNeedsPassword(t *testing.T) {
	p := StartPostgres(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, pw := range []string{"", "wrong"} {
		dsn := fmt.Sprintf("postgres://%s:%s@%s:%d/postgres?sslmode=disable", p.User, pw, p.Host, p.Port)
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			conn.Close(ctx)
			t.Fatalf("login with password %q succeeded", pw)
		}
	}
	conn := p.Connect(t, "postgres")
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestPostgresNotRoot(t *testing.T) {
	p := StartPostgres(t)
	uid := procUID(t, p.pid())
	if uid == 0 {
		t.Fatalf("postgres (pid %d) runs as root", p.pid())
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(pgOSUser)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(uid) != u.Uid {
			t.Fatalf("postgres runs as uid %d, want %s (%s)", uid, u.Uid, pgOSUser)
		}
	}
	// Backends run as the same user: ask one for its own pid, on a
	// connection kept open so that the backend is still there to look at.
	conn := p.Connect(t, "postgres")
	var backend int32
	if err := conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	if b := procUID(t, int(backend)); b != uid {
		t.Fatalf("backend runs as uid %d, postmaster as %d", b, uid)
	}
}

// procUID returns the real uid of process pid from /proc.
func procUID(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read process status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			var uid int
			if _, err := fmt.Sscan(rest, &uid); err != nil {
				t.Fatalf("parse %q: %v", sc.Text(), err)
			}
			return uid
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return -1
}

func TestPostgresStop(t *testing.T) {
	p := StartPostgres(t)
	addr := loopback(p.Port)
	if !portOpen(addr) {
		t.Fatalf("%s closed while running", addr)
	}
	start := time.Now()
	p.Stop()
	t.Logf("Stop took %s", time.Since(start))
	if portOpen(addr) {
		t.Fatalf("%s still accepts connections after Stop", addr)
	}
	if _, err := os.Stat(filepath.Join(p.SocketDir, fmt.Sprintf(".s.PGSQL.%d", p.Port))); !os.IsNotExist(err) {
		t.Fatalf("unix socket still there after Stop: %v", err)
	}
	p.Stop() // idempotent
}
