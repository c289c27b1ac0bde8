package pgsql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"steward/internal/config"
	"steward/internal/keys"
)

// This file is the only place Steward issues CREATE DATABASE, DROP
// DATABASE and DROP ROLE (and ALTER ROLE, REASSIGN OWNED, DROP OWNED). Each function takes the server's settings and
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

// DropRole drops role from server as RevokeRole does, without its
// report. A missing role is not an error.
func DropRole(ctx context.Context, server *config.PostgresSource, pw keys.Secret, role string) error {
	_, err := RevokeRole(ctx, server, pw, role)
	return err
}

// RoleRevocation is what RevokeRole did, for the erase journal.
type RoleRevocation struct {
	Role string
	// Existed is false when the role was already absent: nothing was
	// done, and that is success.
	Existed bool
	// SessionsEnded counts the role's sessions that were ended.
	SessionsEnded int
	// Databases are those where the role owned objects or held
	// privileges, plus the admin database (where what it owns across the
	// cluster, such as databases, is handed over), sorted.
	Databases []string
	// ReassignedTo is the admin login, which now owns what the role owned.
	ReassignedTo string
}

// sessionEndWait is how long RevokeRole waits for each session it ends.
const sessionEndWait = 5 * time.Second

// RevokeRole revokes role on admin's server (req 27), logged in as admin
// (connected to admin.Database, e.g. postgres):
//
//  1. ALTER ROLE … NOLOGIN, so that no new session starts;
//  2. end the role's sessions (pg_terminate_backend, waiting for each);
//  3. in every database where the role owns objects or holds privileges
//     (pg_shdepend) and in the admin database: REASSIGN OWNED BY role TO
//     the admin login (tables and data stay, databases it owns too), then
//     DROP OWNED BY role (its privileges and default privileges);
//  4. DROP ROLE, and check that pg_roles no longer has it.
//
// It is idempotent: a missing role is success with Existed false, and a
// run stopped midway (the role may then already be unable to log in) is
// completed by the next. The admin login must be a
// superuser, or have CREATEROLE (PostgreSQL 16 and later: with ADMIN
// OPTION on the role), the role's privileges (for REASSIGN OWNED) and
// membership in pg_signal_backend (to end its sessions); an error for a
// missing privilege names the one needed.
func RevokeRole(ctx context.Context, admin *config.PostgresSource, pw keys.Secret, role string) (RoleRevocation, error) {
	rev := RoleRevocation{Role: role, ReassignedTo: admin.User}
	if role == "" {
		return rev, errors.New("revoke role: no role name given")
	}
	if role == admin.User {
		return rev, fmt.Errorf("%s: revoke role %q: it is the admin login itself: log in as a superuser or another role with CREATEROLE", where(admin), role)
	}
	conn, err := Connect(ctx, admin, pw)
	if err != nil {
		return rev, fmt.Errorf("revoke role %q: %w", role, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var oid uint32
	err = conn.QueryRow(ctx, "SELECT oid FROM pg_roles WHERE rolname = $1", role).Scan(&oid)
	if errors.Is(err, pgx.ErrNoRows) {
		return rev, nil
	}
	if err != nil {
		return rev, fail(admin, fmt.Sprintf("look for role %q", role), err)
	}
	rev.Existed = true
	r := pgx.Identifier{role}.Sanitize()

	if _, err := conn.Exec(ctx, "ALTER ROLE "+r+" NOLOGIN"); err != nil {
		return rev, revokeFail(admin, role, "stop new sessions (ALTER ROLE NOLOGIN)", err, needCreateRole(admin, role))
	}
	if rev.SessionsEnded, err = endSessions(ctx, conn, oid); err != nil {
		return rev, revokeFail(admin, role, "end its sessions (pg_terminate_backend)", err,
			fmt.Sprintf("log in as a superuser, or GRANT pg_signal_backend TO %s (a superuser's sessions only a superuser can end)", pgx.Identifier{admin.User}.Sanitize()))
	}

	rows, err := conn.Query(ctx, `SELECT DISTINCT d.datname, d.datallowconn FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
		WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1`, oid)
	if err != nil {
		return rev, fail(admin, fmt.Sprintf("list the databases where role %q owns objects", role), err)
	}
	type db struct {
		name  string
		allow bool
	}
	dbs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (db, error) {
		var d db
		return d, row.Scan(&d.name, &d.allow)
	})
	if err != nil {
		return rev, fail(admin, fmt.Sprintf("list the databases where role %q owns objects", role), err)
	}
	names := []string{admin.Database}
	for _, d := range dbs {
		if !d.allow {
			return rev, fmt.Errorf("%s: revoke role %q: it owns objects or holds privileges in database %q, which allows no connections: ALTER DATABASE %s ALLOW_CONNECTIONS true, then retry",
				where(admin), role, d.name, pgx.Identifier{d.name}.Sanitize())
		}
		names = append(names, d.name)
	}
	slices.Sort(names)
	rev.Databases = slices.Compact(names)
	for _, name := range rev.Databases {
		if err := disown(ctx, on(admin, name), pw, role, r); err != nil {
			return rev, err
		}
	}

	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+r); err != nil {
		return rev, revokeFail(admin, role, "drop it", err, needCreateRole(admin, role))
	}
	if ok, err := roleExists(ctx, conn, admin, role); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%s: revoke role %q: pg_roles still lists it after DROP ROLE", where(admin), role)
		}
		return rev, err
	}
	return rev, nil
}

// endSessions ends the sessions of the role with oid, waiting for each,
// and counts them. The pids are listed first and ended one by one: a
// single query with pg_terminate_backend in its WHERE clause could be
// planned to call it before the role filter, on every session.
func endSessions(ctx context.Context, conn *pgx.Conn, oid uint32) (int, error) {
	rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE usesysid = $1 AND pid <> pg_backend_pid()", oid)
	if err != nil {
		return 0, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0, err
	}
	n := 0
	for _, pid := range pids {
		var ended bool
		if err := conn.QueryRow(ctx, "SELECT pg_terminate_backend($1, $2)", pid, sessionEndWait.Milliseconds()).Scan(&ended); err != nil {
			return n, err
		}
		if ended {
			n++
		}
	}
	return n, nil
}

// needCreateRole says what the admin login needs to alter and drop role.
func needCreateRole(admin *config.PostgresSource, role string) string {
	return fmt.Sprintf("log in as a superuser, or give %s CREATEROLE (and, on PostgreSQL 16 and later, ADMIN OPTION on %s: GRANT %s TO %s WITH ADMIN OPTION); a superuser role only a superuser can drop",
		pgx.Identifier{admin.User}.Sanitize(), pgx.Identifier{role}.Sanitize(), pgx.Identifier{role}.Sanitize(), pgx.Identifier{admin.User}.Sanitize())
}

// revokeFail is the error of one revocation step: a missing privilege
// (42501) says what to grant; any other error is fail's.
func revokeFail(server *config.PostgresSource, role, step string, err error, need string) error {
	if IsPermissionDenied(err) {
		return fmt.Errorf("%s: revoke role %q: %s: %w: the admin login %q lacks the privilege: %s", where(server), role, step, err, server.User, need)
	}
	return fail(server, fmt.Sprintf("revoke role %q: %s", role, step), err)
}

// disown reassigns what role owns in db.Database to the connected user and
// drops its privileges there.
func disown(ctx context.Context, db *config.PostgresSource, pw keys.Secret, role, quoted string) error {
	conn, err := Connect(ctx, db, pw)
	if errors.Is(err, ErrNoDatabase) {
		return nil // dropped since it was listed
	}
	if err != nil {
		return fmt.Errorf("revoke role %q: connect to database %q to take over what the role owns there: %w", role, db.Database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, stmt := range []string{"REASSIGN OWNED BY " + quoted + " TO current_user", "DROP OWNED BY " + quoted} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return revokeFail(db, role, fmt.Sprintf("in database %q, %s", db.Database, stmt), err,
				fmt.Sprintf("log in as a superuser, or GRANT %s TO %s so that it may take over what the role owns", quoted, pgx.Identifier{db.User}.Sanitize()))
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
