package pgsql

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"steward/internal/config"
	"steward/internal/keys"
)

// This file is the only place Steward issues CREATE DATABASE, DROP
// DATABASE and DROP ROLE. Each function takes the server's settings and
// connects to server.Database (the "admin" database, e.g. postgres).

// on returns server's connection settings for database db.
func on(server *config.PostgresSource, db string) *config.PostgresSource {
	c := *server
	c.Database = db
	return &c
}

// where names the server in messages, like classify.
func where(server *config.PostgresSource) string {
	return fmt.Sprintf("postgres %s:%d", server.Host, server.Port)
}

// fail wraps a statement's error with the server and what was done; a
// PostgreSQL error keeps its message and SQLSTATE (and stays reachable
// with errors.As).
func fail(server *config.PostgresSource, op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		detail := ""
		if pe.Detail != "" {
			detail = " (" + pe.Detail + ")"
		}
		return fmt.Errorf("%s: %s: %w%s%s", where(server), op, err, detail, hint(pe.Code))
	}
	return fmt.Errorf("%s: %s: %w", where(server), op, err)
}

func hint(code string) string {
	switch code {
	case "42501":
		return ": the user lacks a privilege; grant it, or run as a user that has it"
	case "55006":
		return ": the object is in use; end the sessions that use it, then retry"
	case "2BP01":
		return ": objects still depend on it (see above)"
	}
	return ""
}

// DatabaseExists reports whether database name exists on server.
func DatabaseExists(ctx context.Context, server *config.PostgresSource, pw keys.Secret, name string) (bool, error) {
	conn, err := Connect(ctx, server, pw)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return databaseExists(ctx, conn, server, name)
}

func databaseExists(ctx context.Context, conn *pgx.Conn, server *config.PostgresSource, name string) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		return false, fail(server, fmt.Sprintf("look for database %q", name), err)
	}
	return ok, nil
}

// CreateDatabase creates database name on server, owned by the user,
// unless it exists; created says whether it was made now.
func CreateDatabase(ctx context.Context, server *config.PostgresSource, pw keys.Secret, name string) (created bool, err error) {
	conn, err := Connect(ctx, server, pw)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if ok, err := databaseExists(ctx, conn, server, name); err != nil || ok {
		return false, err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P04" { // made meanwhile
			return false, nil
		}
		return false, fail(server, fmt.Sprintf("create database %q", name), err)
	}
	return true, nil
}

// Retrying a DROP DATABASE whose sessions could not all be ended.
var (
	// dropRetryFor is how long DropDatabase keeps retrying.
	dropRetryFor = 30 * time.Second
	// dropBackoff is the first wait; it doubles up to dropBackoffMax.
	dropBackoff    = 100 * time.Millisecond
	dropBackoffMax = 2 * time.Second
)

// DropDatabase drops database name on server, ending its sessions (DROP
// DATABASE IF EXISTS … WITH (FORCE)); a missing database is not an error.
//
// FORCE cannot end a session the user may not signal (a non-superuser
// cannot end another role's session, nor autovacuum working on a fresh
// database: SQLSTATE 42501), and a database can be briefly in use (55006).
// Those are retried with a short backoff for up to 30 seconds; then the
// error names the database and says what to do.
func DropDatabase(ctx context.Context, server *config.PostgresSource, pw keys.Secret, name string) error {
	conn, err := Connect(ctx, server, pw)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	stmt := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
	deadline := time.Now().Add(dropRetryFor)
	wait := dropBackoff
	for tries := 1; ; tries++ {
		_, err := conn.Exec(ctx, stmt)
		if err == nil {
			return nil
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "42501" && pe.Code != "55006") {
			return fail(server, fmt.Sprintf("drop database %q", name), err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s: drop database %q: its sessions could not be ended after %d tries in %v: %w: "+
				"end the sessions connected to it (pg_stat_activity, pg_terminate_backend) or run as a superuser or a member of pg_signal_backend, then retry",
				where(server), name, tries, dropRetryFor, err)
		}
		select {
		case <-ctx.Done():
			return fail(server, fmt.Sprintf("drop database %q", name), ctx.Err())
		case <-time.After(min(wait, left)):
		}
		wait = min(2*wait, dropBackoffMax)
	}
}

// ListDatabases returns the names, sorted, of the databases on server that
// start with prefix.
func ListDatabases(ctx context.Context, server *config.PostgresSource, pw keys.Secret, prefix string) ([]string, error) {
	conn, err := Connect(ctx, server, pw)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname COLLATE \"C\"", prefix)
	if err != nil {
		return nil, fail(server, "list databases", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fail(server, "list databases", err)
	}
	return names, nil
}

// DatabaseEmpty reports whether database db (db.Database) has no user
// table, view, materialized view or sequence; a missing database is
// empty.
func DatabaseEmpty(ctx context.Context, db *config.PostgresSource, pw keys.Secret) (bool, error) {
	conn, err := Connect(ctx, db, pw)
	if errors.Is(err, ErrNoDatabase) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`).Scan(&n)
	if err != nil {
		return false, fail(db, fmt.Sprintf("look into database %q", db.Database), err)
	}
	return n == 0, nil
}

// RoleExists reports whether role exists on server.
func RoleExists(ctx context.Context, server *config.PostgresSource, pw keys.Secret, role string) (bool, error) {
	conn, err := Connect(ctx, server, pw)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return roleExists(ctx, conn, server, role)
}

func roleExists(ctx context.Context, conn *pgx.Conn, server *config.PostgresSource, role string) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&ok); err != nil {
		return false, fail(server, fmt.Sprintf("look for role %q", role), err)
	}
	return ok, nil
}

// DropRole drops role from server: in every database that allows
// connections it gives what the role owns to the connected user (REASSIGN
// OWNED BY role TO current_user, which also hands over databases the role
// owns) and drops its privileges and remaining objects (DROP OWNED BY
// role), then drops the role. A missing role is not an error.
func DropRole(ctx context.Context, server *config.PostgresSource, pw keys.Secret, role string) error {
	conn, err := Connect(ctx, server, pw)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if ok, err := roleExists(ctx, conn, server, role); err != nil || !ok {
		return err
	}
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname COLLATE \"C\"")
	if err != nil {
		return fail(server, "list databases", err)
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail(server, "list databases", err)
	}
	r := pgx.Identifier{role}.Sanitize()
	for _, db := range dbs {
		if err := disown(ctx, on(server, db), pw, role, r); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+r); err != nil {
		return fail(server, fmt.Sprintf("drop role %q", role), err)
	}
	return nil
}

// disown reassigns and drops what role owns in db.Database.
func disown(ctx context.Context, db *config.PostgresSource, pw keys.Secret, role, quoted string) error {
	conn, err := Connect(ctx, db, pw)
	if errors.Is(err, ErrNoDatabase) {
		return nil // dropped since it was listed
	}
	if err != nil {
		return fmt.Errorf("drop role %q: connect to database %q to take over what the role owns there: %w", role, db.Database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, stmt := range []string{"REASSIGN OWNED BY " + quoted + " TO current_user", "DROP OWNED BY " + quoted} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fail(db, fmt.Sprintf("drop role %q: in database %q, %s", role, db.Database, stmt), err)
		}
	}
	return nil
}

// IsPermissionDenied reports whether err is the server's "insufficient
// privilege" (SQLSTATE 42501), e.g. a role without CREATEDB creating a
// database.
func IsPermissionDenied(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
