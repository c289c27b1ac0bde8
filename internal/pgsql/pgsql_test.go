package pgsql

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/testenv"
)

func source(p *testenv.Postgres, db string) *config.PostgresSource {
	return &config.PostgresSource{Host: p.Host, Port: p.Port, Database: db, User: p.User, SSLMode: "disable"}
}

func TestSnapshotManifest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	p.CreateDatabase(t, "app")
	p.Exec(t, "app", `CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (x int);
		INSERT INTO a SELECT g, 'v' || g FROM generate_series(1, 100) g; INSERT INTO b VALUES (1), (1), (2)`)
	conn, err := Connect(ctx, source(p, "app"), keys.Secret(p.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	snap, err := Export(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	// A change after the export is not seen by the snapshot.
	p.Exec(t, "app", `INSERT INTO a VALUES (1000, 'late'); DELETE FROM b WHERE x = 2`)
	conn2, err := Connect(ctx, source(p, "app"), keys.Secret(p.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	in, err := Manifest(ctx, conn2, snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	snap.Close(ctx)
	now, err := Manifest(ctx, conn2, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 || in[0].Name != "a" || in[0].Rows != 100 || in[1].Rows != 3 {
		t.Fatalf("manifest in snapshot %+v", in)
	}
	if now[0].Rows != 101 || now[0].Checksum == in[0].Checksum || now[1].Checksum == in[1].Checksum {
		t.Fatalf("manifest now %+v", now)
	}
	// Same content in another order → same checksum.
	p.CreateDatabase(t, "copy")
	p.Exec(t, "copy", `CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (x int);
		INSERT INTO a SELECT g, 'v' || g FROM generate_series(100, 1, -1) g; INSERT INTO b VALUES (2), (1), (1)`)
	conn3, err := Connect(ctx, source(p, "copy"), keys.Secret(p.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn3.Close(ctx)
	cp, err := Manifest(ctx, conn3, "")
	if err != nil {
		t.Fatal(err)
	}
	if cp[0].Checksum != in[0].Checksum || cp[1].Checksum != in[1].Checksum {
		t.Fatalf("same content, different checksums: %+v vs %+v", cp, in)
	}

	// The sums are those of the defining formula (exact numerics).
	var s1, s2 string
	if err := conn3.QueryRow(ctx, `SELECT sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric)::text,
		sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric)::text FROM (SELECT md5(t::text) AS h FROM a AS t) AS s`).Scan(&s1, &s2); err != nil {
		t.Fatal(err)
	}
	if want := ChecksumMethod + ":100:" + s1 + ":" + s2; cp[0].Checksum != want {
		t.Fatalf("checksum %s, by the formula %s", cp[0].Checksum, want)
	}

	major, err := ServerMajor(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if bin, err := FindPgDump(ctx, major, ""); err != nil || bin == "" {
		t.Fatalf("pg_dump: %q, %v", bin, err)
	}
}

func TestConnectErrors(t *testing.T) {
	ctx := context.Background()
	p := testenv.StartPostgres(t)
	if _, err := Connect(ctx, source(p, "nope"), keys.Secret(p.Password)); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("missing database: %v", err)
	}
	if _, err := Connect(ctx, source(p, "postgres"), keys.Secret("wrong")); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	}
	bad := source(p, "postgres")
	bad.Port = 1
	if _, err := Connect(ctx, bad, keys.Secret(p.Password)); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "pg_dump")
	if _, err := FindPgDump(ctx, 15, missing); !errors.Is(err, ErrNoPgDump) {
		t.Fatalf("missing pg_dump: %v", err)
	}
	os.WriteFile(missing, []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9'\n"), 0o755)
	if _, err := FindPgDump(ctx, 15, missing); !errors.Is(err, ErrNoPgDump) {
		t.Fatalf("old pg_dump: %v", err)
	}
}
