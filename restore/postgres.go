package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/pgsql"
)

// on returns server's connection settings for database db.
func on(server *config.PostgresSource, db string) *config.PostgresSource {
	c := *server
	c.Database = db
	return &c
}

// adminDB is the database to connect to for CREATE/DROP DATABASE.
func adminDB(t Target) string {
	if t.PostgresAdminDB != "" {
		return t.PostgresAdminDB
	}
	return "postgres"
}

// CreateDatabase creates database name on server (connecting to server's
// own database) unless it exists; created says whether it was made now.
func CreateDatabase(ctx context.Context, server *config.PostgresSource, pw keys.Secret, name string) (created bool, err error) {
	conn, err := pgsql.Connect(ctx, server, pw)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		return false, fmt.Errorf("look for database %q: %w", name, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return false, fmt.Errorf("create database %q: %w", name, err)
	}
	return true, nil
}

// DropDatabase drops database name on server, ending its sessions; a
// missing database is not an error.
func DropDatabase(ctx context.Context, server *config.PostgresSource, pw keys.Secret, name string) error {
	conn, err := pgsql.Connect(ctx, server, pw)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}

// ListDatabases lists the databases on server whose names start with
// prefix.
func ListDatabases(ctx context.Context, server *config.PostgresSource, pw keys.Secret, prefix string) ([]string, error) {
	conn, err := pgsql.Connect(ctx, server, pw)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1", prefix)
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	return names, nil
}

// DatabaseEmpty reports whether db has no user table; a missing database
// is empty.
func DatabaseEmpty(ctx context.Context, db *config.PostgresSource, pw keys.Secret) (bool, error) {
	conn, err := pgsql.Connect(ctx, db, pw)
	if errors.Is(err, pgsql.ErrNoDatabase) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look into database %q: %w", db.Database, err)
	}
	return n == 0, nil
}

// findPgRestore picks the pg_restore next to the pg_dump that pgsql's
// lookup chooses for the target server's major version.
func (r *Restorer) findPgRestore(ctx context.Context, db *config.PostgresSource, pw keys.Secret) (string, error) {
	if r.pgRestore != "" {
		return r.pgRestore, nil
	}
	conn, err := pgsql.Connect(ctx, db, pw)
	if err != nil {
		return "", err
	}
	major, err := pgsql.ServerMajor(ctx, conn)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return "", err
	}
	dump, err := pgsql.FindPgDump(ctx, major, r.eng.PgDumpOverride())
	if err != nil {
		return "", fmt.Errorf("pg_restore: %w", err)
	}
	p := filepath.Join(filepath.Dir(dump), "pg_restore")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("pg_restore not found next to %s: install Debian's postgresql-client-%d", dump, major)
	}
	return p, nil
}

// restorePostgres streams the custom-format dump (restic dump) into
// pg_restore, which loads it into the target database in one transaction.
// The dump never touches the disk; the password reaches pg_restore as
// PGPASSWORD in its environment only.
func (r *Restorer) restorePostgres(ctx context.Context, rs *Resolved, snap Snapshot, to Target, res *Result, p *meter) error {
	db := to.Postgres
	if _, err := CreateDatabase(ctx, on(db, adminDB(to)), to.PostgresPassword, db.Database); err != nil {
		return err
	}
	bin, err := r.findPgRestore(ctx, db, to.PostgresPassword)
	if err != nil {
		return err
	}
	args := []string{"--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--clean", "--if-exists", "--dbname", db.Database}
	env := []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "HOME=" + r.restic.TmpDir()}
	for k, v := range pgsql.Env(db, to.PostgresPassword) {
		env = append(env, k+"="+string(v.Reveal()))
	}
	return r.dump(ctx, rs, snap, func(in io.Reader) error {
		cr := &countingReader{r: in}
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		cmd.Stdin = &progressReader{r: cr, c: cr, p: p}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		res.Bytes = cr.n.Load()
		p.update(res.Bytes, 0, true)
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if i := strings.LastIndex(msg, "\n"); i >= 0 && len(msg) > 2000 {
				msg = msg[i+1:]
			}
			return fmt.Errorf("pg_restore into database %q: %w: %s", db.Database, err, msg)
		}
		return nil
	})
}

type progressReader struct {
	r io.Reader
	c *countingReader
	p *meter
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.update(pr.c.n.Load(), 0, false)
	return n, err
}
