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
