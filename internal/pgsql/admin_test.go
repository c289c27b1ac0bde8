package pgsql

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"steward/internal/keys"
	"steward/internal/testenv"
)

func TestDatabases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	srv, pw := source(p, "postgres"), keys.Secret(p.Password)

	// A name that needs quoting.
	const a, b = "steward_drill_A-1", "steward_drill_b"
	for _, name := range []string{a, b, "other"} {
		created, err := CreateDatabase(ctx, srv, pw, name)
		if err != nil || !created {
			t.Fatalf("create %q: %v, %v", name, created, err)
		}
	}
	if created, err := CreateDatabase(ctx, srv, pw, a); err != nil || created {
		t.Fatalf("create %q again: %v, %v", a, created, err)
	}
	if ok, err := DatabaseExists(ctx, srv, pw, a); err != nil || !ok {
		t.Fatalf("exists %q: %v, %v", a, ok, err)
	}
	if ok, err := DatabaseExists(ctx, srv, pw, "nope"); err != nil || ok {
		t.Fatalf("exists nope: %v, %v", ok, err)
	}
	if names, err := ListDatabases(ctx, srv, pw, "steward_drill_"); err != nil || !slices.Equal(names, []string{a, b}) {
		t.Fatalf("list: %v, %v", names, err)
	}
	if names, err := ListDatabases(ctx, srv, pw, ""); err != nil || len(names) != 6 { // + postgres, template0, template1
		t.Fatalf("list all: %v, %v", names, err)
	}

	// Empty: a new database, one with a table, one with only a sequence,
	// a missing one.
	if empty, err := DatabaseEmpty(ctx, source(p, a), pw); err != nil || !empty {
		t.Fatalf("new database: empty %v, %v", empty, err)
	}
	p.Exec(t, a, "CREATE TABLE t (id int)")
	if empty, err := DatabaseEmpty(ctx, source(p, a), pw); err != nil || empty {
		t.Fatalf("with a table: empty %v, %v", empty, err)
	}
	p.Exec(t, b, "CREATE SEQUENCE s")
	if empty, err := DatabaseEmpty(ctx, source(p, b), pw); err != nil || empty {
		t.Fatalf("with a sequence: empty %v, %v", empty, err)
	}
	if empty, err := DatabaseEmpty(ctx, source(p, "nope"), pw); err != nil || !empty {
		t.Fatalf("missing database: empty %v, %v", empty, err)
	}

	// Drop with a session open on the database: the session is ended.
	held := p.Connect(t, a)
	if err := DropDatabase(ctx, srv, pw, a); err != nil {
		t.Fatal(err)
	}
	if err := held.Ping(ctx); err == nil {
		t.Fatal("the session on the dropped database still answers")
	}
	if ok, err := DatabaseExists(ctx, srv, pw, a); err != nil || ok {
		t.Fatalf("exists after drop: %v, %v", ok, err)
	}
	if err := DropDatabase(ctx, srv, pw, a); err != nil {
		t.Fatalf("drop again: %v", err)
	}
	if names, err := ListDatabases(ctx, srv, pw, "steward_drill_"); err != nil || !slices.Equal(names, []string{b}) {
		t.Fatalf("list after drop: %v, %v", names, err)
	}

	// Errors name the server and what was done.
	if _, err := CreateDatabase(ctx, srv, keys.Secret("wrong"), "x"); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	}
}

// A non-superuser cannot end a superuser's session: DropDatabase retries,
// then fails naming the database; once the session ends, a retry wins.
func TestDropDatabaseRetry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	p.Exec(t, "postgres", "CREATE ROLE owner LOGIN CREATEDB PASSWORD 'owner-pw'")
	srv := source(p, "postgres")
	srv.User = "owner"
	pw := keys.Secret("owner-pw")
	if created, err := CreateDatabase(ctx, srv, pw, "held"); err != nil || !created {
		t.Fatalf("create: %v, %v", created, err)
	}
	defer func(d, b time.Duration) { dropRetryFor, dropBackoff = d, b }(dropRetryFor, dropBackoff)
	dropRetryFor, dropBackoff = 1500*time.Millisecond, 50*time.Millisecond

	super, err := pgx.Connect(ctx, p.DSN("held"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = DropDatabase(ctx, srv, pw, "held")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(err.Error(), `"held"`) || !strings.Contains(err.Error(), "pg_terminate_backend") {
		t.Fatalf("drop with a superuser's session: %v", err)
	}
	t.Logf("refused: %v", err)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("gave up after %v, before retrying for %v", d, dropRetryFor)
	}
	if ok, err := DatabaseExists(ctx, srv, pw, "held"); err != nil || !ok {
		t.Fatalf("exists: %v, %v", ok, err)
	}

	dropRetryFor = 30 * time.Second
	go func() {
		time.Sleep(time.Second)
		super.Close(context.Background())
	}()
	start = time.Now()
	if err := DropDatabase(ctx, srv, pw, "held"); err != nil {
		t.Fatalf("drop once the session ends: %v", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("dropped after %v, while the session was still open", d)
	}
	if ok, err := DatabaseExists(ctx, srv, pw, "held"); err != nil || ok {
		t.Fatalf("exists after drop: %v, %v", ok, err)
	}
}

func TestDropRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	srv, pw := source(p, "postgres"), keys.Secret(p.Password)
	const role = "Customer-7"
	q := pgx.Identifier{role}.Sanitize()
	p.Exec(t, "postgres", "CREATE ROLE "+q+" LOGIN CREATEDB PASSWORD 'role-pw'")
	// The role owns a database with a table in it, a table in postgres,
	// and holds a privilege on another table there.
	asRole := source(p, "postgres")
	asRole.User = role
	if created, err := CreateDatabase(ctx, asRole, keys.Secret("role-pw"), "custdb"); err != nil || !created {
		t.Fatalf("create as the role: %v, %v", created, err)
	}
	cfg, err := pgx.ParseConfig(p.DSN("custdb"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = role, "role-pw"
	rc, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Exec(ctx, "CREATE TABLE data (id int); INSERT INTO data VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	rc.Close(ctx)
	p.Exec(t, "postgres", "CREATE TABLE owned (x int); ALTER TABLE owned OWNER TO "+q+"; CREATE TABLE shared (x int); GRANT SELECT ON shared TO "+q)
	if ok, err := RoleExists(ctx, srv, pw, role); err != nil || !ok {
		t.Fatalf("role exists: %v, %v", ok, err)
	}

	if err := DropRole(ctx, srv, pw, role); err != nil {
		t.Fatal(err)
	}
	if ok, err := RoleExists(ctx, srv, pw, role); err != nil || ok {
		t.Fatalf("role exists after DropRole: %v, %v", ok, err)
	}
	// What it owned now belongs to the user who dropped it; data stays.
	if rows := p.Query(t, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'custdb'"); len(rows) != 1 || rows[0][0] != p.User {
		t.Fatalf("owner of custdb: %v", rows)
	}
	if rows := p.Query(t, "custdb", "SELECT tableowner, (SELECT count(*) FROM data) FROM pg_tables WHERE tablename = 'data'"); len(rows) != 1 || rows[0][0] != p.User || rows[0][1] != int64(2) {
		t.Fatalf("table in custdb: %v", rows)
	}
	if rows := p.Query(t, "postgres", "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'"); len(rows) != 1 || rows[0][0] != p.User {
		t.Fatalf("table in postgres: %v", rows)
	}
	if err := DropRole(ctx, srv, pw, role); err != nil {
		t.Fatalf("drop a missing role: %v", err)
	}
}

// connectAs opens a session as another login; the test closes it.
func connectAs(t *testing.T, p *testenv.Postgres, db, user, password string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(p.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = user, password
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %q: %v", user, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestRevokeRole: a contract's role with an open session, a database of
// its own with data, a table and a default privilege in another database
// and a grant is revoked by a superuser: its session ends, it is gone
// from pg_roles, what it owned is the admin's with the data intact. A
// second revocation finds it absent.
func TestRevokeRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	admin, pw := source(p, "postgres"), keys.Secret(p.Password)
	const role, rolePW = "contract_app", "app-pw-4711"
	p.Exec(t, "postgres", "CREATE ROLE contract_app LOGIN CREATEDB PASSWORD '"+rolePW+"'")
	p.CreateDatabase(t, "other")
	p.Exec(t, "other", "CREATE TABLE shared (x int); GRANT SELECT ON shared TO contract_app; GRANT CREATE ON SCHEMA public TO contract_app")
	app := connectAs(t, p, "postgres", role, rolePW)
	if _, err := app.Exec(ctx, "CREATE DATABASE appdb"); err != nil {
		t.Fatal(err)
	}
	inApp := connectAs(t, p, "appdb", role, rolePW)
	if _, err := inApp.Exec(ctx, "CREATE TABLE cases (id int); INSERT INTO cases VALUES (1), (2), (3)"); err != nil {
		t.Fatal(err)
	}
	inOther := connectAs(t, p, "other", role, rolePW)
	if _, err := inOther.Exec(ctx, "CREATE TABLE notes (n text); ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC"); err != nil {
		t.Fatal(err)
	}

	rev, err := RevokeRole(ctx, admin, pw, role)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rev)
	if !rev.Existed || rev.SessionsEnded != 3 || !slices.Equal(rev.Databases, []string{"appdb", "other", "postgres"}) || rev.ReassignedTo != p.User {
		t.Fatalf("revocation: %+v", rev)
	}
	if rows := p.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = $1", role); rows[0][0] != int64(0) {
		t.Fatalf("pg_roles still has the role: %v", rows)
	}
	if err := inApp.Ping(ctx); err == nil {
		t.Fatal("the role's session still answers")
	}
	if rows := p.Query(t, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb'"); rows[0][0] != p.User {
		t.Fatalf("owner of appdb: %v", rows)
	}
	if rows := p.Query(t, "appdb", "SELECT tableowner, (SELECT count(*) FROM cases) FROM pg_tables WHERE tablename = 'cases'"); rows[0][0] != p.User || rows[0][1] != int64(3) {
		t.Fatalf("table in appdb: %v", rows)
	}
	if rows := p.Query(t, "other", "SELECT tableowner FROM pg_tables WHERE tablename = 'notes'"); rows[0][0] != p.User {
		t.Fatalf("table in other: %v", rows)
	}
	// No dependency on the role is left anywhere (no dangling grant).
	if rows := p.Query(t, "postgres", "SELECT count(*) FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass AND refobjid NOT IN (SELECT oid FROM pg_roles)"); rows[0][0] != int64(0) {
		t.Fatalf("dependencies on a dropped role: %v", rows)
	}
	cfg, err := pgx.ParseConfig(p.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = role, rolePW
	if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		c.Close(ctx)
		t.Fatal("the revoked role logs in")
	} else {
		t.Logf("login as the revoked role: %v", err)
	}

	rev, err = RevokeRole(ctx, admin, pw, role)
	if err != nil || rev.Existed {
		t.Fatalf("revoke again: %+v, %v", rev, err)
	}
}

// TestRevokeRolePrivileges: an admin login without the rights the
// revocation needs gets an error naming the privilege to grant, the role
// stays, and no password shows; the admin cannot revoke itself.
func TestRevokeRolePrivileges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	const rolePW, plainPW, creatorPW = "app-pw-4711", "plain-pw-0815", "creator-pw-1234"
	p.Exec(t, "postgres", "CREATE ROLE contract_app LOGIN PASSWORD '"+rolePW+"'; CREATE TABLE owned (x int); ALTER TABLE owned OWNER TO contract_app")
	p.Exec(t, "postgres", "CREATE ROLE plain LOGIN PASSWORD '"+plainPW+"'; CREATE ROLE creator LOGIN CREATEROLE PASSWORD '"+creatorPW+"'")

	for _, tt := range []struct {
		user, pw, frag string
	}{
		{"plain", plainPW, "CREATEROLE"},
		{"creator", creatorPW, `GRANT "contract_app" TO "creator"`},
	} {
		admin := source(p, "postgres")
		admin.User = tt.user
		_, err := RevokeRole(ctx, admin, keys.Secret(tt.pw), "contract_app")
		if !IsPermissionDenied(err) || !strings.Contains(err.Error(), tt.frag) || !strings.Contains(err.Error(), "superuser") {
			t.Fatalf("as %s: %v", tt.user, err)
		}
		t.Logf("as %s: %v", tt.user, err)
		for _, secret := range []string{rolePW, plainPW, creatorPW, p.Password} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows a password: %v", err)
			}
		}
		if rows := p.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'contract_app'"); rows[0][0] != int64(1) {
			t.Fatalf("the role is gone after a refused revocation")
		}
	}
	// Granted what it lacked, the CREATEROLE login completes the
	// revocation (the rerun of a stopped one).
	p.Exec(t, "postgres", "GRANT contract_app TO creator")
	admin := source(p, "postgres")
	admin.User = "creator"
	if rev, err := RevokeRole(ctx, admin, keys.Secret(creatorPW), "contract_app"); err != nil || !rev.Existed {
		t.Fatalf("as creator with the role's privileges: %+v, %v", rev, err)
	}
	if rows := p.Query(t, "postgres", "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'"); rows[0][0] != "creator" {
		t.Fatalf("owner of the role's table: %v", rows)
	}

	if _, err := RevokeRole(ctx, source(p, "postgres"), keys.Secret(p.Password), p.User); err == nil || !strings.Contains(err.Error(), "admin login itself") {
		t.Fatalf("revoking the admin login: %v", err)
	}
}
