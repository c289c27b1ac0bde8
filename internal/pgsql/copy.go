package pgsql

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// copySettings are the settings under which pg_dump's session writes COPY
// text (pg_dump sets the first five itself, DumpSession the last two).
// Any of them changes how some type is spelled.
var copySettings = []string{
	"SET DateStyle = ISO",
	"SET IntervalStyle = postgres",
	"SET extra_float_digits = 3",
	"SELECT pg_catalog.set_config('search_path', '', false)", // regclass and friends print schema-qualified
	"SET quote_all_identifiers = off",
	"SET TimeZone = 'UTC'",
	"SET bytea_output = hex",
	"SET row_security = off", // a policy must fail the read, not filter it
}

var encodingName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// CopyChecksums computes, on conn's database, every user table's row count
// and CopyMethod checksum the way a backup computed them from pg_dump's
// archive: `COPY schema.table (columns) TO STDOUT` per table, with the
// columns pg_dump copies (not dropped, not generated, in order), in
// pg_dump's session settings and in the client encoding the archive was
// written in (Archive.Encoding), hashing each line as it arrives. It reads
// the database independently of restic and of the archive.
//
// The tables are those pg_dump dumps data for: ordinary tables and
// partitions (not partitioned parents, views or foreign tables) outside
// the system schemas, except those created by an extension.
func CopyChecksums(ctx context.Context, conn *pgx.Conn, encoding string) ([]Table, error) {
	if !encodingName.MatchString(encoding) {
		return nil, fmt.Errorf("copy checksums: client encoding %q is not an encoding name", encoding)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("copy checksums: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The statements are spelled by the server and converted to the
	// client encoding, so that names outside ASCII reach it intact once
	// the session speaks that encoding.
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname, convert_to(format('COPY %I.%I %s TO STDOUT', n.nspname, c.relname,
			coalesce((SELECT '(' || string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) || ')' FROM pg_catalog.pg_attribute a
				WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '')), $1)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
			AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
		ORDER BY 1, 2`, encoding)
	if err != nil {
		return nil, fmt.Errorf("copy checksums: list tables: %w", err)
	}
	type job struct {
		t    Table
		stmt []byte
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (job, error) {
		var j job
		err := r.Scan(&j.t.Schema, &j.t.Name, &j.stmt)
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("copy checksums: list tables: %w", err)
	}
	pc := tx.Conn().PgConn()
	for _, s := range append(copySettings, "SET client_encoding = '"+encoding+"'") {
		if _, err := pc.Exec(ctx, s).ReadAll(); err != nil {
			return nil, fmt.Errorf("copy checksums: %s: %w", s, err)
		}
	}
	tables := make([]Table, 0, len(jobs))
	for _, j := range jobs {
		var sum copySum
		tag, err := pc.CopyTo(ctx, &sum, string(j.stmt))
		if err == nil {
			err = sum.finish()
		}
		if err == nil && tag.RowsAffected() != sum.rows {
			err = fmt.Errorf("the server sent %d rows, %d lines arrived", tag.RowsAffected(), sum.rows)
		}
		if err != nil {
			return nil, fmt.Errorf("copy checksums: table %s.%s: %w", j.t.Schema, j.t.Name, err)
		}
		j.t.Rows, j.t.Checksum = sum.rows, sum.checksum()
		tables = append(tables, j.t)
	}
	// (The transaction's end would undo the settings too.)
	if _, err := pc.Exec(ctx, "SET client_encoding = 'UTF8'").ReadAll(); err != nil {
		return nil, fmt.Errorf("copy checksums: %w", err)
	}
	return tables, nil
}
