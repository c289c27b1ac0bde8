package restore

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/pgsql"
	"steward/internal/progress"
	"steward/internal/repo"
)

// on returns server's connection settings for database db.
func on(server *config.PostgresSource, db string) *config.PostgresSource {
	c := *server
	c.Database = db
	return &c
}

// adminDB is the database to connect to when creating the target database.
func adminDB(t Target) string {
	if t.PostgresAdminDB != "" {
		return t.PostgresAdminDB
	}
	return "postgres"
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
	dump, err := pgsql.FindPgDump(ctx, major, r.pgDump)
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
// The dump never touches the disk; the password reaches pg_restore in a
// password file on a memfd (pgsql.Credentials), never argv or environment.
func (r *Restorer) restorePostgres(ctx context.Context, rs *Resolved, snap Snapshot, to Target, res *Result, p *progress.Meter) error {
	db := to.Postgres
	if _, err := pgsql.CreateDatabase(ctx, on(db, adminDB(to)), to.PostgresPassword, db.Database); err != nil {
		if pgsql.IsPermissionDenied(err) {
			field := repo.Field(r.cfg, "sources", rs.Source.Name) + ".restore.postgres"
			return fmt.Errorf("%w: role %q may not create database %q; name a role with CREATEDB in %s (user, password), or create the database yourself and restore into it with --force",
				err, db.User, db.Database, field)
		}
		return err
	}
	bin, err := r.findPgRestore(ctx, db, to.PostgresPassword)
	if err != nil {
		return err
	}
	args := []string{"--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--clean", "--if-exists", "--dbname", db.Database}
	env := []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "HOME=" + r.restic.TmpDir()}
	return r.dump(ctx, rs, snap, func(in io.Reader) error {
		cr := &countingReader{r: in}
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = slices.Clone(env)
		closePassfile, err := pgsql.Credentials(cmd, db, to.PostgresPassword)
		if err != nil {
			return err
		}
		defer closePassfile()
		cmd.Stdin = &progressReader{r: cr, c: cr, p: p}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err = cmd.Run()
		res.Bytes = cr.n.Load()
		p.Update(res.Bytes, 0, true)
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
	p *progress.Meter
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.Update(pr.c.n.Load(), 0, false)
	return n, err
}
