package pgsql

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"steward/internal/keys"
	"steward/internal/testenv"
)

// TestPasswordReachesLibpqInAFile: libpq clients (psql, pg_dump) log in
// with a password they read from a password file on a memfd — also a
// password holding the file's separator ':' and escape '\' — and the
// password is in neither their environment nor their argv while they run.
func TestPasswordReachesLibpqInAFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	p.CreateDatabase(t, "app")
	pw := `pa:ss\wo#rd'` + rand.Text()
	p.Exec(t, "postgres", "CREATE ROLE dumper LOGIN SUPERUSER PASSWORD "+quoteLiteral(pw))
	src := source(p, "app")
	src.User = "dumper"

	// psql stays up long enough to be read from /proc.
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "psql"), "--no-password", "-Atc", "SELECT pg_sleep(1), current_user")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	closeFile, err := Credentials(cmd, src, keys.Secret(pw))
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	closeFile()
	proc := "/proc/" + strconv.Itoa(cmd.Process.Pid)
	time.Sleep(200 * time.Millisecond)
	environ, err1 := os.ReadFile(proc + "/environ")
	cmdline, err2 := os.ReadFile(proc + "/cmdline")
	link, err3 := os.Readlink(proc + "/fd/3")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("psql with the password file: %v: %s", err, stderr.String())
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatalf("psql could not be read while it ran: %v", err)
	}
	if strings.TrimSpace(out.String()) != "|dumper" {
		t.Fatalf("psql printed %q", out.String())
	}
	if bytes.Contains(environ, []byte(pw)) || bytes.Contains(cmdline, []byte(pw)) || bytes.Contains(environ, []byte("PGPASSWORD")) {
		t.Fatal("the password is in psql's environment or argv")
	}
	if !bytes.Contains(environ, []byte("PGPASSFILE=/dev/fd/3")) || !strings.HasPrefix(link, "/memfd:pgpass") {
		t.Fatalf("psql's password file is %q (fd 3: %s)", environ, link)
	}

	// pg_dump, through Dump, logs in the same way; a wrong password fails.
	conn, err := Connect(ctx, src, keys.Secret(pw))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	snap, err := Export(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close(ctx)
	opts := DumpOptions{Bin: filepath.Join(p.BinDir, "pg_dump"), Source: src, Password: keys.Secret(pw), Snapshot: snap.ID, BaseEnv: []string{"PATH=" + os.Getenv("PATH")}}
	var archive bytes.Buffer
	if _, err := Dump(ctx, opts, &archive); err != nil {
		t.Fatalf("pg_dump with the password file: %v", err)
	}
	opts.Password = keys.Secret("wrong")
	if _, err := Dump(ctx, opts, &archive); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("pg_dump with a wrong password: %v, want an authentication failure", err)
	}

	// A line break cannot be written in a password file.
	if _, err := Passfile(keys.Secret("a\nb")); !errors.Is(err, ErrPasswordLineBreak) {
		t.Fatalf("a password with a line break: %v", err)
	}
}
